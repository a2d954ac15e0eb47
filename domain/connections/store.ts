import { z } from 'zod';
import { withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import { decryptSecret, encryptSecret } from '../../lib/secrets.js';

/**
 * A tenant's own provider accounts (table `provider_connections`): one row per tenant and provider,
 * the secret sealed under the master key and bound to the tenant. Only this module seals and
 * unseals them.
 */

export const ConnectedProvider = z.enum(['ghl', 'vapi', 'sendgrid', 'anthropic']);
export type ConnectedProvider = z.infer<typeof ConnectedProvider>;
export type ConnectionMethod = 'oauth' | 'private_token' | 'api_key';

const Secret = z.object({ token: z.string(), refreshToken: z.string().optional() });
export type ConnectionSecret = z.infer<typeof Secret>;

export interface Connection {
  tenantId: string;
  provider: ConnectedProvider;
  method: ConnectionMethod;
  status: 'connected' | 'broken';
  accountId: string;
  accountName: string | null;
  scopes: string[];
  secret: ConnectionSecret;
  secretHint: string;
  expiresAt: Date | null;
  settings: Record<string, unknown>;
  lastError: string | null;
  refreshedAt: Date | null;
  updatedAt: Date;
}

interface ConnectionRow {
  tenant_id: string;
  provider: ConnectedProvider;
  method: ConnectionMethod;
  status: 'connected' | 'broken';
  account_id: string;
  account_name: string | null;
  scopes: string[];
  secret_sealed: string;
  secret_hint: string;
  expires_at: Date | null;
  settings: Record<string, unknown>;
  last_error: string | null;
  refreshed_at: Date | null;
  updated_at: Date;
}

const HOW_TO_CONNECT: Record<ConnectedProvider | 'retell', string> = {
  ghl: 'connect GoHighLevel first (POST /v1/connections/ghl/authorize or PUT /v1/connections/ghl)',
  vapi: 'connect Vapi first (PUT /v1/connections/vapi)',
  sendgrid: 'connect SendGrid first (PUT /v1/connections/sendgrid)',
  anthropic: 'connect Anthropic first (PUT /v1/connections/anthropic)',
  retell: 'connect Retell first (PUT /v1/admin/tenants/{tenantId}/credentials/retell)',
};

/** The tenant has no usable connection to the provider: someone has to connect (or reconnect) it. */
export class NotConnectedError extends Error {
  override readonly name = 'NotConnectedError';
  constructor(
    readonly provider: ConnectedProvider | 'retell',
    readonly reason: 'missing' | 'broken',
    detail?: string,
  ) {
    super(
      reason === 'missing'
        ? HOW_TO_CONNECT[provider]
        : `the ${provider === 'ghl' ? 'GoHighLevel' : provider} connection is broken${detail ? ` (${detail})` : ''}: ` +
            HOW_TO_CONNECT[provider].replace(/^connect (\S+) first/, 'reconnect it'),
    );
  }
}

/** A second tenant naming a GHL location or Vapi org that is already someone's. */
export class AccountTakenError extends Error {
  constructor(provider: ConnectedProvider, accountId: string) {
    super(`${provider === 'ghl' ? 'location' : 'account'} '${accountId}' is connected to another tenant`);
  }
}

export const hintOf = (secret: string) => `…${secret.slice(-4)}`;

function fromRow(masterKey: Buffer, r: ConnectionRow): Connection {
  return {
    tenantId: r.tenant_id,
    provider: r.provider,
    method: r.method,
    status: r.status,
    accountId: r.account_id,
    accountName: r.account_name,
    scopes: r.scopes,
    secret: Secret.parse(JSON.parse(decryptSecret(masterKey, r.tenant_id, r.secret_sealed))),
    secretHint: r.secret_hint,
    expiresAt: r.expires_at,
    settings: r.settings,
    lastError: r.last_error,
    refreshedAt: r.refreshed_at,
    updatedAt: r.updated_at,
  };
}

/** The connection on an open tenant transaction; `forUpdate` locks the row (token refresh). */
export async function readConnectionOn(
  c: PoolClient,
  masterKey: Buffer,
  tenantId: string,
  provider: ConnectedProvider,
  opts: { forUpdate?: boolean } = {},
): Promise<Connection | undefined> {
  const { rows } = await c.query<ConnectionRow>(
    `select * from provider_connections where tenant_id = $1 and provider = $2${opts.forUpdate ? ' for update' : ''}`,
    [tenantId, provider],
  );
  return rows[0] && fromRow(masterKey, rows[0]);
}

export function readConnection(
  pool: Pool,
  masterKey: Buffer,
  tenantId: string,
  provider: ConnectedProvider,
): Promise<Connection | undefined> {
  return withTenant(pool, tenantId, (c) => readConnectionOn(c, masterKey, tenantId, provider));
}

export async function listConnections(pool: Pool, masterKey: Buffer, tenantId: string): Promise<Connection[]> {
  return withTenant(pool, tenantId, async (c) => {
    const { rows } = await c.query<ConnectionRow>(
      'select * from provider_connections where tenant_id = $1 order by provider',
      [tenantId],
    );
    return rows.map((r) => fromRow(masterKey, r));
  });
}

export interface NewConnection {
  provider: ConnectedProvider;
  method: ConnectionMethod;
  accountId: string;
  accountName?: string | null;
  scopes?: string[];
  secret: ConnectionSecret;
  expiresAt?: Date | null;
  settings?: Record<string, unknown>;
}

/**
 * Stores (or replaces) the tenant's connection as `connected`, on an open tenant transaction. A
 * location or org already bound to another tenant is refused by the unique index, which sees
 * every tenant's rows.
 */
export async function saveConnectionOn(
  c: PoolClient,
  masterKey: Buffer,
  tenantId: string,
  conn: NewConnection,
): Promise<void> {
  await c.query('savepoint save_connection');
  try {
    await c.query(
      `insert into provider_connections
         (tenant_id, provider, method, status, account_id, account_name, scopes, secret_sealed, secret_hint, expires_at,
          settings, last_error, refreshed_at)
       values ($1, $2, $3, 'connected', $4, $5, $6, $7, $8, $9, $10, null, null)
       on conflict (tenant_id, provider) do update set method = excluded.method, status = 'connected',
         account_id = excluded.account_id, account_name = excluded.account_name, scopes = excluded.scopes,
         secret_sealed = excluded.secret_sealed, secret_hint = excluded.secret_hint, expires_at = excluded.expires_at,
         settings = excluded.settings, last_error = null, refreshed_at = null, updated_at = now()`,
      [
        tenantId,
        conn.provider,
        conn.method,
        conn.accountId,
        conn.accountName ?? null,
        conn.scopes ?? [],
        encryptSecret(masterKey, tenantId, JSON.stringify(conn.secret)),
        hintOf(conn.secret.token),
        conn.expiresAt ?? null,
        JSON.stringify(conn.settings ?? {}),
      ],
    );
    await c.query('release savepoint save_connection');
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    await c.query('rollback to savepoint save_connection');
    throw new AccountTakenError(conn.provider, conn.accountId);
  }
}

/** A rotated token pair, stored in the transaction that consumed the old one. */
export async function storeRefreshedOn(
  c: PoolClient,
  masterKey: Buffer,
  tenantId: string,
  provider: ConnectedProvider,
  secret: ConnectionSecret,
  expiresAt: Date,
): Promise<void> {
  await c.query(
    `update provider_connections set secret_sealed = $3, secret_hint = $4, expires_at = $5, status = 'connected',
       last_error = null, refreshed_at = now(), updated_at = now() where tenant_id = $1 and provider = $2`,
    [tenantId, provider, encryptSecret(masterKey, tenantId, JSON.stringify(secret)), hintOf(secret.token), expiresAt],
  );
}

/** The provider refused the credential for good: nothing retries it until the tenant reconnects. */
export async function markBrokenOn(c: PoolClient, tenantId: string, provider: ConnectedProvider, reason: string) {
  await c.query(
    `update provider_connections set status = 'broken', last_error = $3, updated_at = now()
      where tenant_id = $1 and provider = $2`,
    [tenantId, provider, reason.slice(0, 500)],
  );
}

export async function deleteConnection(pool: Pool, tenantId: string, provider: ConnectedProvider): Promise<boolean> {
  return withTenant(pool, tenantId, async (c) => {
    const { rowCount } = await c.query('delete from provider_connections where tenant_id = $1 and provider = $2', [
      tenantId,
      provider,
    ]);
    return (rowCount ?? 0) > 0;
  });
}

/** The tenant the environment's provider keys serve, as the last migration or an operator recorded it. */
export async function recordedPlatformTenant(pool: Pool): Promise<string | undefined> {
  const { rows } = await pool.query<{ value: string }>(
    `select value from platform_settings where key = 'platform_tenant'`,
  );
  return rows[0]?.value;
}
