import pg from 'pg';
import type { Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';

/** A waiter's wake-up: the notification's payload, or undefined when it must read the table itself. */
export type Wake = (payload: string | undefined) => void;

/**
 * Postgres LISTEN/NOTIFY for this process: one connection listening on the given channels, handing
 * each notification to the waiters of its key (the payload up to the first newline; the rest is
 * whatever the writer carried). Writers NOTIFY in the transaction that writes the rows, so a wake
 * means the rows are committed. Postgres stays the record: while the connection is down
 * (`listening` false) waiters poll, and every waiter is woken without a payload when it is back, so
 * nothing written meanwhile is missed. Used by chat relays (streamed deltas) and by voice tool
 * calls (an answer written by the worker). No new dependency.
 */
export class PgNotifications {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly waiters = new Map<string, Set<Wake>>();
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly channels: readonly string[],
    private readonly log: Logger,
  ) {}

  static fromPool(pool: Pool, channels: readonly string[], log: Logger): PgNotifications {
    const opts = (pool as unknown as { options: { connectionString?: string } }).options;
    return new PgNotifications(opts.connectionString ?? '', channels, log);
  }

  private ensure(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.connectionString });
      // Lost: every waiter is woken to read its table once and goes on polling until a subscribe reconnects.
      const lost = (err?: Error) => {
        if (this.closed || this.client !== client) return;
        this.log.warn({ err }, 'notifications connection lost; waiters poll until it is back');
        this.client = undefined;
        this.connecting = undefined;
        this.wakeAll();
      };
      client.on('error', lost);
      client.on('end', () => lost());
      client.on('notification', (n) => {
        const payload = n.payload ?? '';
        const at = payload.indexOf('\n');
        const key = `${n.channel}\n${at < 0 ? payload : payload.slice(0, at)}`;
        for (const wake of this.waiters.get(key) ?? []) wake(payload);
      });
      await client.connect();
      for (const channel of this.channels) await client.query(`listen ${pg.escapeIdentifier(channel)}`);
      this.client = client;
      // Whatever landed while we were not listening: every waiter reads its table once.
      this.wakeAll();
    })()
      .catch((err: unknown) => {
        this.log.warn({ err }, 'notifications unavailable; waiters poll');
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  private wakeAll(): void {
    for (const set of this.waiters.values()) for (const wake of set) wake(undefined);
  }

  /** True while notifications arrive; otherwise waiters poll. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Calls `wake` on each notification of `channel` for `key` until the returned function is called. */
  async subscribe(channel: string, key: string, wake: Wake): Promise<() => void> {
    if (!this.channels.includes(channel)) throw new Error(`not listening on ${channel}`);
    await this.ensure();
    const k = `${channel}\n${key}`;
    let set = this.waiters.get(k);
    if (!set) this.waiters.set(k, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (!set.size) this.waiters.delete(k);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}
