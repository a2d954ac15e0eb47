import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { QuotaLimitsPatch, QuotaStatus, quotaStatus, setQuotaLimits } from '../../domain/quotas.js';
import { asSystem, withTenant, type Pool } from '../../lib/db.js';
import { TenantId } from '../../lib/ids.js';
import { tenantOf } from '../auth.js';
import { ErrorBody, fail } from '../http/errors.js';

const Quotas = z.object({ quotas: z.array(QuotaStatus) });

/**
 * Quotas on paid actions: a tenant reads its own (limits, used, reset); only the platform admin key
 * sets them, so no tenant raises its own.
 */
export const quotaRoutes: FastifyPluginAsyncZod<{ pool: Pool; access: ProviderAccess }> = async (
  app,
  { pool, access },
) => {
  app.get(
    '/v1/quotas',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: "The tenant's quotas: limit, used in the current window and when it resets",
        tags: ['quotas'],
        response: { 200: Quotas, 403: ErrorBody },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      return { quotas: await withTenant(pool, tenantId, (c) => quotaStatus(c, tenantId, access.quotaDefaults)) };
    },
  );

  app.put(
    '/v1/quotas',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "Set a tenant's quota limits (platform admin key only)",
        tags: ['quotas'],
        body: z.strictObject({ tenantId: TenantId, limits: QuotaLimitsPatch }),
        response: { 200: Quotas, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      if (req.principal?.kind !== 'admin') return fail(reply, 403, 'only the platform admin key sets quotas');
      const { tenantId, limits } = req.body;
      // Cross-tenant by nature: the admin key names the tenant; it must exist.
      const known = await asSystem(pool, (c) => c.query('select 1 from tenants where id = $1', [tenantId]));
      if (!known.rowCount) return fail(reply, 404, `no tenant '${tenantId}'`);
      await setQuotaLimits(pool, tenantId, limits);
      return { quotas: await withTenant(pool, tenantId, (c) => quotaStatus(c, tenantId, access.quotaDefaults)) };
    },
  );
};
