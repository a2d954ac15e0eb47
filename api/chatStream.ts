import pg from 'pg';
import type { Pool } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import { CHAT_NOTIFY_CHANNEL } from '../domain/agents/conversations.js';

/**
 * Wakes SSE relays when a reply's deltas land. The model activity (any worker) writes deltas to
 * Postgres and NOTIFYs `switchboard_chat` with `tenant conversation message`; this process holds
 * one LISTEN connection and calls the relays waiting on that key. Postgres stays the record (a
 * relay reads the rows after its last seq), so a missed notification only delays a batch until
 * the relay's own poll — no new dependency, and a reconnect reads from where it left off.
 */
export class ChatNotifier {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
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
        for (const wake of this.waiters.get(n.payload ?? '') ?? []) wake();
      });
      await client.connect();
      await client.query(`listen ${CHAT_NOTIFY_CHANNEL}`);
      this.client = client;
    })()
      .catch((err: unknown) => {
        this.log.warn({ err }, 'chat notifications unavailable; relays poll');
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  /** Calls `wake` on each notification for the key until the returned function is called. */
  async subscribe(tenantId: string, conversationId: string, messageId: string, wake: () => void): Promise<() => void> {
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
