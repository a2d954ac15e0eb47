import { createHash } from 'node:crypto';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { asSystem, withTenant, type Pool } from '../../lib/db.js';

/**
 * The authorization server's storage: oidc-provider's adapter interface over `oauth_store`
 * (sql/015_oauth.sql). Every replica reads the same rows, so a grant revoked anywhere stops
 * working everywhere at once — there is no per-process token cache.
 */

const hashId = (id: string): string => createHash('sha256').update(id).digest('base64url');

/** `accountId` of a tenant user, as tokens carry it: the tenant and the user it binds. */
export const accountIdOf = (tenantId: string, userId: string): string => `${tenantId}/${userId}`;
export function parseAccountId(accountId: unknown): { tenantId: string; userId: string } | undefined {
  if (typeof accountId !== 'string') return undefined;
  const slash = accountId.indexOf('/');
  if (slash <= 0 || slash === accountId.length - 1) return undefined;
  return { tenantId: accountId.slice(0, slash), userId: accountId.slice(slash + 1) };
}

/**
 * Models whose id is a credential (a token, a code): their payload's `jti` (the same value) is not
 * stored; find() puts it back from the id it was asked for.
 */
const SECRET_ID_MODELS = new Set([
  'AccessToken',
  'RefreshToken',
  'AuthorizationCode',
  'ClientCredentials',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'RegistrationAccessToken',
  'InitialAccessToken',
  'PushedAuthorizationRequest',
]);

/** How often a process sweeps rows expired for a day (codes, interactions, tokens, grants). */
const SWEEP_EVERY_MS = 10 * 60_000;

