import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { asSystem, withTenant, type Pool } from '../../lib/db.js';
import { TenantId } from '../../lib/ids.js';
import { createApiKey, Scope } from '../apiKeys.js';
import { ADMIN_KEY_ID_PREFIX } from '../adminSessions.js';
import { assertTenantAccess, tenantOf } from '../auth.js';
import { ErrorBody, fail } from '../http/errors.js';

const Tenant = z.object({ id: z.string(), name: z.string(), createdAt: z.string() });
const ApiKeyInfo = z.object({
  id: z.string(),
  tenantId: z.string(),
  name: z.string(),
  keyPrefix: z.string().describe('first characters of the key, to recognise it'),
  scopes: z.array(Scope),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
const TenantParams = z.object({ tenantId: TenantId });

/**
 * Tenants are created by the platform admin key; a tenant's keys are managed by the admin key or by
 * one of that tenant's own keys with the `admin` scope.
 */
export const adminRoutes: FastifyPluginAsyncZod<{ pool: Pool }> = async (app, { pool }) => {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);

  app.post(
    '/v1/admin/tenants',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Create a tenant (platform admin key only)',
        tags: ['admin'],
        body: z.strictObject({ id: TenantId, name: z.string().trim().min(1).max(200) }),
        response: { 201: Tenant, 403: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      if (req.principal?.kind !== 'admin') {
        return fail(reply, 403, 'only the platform admin key creates tenants');
      }
      // Cross-tenant by nature: the tenant does not exist yet.
      const { rows } = await asSystem(pool, (c) =>
        c.query<{ id: string; name: string; created_at: Date }>(
          'insert into tenants (id, name) values ($1, $2) on conflict (id) do nothing returning id, name, created_at',
          [req.body.id, req.body.name],
        ),
      );
      const row = rows[0];
      if (!row) return fail(reply, 409, `tenant '${req.body.id}' already exists`);
      return reply.code(201).send({ id: row.id, name: row.name, createdAt: row.created_at.toISOString() });
    },
  );

  app.get(
    '/v1/admin/tenants',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'List tenants visible to the key',
        tags: ['admin'],
        response: { 200: z.object({ tenants: z.array(Tenant) }) },
      },
    },
    async (req) => {
      const own = req.principal?.kind === 'tenant' ? req.principal.tenantId : null;
      const list = (c: { query: typeof pool.query }) =>
        c.query<{ id: string; name: string; created_at: Date }>('select id, name, created_at from tenants order by id');
      // The platform admin lists every tenant (cross-tenant); a tenant key sees its own row only.
      const { rows } = own ? await withTenant(pool, own, list) : await asSystem(pool, list);
      return { tenants: rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at.toISOString() })) };
    },
  );

  app.post(
    '/v1/admin/tenants/:tenantId/keys',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Create an API key for a tenant; the key is returned once',
        tags: ['admin'],
        params: TenantParams,
        body: z.strictObject({
          name: z.string().trim().min(1).max(200),
          scopes: z
            .array(Scope)
            .min(1)
            .refine((s) => new Set(s).size === s.length, 'scopes must not repeat')
            .meta({ uniqueItems: true }),
        }),
        response: {
          201: ApiKeyInfo.omit({ lastUsedAt: true, revokedAt: true }).extend({ key: z.string() }),
          403: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      if (!assertTenantAccess(req, reply, req.params.tenantId)) return reply;
      const tenantId = req.params.tenantId;
      const exists = await withTenant(pool, tenantId, (c) =>
        c.query('select 1 from tenants where id = $1', [tenantId]),
      );
      if (!exists.rowCount) return fail(reply, 404, `tenant '${req.params.tenantId}' does not exist`);
      const created = await createApiKey(pool, req.params.tenantId, req.body.name, req.body.scopes);
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/keys',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "List a tenant's API keys (never the keys themselves)",
        tags: ['admin'],
        params: TenantParams,
        response: { 200: z.object({ keys: z.array(ApiKeyInfo) }), 403: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!assertTenantAccess(req, reply, req.params.tenantId)) return reply;
      const { rows } = await withTenant(pool, req.params.tenantId, (c) =>
        c.query<{
          id: string;
          tenant_id: string;
          name: string;
          key_prefix: string;
          scopes: Scope[];
          created_at: Date;
          last_used_at: Date | null;
          revoked_at: Date | null;
        }>(
          'select id, tenant_id, name, key_prefix, scopes, created_at, last_used_at, revoked_at from api_keys where tenant_id = $1 order by created_at',
          [req.params.tenantId],
        ),
      );
      return {
        keys: rows.map((r) => ({
          id: r.id,
          tenantId: r.tenant_id,
          name: r.name,
          keyPrefix: r.key_prefix,
          scopes: r.scopes,
          createdAt: r.created_at.toISOString(),
          lastUsedAt: iso(r.last_used_at),
          revokedAt: iso(r.revoked_at),
        })),
      };
    },
  );

  app.delete(
    '/v1/admin/tenants/:tenantId/keys/:keyId',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Revoke an API key',
        tags: ['admin'],
        params: TenantParams.extend({ keyId: z.string().min(1) }),
        response: { 204: z.null(), 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!assertTenantAccess(req, reply, req.params.tenantId)) return reply;
      const { rowCount } = await withTenant(pool, req.params.tenantId, (c) =>
        c.query('update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1 and tenant_id = $2', [
          req.params.keyId,
          req.params.tenantId,
        ]),
      );
      if (!rowCount) return fail(reply, 404, `no key '${req.params.keyId}' in tenant '${req.params.tenantId}'`);
      app.forgetApiKey(req.params.keyId);
      return reply.code(204).send(null);
    },
  );
  app.get(
    '/v1/me',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'The tenant and scopes of the calling key, and the user when signed in with a session',
        tags: ['admin'],
        response: {
          200: z.object({
            tenantId: z.string(),
            keyId: z.string(),
            scopes: z.array(z.string()),
            user: z.object({ id: z.string(), email: z.string(), role: z.string() }).optional(),
            platformAdmin: z
              .boolean()
              .optional()
              .describe('the platform admin viewing this tenant (its console session)'),
          }),
        },
      },
    },
    async (req) => {
      const p = tenantOf(req);
      if (p.keyId.startsWith(ADMIN_KEY_ID_PREFIX))
        return { tenantId: p.tenantId, keyId: p.keyId, scopes: p.scopes, platformAdmin: true };
      if (!p.userId) return { tenantId: p.tenantId, keyId: p.keyId, scopes: p.scopes };
      const { rows } = await withTenant(pool, p.tenantId, (c) =>
        c.query<{ id: string; email: string; role: string }>(
          'select id, email, role from users where tenant_id = $1 and id = $2',
          [p.tenantId, p.userId],
        ),
      );
      return { tenantId: p.tenantId, keyId: p.keyId, scopes: p.scopes, ...(rows[0] ? { user: rows[0] } : {}) };
    },
  );
};
