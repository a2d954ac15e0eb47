import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { withTenant, type Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';

const AuditRow = z.object({
  id: z.string(),
  tenantId: z.string(),
  workflowId: z.string().nullable(),
  runId: z.string().nullable(),
  activity: z.string().nullable(),
  tool: z.string().nullable(),
  params: z.unknown(),
  status: z.enum(['ok', 'error']),
  durationMs: z.number(),
  source: z.enum(['live', 'cache', 'sandbox']),
  error: z.string().nullable(),
  createdAt: z.string(),
});

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
          since: z.iso.datetime({ offset: true }).optional().describe('ISO 8601 timestamp; only rows at or after it'),
          limit: z.coerce.number().int().min(1).max(500).default(100),
          before: z.coerce.number().int().positive().optional().describe('cursor: the id of the last row of the previous page'),
        }),
        response: { 200: z.object({ rows: z.array(AuditRow), nextCursor: z.number().nullable() }) },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      const q = req.query;
      // RLS confines the transaction to the tenant; the explicit filter keeps the plan on the index.
      const rows = await withTenant(pool, tenantId, async (client) => {
        const result = await client.query<{
          id: string; tenant_id: string; workflow_id: string | null; run_id: string | null; activity: string | null; tool: string | null;
          params: unknown; status: 'ok' | 'error'; duration_ms: number; source: 'live' | 'cache' | 'sandbox'; error: string | null; created_at: Date;
        }>(
          `select * from audit_log
            where tenant_id = $1 and ($2::text is null or tool = $2) and ($3::text is null or workflow_id = $3)
              and ($4::timestamptz is null or created_at >= $4) and ($5::bigint is null or id < $5)
            order by id desc limit $6`,
          [tenantId, q.tool ?? null, q.workflowId ?? null, q.since ?? null, q.before ?? null, q.limit],
        );
        return result.rows;
      });
      return {
        rows: rows.map((r) => ({
          id: String(r.id), tenantId: r.tenant_id, workflowId: r.workflow_id, runId: r.run_id, activity: r.activity, tool: r.tool,
          params: r.params, status: r.status, durationMs: r.duration_ms, source: r.source, error: r.error, createdAt: r.created_at.toISOString(),
        })),
        nextCursor: rows.length === q.limit ? Number(rows[rows.length - 1]!.id) : null,
      };
    },
  );

};
