import pg from 'pg';
import type { Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import { CHAT_NOTIFY_CHANNEL, parseDeltaNotice, type Delta } from '../domain/agents/conversations.js';

/** What a relay is woken with: the deltas the notification carried, or none (read the table). */
export type Wake = (deltas: Delta[] | undefined) => void;

/**
 * Wakes SSE relays when a reply's deltas land. The model activity (any worker) writes deltas to
 * Postgres and NOTIFYs `switchboard_chat` with `tenant conversation message` and the deltas
 * themselves; this process holds one LISTEN connection and hands them to the relays waiting on
 * that key, which write them without a read. Postgres stays the record: a relay that sees a gap in
 * the sequence, or a notification without deltas, reads the rows after its last seq; while the
 * connection is down (`listening` false) relays poll, and every relay is woken when it is back.
 * No new dependency, and a reconnect reads from where it left off.
 */
export class ChatNotifier {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly waiters = new Map<string, Set<Wake>>();
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly log: Logger,
  ) {}

  static fromPool(pool: Pool, log: Logger): ChatNotifier {
    const opts = (pool as unknown as { options: { connectionString?: string } }).options;
    return new ChatNotifier(opts.connectionString ?? '', log);
  }

  private ensure(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.connectionString });
      client.on('error', (err) => {
        this.log.warn({ err }, 'chat notifications connection lost; relays poll until it is back');
        this.client = undefined;
        this.connecting = undefined;
      });
      client.on('notification', (n) => {
        const { key, deltas } = parseDeltaNotice(n.payload ?? '');
        for (const wake of this.waiters.get(key) ?? []) wake(deltas);
      });
      await client.connect();
      await client.query(`listen ${CHAT_NOTIFY_CHANNEL}`);
      this.client = client;
      // Whatever landed while we were not listening: every relay reads its table once.
      for (const set of this.waiters.values()) for (const wake of set) wake(undefined);
    })()
      .catch((err: unknown) => {
        this.log.warn({ err }, 'chat notifications unavailable; relays poll');
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  /** True while notifications arrive; otherwise relays poll. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Calls `wake` on each notification for the key until the returned function is called. */
  async subscribe(tenantId: string, conversationId: string, messageId: string, wake: Wake): Promise<() => void> {
    await this.ensure();
    const key = `${tenantId} ${conversationId} ${messageId}`;
    let set = this.waiters.get(key);
    if (!set) this.waiters.set(key, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (!set.size) this.waiters.delete(key);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}
