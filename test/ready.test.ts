import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/logger.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../runtime/embeddedPostgres.js';
import { freePort } from './support/ports.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';

describe('GET /ready', () => {
  let tp: TestPlatform;
  beforeAll(async () => {
    tp = await startTestPlatform();
  });
  afterAll(() => tp?.stop());

  it('is green with each part and its latency when Postgres, Temporal and a worker are up', async () => {
    const res = await call(tp.baseUrl, 'GET', '/ready');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ready');
    for (const part of ['postgres', 'temporal', 'worker'] as const) {
      expect(res.body.checks[part].ok).toBe(true);
      expect(res.body.checks[part].ms).toBeGreaterThan(0);
    }
    // The probe really went through the worker: its row is in Postgres.
    const { rows } = await tp.adminPool.query('select count(*)::int as n from readiness_probes');
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
  });

  it('GET /health answers without touching dependencies', async () => {
    const res = await call(tp.baseUrl, 'GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
  });
});

describe('GET /ready when the worker is absent', () => {
  let tp: TestPlatform;
  beforeAll(async () => {
    tp = await startTestPlatform({ roles: ['api'], env: { READY_PROBE_TIMEOUT_MS: '1500' } });
  });
  afterAll(() => tp?.stop());

  it('answers 503 and names the worker', async () => {
    const res = await call(tp.baseUrl, 'GET', '/ready');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('unavailable');
    expect(res.body.checks.postgres.ok).toBe(true);
    expect(res.body.checks.temporal.ok).toBe(true);
    expect(res.body.checks.worker.ok).toBe(false);
    expect(res.body.checks.worker.error).toContain(`no worker is polling task queue '${tp.config.temporal.taskQueue}'`);
  });
});

describe('GET /ready when Postgres is stopped', () => {
  let tp: TestPlatform;
  let pg: EmbeddedPostgres;
  let dir: string;
  let port: number;
  const log = createLogger('warn', { pretty: false });
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-pgstop-'));
    port = await freePort();
    pg = await startEmbeddedPostgres({ dataDir: dir, port, log });
    tp = await startTestPlatform({ databaseUrl: pg.url });
  });
  afterAll(async () => {
    await tp?.stop().catch(() => undefined);
    await pg?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 naming postgres, and recovers when it is back', async () => {
    expect((await call(tp.baseUrl, 'GET', '/ready')).status).toBe(200);
    await pg.stop();
    const down = await call(tp.baseUrl, 'GET', '/ready');
    expect(down.status).toBe(503);
    expect(down.body.checks.postgres.ok).toBe(false);
    expect(down.body.checks.postgres.error).toMatch(/ECONNREFUSED|connect|terminat/i);
    expect(down.body.checks.temporal.ok).toBe(true);

    pg = await startEmbeddedPostgres({ dataDir: dir, port, log });
    const back = await call(tp.baseUrl, 'GET', '/ready');
    expect(back.status).toBe(200);
    expect(back.body.checks.postgres.ok).toBe(true);
  });
});
