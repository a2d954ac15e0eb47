import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { PoolClient } from '../lib/db.js';

/**
 * Per-tenant memory (sql/006_memory.sql): plain functions over a client already inside
 * `withTenant(...)`, so row-level security confines every statement to the tenant. Used by the MCP
 * tools and by the voice workflow's activities.
 */

export const MemorySource = z.enum(['mcp', 'voice', 'api']);
export type MemorySource = z.infer<typeof MemorySource>;

export const MemoryProvenance = z.object({
  source: MemorySource,
  workflowId: z.string().optional(),
  apiKeyId: z.string().optional(),
});
export type MemoryProvenance = z.infer<typeof MemoryProvenance>;

export const MemoryItem = z.object({
  id: z.string(),
  content: z.string(),
  subject: z.string().nullable(),
  tags: z.array(z.string()),
  provenance: z.object({ source: MemorySource, workflowId: z.string().nullable(), apiKeyId: z.string().nullable() }),
  createdAt: z.string(),
  /** Full-text rank for the query (higher is better); 0 when listing without a query. */
  rank: z.number(),
});
export type MemoryItem = z.infer<typeof MemoryItem>;

export const MEMORY_LIMITS = {
  content: 20_000,
  subject: 200,
  tag: 100,
  tags: 20,
  idempotencyKey: 200,
  recall: 100,
} as const;

export interface RememberInput {
  tenantId: string;
  content: string;
  /** What it is about, e.g. a contact id or an E.164 phone. */
  subject?: string;
  tags?: string[];
  provenance: MemoryProvenance;
  idempotencyKey?: string;
}

/** Stores one memory; with an idempotency key already used by the tenant, returns the first one's id. */
export async function remember(client: PoolClient, input: RememberInput): Promise<{ id: string; created: boolean }> {
  const id = `mem_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
  const { rows } = await client.query<{ id: string }>(
    `insert into memories (tenant_id, id, content, subject, tags, source, workflow_id, api_key_id, idempotency_key)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (tenant_id, idempotency_key) where idempotency_key is not null do nothing
     returning id`,
    [
      input.tenantId,
      id,
      input.content,
      input.subject ?? null,
      input.tags ?? [],
      input.provenance.source,
      input.provenance.workflowId ?? null,
      input.provenance.apiKeyId ?? null,
      input.idempotencyKey ?? null,
    ],
  );
  if (rows[0]) return { id: rows[0].id, created: true };
  const existing = await client.query<{ id: string }>(
    'select id from memories where tenant_id = $1 and idempotency_key = $2',
    [input.tenantId, input.idempotencyKey],
  );
  return { id: existing.rows[0]!.id, created: false };
}

export interface RecallInput {
  tenantId: string;
  /** Words to look for (web-search syntax: "quoted phrase", -excluded, or); empty lists the newest. */
  query: string;
  subject?: string;
  limit?: number;
  /** Filters used by `search_memory`: every tag must be present; only this source; created at or after. */
  tags?: string[];
  source?: MemorySource;
  since?: string;
}

interface MemoryDbRow {
  id: string;
  content: string;
  subject: string | null;
  tags: string[];
  source: MemorySource;
  workflow_id: string | null;
  api_key_id: string | null;
  created_at: Date;
  rank: number;
}

/** Full-text ranked recall (subject matches weigh more than content), newest first among equals. */
export async function recall(client: PoolClient, input: RecallInput): Promise<MemoryItem[]> {
  const query = input.query.trim();
  const limit = Math.min(Math.max(input.limit ?? 10, 1), MEMORY_LIMITS.recall);
  const { rows } = await client.query<MemoryDbRow>(
    `with q as (select case when $2::text = '' then null else websearch_to_tsquery('english', $2) end as tsq)
     select m.id, m.content, m.subject, m.tags, m.source, m.workflow_id, m.api_key_id, m.created_at,
            coalesce(ts_rank_cd(m.search, q.tsq), 0)::float8 as rank
       from memories m, q
      where m.tenant_id = $1
        and (q.tsq is null or m.search @@ q.tsq)
        and ($3::text is null or m.subject = $3)
        and ($4::text[] is null or m.tags @> $4)
        and ($5::text is null or m.source = $5)
        and ($6::timestamptz is null or m.created_at >= $6)
      order by rank desc, m.created_at desc, m.id
      limit $7`,
    [
      input.tenantId,
      query,
      input.subject ?? null,
      input.tags?.length ? input.tags : null,
      input.source ?? null,
      input.since ?? null,
      limit,
    ],
  );
  return rows.map((r) => ({
    id: r.id,
    content: r.content,
    subject: r.subject,
    tags: r.tags,
    provenance: { source: r.source, workflowId: r.workflow_id, apiKeyId: r.api_key_id },
    createdAt: r.created_at.toISOString(),
    rank: r.rank,
  }));
}

export async function forget(
  client: PoolClient,
  input: { tenantId: string; id: string },
): Promise<{ deleted: boolean }> {
  const { rowCount } = await client.query('delete from memories where tenant_id = $1 and id = $2', [
    input.tenantId,
    input.id,
  ]);
  return { deleted: (rowCount ?? 0) > 0 };
}
