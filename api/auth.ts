import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from '../lib/db.js';
import { findTenantKey, hashKey, sameKey, type Principal, type Scope, type TenantPrincipal } from './apiKeys.js';
import { Lru } from '../lib/lru.js';
import { fail } from './http/errors.js';
import { markAuth } from './http/openapi.js';
import { authenticateSession } from './sessions.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyInstance {
    /** preHandler: 401 without a valid key, 403 when the key lacks `scope`. */
    requireScope(scope: Scope): (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** preHandler: 401 without a valid key, 403 for the platform admin key; any tenant key passes (the route checks scopes). */
    requireTenantKey(): (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** Drops a revoked key from this process's lookup cache at once. */
    forgetApiKey(keyId: string): void;
    /** The rate-limit bucket of a key this process has verified recently (no lookup); else undefined. */
    verifiedKeyBucket(req: FastifyRequest): string | undefined;
    /**
     * Records the bucket of a bearer credential verified elsewhere (an OAuth access token on /mcp), so
     * its next requests draw from its own budget, not its IP's (Claude's connectors share addresses).
     */
    rememberVerifiedBucket(token: string, bucket: string): void;
  }
}

const KEY_CACHE_MS = 5_000;
const KEY_CACHE_MAX = 10_000;
// Keys that failed: cached apart, so a flood of made-up keys cannot push out the real ones.
const BAD_KEY_CACHE_MAX = 2_000;
// Which rate-limit bucket a verified key draws from: remembered longer than the key itself (a
// revoked key still fails auth), so its requests stay on its own budget between lookups.
const BUCKET_MS = 60 * 60_000;

function presentedKey(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim() || undefined;
  const apiKey = req.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey ? apiKey : undefined;
}

/** The tenant a request acts for; routes behind requireScope('read'|'act') always have one. */
export function tenantOf(req: FastifyRequest): TenantPrincipal {
  if (req.principal?.kind !== 'tenant') throw new Error('route reached without a tenant principal');
  return req.principal;
}

/** Authenticates `Authorization: Bearer <key>` or `x-api-key: <key>` against the admin key and api_keys. */
export const authPlugin = fp<{ pool: Pool; adminKey: string }>(
  async (app, opts) => {
    const adminHash = hashKey(opts.adminKey);
    app.decorateRequest('principal', undefined);

    // Key lookups are cached briefly (hot read paths authenticate every request). A key revoked
    // through this process stops at once; through another replica, within KEY_CACHE_MS.
    const cache = new Lru<string, TenantPrincipal>(KEY_CACHE_MAX, KEY_CACHE_MS);
    const bad = new Lru<string, true>(BAD_KEY_CACHE_MAX, KEY_CACHE_MS);
    const buckets = new Lru<string, string>(KEY_CACHE_MAX, BUCKET_MS);
    const lookup = async (key: string): Promise<TenantPrincipal | undefined> => {
      const id = hashKey(key).toString('base64url');
      const hit = cache.get(id);
      if (hit) return hit;
      if (bad.get(id)) return undefined;
      const principal = await findTenantKey(opts.pool, key);
      if (principal) {
        cache.set(id, principal);
        buckets.set(id, `key:${principal.keyId}`);
      } else bad.set(id, true);
      return principal;
    };
    app.decorate('forgetApiKey', (keyId: string) => cache.deleteWhere((p) => p.keyId === keyId));
    app.decorate('rememberVerifiedBucket', (token: string, bucket: string) =>
      buckets.set(hashKey(token).toString('base64url'), bucket),
    );
    app.decorate('verifiedKeyBucket', (req: FastifyRequest) => {
      const key = presentedKey(req);
      if (!key) return undefined;
      const hash = hashKey(key);
      if (sameKey(hash, adminHash)) return 'admin';
      return buckets.get(hash.toString('base64url'));
    });

    /** Sets req.principal, or answers 401 and returns false. */
    const identify = async (req: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
      const key = presentedKey(req);
      // No key: a user's sign-in session cookie (api/sessions.ts) authenticates /v1 routes alike.
      const session = key ? undefined : await authenticateSession(opts.pool, req);
      if (session?.kind === 'ok') {
        req.principal = session.principal;
        return true;
      }
      if (session?.kind === 'refused') {
        void fail(reply, session.status, session.message);
        return false;
      }
      if (!key) {
        void reply.header('WWW-Authenticate', 'Bearer realm="switchboard"');
        void fail(reply, 401, 'missing API key: send Authorization: Bearer <key> or x-api-key');
        return false;
      }
      const principal: Principal | undefined = sameKey(hashKey(key), adminHash) ? { kind: 'admin' } : await lookup(key);
      if (!principal) {
        void reply.header('WWW-Authenticate', 'Bearer realm="switchboard", error="invalid_token"');
        void fail(reply, 401, 'invalid or revoked API key');
        return false;
      }
      req.principal = principal;
      return true;
    };
    const notForAdmin = (reply: FastifyReply) =>
      fail(reply, 403, 'the platform admin key is not bound to a tenant; use a tenant API key');

    // Marked, so the OpenAPI document declares the route's security and its 401/403 (api/http/openapi.ts).
    app.decorate('requireScope', (scope: Scope) =>
      markAuth(async (req: FastifyRequest, reply: FastifyReply) => {
        if (!(await identify(req, reply))) return reply;
        const principal = req.principal!;
        if (principal.kind === 'admin') {
          if (scope === 'admin') return;
          return notForAdmin(reply);
        }
        if (!principal.scopes.includes(scope)) {
          const who = principal.userId ? "this user's role" : 'this API key';
          return fail(reply, 403, `${who} lacks the '${scope}' scope`);
        }
      }),
    );
    app.decorate('requireTenantKey', () =>
      markAuth(async (req: FastifyRequest, reply: FastifyReply) => {
        if (!(await identify(req, reply))) return reply;
        if (req.principal!.kind === 'admin') return notForAdmin(reply);
      }),
    );
  },
  { name: 'switchboard-auth' },
);

/** 403 unless the principal may act for `tenantId`: the platform admin, or a key of that tenant. */
export function assertTenantAccess(req: FastifyRequest, reply: FastifyReply, tenantId: string): boolean {
  const p = req.principal;
  if (p?.kind === 'admin' || (p?.kind === 'tenant' && p.tenantId === tenantId)) return true;
  void fail(reply, 403, `this API key does not belong to tenant '${tenantId}'`);
  return false;
}
