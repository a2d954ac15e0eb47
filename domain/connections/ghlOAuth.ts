import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { asSystem, withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import { markBrokenOn, NotConnectedError, readConnectionOn, saveConnectionOn, storeRefreshedOn } from './store.js';

/**
 * GoHighLevel Marketplace OAuth 2.0 (authorization code). Access tokens live about a day; the
 * refresh token rotates on every use and the old one dies at once, so a refresh is single-flight
 * across every process: the connection row is locked, re-read, refreshed and rewritten in one
 * transaction. Two workers refreshing at once: the second waits on the lock, finds the new token
 * and uses it.
 */

export interface GhlOAuthConfig {
  clientId: string;
  clientSecret: string;
  /** `https://marketplace.gohighlevel.com/oauth/chooselocation`, or the sandbox's consent page. */
  authorizeUrl: string;
  /** `<GHL base URL>/oauth/token`. */
  tokenUrl: string;
  scopes: string[];
  /** Where GHL sends the browser back: `<public URL>/oauth/ghl/callback` (known once the API listens). */
  redirectUri(): string;
}

/** Refresh when the access token has less than this left, so no request starts with a dying token. */
export const REFRESH_AHEAD_MS = 5 * 60_000;
const STATE_TTL_MS = 10 * 60_000;

const TokenResponse = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  scope: z.string().optional(),
  userType: z.string().optional(),
  locationId: z.string().min(1).optional(),
  companyId: z.string().optional(),
});
type TokenResponse = z.infer<typeof TokenResponse>;

/** GHL refused the grant (revoked, reused or expired refresh token; bad code): the connection is broken. */
export class GhlGrantRefused extends Error {}

