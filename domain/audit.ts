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

/** Rows one flush writes at most. */
const AUDIT_BATCH_MAX = 500;

/** Audit rows written in batches (group commit); see createAuditWriter. */
export interface AuditWriter {
  /** Resolves once the row is committed; rejects when its batch could not be written. */
  write(input: AuditEntry): Promise<void>;
}

/**
 * Group commit for the audit rows of hot read paths: rows that arrive while a tenant's previous
 * batch is being written go together in its next batch (one multi-row insert, one tenant
 * transaction, asynchronous commit like recordAudit). `write` resolves only once its row is
 * committed, and a read answers only after that: a crash of this process loses no row of an
 * answered read; the reads still waiting for their batch were not answered (their rows may or may
 * not have been written). A batch that fails rejects every read waiting on it.
 */
export function createAuditWriter(pool: Pool): AuditWriter {
  type Waiting = { entry: AuditEntry; done: () => void; failed: (err: unknown) => void };
  const queued = new Map<string, Waiting[]>();
  const flushing = new Set<string>();

  const flush = async (tenantId: string): Promise<void> => {
    flushing.add(tenantId);
    try {
      for (let batch = take(tenantId); batch.length; batch = take(tenantId)) {
        try {
          await withTenant(
            pool,
            tenantId,
            (c) =>
              insertAuditRows(
                c,
                tenantId,
                batch.map((w) => w.entry),
              ),
            {
              asyncCommit: true,
            },
          );
          for (const w of batch) w.done();
        } catch (err) {
          for (const w of batch) w.failed(err);
        }
      }
    } finally {
      flushing.delete(tenantId);
    }
  };
  const take = (tenantId: string): Waiting[] => {
    const all = queued.get(tenantId) ?? [];
    const batch = all.splice(0, AUDIT_BATCH_MAX);
    if (!all.length) queued.delete(tenantId);
    return batch;
  };

  return {
    write(input) {
      const entry = AuditEntry.parse(input);
      return new Promise<void>((done, failed) => {
        const list = queued.get(entry.tenantId);
        if (list) list.push({ entry, done, failed });
        else queued.set(entry.tenantId, [{ entry, done, failed }]);
        // The first row waits for this turn of the event loop, so rows of concurrent reads join it.
        if (!flushing.has(entry.tenantId)) {
          flushing.add(entry.tenantId);
          setImmediate(() => void flush(entry.tenantId));
        }
      });
    },
  };
}

/** One multi-row insert of a tenant's audit rows. */
async function insertAuditRows(client: PoolClient, tenantId: string, entries: AuditEntry[]): Promise<void> {
  const rows = entries.map((e) => ({
    workflow_id: e.workflowId ?? null,
    run_id: e.runId ?? null,
    activity: e.activity ?? null,
    tool: e.tool ?? null,
    params: e.params ? redactParams(e.params) : null,
    status: e.status,
    duration_ms: e.durationMs,
    source: e.source,
    error: e.error ?? null,
  }));
  await client.query(
    `insert into audit_log (tenant_id, workflow_id, run_id, activity, tool, params, status, duration_ms, source, error)
     select $1, r.workflow_id, r.run_id, r.activity, r.tool, r.params, r.status, r.duration_ms, r.source, r.error
       from jsonb_to_recordset($2::jsonb) as r(workflow_id text, run_id text, activity text, tool text,
            params jsonb, status text, duration_ms int, source text, error text)`,
    [tenantId, JSON.stringify(rows)],
  );
}
