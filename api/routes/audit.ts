import { z } from 'zod';
import { Instant } from '../../lib/instant.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import { AuditRow, listAudit } from '../services/audit.js';

export const auditRoutes: FastifyPluginAsyncZod<{ pool: Pool }> = async (app, { pool }) => {
  app.get(
    '/v1/audit',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: "The caller's tenant's audit trail of tool and provider calls, newest first",
        tags: ['audit'],
        querystring: z.strictObject({
          tool: z.string().min(1).optional(),
          workflowId: z.string().min(1).optional(),
          since: Instant.optional().describe('ISO 8601 timestamp; only rows at or after it'),
          limit: z.coerce.number().int().min(1).max(500).default(100),
          before: z.coerce
            .number()
            .int()
            .positive()
            .max(Number.MAX_SAFE_INTEGER)
            .optional()
            .describe('cursor: the id of the last row of the previous page'),
        }),
        response: { 200: z.object({ rows: z.array(AuditRow), nextCursor: z.number().nullable() }) },
      },
    },
    async (req) => listAudit(pool, tenantOf(req).tenantId, req.query),
  );
};
