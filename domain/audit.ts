import { z } from 'zod';
import { withTenant, type Pool, type PoolClient } from '../lib/db.js';

/** One external call or tool call, as recorded in `audit_log` (rule 4 of the house). */
export const AuditEntry = z.object({
  tenantId: z.string(),
  workflowId: z.string().optional(),
  runId: z.string().optional(),
  activity: z.string().optional(),
  tool: z.string().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  status: z.enum(['ok', 'error']),
  durationMs: z.number().int().nonnegative(),
  source: z.enum(['live', 'cache', 'sandbox']),
  error: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

const SECRET_KEY = /(token|secret|password|api[-_]?key|authorization|signature)/i;

/** Parameters are stored for operators, never credentials: secret-looking keys are masked. */
export function redactParams(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactParams);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : redactParams(v)]),
    );
  }
  return value;
}

/** Writes an audit row inside a transaction the caller already holds (e.g. the read it records). */
export async function insertAudit(client: PoolClient, input: AuditEntry): Promise<void> {
  const e = AuditEntry.parse(input);
  await client.query(
    `insert into audit_log (tenant_id, workflow_id, run_id, activity, tool, params, status, duration_ms, source, error)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      e.tenantId,
      e.workflowId ?? null,
      e.runId ?? null,
      e.activity ?? null,
      e.tool ?? null,
      e.params ? JSON.stringify(redactParams(e.params)) : null,
      e.status,
      e.durationMs,
      e.source,
      e.error ?? null,
    ],
  );
}

/** Writes an audit row in its own tenant transaction; the commit does not wait for the WAL flush. */
export async function recordAudit(pool: Pool, input: AuditEntry): Promise<void> {
  await withTenant(pool, input.tenantId, (client) => insertAudit(client, input), { asyncCommit: true });
}
