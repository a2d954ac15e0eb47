import { setTimeout as sleep } from 'node:timers/promises';
import { inTransaction, type Pool } from '../../lib/db.js';
import type { RequestGate } from './client.js';

/**
 * GoHighLevel allows each location a burst of requests per sliding window (100 / 10 s) and a daily
 * cap. Every GHL call of a tenant — sync pages, live-call tools, campaigns — from every worker
 * process draws from one budget kept in Postgres, so together they never exceed it.
 *
 * `live` requests (a caller is waiting: voice tools, caller lookup, the console and MCP) may use the
 * whole window; `bulk` requests (syncs, and workflows' CRM writes nobody waits on: after a call, a
 * campaign's steps) leave a fifth of it free for them, and also leave a reserve of the daily cap.
 */
export type Priority = 'live' | 'bulk';

export interface GhlBudgetOptions {
  /** Requests per window; 0 switches the budget off (benchmarks against an unlimited sandbox). */
  burst: number;
  windowMs: number;
  /** Slots per window that bulk work leaves for live requests. */
  liveReserve: number;
  /** Daily requests bulk work leaves for live requests. */
  dailyReserve: number;
}

export const defaultBudget: GhlBudgetOptions = { burst: 100, windowMs: 10_000, liveReserve: 20, dailyReserve: 1_000 };

// Our admission time precedes GHL's arrival time by a few ms of network; a small margin on the
// window keeps any 10 s window *as GHL measures it* within the burst.
const ARRIVAL_MARGIN_MS = 500;

function abortable(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class GhlBudget {
  constructor(
    private readonly pool: Pool,
    readonly options: GhlBudgetOptions = defaultBudget,
  ) {}

  /**
   * This process's waiters, one line per location and priority. Only the head of a line asks
   * Postgres: hundreds of queued CRM writes polling at every slot that frees would be a herd of
   * locking transactions, and the order among them would be luck, not arrival.
   */
  private readonly lines = new Map<string, Promise<void>>();

  /** Waits until the location's budget admits one more request, then records it. */
  async acquire(locationId: string, priority: Priority, signal?: AbortSignal): Promise<void> {
    if (this.options.burst === 0) return;
    const key = `${locationId}\u0000${priority}`;
    const ahead = this.lines.get(key) ?? Promise.resolve();
    let leave!: () => void;
    const mine = new Promise<void>((resolve) => (leave = resolve));
    const tail = ahead.then(() => mine);
    this.lines.set(key, tail);
    try {
      await abortable(ahead, signal);
      for (;;) {
        const waitMs = await this.tryAdmit(locationId, priority);
        if (waitMs === 0) return;
        await sleep(waitMs, undefined, { signal });
      }
    } finally {
      leave();
      if (this.lines.get(key) === tail) this.lines.delete(key);
    }
  }

  /** 0 when admitted, else how long to wait before asking again. */
  private async tryAdmit(locationId: string, priority: Priority): Promise<number> {
    const { burst, windowMs, liveReserve, dailyReserve } = this.options;
    const limit = priority === 'live' ? burst : Math.max(1, burst - liveReserve);
    const window = `${windowMs + ARRIVAL_MARGIN_MS} milliseconds`;
    return inTransaction(this.pool, async (client) => {
      // One admission decision at a time per location, across every process.
      await client.query('select pg_advisory_xact_lock(hashtext($1))', [`ghl-budget:${locationId}`]);
      const { rows } = await client.query<{
        used: number;
        oldest: Date | null;
        blocked_ms: number | null;
        daily_remaining: number | null;
      }>(
        `with pruned as (delete from ghl_request_budget where location_id = $1 and admitted_at < clock_timestamp() - $2::interval)
         select (select count(*)::int from ghl_request_budget where location_id = $1 and admitted_at >= clock_timestamp() - $2::interval) as used,
                (select min(admitted_at) from ghl_request_budget where location_id = $1 and admitted_at >= clock_timestamp() - $2::interval) as oldest,
                (select extract(epoch from blocked_until - clock_timestamp()) * 1000 from ghl_budget_blocks where location_id = $1) as blocked_ms,
                (select daily_remaining from ghl_budget_blocks where location_id = $1) as daily_remaining`,
        [locationId, window],
      );
      const r = rows[0]!;
      let waitMs = 0;
      if (r.blocked_ms !== null && r.blocked_ms > 0) waitMs = Math.ceil(r.blocked_ms);
      else if (priority === 'bulk' && r.daily_remaining !== null && r.daily_remaining <= dailyReserve) waitMs = 60_000;
      else if (r.used >= limit) {
        // The oldest admission leaves the window first; come back just after it does.
        waitMs = Math.max(10, windowMs + ARRIVAL_MARGIN_MS - (Date.now() - (r.oldest?.getTime() ?? Date.now())));
      }
      if (waitMs === 0)
        await client.query('insert into ghl_request_budget (location_id, priority) values ($1, $2)', [
          locationId,
          priority,
        ]);
      return waitMs;
    });
  }

  /** Learns from GHL's answer: a 429's Retry-After blocks the location; the daily counter is kept. */
  async observe(locationId: string, res: Response): Promise<void> {
    if (this.options.burst === 0) return;
    const dailyHeader = res.headers.get('x-ratelimit-daily-remaining');
    const daily = dailyHeader === null ? null : Number(dailyHeader);
    let blockMs = 0;
    if (res.status === 429) {
      const retryAfter = res.headers.get('retry-after');
      const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
      blockMs = Number.isFinite(seconds) ? seconds * 1000 : this.options.windowMs / 4;
    }
    if (blockMs === 0 && (daily === null || daily > this.options.dailyReserve)) return;
    await this.pool.query(
      `insert into ghl_budget_blocks (location_id, blocked_until, daily_remaining)
       values ($1, clock_timestamp() + $2 * interval '1 millisecond', $3)
       on conflict (location_id) do update set
         blocked_until = greatest(ghl_budget_blocks.blocked_until, excluded.blocked_until),
         daily_remaining = coalesce(excluded.daily_remaining, ghl_budget_blocks.daily_remaining)`,
      [locationId, blockMs, Number.isFinite(daily) ? daily : null],
    );
  }

  /** GhlClient's gate: each attempt draws from this budget, each answer teaches it. */
  gateFor(locationId: string, priority: Priority): RequestGate {
    return {
      admit: () => this.acquire(locationId, priority),
      observe: (res) => this.observe(locationId, res),
    };
  }
}
