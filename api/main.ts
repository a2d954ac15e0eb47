/** `npm run api`: an API replica alone (scale-out). Needs the database and Temporal of `npm start` or the configured URLs. */
import { loadConfigOrExit } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { exitOnStartupError, stopOnSignals } from '../runtime/lifecycle.js';
import { startPlatform } from '../runtime/platform.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
try {
  const platform = await startPlatform(config, log, { roles: ['api'], embed: false });
  stopOnSignals(platform.stop, log);
  log.info({ url: platform.apiUrl, temporal: platform.temporalAddress }, 'API replica listening');
} catch (err) {
  exitOnStartupError(err);
}
