/**
 * `npm run bench -- ready`: how fast `npm start` becomes ready (cold: empty data directory; warm:
 * the same directory again) and what the /ready deep probe costs per call, against a plain
 * `SELECT 1` on the same embedded Postgres measured in the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { embeddedPostgresUrl } from '../runtime/embeddedPostgres.js';
import { freePort } from '../test/support/ports.js';
import { percentile, report } from './report.js';

const CALLS = 500;

interface Ports {
  api: number;
  sandbox: number;
  pg: number;
  temporal: number;
  ui: number;
}

function start(dataDir: string, ports: Ports): ChildProcess {
  const env: Record<string, string | undefined> = {
    ...process.env,
    SWITCHBOARD_DATA_DIR: dataDir,
    API_PORT: String(ports.api),
    EMBEDDED_POSTGRES_PORT: String(ports.pg),
    TEMPORAL_DEV_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.ui),
    SANDBOX_PORT: String(ports.sandbox),
    LOG_LEVEL: 'warn',
  };
  delete env.DATABASE_URL;
  delete env.TEMPORAL_ADDRESS;
  return spawn(process.execPath, ['--import', 'tsx', 'runtime/start.ts'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Seconds from spawning `npm start` until /ready first answers 200. */
async function timeToReady(dataDir: string, ports: Ports): Promise<{ seconds: number; child: ChildProcess }> {
  const started = performance.now();
  const child = start(dataDir, ports);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${ports.api}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { seconds: (performance.now() - started) / 1000, child };
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
}

async function sample(n: number, fn: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export default async function benchReady(): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-bench-'));
  const ports = {
    api: await freePort(),
    sandbox: await freePort(),
    pg: await freePort(),
    temporal: await freePort(),
    ui: await freePort(),
  };
  try {
    const cold = await timeToReady(dataDir, ports);
    await stop(cold.child);
    const warm = await timeToReady(dataDir, ports);
    try {
      const url = `http://127.0.0.1:${ports.api}/ready`;
      const workerMs: number[] = [];
      await sample(20, async () => void (await fetch(url)).arrayBuffer()); // warm-up, not counted
      const probe = await sample(CALLS, async () => {
        const res = await fetch(url);
        const body = (await res.json()) as { status: string; checks: { worker: { ms: number } } };
        if (res.status !== 200) throw new Error(`/ready answered ${res.status}: ${JSON.stringify(body)}`);
        workerMs.push(body.checks.worker.ms);
      });

      const client = new pg.Client({ connectionString: await embeddedPostgresUrl(dataDir, ports.pg) });
      await client.connect();
      await sample(20, async () => void (await client.query('select 1')));
      const select1 = await sample(CALLS, async () => void (await client.query('select 1')));
      await client.end();

      const figures = {
        cold_start_s: cold.seconds,
        warm_start_s: warm.seconds,
        probe_p50_ms: percentile(probe, 50),
        probe_p95_ms: percentile(probe, 95),
        probe_p99_ms: percentile(probe, 99),
        select1_p95_ms: percentile(select1, 95),
        select1_p50_ms: percentile(select1, 50),
        probe_workflow_p95_ms: percentile(workerMs, 95),
        probe_to_select1_p95_ratio: percentile(probe, 95) / percentile(select1, 95),
      };
      await report('ready', figures, {
        cold_start_s: 'empty data dir: initdb, SQLite, workflow bundle (target <= 60)',
        warm_start_s: 'same data dir again (target <= 10)',
        probe_p50_ms: `GET /ready over HTTP, ${CALLS} sequential calls`,
        probe_p95_ms: 'target <= 50',
        select1_p95_ms: 'baseline: SELECT 1 on the same Postgres, same run',
        probe_workflow_p95_ms: 'the worker part alone (start workflow -> local activity -> result)',
        probe_to_select1_p95_ratio: 'what Temporal adds, as a multiple of a bare DB round trip',
      });
    } finally {
      await stop(warm.child);
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
