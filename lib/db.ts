import pg from 'pg';
import { TENANT_ID_PATTERN } from './ids.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export function createPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000 });
  // An idle client losing its server (Postgres restart) must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs `fn` in a transaction on one pooled connection: committed if it returns, rolled back if it
 * throws. `begin` may carry settings for the transaction, sent in the same round trip.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  begin = 'begin',
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Runs `fn` in a transaction that row-level security confines to one tenant: it switches to the
 * unprivileged `switchboard_tenant` role (superusers and table owners bypass RLS) and sets
 * `app.tenant_id`, which every tenant table's policy compares against.
 */
export async function withTenant<T>(
  pool: pg.Pool,
  tenantId: string,
  fn: (client: pg.PoolClient) => Promise<T>,
  opts: { asyncCommit?: boolean } = {},
): Promise<T> {
  // Inlined below so that `begin` and the settings go in one round trip; the id must be plain.
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new Error(`invalid tenant id ${JSON.stringify(tenantId)}`);
  // `role` is a setting like any other: transaction-local, gone at commit or rollback.
  // asyncCommit: the commit does not wait for the WAL flush (bookkeeping rows on hot read paths);
  // a process crash loses nothing, an OS crash at most the last fraction of a second.
  const begin =
    `begin; select set_config('role', 'switchboard_tenant', true), set_config('app.tenant_id', '${tenantId}', true)` +
    (opts.asyncCommit ? `, set_config('synchronous_commit', 'off', true)` : '');
  return inTransaction(pool, fn, begin);
}

/**
 * Runs `fn` as `switchboard_system`, the one role whose policy spans tenants (sql/011_force_rls.sql).
 * Row-level security is forced on tenant tables, so the pool's own user sees no tenant's rows;
 * only queries that must cross tenants (API key lookup, tenant existence, webhook routing, admin)
 * come through here, each saying why at its call site.
 */
export async function asSystem<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, fn, `begin; select set_config('role', 'switchboard_system', true)`);
}

/** One tenant's read-only statements on a connection already set up for that tenant (see tenantReads). */
export interface TenantReads {
  run<T>(tenantId: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  end(): Promise<void>;
}

/**
 * Cached reads in one round trip: a pool of its own (same server and size as `pool`) whose
 * connections stay in the unprivileged tenant role with `app.tenant_id` set for the session, set
 * again only when a connection next serves another tenant. Row-level security applies as in
 * withTenant, but there is no transaction: each statement is its own snapshot, so this is for reads
 * of one statement each (reads that must agree with each other use withTenant). The sessions are
 * read-only (a write fails). A connection whose read failed is closed, never reused in an unknown state.
 */
export function tenantReads(pool: pg.Pool): TenantReads {
  const readers = new pg.Pool({ ...pool.options });
  readers.on('error', () => undefined);
  const servedTenant = new WeakMap<pg.PoolClient, string>();
  return {
    async run(tenantId, fn) {
      if (!TENANT_ID_PATTERN.test(tenantId)) throw new Error(`invalid tenant id ${JSON.stringify(tenantId)}`);
      const client = await readers.connect();
      try {
        if (servedTenant.get(client) !== tenantId) {
          servedTenant.delete(client);
          await client.query(
            `select set_config('role', 'switchboard_tenant', false), set_config('app.tenant_id', $1, false),
                    set_config('default_transaction_read_only', 'on', false)`,
            [tenantId],
          );
          servedTenant.set(client, tenantId);
        }
        const result = await fn(client);
        client.release();
        return result;
      } catch (err) {
        client.release(true);
        throw err;
      }
    },
    end: () => readers.end(),
  };
}
