import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { parseConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../runtime/embeddedPostgres.js';
import { startDevServer, type DevServer } from '../runtime/temporal.js';
import { freePort } from './support/ports.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A Postgres server URL (database `postgres` or `test`) where each test file creates its own database. */
    postgresAdminUrl: string;
    /** The Temporal dev server shared by test files (each file uses its own task queue). */
    temporalAddress: string;
  }
}

/**
 * One Temporal dev server and one Postgres server for the whole run. Postgres is TEST_DATABASE_URL,
 * else the machine's server on 127.0.0.1:5432, else an embedded one started here.
 */
export default async function setup(project: TestProject) {
  const log = createLogger('warn', { pretty: false });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-test-'));
  let embedded: EmbeddedPostgres | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
  } catch (err) {
    if (process.env.TEST_DATABASE_URL) throw new Error(`TEST_DATABASE_URL is not reachable: ${(err as Error).message}`);
    embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), log });
    adminUrl = embedded.url.replace(/\/switchboard$/, '/postgres');
  }

  const config = parseConfig({
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
  });
  let temporal: DevServer;
  try {
    temporal = await startDevServer({ config: config.temporal, dataDir, log });
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  project.provide('postgresAdminUrl', adminUrl);
  project.provide('temporalAddress', temporal.address);

  return async () => {
    await temporal.stop();
    await embedded?.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
