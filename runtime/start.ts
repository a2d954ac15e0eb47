/**
 * `npm start`: the whole platform in one process — embedded Postgres and Temporal dev server when
 * no URLs are configured, the worker and the API.
 */
import { loadConfigOrExit } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { banner } from './banner.js';
import { exitOnStartupError, stopOnSignals } from './lifecycle.js';
import { startPlatform } from './platform.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
try {
  const platform = await startPlatform(config, log, { roles: ['api', 'worker'], embed: true });
  stopOnSignals(platform.stop, log);
  process.stdout.write(`${banner(platform)}\n`);
} catch (err) {
  exitOnStartupError(err);
}
