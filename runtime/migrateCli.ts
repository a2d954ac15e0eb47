/** `npm run migrate`: apply pending migrations to DATABASE_URL (or the embedded Postgres of `npm start`) and exit. */
import { loadConfigOrExit } from '../lib/config.js';
import { createPool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { embeddedPostgresUrl } from './embeddedPostgres.js';
import { exitOnStartupError } from './lifecycle.js';
import { migrate } from './migrate.js';

const config = loadConfigOrExit();
const log = createLogger(config.logLevel);
try {
  const url = config.database.url ?? (await embeddedPostgresUrl(config.dataDir, config.database.embeddedPort));
  if (!url) throw new Error('DATABASE_URL is not set and no embedded Postgres exists under the data directory.');
  const pool = createPool(url, 2);
  const applied = await migrate(pool, log);
  await pool.end();
  log.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
} catch (err) {
  exitOnStartupError(err);
}
