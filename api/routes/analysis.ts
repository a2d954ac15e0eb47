import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import type { Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import { AnalysisResponse, analyzeCachedContact } from '../services/contactAnalysis.js';

/** GET /v1/contacts/:id/analysis — a contact's cached facts and Claude's analysis (api/services/contactAnalysis.ts). */
export const analysisRoutes: FastifyPluginAsyncZod<{ pool: Pool; access: ProviderAccess; model?: string }> = async (
  app,
  { pool, access, model },
) => {
  app.get(
    '/v1/contacts/:id/analysis',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary:
          "A contact's stored facts (contact, opportunities, notes, appointments) and a Claude analysis grounded only in them",
        tags: ['insights'],
        params: z.object({ id: z.string().min(1).max(100) }),
        response: { 200: AnalysisResponse, 404: ErrorBody },
      },
    },
    async (req) => {
      const result = await analyzeCachedContact({ pool, access, model }, tenantOf(req).tenantId, req.params.id);
      if (result.error) req.log.warn({ contactId: req.params.id, error: result.error }, 'contact analysis unavailable');
      return result;
    },
  );
};
