import { z } from 'zod';
import { withTenant, type Pool } from '../../lib/db.js';

/** The tenant's audit trail of tool and provider calls (domain/audit.ts writes it). */

export const AuditRow = z.object({
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
export type AuditRow = z.infer<typeof AuditRow>;

export interface AuditQuery {
  tool?: string;
  workflowId?: string;
  since?: string;
  limit: number;
  /** Cursor: the id of the last row of the previous page. */
  before?: number;
}

/** One page of the audit trail, newest first; `nextCursor` is set when the page is full. */
export async function listAudit(
  pool: Pool,
  tenantId: string,
  q: AuditQuery,
): Promise<{ rows: AuditRow[]; nextCursor: number | null }> {
  // RLS confines the transaction to the tenant; the explicit filter keeps the plan on the index.
  const rows = await withTenant(pool, tenantId, async (client) => {
    const result = await client.query<{
      id: string;
      tenant_id: string;
      workflow_id: string | null;
      run_id: string | null;
      activity: string | null;
      tool: string | null;
      params: unknown;
      status: 'ok' | 'error';
      duration_ms: number;
      source: 'live' | 'cache' | 'sandbox';
      error: string | null;
      created_at: Date;
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
      id: String(r.id),
      tenantId: r.tenant_id,
      workflowId: r.workflow_id,
      runId: r.run_id,
      activity: r.activity,
      tool: r.tool,
      params: r.params,
      status: r.status,
      durationMs: r.duration_ms,
      source: r.source,
      error: r.error,
      createdAt: r.created_at.toISOString(),
    })),
    nextCursor: rows.length === q.limit ? Number(rows[rows.length - 1]!.id) : null,
  };
}