/** One adapter per model, as the library asks (`new Adapter(name)`). */
export function postgresAdapter(pool: Pool): new (model: string) => Adapter {
  let lastSweep = 0;
  const sweep = () => {
    if (Date.now() - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = Date.now();
    // Housekeeping across tenants, off the request's path; a day's grace keeps recent rows for inspection.
    void asSystem(pool, (c) => c.query(`delete from oauth_store where expires_at < now() - interval '1 day'`)).catch(
      () => undefined,
    );
  };
  return class PostgresAdapter implements Adapter {
    constructor(readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const account = parseAccountId(payload.accountId);
      const grantId = this.model === 'Grant' ? id : (payload.grantId ?? null);
      const stored = SECRET_ID_MODELS.has(this.model) ? { ...payload, jti: undefined } : payload;
      sweep();
      // The id names the row; the library alone decides its content (cross-tenant by nature).
      await asSystem(pool, (c) =>
        c.query(
          `insert into oauth_store (model, id_hash, payload, grant_id, uid, user_code, tenant_id, user_id, client_id, expires_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, case when $10::int > 0 then now() + make_interval(secs => $10) end)
           on conflict (model, id_hash) do update set payload = excluded.payload, grant_id = excluded.grant_id,
             uid = excluded.uid, user_code = excluded.user_code, tenant_id = excluded.tenant_id,
             user_id = excluded.user_id, client_id = excluded.client_id, expires_at = excluded.expires_at`,
          [
            this.model,
            hashId(id),
            JSON.stringify(stored),
            grantId,
            payload.uid ?? null,
            payload.userCode ?? null,
            account?.tenantId ?? null,
            account?.userId ?? null,
            payload.clientId ?? null,
            Math.max(0, Math.floor(expiresIn ?? 0)),
          ],
        ),
      );
    }

    private async findWhere(where: string, value: string): Promise<AdapterPayload | undefined> {
      // A token, cookie or uid is all the caller has: the row (and its tenant) is found by it.
      const { rows } = await asSystem(pool, (c) =>
        c.query<{ payload: AdapterPayload; consumed: number | null }>(
          `select payload, extract(epoch from consumed_at)::int as consumed from oauth_store
            where model = $1 and ${where} = $2 and (expires_at is null or expires_at > now())`,
          [this.model, value],
        ),
      );
      const row = rows[0];
      if (!row) return undefined;
      return row.consumed ? { ...row.payload, consumed: row.consumed } : row.payload;
    }

    async find(id: string) {
      const payload = await this.findWhere('id_hash', hashId(id));
      return payload && SECRET_ID_MODELS.has(this.model) ? { ...payload, jti: id } : payload;
    }
    findByUid(uid: string) {
      return this.findWhere('uid', uid);
    }
    findByUserCode(userCode: string) {
      return this.findWhere('user_code', userCode);
    }

    async consume(id: string): Promise<void> {
      // Atomic: of two requests redeeming the same code or refresh token at once, one wins.
      const { rowCount } = await asSystem(pool, (c) =>
        c.query(
          'update oauth_store set consumed_at = now() where model = $1 and id_hash = $2 and consumed_at is null',
          [this.model, hashId(id)],
        ),
      );
      if (!rowCount) throw new errors.InvalidGrant(`${this.model} already used`);
    }

    async destroy(id: string): Promise<void> {
      // A grant destroyed by the library (e.g. a refresh token replayed) takes its tokens along.
      await asSystem(pool, async (c) => {
        await c.query('delete from oauth_store where model = $1 and id_hash = $2', [this.model, hashId(id)]);
        if (this.model === 'Grant') await c.query('delete from oauth_store where grant_id = $1', [id]);
      });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await asSystem(pool, (c) =>
        c.query('delete from oauth_store where grant_id = $1 and model = $2', [grantId, this.model]),
      );
    }
  };
}

/** An access token as /mcp sees it: live, under a live grant, with what it was issued for. */
export interface LiveAccessToken {
  tenantId: string;
  userId: string;
  clientId: string;
  grantId: string;
  scopes: string[];
  audience: string[];
  /** The user's role's scopes now (a demoted user's tokens lose scopes at once). */
  roleScopes: string[];
}

/**
 * Looks a presented access token up, in one query, on every request: the token (not expired),
 * its grant (not revoked, not expired) and its user (still there, with the role they have now).
 */
export async function findLiveAccessToken(pool: Pool, token: string): Promise<LiveAccessToken | undefined> {
  // The token is what tells us the tenant.
  const { rows } = await asSystem(pool, (c) =>
    c.query<{ payload: AdapterPayload; tenant_id: string; user_id: string; role: string }>(
      `select t.payload, g.tenant_id, g.user_id, u.role
         from oauth_store t
         join oauth_store g on g.model = 'Grant' and g.grant_id = t.grant_id
                            and (g.expires_at is null or g.expires_at > now())
         join users u on u.id = g.user_id and u.tenant_id = g.tenant_id
        where t.model = 'AccessToken' and t.id_hash = $1 and t.expires_at > now()
          and t.tenant_id = g.tenant_id and t.user_id = g.user_id and t.client_id = g.client_id`,
      [hashId(token)],
    ),
  );
  const row = rows[0];
  if (!row) return undefined;
  const p = row.payload;
  const aud = (p as { aud?: unknown }).aud;
  const roleScopes = { owner: ['read', 'act', 'admin'], operator: ['read', 'act'], viewer: ['read'] }[row.role] ?? [];
  return {
    tenantId: row.tenant_id,
    userId: row.user_id,
    clientId: String(p.clientId),
    grantId: String(p.grantId),
    scopes: typeof p.scope === 'string' ? p.scope.split(' ').filter(Boolean) : [],
    audience: Array.isArray(aud) ? aud.map(String) : typeof aud === 'string' ? [aud] : [],
    roleScopes,
  };
}

/** Remembers the client's name on a grant as the consent page showed it (for the owners' list). */
export async function nameGrantClient(pool: Pool, tenantId: string, grantId: string, name: string): Promise<void> {
  // The grant row was just written by the adapter (as the system role); the tenant's role may not update it.
  await asSystem(pool, (c) =>
    c.query(`update oauth_store set client_name = $3 where model = 'Grant' and grant_id = $1 and tenant_id = $2`, [
      grantId,
      tenantId,
      name.slice(0, 200),
    ]),
  );
}

export interface ConnectedClient {
  clientId: string;
  clientName: string | null;
  users: { userId: string; email: string | null; scopes: string[]; connectedAt: string; expiresAt: string | null }[];
}

/** The clients the tenant's users connected (live grants), each with who connected it and with which scopes. */
export async function listConnectedClients(pool: Pool, tenantId: string): Promise<ConnectedClient[]> {
  const { rows } = await withTenant(pool, tenantId, (c) =>
    c.query<{
      client_id: string;
      client_name: string | null;
      user_id: string;
      email: string | null;
      payload: { resources?: Record<string, string> };
      created_at: Date;
      expires_at: Date | null;
    }>(
      `select g.client_id, g.client_name, g.user_id, u.email, g.payload, g.created_at, g.expires_at
         from oauth_store g left join users u on u.id = g.user_id
        where g.model = 'Grant' and (g.expires_at is null or g.expires_at > now())
        order by g.client_id, g.created_at`,
    ),
  );
  const byClient = new Map<string, ConnectedClient>();
  for (const r of rows) {
    let entry = byClient.get(r.client_id);
    if (!entry) byClient.set(r.client_id, (entry = { clientId: r.client_id, clientName: null, users: [] }));
    entry.clientName = r.client_name ?? entry.clientName;
    const scopes = [...new Set(Object.values(r.payload.resources ?? {}).flatMap((s) => s.split(' ')))].filter(Boolean);
    entry.users.push({
      userId: r.user_id,
      email: r.email,
      scopes,
      connectedAt: r.created_at.toISOString(),
      expiresAt: r.expires_at?.toISOString() ?? null,
    });
  }
  return [...byClient.values()];
}

/**
 * Revokes every grant of a client in the tenant, with all codes and tokens issued under them, in
 * the tenant's own transaction (row-level security: another tenant's grants of the same client
 * stay). Returns how many grants went.
 */
export async function revokeClientGrants(pool: Pool, tenantId: string, clientId: string): Promise<number> {
  return withTenant(pool, tenantId, async (c) => {
    const grants = await c.query<{ grant_id: string }>(
      `delete from oauth_store where model = 'Grant' and client_id = $1 returning grant_id`,
      [clientId],
    );
    const ids = grants.rows.map((r) => r.grant_id);
    if (ids.length) await c.query('delete from oauth_store where grant_id = any($1)', [ids]);
    return ids.length;
  });
}
