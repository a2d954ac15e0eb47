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
