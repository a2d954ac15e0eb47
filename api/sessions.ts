import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { asSystem, withTenant, type Pool } from '../lib/db.js';
import { sameKey, type Principal, type Scope, type TenantPrincipal } from './apiKeys.js';
import { adminSessionPrincipal, findAdminSession, isAdminSessionToken } from './adminSessions.js';

/**
 * Sign-in sessions of tenant users (the web console's way in, beside API keys). The cookie carries
 * 32 random bytes; only their SHA-256 is stored. A session authenticates `/v1/*` routes like an API
 * key with the user's role's scopes. CSRF: every state-changing request authenticated by the
 * cookie must carry `x-csrf-token`, a value derived from the session token (HMAC), handed out at
 * sign-in in the JSON body and in the readable `sb_csrf` cookie; a cross-site page can neither
 * read it nor set a custom header without a CORS preflight, which this API does not grant.
 */

export const Role = z.enum(['owner', 'operator', 'viewer']);
export type Role = z.infer<typeof Role>;

export const ROLE_SCOPES: Record<Role, Scope[]> = {
  owner: ['read', 'act', 'admin'],
  operator: ['read', 'act'],
  viewer: ['read'],
};

export const SESSION_COOKIE = 'sb_session';
export const CSRF_COOKIE = 'sb_csrf';
export const CSRF_HEADER = 'x-csrf-token';
/** A session dies after this long unused (rolling expiry)… */
export const SESSION_IDLE_MS = 12 * 3_600_000;
/** …and this long after sign-in whatever happens. */
export const SESSION_MAX_MS = 7 * 24 * 3_600_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const hashToken = (token: string): Buffer => createHash('sha256').update(token).digest();
export const newToken = (prefix: string): string => `${prefix}_${randomBytes(32).toString('base64url')}`;
export const newUserId = (prefix: string): string => `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 20)}`;

/** The CSRF token of a session: only a holder of the (httpOnly) session token can compute it. */
export const csrfTokenOf = (sessionToken: string): string =>
  createHmac('sha256', sessionToken).update('switchboard-csrf').digest('base64url');

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface CookieSettings {
  /** Secure cookies: when the public URL is https. */
  secure: boolean;
}

function cookie(name: string, value: string, maxAgeSec: number, opts: CookieSettings & { httpOnly: boolean }) {
  return [
    `${name}=${encodeURIComponent(value)}`,
    'Path=/',
    `Max-Age=${maxAgeSec}`,
    'SameSite=Lax',
    ...(opts.httpOnly ? ['HttpOnly'] : []),
    ...(opts.secure ? ['Secure'] : []),
  ].join('; ');
}

export function setSessionCookies(reply: FastifyReply, token: string, settings: CookieSettings): void {
  const maxAge = Math.floor(SESSION_MAX_MS / 1000);
  void reply.header('set-cookie', [
    cookie(SESSION_COOKIE, token, maxAge, { ...settings, httpOnly: true }),
    cookie(CSRF_COOKIE, csrfTokenOf(token), maxAge, { ...settings, httpOnly: false }),
  ]);
}

export function clearSessionCookies(reply: FastifyReply, settings: CookieSettings): void {
  void reply.header('set-cookie', [
    cookie(SESSION_COOKIE, '', 0, { ...settings, httpOnly: true }),
    cookie(CSRF_COOKIE, '', 0, { ...settings, httpOnly: false }),
  ]);
}

export interface SessionPrincipal extends TenantPrincipal {
  userId: string;
  sessionId: string;
}

export interface CreatedSession {
  id: string;
  token: string;
  csrfToken: string;
  expiresAt: Date;
}

/** A new session for a user (the caller checked the password). */
export async function createSession(pool: Pool, tenantId: string, userId: string): Promise<CreatedSession> {
  const token = newToken('sbs');
  const id = newUserId('ses');
  const { rows } = await withTenant(pool, tenantId, (c) =>
    c.query<{ expires_at: Date }>(
      `insert into sessions (id, tenant_id, user_id, token_hash, expires_at)
       values ($1, $2, $3, $4, now() + make_interval(secs => $5)) returning expires_at`,
      [id, tenantId, userId, hashToken(token), SESSION_IDLE_MS / 1000],
    ),
  );
  return { id, token, csrfToken: csrfTokenOf(token), expiresAt: rows[0]!.expires_at };
}

/** Looks a session token up: live (not revoked, not expired) sessions only, with the user's role now. */
export async function findSession(pool: Pool, token: string): Promise<SessionPrincipal | undefined> {
  // The cookie's token is all a request has: its session (and tenant) is found across tenants.
  const { rows } = await asSystem(pool, (c) =>
    c.query<{ id: string; tenant_id: string; user_id: string; role: Role; stale: boolean }>(
      `select s.id, s.tenant_id, s.user_id, u.role, (s.last_seen_at < now() - interval '1 minute') as stale
         from sessions s join users u on u.id = s.user_id and u.tenant_id = s.tenant_id
        where s.token_hash = $1 and s.revoked_at is null and s.expires_at > now()`,
      [hashToken(token)],
    ),
  );
  const row = rows[0];
  if (!row) return undefined;
  // Rolling expiry, written at most once a minute and off the request's critical path.
  if (row.stale)
    void withTenant(pool, row.tenant_id, (c) =>
      c.query(
        `update sessions set last_seen_at = now(),
                expires_at = least(created_at + make_interval(secs => $2), now() + make_interval(secs => $3))
          where id = $1 and revoked_at is null`,
        [row.id, SESSION_MAX_MS / 1000, SESSION_IDLE_MS / 1000],
      ),
    ).catch(() => undefined);
  return {
    kind: 'tenant',
    keyId: `user:${row.user_id}`,
    tenantId: row.tenant_id,
    scopes: ROLE_SCOPES[row.role],
    userId: row.user_id,
    sessionId: row.id,
  };
}

export type SessionOutcome =
  { kind: 'none' } | { kind: 'ok'; principal: Principal } | { kind: 'refused'; status: 401 | 403; message: string };

/**
 * The session a request presents by cookie, for `/v1/*` routes only (the MCP endpoint and webhooks
 * take their own credentials). A state-changing request must carry the session's CSRF token.
 */
export async function authenticateSession(pool: Pool, req: FastifyRequest): Promise<SessionOutcome> {
  if (!req.url.startsWith('/v1/')) return { kind: 'none' };
  const token = readCookie(req, SESSION_COOKIE);
  if (!token) return { kind: 'none' };
  // The platform admin's console session views one tenant as its owner (api/adminSessions.ts).
  const admin = isAdminSessionToken(token) ? await findAdminSession(pool, token) : undefined;
  const principal = admin ? adminSessionPrincipal(admin) : await findSession(pool, token);
  if (!principal) return { kind: 'refused', status: 401, message: 'the session has expired or was signed out' };
  if (!SAFE_METHODS.has(req.method)) {
    const sent = req.headers[CSRF_HEADER];
    const expected = Buffer.from(csrfTokenOf(token));
    if (typeof sent !== 'string' || !sameKey(Buffer.from(sent), expected)) {
      return {
        kind: 'refused',
        status: 403,
        message: `a request authenticated by the session cookie must send the ${CSRF_HEADER} header (the csrfToken from sign-in, also in the ${CSRF_COOKIE} cookie)`,
      };
    }
  }
  return { kind: 'ok', principal };
}
