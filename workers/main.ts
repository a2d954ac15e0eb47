/** `npm run worker`: a worker alone (scale-out: run N of these). */
import { loadConfigOrExit } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { exitOnStartupError, stopOnSignals } from '../runtime/lifecycle.js';
import { startPlatform } from '../runtime/platform.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
try {
  const platform = await startPlatform(config, log, { roles: ['worker'], embed: false });
  stopOnSignals(platform.stop, log);
  // A worker that stops on its own (fatal error) takes the process with it, so a supervisor restarts it.
  platform.worker?.running.then(
    () => undefined,
    async (err: unknown) => {
      log.fatal({ err }, 'worker failed');
      await platform.stop();
      process.exit(1);
    },
  );
} catch (err) {
  exitOnStartupError(err);
}
