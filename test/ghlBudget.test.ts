import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GhlBudget } from '../providers/ghl/budget.js';
import { GhlClient } from '../providers/ghl/client.js';
import { createPool, type Pool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { migrate } from '../runtime/migrate.js';
import { createTestDatabase } from './support/platform.js';

/** The shared GoHighLevel request budget, against real Postgres. */
describe('GhlBudget', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let poolA: Pool;
  let poolB: Pool;
  const options = { burst: 10, windowMs: 2000, liveReserve: 2, dailyReserve: 100 };

  beforeAll(async () => {
    db = await createTestDatabase();
    poolA = createPool(db.url, 4);
    poolB = createPool(db.url, 4);
    await migrate(poolA, createLogger('silent', { pretty: false }));
  });
  afterAll(async () => {
    await poolA.end();
    await poolB.end();
    await db.drop();
  });

  const timed = async (p: Promise<unknown>) => {
    const t = performance.now();
    await p;
    return performance.now() - t;
  };

  it('two processes share one window; bulk work leaves a reserve that a live request gets at once', async () => {
    // Two budget instances over two pools stand for two worker processes.
    const a = new GhlBudget(poolA, options);
    const b = new GhlBudget(poolB, options);
    for (let i = 0; i < 4; i++) await a.acquire('loc_1', 'bulk');
    for (let i = 0; i < 4; i++) await b.acquire('loc_1', 'bulk');
    // Bulk may use 8 of 10 slots: the ninth bulk request waits for the window to move.
    let ninthDone = false;
    const ninth = b.acquire('loc_1', 'bulk').then(() => (ninthDone = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(ninthDone).toBe(false);
    // A live request (a caller waiting on a tool) is admitted immediately from the reserve.
    expect(await timed(a.acquire('loc_1', 'live'))).toBeLessThan(500);
    expect(ninthDone).toBe(false);
    expect(await timed(ninth)).toBeGreaterThan(1000);
    // Another location has its own budget.
    expect(await timed(a.acquire('loc_2', 'bulk'))).toBeLessThan(500);
  });

  it("a 429's Retry-After holds every process back", async () => {
    const a = new GhlBudget(poolA, options);
    const b = new GhlBudget(poolB, options);
    await a.observe('loc_3', new Response('{}', { status: 429, headers: { 'retry-after': '1' } }));
    const waited = await timed(b.acquire('loc_3', 'live'));
    expect(waited).toBeGreaterThan(800);
  });

  it('bulk work stops short of the daily cap; live requests still pass', async () => {
    const a = new GhlBudget(poolA, options);
    await a.observe('loc_4', new Response('{}', { status: 200, headers: { 'x-ratelimit-daily-remaining': '50' } }));
    expect(await timed(a.acquire('loc_4', 'live'))).toBeLessThan(500);
    let bulkDone = false;
    const stop = new AbortController();
    const bulk = a.acquire('loc_4', 'bulk', stop.signal).then(() => (bulkDone = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(bulkDone).toBe(false);
    stop.abort();
    await expect(bulk).rejects.toThrow(/abort/i);
  });

  it('a request that queued for the budget longer than its timeout still reaches GHL: the timeout starts when it is admitted', async () => {
    // Chaos runs saw most admissions of a backlogged location spent on requests that then aborted
    // at once: their timeout had run out while they waited for the window.
    let served = 0;
    const ghl = createServer((_req, res) => {
      served++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ pipelines: [] }));
    });
    await new Promise<void>((resolve) => ghl.listen(0, '127.0.0.1', resolve));
    try {
      const budget = new GhlBudget(poolA, { ...options, burst: 3, windowMs: 1500 });
      const client = new GhlClient({
        baseUrl: `http://127.0.0.1:${(ghl.address() as AddressInfo).port}`,
        token: 't',
        gate: budget.gateFor('loc_5', 'live'),
        timeoutMs: 400,
        maxRetries: 0,
      });
      // Six requests, three per window: the last three wait ~2 s, five times their timeout.
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => client.listPipelines('loc_5')));
      expect(results.map((r) => r.status)).toEqual(Array(6).fill('fulfilled'));
      // Every admission was spent on a request GHL saw.
      expect(served).toBe(6);
    } finally {
      await new Promise((resolve) => ghl.close(resolve));
    }
  });

  it("one process's waiters are admitted in the order they came, and a waiter that gives up leaves the line", async () => {
    const budget = new GhlBudget(poolA, { ...options, burst: 3, windowMs: 1000 });
    const order: number[] = [];
    const stop = new AbortController();
    const waiters = Array.from({ length: 8 }, (_, i) =>
      budget.acquire('loc_6', 'live', i === 4 ? stop.signal : undefined).then(() => order.push(i)),
    );
    stop.abort();
    const settled = await Promise.allSettled(waiters);
    expect(settled[4]!.status).toBe('rejected');
    expect(order).toEqual([0, 1, 2, 3, 5, 6, 7]);
  });
});
