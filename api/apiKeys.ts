import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { asSystem, withTenant, type Pool } from '../lib/db.js';

export const Scope = z.enum(['read', 'act', 'admin']);
export type Scope = z.infer<typeof Scope>;

export interface TenantPrincipal {
  kind: 'tenant';
  keyId: string;
  tenantId: string;
  scopes: Scope[];
  /** Set when a user's sign-in session authenticated the request (keyId is then `user:<userId>`). */
  userId?: string;
  sessionId?: string;
  /** Set when an OAuth access token authenticated the request (/mcp): the client it was issued to (keyId is `oauth:<grant>`). */
  oauthClientId?: string;
}
/** The platform admin key (SWITCHBOARD_ADMIN_KEY or `<data dir>/admin-key`): manages tenants, bound to none. */
export interface AdminPrincipal {
  kind: 'admin';
}
export type Principal = TenantPrincipal | AdminPrincipal;

/** Keys are 32 random bytes; a fast hash is enough to store them (nothing to brute-force). */
export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export function generateKey(prefix: 'sb' | 'sbadmin' = 'sb'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function sameKey(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface CreatedKey {
  id: string;
  tenantId: string;
  name: string;
  scopes: Scope[];
  /** Shown once; only its hash is stored. */
  key: string;
  keyPrefix: string;
  createdAt: string;
}

export async function createApiKey(pool: Pool, tenantId: string, name: string, scopes: Scope[]): Promise<CreatedKey> {
  const key = generateKey();
  const id = `key_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
  const keyPrefix = key.slice(0, 10);
  const { rows } = await withTenant(pool, tenantId, (c) =>
    c.query<{ created_at: Date }>(
      `insert into api_keys (id, tenant_id, name, key_hash, key_prefix, scopes) values ($1, $2, $3, $4, $5, $6) returning created_at`,
      [id, tenantId, name, hashKey(key), keyPrefix, scopes],
    ),
  );
  return { id, tenantId, name, scopes, key, keyPrefix, createdAt: rows[0]!.created_at.toISOString() };
}

/** Looks a presented key up by hash; revoked keys do not authenticate. */
export async function findTenantKey(pool: Pool, key: string): Promise<TenantPrincipal | undefined> {
  // Cross-tenant: the key is what tells us the tenant.
  const { rows } = await asSystem(pool, (c) =>
    c.query<{ id: string; tenant_id: string; scopes: Scope[]; stale: boolean }>(
      `select id, tenant_id, scopes, (last_used_at is null or last_used_at < now() - interval '1 minute') as stale
         from api_keys where key_hash = $1 and revoked_at is null`,
      [hashKey(key)],
    ),
  );
  const row = rows[0];
  if (!row) return undefined;
  // last_used_at is advisory: updated at most once a minute, off the request's critical path.
  if (row.stale)
    void withTenant(pool, row.tenant_id, (c) =>
      c.query('update api_keys set last_used_at = now() where id = $1', [row.id]),
    ).catch(() => undefined);
  return { kind: 'tenant', keyId: row.id, tenantId: row.tenant_id, scopes: row.scopes };
}