async function tokenRequest(cfg: GhlOAuthConfig, grant: Record<string, string>): Promise<TokenResponse> {
  const body = new URLSearchParams({
    client_id: cfg.clientId,
    client_secret: cfg.clientSecret,
    user_type: 'Location',
    ...grant,
  });
  const res = await fetch(cfg.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.status === 400 || res.status === 401) {
    const e = z.looseObject({ error: z.string().optional(), error_description: z.string().optional() }).safeParse(json);
    const why = e.success ? [e.data.error, e.data.error_description].filter(Boolean).join(': ') : text.slice(0, 200);
    throw new GhlGrantRefused(`GoHighLevel refused the ${grant.grant_type} grant (HTTP ${res.status}): ${why}`);
  }
  if (!res.ok) throw new Error(`GoHighLevel token endpoint answered HTTP ${res.status}`);
  const parsed = TokenResponse.safeParse(json);
  if (!parsed.success)
    throw new Error(`GoHighLevel token endpoint: unexpected answer (${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

/** Starts an authorization for the tenant: the URL to send its user to (state lives 10 minutes). */
export async function beginGhlAuthorization(
  pool: Pool,
  cfg: GhlOAuthConfig,
  tenantId: string,
  returnTo?: string,
): Promise<{ url: string; state: string; expiresAt: Date }> {
  const state = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + STATE_TTL_MS);
  await withTenant(pool, tenantId, (c) =>
    c.query(
      `insert into oauth_states (state, tenant_id, provider, return_to, expires_at) values ($1, $2, 'ghl', $3, $4)`,
      [state, tenantId, returnTo ?? null, expiresAt],
    ),
  );
  const url = new URL(cfg.authorizeUrl);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', cfg.clientId);
  url.searchParams.set('redirect_uri', cfg.redirectUri());
  url.searchParams.set('scope', cfg.scopes.join(' '));
  url.searchParams.set('state', state);
  return { url: url.toString(), state, expiresAt };
}

/** Why a callback could not connect anything; shown to the person in the browser. */
export class OAuthCallbackError extends Error {}

/**
 * The browser came back from GHL: the state names the tenant (used once), the code becomes the
 * token pair, and the location is the one GHL says the token covers.
 */
export async function completeGhlAuthorization(
  pool: Pool,
  masterKey: Buffer,
  cfg: GhlOAuthConfig,
  input: { state: string; code: string },
): Promise<{ tenantId: string; locationId: string; returnTo: string | null }> {
  // The state is looked up before any tenant is known: a privileged, single-row delete.
  const { rows } = await asSystem(pool, (c) =>
    c.query<{ tenant_id: string; return_to: string | null }>(
      `delete from oauth_states where state = $1 and provider = 'ghl' and expires_at > now() returning tenant_id, return_to`,
      [input.state],
    ),
  );
  const pending = rows[0];
  if (!pending) throw new OAuthCallbackError('this authorization link is unknown, used or expired: start again');
  let token: TokenResponse;
  try {
    token = await tokenRequest(cfg, {
      grant_type: 'authorization_code',
      code: input.code,
      redirect_uri: cfg.redirectUri(),
    });
  } catch (err) {
    throw new OAuthCallbackError((err as Error).message);
  }
  if (!token.locationId) {
    throw new OAuthCallbackError(
      'GoHighLevel gave an agency-level token: install the app on one sub-account (location)',
    );
  }
  const locationId = token.locationId;
  await withTenant(pool, pending.tenant_id, async (c) => {
    await saveConnectionOn(c, masterKey, pending.tenant_id, {
      provider: 'ghl',
      method: 'oauth',
      accountId: locationId,
      scopes: token.scope ? token.scope.split(/\s+/).filter(Boolean) : cfg.scopes,
      secret: { token: token.access_token, refreshToken: token.refresh_token },
      expiresAt: new Date(Date.now() + token.expires_in * 1000),
      settings: token.companyId ? { companyId: token.companyId } : {},
    });
    await bindCrmLocation(c, pending.tenant_id, locationId);
  });
  return { tenantId: pending.tenant_id, locationId, returnTo: pending.return_to };
}

/** The sync follows the connected location (its settings survive a reconnect). */
export async function bindCrmLocation(c: PoolClient, tenantId: string, locationId: string): Promise<void> {
  await c.query(
    `insert into crm_connections (tenant_id, location_id) values ($1, $2)
     on conflict (tenant_id) do update set location_id = excluded.location_id, updated_at = now()`,
    [tenantId, locationId],
  );
}

type RefreshOutcome = { token: string } | { broken: string };

/**
 * A usable access token for the tenant: the stored one, or — when it is about to expire or GHL just
 * rejected it (`rejected`) — a refreshed one. Single-flight across processes by the row lock.
 */
export async function refreshGhlAccessToken(
  pool: Pool,
  masterKey: Buffer,
  cfg: GhlOAuthConfig,
  tenantId: string,
  rejected?: string,
): Promise<string> {
  const outcome = await withTenant(pool, tenantId, async (c): Promise<RefreshOutcome> => {
    const conn = await readConnectionOn(c, masterKey, tenantId, 'ghl', { forUpdate: true });
    if (!conn) throw new NotConnectedError('ghl', 'missing');
    if (conn.status === 'broken') throw new NotConnectedError('ghl', 'broken', conn.lastError ?? undefined);
    if (conn.method !== 'oauth' || !conn.secret.refreshToken) {
      // A private token has no refresh: GHL rejecting it means it was deleted or rotated.
      if (rejected === conn.secret.token) {
        await markBrokenOn(c, tenantId, 'ghl', 'GoHighLevel rejected the private integration token (HTTP 401)');
        return { broken: 'GoHighLevel rejected the private integration token' };
      }
      return { token: conn.secret.token };
    }
    const fresh = conn.expiresAt !== null && conn.expiresAt.getTime() - Date.now() > REFRESH_AHEAD_MS;
    // Someone refreshed while we waited for the lock (or the token is simply good): use it.
    if (fresh && conn.secret.token !== rejected) return { token: conn.secret.token };
    try {
      const next = await tokenRequest(cfg, { grant_type: 'refresh_token', refresh_token: conn.secret.refreshToken });
      await storeRefreshedOn(
        c,
        masterKey,
        tenantId,
        'ghl',
        { token: next.access_token, refreshToken: next.refresh_token },
        new Date(Date.now() + next.expires_in * 1000),
      );
      return { token: next.access_token };
    } catch (err) {
      if (!(err instanceof GhlGrantRefused)) throw err;
      await markBrokenOn(c, tenantId, 'ghl', err.message);
      return { broken: err.message };
    }
  });
  if ('broken' in outcome) throw new NotConnectedError('ghl', 'broken', outcome.broken);
  return outcome.token;
}

/** Drops expired authorization states (called now and then; they are harmless but clutter). */
export async function pruneOAuthStates(pool: Pool): Promise<void> {
  // Cross-tenant housekeeping: every tenant's expired states.
  await asSystem(pool, (c) => c.query('delete from oauth_states where expires_at < now()'));
}
