import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { asSystem, type Pool } from '../../lib/db.js';
import { TenantId } from '../../lib/ids.js';
import {
  createAdminSession,
  endAdminSession,
  requireAdminSession,
  switchTenant,
  type AdminSession,
} from '../adminSessions.js';
import { hashKey, sameKey } from '../apiKeys.js';
import { ErrorBody, fail } from '../http/errors.js';
import { clearSessionCookies, setSessionCookies, type CookieSettings } from '../sessions.js';
import { AttemptLimiter } from '../users/attempts.js';

/**
 * The platform admin's console session (api/adminSessions.ts): the admin key exchanged for a
 * cookie, the tenant picker, the switch (written to the audit log of the tenant switched to), and
 * signing out. The key is checked in constant time; 5 wrong keys from one address lock it out for
 * 15 minutes.
 */
const tags = ['auth'];
const WINDOW_MS = 15 * 60_000;

export const adminSessionRoutes: FastifyPluginAsyncZod<{ pool: Pool; adminKey: string; publicUrl?: string }> = async (
  app,
  { pool, adminKey, publicUrl },
) => {
  const cookies: CookieSettings = { secure: publicUrl?.startsWith('https:') ?? false };
  const adminHash = hashKey(adminKey);
  const failures = new AttemptLimiter({ max: 5, windowMs: WINDOW_MS, capacity: 10_000 });
  const session = requireAdminSession(pool);
  const current = (s: AdminSession | undefined) => s?.tenantId ?? null;

  app.post(
    '/v1/auth/admin',
    {
      schema: {
        summary: 'Platform admin sign-in: the admin key for a console session (cookie) that can view any tenant',
        tags,
        security: [],
        body: z.strictObject({ adminKey: z.string().min(1).max(500) }),
        response: {
          200: z.object({ csrfToken: z.string(), expiresAt: z.string() }),
          401: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const wait = failures.blockedFor(req.ip);
      if (wait > 0) return fail(reply.header('retry-after', wait), 429, 'too many wrong keys; try again later');
      if (!sameKey(hashKey(req.body.adminKey), adminHash)) {
        failures.hit(req.ip);
        return fail(reply, 401, 'that is not the platform admin key');
      }
      failures.clear(req.ip);
      const s = await createAdminSession(pool);
      setSessionCookies(reply, s.token, cookies);
      return { csrfToken: s.csrfToken, expiresAt: s.expiresAt.toISOString() };
    },
  );

  app.get(
    '/v1/auth/admin/tenants',
    {
      preHandler: session,
      schema: {
        summary: 'The platform admin’s tenant picker: every tenant, and the one being viewed',
        tags,
        response: {
          200: z.object({
            current: z.string().nullable(),
            tenants: z.array(z.object({ id: z.string(), name: z.string() })),
          }),
        },
      },
    },
    async (req) => {
      // The platform admin sees every tenant: the picker crosses tenants by design.
      const { rows } = await asSystem(pool, (c) =>
        c.query<{ id: string; name: string }>('select id, name from tenants order by id'),
      );
      return { current: current(req.adminSession), tenants: rows };
    },
  );

  app.put(
    '/v1/auth/admin/tenant',
    {
      preHandler: session,
      schema: {
        summary: 'View a tenant as its owner would (null: back to the picker); written to that tenant’s audit log',
        tags,
        body: z.strictObject({ tenantId: TenantId.nullable() }),
        response: { 200: z.object({ current: z.string().nullable() }), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId } = req.body;
      if (!(await switchTenant(pool, req.adminSession!, tenantId))) return fail(reply, 404, `no tenant ${tenantId}`);
      return { current: tenantId };
    },
  );

  app.delete(
    '/v1/auth/admin',
    {
      preHandler: session,
      schema: { summary: 'End the platform admin’s console session', tags, response: { 204: z.null() } },
    },
    async (req, reply) => {
      await endAdminSession(pool, req.adminSession!.id);
      clearSessionCookies(reply, cookies);
      return reply.code(204).send(null);
    },
  );
};
