/**
 * What the benchmarks share: the platform (API + worker in this process, embedded Postgres and the
 * Temporal dev server as children, on free ports), the provider sandbox in a process of its own,
 * and JSON calls to the API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, type Config } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { startPlatform, type Platform } from '../../runtime/platform.js';
import { freePort } from '../../test/support/ports.js';
import { runEntry, waitForOutput } from '../../test/support/process.js';
import { stopOnExit } from './cleanup.js';

export const BENCH_ADMIN_KEY = 'sbadmin_bench_key_0123456789abcdef';

/** A fresh data directory for one benchmark run (`switchboard-bench-<name>-…` in the temp dir). */
export function benchDataDir(name: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `switchboard-bench-${name}-`));
}

export const removeDataDir = (dataDir: string) => rm(dataDir, { recursive: true, force: true });

export interface PlatformPorts {
  api: number;
  pg: number;
  temporal: number;
  ui: number;
  /** The platform's own (in-process) sandbox; the benchmarks point providers at a separate one. */
  innerSandbox: number;
}

export async function freePlatformPorts(): Promise<PlatformPorts> {
  return {
    api: await freePort(),
    pg: await freePort(),
    temporal: await freePort(),
    ui: await freePort(),
    innerSandbox: await freePort(),
  };
}

/**
 * The benchmark platform's environment: `dataDir`, the ports (free ones unless given), the bench
 * admin key, the API's rate limit out of the way, then `env` (providers, tuning).
 */
export async function benchEnv(
  dataDir: string,
  env: Record<string, string> = {},
  ports?: PlatformPorts,
): Promise<Record<string, string>> {
  const p = ports ?? (await freePlatformPorts());
  return {
    SWITCHBOARD_DATA_DIR: dataDir,
    API_PORT: String(p.api),
    EMBEDDED_POSTGRES_PORT: String(p.pg),
    TEMPORAL_DEV_PORT: String(p.temporal),
    TEMPORAL_UI_PORT: String(p.ui),
    SANDBOX_PORT: String(p.innerSandbox),
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    SWITCHBOARD_ADMIN_KEY: BENCH_ADMIN_KEY,
    ...env,
  };
}

/** The benchmark platform's config (see benchEnv). */
export async function benchConfig(
  dataDir: string,
  env: Record<string, string> = {},
  ports?: PlatformPorts,
): Promise<Config> {
  return parseConfig(await benchEnv(dataDir, env, ports));
}

/**
 * API and worker in this process on the embedded Postgres and Temporal dev server (`roles: ['api']`:
 * the worker runs elsewhere, e.g. startWorkerProcess).
 */
export async function startBenchPlatform(
  config: Config,
  roles: Array<'api' | 'worker'> = ['api', 'worker'],
): Promise<Platform> {
  const platform = await startPlatform(config, createLogger('warn', { pretty: false }), { roles, embed: true });
  return { ...platform, stop: stopOnExit('platform', () => platform.stop()) };
}

/** `npm run worker` in a process of its own against the bench platform's Postgres and Temporal. */
export async function startWorkerProcess(
  env: Record<string, string>,
  platform: Pick<Platform, 'databaseUrl' | 'temporalAddress'>,
): Promise<{ stop(): Promise<void> }> {
  const child = runEntry('workers/main.ts', {
    ...env,
    DATABASE_URL: platform.databaseUrl,
    TEMPORAL_ADDRESS: platform.temporalAddress,
    LOG_LEVEL: 'info',
  });
  const stop = stopOnExit('worker', async () => {
    if (child.child.exitCode === null) child.child.kill('SIGTERM');
    await child.exited;
  });
  try {
    await waitForOutput(child, /worker polling/);
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

export interface SandboxProcess {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** The provider sandbox in its own process (its own CPU and memory), on a free port; resolves once it listens. */
export async function startSandboxProcess(): Promise<SandboxProcess> {
  const port = await freePort();
  const child = runEntry('sandbox/main.ts', {
    SANDBOX_PORT: String(port),
    SANDBOX_HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  });
  const stop = stopOnExit('sandbox', async () => {
    child.child.kill('SIGTERM');
    await child.exited;
  });
  try {
    await waitForOutput(child, /provider sandbox on http/);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${port}`, port, pid: child.child.pid, stop };
}

/** JSON to and from the API with a bearer key; a non-2xx answer throws. */
export async function api<T>(base: string, method: string, urlPath: string, key: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${urlPath} → ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** A tenant key with `scopes` (the admin key creates it); `createTenant` also creates the tenant. */
export async function tenantKey(base: string, tenant: string, scopes: string[]): Promise<string> {
  const { key } = await api<{ key: string }>(base, 'POST', `/v1/admin/tenants/${tenant}/keys`, BENCH_ADMIN_KEY, {
    name: 'bench',
    scopes,
  });
  return key;
}

export async function createTenant(base: string, tenant: string, scopes: string[]): Promise<string> {
  await api(base, 'POST', '/v1/admin/tenants', BENCH_ADMIN_KEY, { id: tenant, name: 'Bench' });
  return tenantKey(base, tenant, scopes);
}
