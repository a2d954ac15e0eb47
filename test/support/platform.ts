import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { parseConfig, type Config } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { startPlatform, type Platform, type PlatformOptions, type Role } from '../../runtime/platform.js';
import { runEntry, waitForOutput, type StartedProcess } from './process.js';

export const TEST_ADMIN_KEY = 'sbadmin_test_key_0123456789abcdefghij';

/**
 * The role test databases belong to: a login that is not a superuser (as in production), so
 * row-level security — forced on tenant tables — applies to the platform's own queries.
 */
export const TEST_APP_ROLE = 'sbtest_app';

async function ensureAppRole(admin: pg.Client): Promise<void> {
  // Test files start at once: a concurrent create of the same role is fine.
  await admin.query(`do $$ begin
      create role ${TEST_APP_ROLE} login nosuperuser createrole password '${TEST_APP_ROLE}';
    exception when duplicate_object or unique_violation then null; end $$`);
}

/**
 * A fresh database on the run's Postgres server, owned by TEST_APP_ROLE and dropped by `drop()`:
 * `url` connects as that owner (what the platform uses), `adminUrl` as the server's superuser
 * (for fixtures that write across tenants, as an operator would).
 */
export async function createTestDatabase(): Promise<{ url: string; adminUrl: string; drop(): Promise<void> }> {
  const serverUrl = inject('postgresAdminUrl');
  const name = `sbtest_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await ensureAppRole(admin);
  await admin.query(`create database ${name} owner ${TEST_APP_ROLE}`);
  await admin.end();
  const adminUrl = new URL(serverUrl);
  adminUrl.pathname = `/${name}`;
  const url = new URL(adminUrl);
  url.username = TEST_APP_ROLE;
  url.password = TEST_APP_ROLE;
  return {
    url: url.toString(),
    adminUrl: adminUrl.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export interface TestPlatform {
  platform: Platform;
  /** The same database as the superuser: fixtures and checks that span tenants. */
  adminPool: pg.Pool;
  config: Config;
  baseUrl: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * The real platform (API over HTTP, worker, real Postgres and Temporal) on a private database and
 * task queue, so test files can run side by side against the shared servers.
 */
export async function startTestPlatform(
  opts: {
    roles?: Role[];
    env?: Record<string, string>;
    databaseUrl?: string;
    adminUrl?: string;
    mcpConformanceProfile?: boolean;
    oauthMetadataPolicy?: PlatformOptions['oauthMetadataPolicy'];
  } = {},
): Promise<TestPlatform> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-platform-'));
  const db = opts.databaseUrl ? undefined : await createTestDatabase();
  const config = parseConfig({
    SWITCHBOARD_DATA_DIR: dataDir,
    DATABASE_URL: opts.databaseUrl ?? db!.url,
    DATABASE_POOL_SIZE: '5',
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `test-${randomBytes(4).toString('hex')}`,
    API_PORT: '0',
    SWITCHBOARD_ADMIN_KEY: TEST_ADMIN_KEY,
    // GoHighLevel "live" at a dead address unless a test points it at a sandbox: no demo tenant,
    // so no sync schedules from test platforms in the shared namespace.
    GHL_API_TOKEN: 'test-ghl-token',
    GHL_BASE_URL: 'http://127.0.0.1:9/ghl',
    ...opts.env,
  });
  const platform = await startPlatform(config, createLogger('warn', { pretty: false }), {
    roles: opts.roles ?? ['api', 'worker'],
    embed: false,
    mcpConformanceProfile: opts.mcpConformanceProfile,
    oauthMetadataPolicy: opts.oauthMetadataPolicy,
  });
  const adminPool = new pg.Pool({ connectionString: opts.adminUrl ?? db?.adminUrl ?? opts.databaseUrl, max: 2 });
  adminPool.on('error', () => undefined);
  return {
    platform,
    adminPool,
    config,
    baseUrl: platform.apiUrl ?? '',
    dataDir,
    async stop() {
      await platform.stop();
      await adminPool.end();
      await db?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A worker in its own process (as `npm run worker` runs), on the test platform's database, task
 * queue and data directory — a process a test can SIGKILL. Resolves once it polls.
 */
export async function startWorkerProcess(tp: TestPlatform, env: Record<string, string> = {}): Promise<StartedProcess> {
  const worker = runEntry('workers/main.ts', {
    LOG_LEVEL: 'info',
    SWITCHBOARD_DATA_DIR: tp.dataDir,
    DATABASE_URL: tp.platform.databaseUrl,
    DATABASE_POOL_SIZE: '5',
    TEMPORAL_ADDRESS: tp.platform.temporalAddress,
    TEMPORAL_TASK_QUEUE: tp.config.temporal.taskQueue,
    ...env,
  });
  await waitForOutput(worker, /worker polling/, 120_000);
  return worker;
}

/** JSON over real HTTP with an optional API key. */
export async function call(
  baseUrl: string,
  method: string,
  urlPath: string,
  opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers: {
      ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, headers: res.headers };
}
