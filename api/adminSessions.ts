import type { FastifyReply, FastifyRequest } from 'fastify';
import { asSystem, type Pool } from '../lib/db.js';
import { insertAudit } from '../domain/audit.js';
import { sameKey, type Principal } from './apiKeys.js';
import { fail } from './http/errors.js';
import { markAuth } from './http/openapi.js';
import {
  CSRF_HEADER,
  csrfTokenOf,
  hashToken,
  newToken,
  newUserId,
  readCookie,
  ROLE_SCOPES,
  SESSION_COOKIE,
  type CreatedSession,
} from './sessions.js';

/**
 * The platform admin in the console. The admin key is exchanged once, at the sign-in screen, for a
 * cookie session (`sb_session`, token prefix `sba_`, 8 hours, not rolling); the key itself never
 * sits in the browser. The session views one tenant at a time: switched to a tenant, its requests
 * carry that tenant and an owner's scopes — keyId `admin-session:<id>` — so every /v1 route works as
 * for the tenant's owner, and nothing of another tenant is reachable. Each switch is written to the
 * audit log of the tenant switched to. A tenant's own users cannot switch: only this session can.
 */

export const ADMIN_TOKEN_PREFIX = 'sba';
export const ADMIN_SESSION_MS = 8 * 3_600_000;
export const ADMIN_KEY_ID_PREFIX = 'admin-session:';

export const isAdminSessionToken = (token: string) => token.startsWith(`${ADMIN_TOKEN_PREFIX}_`);

export interface AdminSession {
  id: string;
  tenantId: string | null;
}

export async function createAdminSession(pool: Pool): Promise<CreatedSession> {
  const token = newToken(ADMIN_TOKEN_PREFIX);
  const id = newUserId('adm');
  const { rows } = await asSystem(pool, (c) =>
    c.query<{ expires_at: Date }>(
      `insert into admin_sessions (id, token_hash, expires_at) values ($1, $2, now() + make_interval(secs => $3))
       returning expires_at`,
      [id, hashToken(token), ADMIN_SESSION_MS / 1000],
    ),
  );
  return { id, token, csrfToken: csrfTokenOf(token), expiresAt: rows[0]!.expires_at };
}

/** A live admin session by its cookie token. */
export async function findAdminSession(pool: Pool, token: string): Promise<AdminSession | undefined> {
  if (!isAdminSessionToken(token)) return undefined;
  const { rows } = await asSystem(pool, (c) =>
    c.query<{ id: string; tenant_id: string | null }>(
      `select id, tenant_id from admin_sessions where token_hash = $1 and revoked_at is null and expires_at > now()`,
      [hashToken(token)],
    ),
  );
  return rows[0] && { id: rows[0].id, tenantId: rows[0].tenant_id };
}

/** What an admin session's requests act as: the tenant it views (as its owner), or the platform admin. */
export function adminSessionPrincipal(s: AdminSession): Principal {
  if (!s.tenantId) return { kind: 'admin' };
  return { kind: 'tenant', keyId: `${ADMIN_KEY_ID_PREFIX}${s.id}`, tenantId: s.tenantId, scopes: ROLE_SCOPES.owner };
}

/** Views `tenantId` (null: back to the picker); the switch is written to that tenant's audit log. */
export async function switchTenant(pool: Pool, s: AdminSession, tenantId: string | null): Promise<boolean> {
  return asSystem(pool, async (c) => {
    if (tenantId) {
      const { rowCount } = await c.query('select 1 from tenants where id = $1', [tenantId]);
      if (!rowCount) return false;
    }
    await c.query('update admin_sessions set tenant_id = $2 where id = $1', [s.id, tenantId]);
    if (tenantId)
      await insertAudit(c, {
        tenantId,
        activity: 'adminSession',
        tool: 'admin_switch_tenant',
        params: { adminSession: s.id, from: s.tenantId },
        status: 'ok',
        durationMs: 0,
        source: 'live',
      });
    return true;
  });
}

export async function endAdminSession(pool: Pool, id: string): Promise<void> {
  await asSystem(pool, (c) => c.query('update admin_sessions set revoked_at = now() where id = $1', [id]));
}

declare module 'fastify' {
  interface FastifyRequest {
    adminSession: AdminSession | undefined;
  }
}

/**
 * preHandler for the admin session's own routes (the tenant list, the switch, sign-out): the cookie
 * must be a live admin session — a tenant user's session is a 403 — and writes carry its CSRF token.
 */
export function requireAdminSession(pool: Pool) {
  return markAuth(async (req: FastifyRequest, reply: FastifyReply) => {
    const token = readCookie(req, SESSION_COOKIE);
    if (!token) return fail(reply, 401, 'sign in as the platform admin first');
    if (!isAdminSessionToken(token)) return fail(reply, 403, 'only the platform admin may switch tenants');
    const s = await findAdminSession(pool, token);
    if (!s) return fail(reply, 401, 'the admin session has expired or was signed out');
    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameKey(Buffer.from(sent), Buffer.from(csrfTokenOf(token))))
        return fail(reply, 403, `send the ${CSRF_HEADER} header`);
    }
    req.adminSession = s;
  });
}
