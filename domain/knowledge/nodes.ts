import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { PoolClient } from '../../lib/db.js';

/**
 * The knowledge engine (sql/016_knowledge.sql): plain functions over a client already inside
 * `withTenant(...)`, so row-level security confines every statement to the tenant. The REST
 * routes, the MCP tools and the agents' tool activities all come through here.
 */

export const NODE_TYPES = ['category', 'subcategory', 'topic', 'document', 'example', 'framework'] as const;
export const NodeType = z.enum(NODE_TYPES);
export type NodeType = z.infer<typeof NodeType>;

export const EDGE_KINDS = ['related', 'example_of', 'part_of', 'prerequisite', 'see_also', 'contradicts', 'supersedes'];
export const EdgeKind = z.enum(EDGE_KINDS as [string, ...string[]]);

export const KNOWLEDGE_LIMITS = { title: 300, body: 200_000, tag: 60, tags: 30, path: 500, query: 500 } as const;

/** `/sales/pricing/saas-models`: lowercase segments of letters, digits, `.`, `_` and `-`. */
export const KnowledgePath = z
  .string()
  .max(KNOWLEDGE_LIMITS.path)
  .regex(/^(\/[a-z0-9][a-z0-9._-]*)+$/, 'expected a path like /sales/pricing/saas-models (lowercase segments)');
const Tag = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .max(KNOWLEDGE_LIMITS.tag)
  .regex(/^[a-z0-9][a-z0-9 _:-]*$/, 'expected lowercase words, digits, - _ :');
const Tags = z.array(Tag).max(KNOWLEDGE_LIMITS.tags);

export const NodeInput = z.strictObject({
  path: KnowledgePath,
  type: NodeType,
  title: z.string().trim().min(1).max(KNOWLEDGE_LIMITS.title),
  body: z.string().max(KNOWLEDGE_LIMITS.body).default(''),
  labels: Tags.default([]),
  intentTags: Tags.default([]),
  metadata: z.record(z.string(), z.unknown()).default({}),
});
export type NodeInput = z.output<typeof NodeInput>;
export const NodePatch = NodeInput.partial();
export type NodePatch = z.output<typeof NodePatch>;

export const KnowledgeNode = z.object({
  id: z.string(),
  path: z.string(),
  type: NodeType,
  title: z.string(),
  body: z.string(),
  labels: z.array(z.string()),
  intentTags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type KnowledgeNode = z.infer<typeof KnowledgeNode>;

export const SearchHit = z.object({
  id: z.string(),
  path: z.string(),
  type: NodeType,
  title: z.string(),
  labels: z.array(z.string()),
  intentTags: z.array(z.string()),
  /** A short extract of the body around the matched words. */
  snippet: z.string(),
  score: z.number(),
});
export type SearchHit = z.infer<typeof SearchHit>;

interface NodeRow {
  id: string;
  path: string;
  type: NodeType;
  title: string;
  body: string;
  labels: string[];
  intent_tags: string[];
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const toNode = (r: NodeRow): KnowledgeNode => ({
  id: r.id,
  path: r.path,
  type: r.type,
  title: r.title,
  body: r.body,
  labels: r.labels,
  intentTags: r.intent_tags,
  metadata: r.metadata,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const NODE_COLUMNS = 'id, path, type, title, body, labels, intent_tags, metadata, created_at, updated_at';

export class KnowledgeConflict extends Error {
  override readonly name = 'KnowledgeConflict';
}

const newNodeId = () => `kn_${randomUUID().replaceAll('-', '').slice(0, 16)}`;

/** Creates a node, or — with `upsert` — replaces the one at the same path (imports). */
export async function putNode(
  c: PoolClient,
  tenantId: string,
  input: NodeInput,
  opts: { upsert?: boolean } = {},
): Promise<{ node: KnowledgeNode; created: boolean }> {
  const params = [
    tenantId,
    newNodeId(),
    input.path,
    input.type,
    input.title,
    input.body,
    input.labels,
    input.intentTags,
    JSON.stringify(input.metadata),
  ];
  const { rows } = await c.query<NodeRow & { created: boolean }>(
    `insert into knowledge_nodes (tenant_id, id, path, type, title, body, labels, intent_tags, metadata)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (tenant_id, path) do ${
       opts.upsert
         ? `update set type = excluded.type, title = excluded.title, body = excluded.body, labels = excluded.labels,
              intent_tags = excluded.intent_tags, metadata = excluded.metadata, updated_at = now()`
         : 'nothing'
     }
     returning ${NODE_COLUMNS}, (xmax = 0) as created`,
    params,
  );
  if (!rows[0]) throw new KnowledgeConflict(`path: a node already exists at ${input.path}`);
  return { node: toNode(rows[0]), created: rows[0].created };
}

export async function getNode(c: PoolClient, tenantId: string, idOrPath: string): Promise<KnowledgeNode | undefined> {
  const { rows } = await c.query<NodeRow>(
    `select ${NODE_COLUMNS} from knowledge_nodes where tenant_id = $1 and (id = $2 or path = $2)`,
    [tenantId, idOrPath],
  );
  return rows[0] && toNode(rows[0]);
}

export async function updateNode(
  c: PoolClient,
  tenantId: string,
  id: string,
  patch: NodePatch,
): Promise<KnowledgeNode | undefined> {
  const current = await getNode(c, tenantId, id);
  if (!current) return undefined;
  const next = { ...current, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
  const { rows } = await c
    .query<NodeRow>(
      `update knowledge_nodes set path = $3, type = $4, title = $5, body = $6, labels = $7, intent_tags = $8,
            metadata = $9, updated_at = now()
      where tenant_id = $1 and id = $2 returning ${NODE_COLUMNS}`,
      [
        tenantId,
        current.id,
        next.path,
        next.type,
        next.title,
        next.body,
        next.labels,
        next.intentTags,
        JSON.stringify(next.metadata),
      ],
    )
    .catch((err: { code?: string }) => {
      if (err.code === '23505') throw new KnowledgeConflict(`path: a node already exists at ${next.path}`);
      throw err;
    });
  return rows[0] && toNode(rows[0]);
}

export async function deleteNode(c: PoolClient, tenantId: string, id: string): Promise<boolean> {
  const r = await c.query('delete from knowledge_nodes where tenant_id = $1 and (id = $2 or path = $2)', [
    tenantId,
    id,
  ]);
  return (r.rowCount ?? 0) > 0;
}

export const EdgeInput = z.strictObject({
  from: z.string().min(1).max(KNOWLEDGE_LIMITS.path),
  to: z.string().min(1).max(KNOWLEDGE_LIMITS.path),
  kind: EdgeKind,
  weight: z.number().positive().max(10).default(1),
});
export type EdgeInput = z.output<typeof EdgeInput>;

export const KnowledgeEdge = z.object({
  from: z.string(),
  to: z.string(),
  kind: z.string(),
  weight: z.number(),
  /** The other end's path and title, for a reader. */
  path: z.string(),
  title: z.string(),
});
export type KnowledgeEdge = z.infer<typeof KnowledgeEdge>;

/** Relates two nodes (by id or path); false when either is not the tenant's. */
export async function putEdge(c: PoolClient, tenantId: string, e: EdgeInput): Promise<boolean> {
  const r = await c.query(
    `insert into knowledge_edges (tenant_id, from_id, to_id, kind, weight)
     select $1, f.id, t.id, $4, $5 from knowledge_nodes f, knowledge_nodes t
      where f.tenant_id = $1 and t.tenant_id = $1 and (f.id = $2 or f.path = $2) and (t.id = $3 or t.path = $3)
        and f.id <> t.id
     on conflict (tenant_id, from_id, to_id, kind) do update set weight = excluded.weight`,
    [tenantId, e.from, e.to, e.kind, e.weight],
  );
  return (r.rowCount ?? 0) > 0;
}

/** A node's edges in both directions, with the other end's path and title. */
export async function edgesOf(c: PoolClient, tenantId: string, id: string): Promise<KnowledgeEdge[]> {
  const { rows } = await c.query<{
    from_id: string;
    to_id: string;
    kind: string;
    weight: number;
    path: string;
    title: string;
  }>(
    `select e.from_id, e.to_id, e.kind, e.weight, n.path, n.title
       from knowledge_edges e
       join knowledge_nodes n on n.tenant_id = e.tenant_id and n.id = case when e.from_id = $2 then e.to_id else e.from_id end
      where e.tenant_id = $1 and (e.from_id = $2 or e.to_id = $2)
      order by e.weight desc, n.path`,
    [tenantId, id],
  );
  return rows.map((r) => ({
    from: r.from_id,
    to: r.to_id,
    kind: r.kind,
    weight: r.weight,
    path: r.path,
    title: r.title,
  }));
}

export const SearchQuery = z.strictObject({
  query: z.string().trim().min(1).max(KNOWLEDGE_LIMITS.query),
  /** Only nodes under this path (inclusive). */
  scope: KnowledgePath.optional(),
  labels: Tags.optional(),
  intent: Tag.optional(),
  types: z.array(NodeType).max(NODE_TYPES.length).optional(),
  limit: z.number().int().min(1).max(50).default(5),
});
export type SearchQuery = z.input<typeof SearchQuery>;

const STOP = new Set(
  'a an the and or of to for in on at by with from is are was were be do does how what which who why when where can i we you my our your it this that these those should would could about into'.split(
    ' ',
  ),
);

/** The query's plain words (lowercase, stop words out): compared with labels and intent tags. */
export function queryWords(query: string): string[] {
  const words = query
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 1 && !STOP.has(w));
  return [...new Set(words.flatMap((w) => (w.endsWith('s') && w.length > 3 ? [w, w.slice(0, -1)] : [w])))];
}

/**
 * Ranked search. Candidates: any query word in the full-text index (words OR'ed, so a long
 * question still matches), a title holding a word trigram-similar to a query word (typos), or a
 * label naming a query word. Score: the full-text rank (title weighs most), the best trigram
 * similarity of a query word in the title, and boosts for labels and intent tags
 * that name query words, the wanted intent and the scope. The weights were set against
 * bench/knowledge (recall@5).
 */
export async function searchNodes(
  c: PoolClient,
  tenantId: string,
  q: z.output<typeof SearchQuery>,
): Promise<SearchHit[]> {
  const words = queryWords(q.query);
  // Typos: a query word (4+ letters) whose trigrams mostly appear in a word of the title.
  await c.query(`select set_config('pg_trgm.word_similarity_threshold', '0.5', true)`);
  const { rows } = await c.query<{
    id: string;
    path: string;
    type: NodeType;
    title: string;
    labels: string[];
    intent_tags: string[];
    snippet: string;
    score: number;
  }>(
    `with q as (
       select nullif(replace(plainto_tsquery('english', $2)::text, ' & ', ' | '), '')::tsquery as ts
     ),
     candidates as (
       select n.id from knowledge_nodes n, q
        where n.tenant_id = $1 and q.ts is not null and n.search @@ q.ts
       union
       select t.id from unnest($9::text[]) w,
              lateral (select n.id from knowledge_nodes n where n.tenant_id = $1 and n.title %> w) t
       union
       select n.id from knowledge_nodes n where n.tenant_id = $1 and n.labels && $3::text[]
     )
     select n.id, n.path, n.type, n.title, n.labels, n.intent_tags,
            left(regexp_replace(n.body, '\\s+', ' ', 'g'), 240) as snippet,
            (coalesce(ts_rank_cd('{0.1, 0.3, 0.6, 1.0}', n.search, q.ts, 33), 0) * 3
              + coalesce((select max(word_similarity(w, n.title)) from unnest($9::text[]) w), 0) * 0.4
              + 0.35 * cardinality(array(select unnest(n.labels) intersect select unnest($3::text[])))
              + 0.25 * cardinality(array(select unnest(n.intent_tags) intersect select unnest($3::text[])))
              + case when $5::text is not null and $5 = any(n.intent_tags) then 2.0 else 0 end
              + case when $6::text[] is not null and n.labels @> $6 then 1.0 else 0 end
              + case when $4::text is not null and n.path like $4 || '/%' then 0.2 else 0 end)::float8 as score
       from knowledge_nodes n join candidates using (id), q
      where n.tenant_id = $1
        and ($4::text is null or n.path = $4 or n.path like $4 || '/%')
        and ($7::text[] is null or n.type = any($7))
      order by score desc, n.path
      limit $8`,
    [
      tenantId,
      q.query,
      words,
      q.scope ?? null,
      q.intent ?? null,
      q.labels ?? null,
      q.types ?? null,
      q.limit,
      words.filter((w) => w.length >= 4),
    ],
  );
  return rows.map((r) => ({
    id: r.id,
    path: r.path,
    type: r.type,
    title: r.title,
    labels: r.labels,
    intentTags: r.intent_tags,
    snippet: r.snippet,
    score: Math.round(r.score * 1000) / 1000,
  }));
}

export const BrowseResult = z.object({
  path: z.string(),
  node: KnowledgeNode.nullable(),
  children: z.array(
    z.object({ id: z.string(), path: z.string(), type: NodeType, title: z.string(), descendants: z.number() }),
  ),
  edges: z.array(KnowledgeEdge),
});
export type BrowseResult = z.infer<typeof BrowseResult>;

/**
 * A path like a folder: the node there (if any), its direct children — including folders that
 * exist only through deeper nodes — with how many nodes each holds, and the node's edges.
 */
export async function browse(c: PoolClient, tenantId: string, path: string): Promise<BrowseResult> {
  const base = path === '/' ? '' : path.replace(/\/+$/, '');
  const node = base ? await getNode(c, tenantId, base) : undefined;
  const { rows } = await c.query<{
    child: string;
    id: string | null;
    type: NodeType | null;
    title: string | null;
    n: string;
  }>(
    `select split_part(substr(n.path, length($2) + 2), '/', 1) as child,
            max(case when n.path = $2 || '/' || split_part(substr(n.path, length($2) + 2), '/', 1) then n.id end) as id,
            max(case when n.path = $2 || '/' || split_part(substr(n.path, length($2) + 2), '/', 1) then n.type end) as type,
            max(case when n.path = $2 || '/' || split_part(substr(n.path, length($2) + 2), '/', 1) then n.title end) as title,
            count(*) as n
       from knowledge_nodes n
      where n.tenant_id = $1 and n.path like $3
      group by 1 order by 1`,
    [tenantId, base, `${base.replace(/[\\%_]/g, '\\$&')}/%`],
  );
  return {
    path: base || '/',
    node: node ?? null,
    children: rows.map((r) => ({
      id: r.id ?? '',
      path: `${base}/${r.child}`,
      type: r.type ?? 'category',
      title: r.title ?? r.child,
      descendants: Number(r.n) - (r.id ? 1 : 0),
    })),
    edges: node ? await edgesOf(c, tenantId, node.id) : [],
  };
}

/** Every node under a path (all when `/`), in path order: exports. */
export async function nodesUnder(c: PoolClient, tenantId: string, path = '/'): Promise<KnowledgeNode[]> {
  const base = path === '/' ? '' : path.replace(/\/+$/, '');
  const { rows } = await c.query<NodeRow>(
    `select ${NODE_COLUMNS} from knowledge_nodes
      where tenant_id = $1 and ($2 = '' or path = $2 or path like $3) order by path`,
    [tenantId, base, `${base.replace(/[\\%_]/g, '\\$&')}/%`],
  );
  return rows.map(toNode);
}

export interface UsageRecord {
  conversationId?: string;
  turn?: number;
  agent?: string;
  kind: 'search' | 'browse';
  query: string;
  nodeIds: string[];
  idempotencyKey?: string;
}

/** Logs one retrieval (once per idempotency key). */
export async function logUsage(c: PoolClient, tenantId: string, u: UsageRecord): Promise<void> {
  await c.query(
    `insert into knowledge_usage (tenant_id, conversation_id, turn, agent, kind, query, node_ids, idempotency_key)
     values ($1, $2, $3, $4, $5, $6, $7, $8)
     on conflict (tenant_id, idempotency_key) where idempotency_key is not null do nothing`,
    [
      tenantId,
      u.conversationId ?? null,
      u.turn ?? null,
      u.agent ?? null,
      u.kind,
      u.query,
      u.nodeIds,
      u.idempotencyKey ?? null,
    ],
  );
}

/**
 * Marks which returned nodes the reply cited: those whose path or id appears in the reply text.
 * Returns the cited ids.
 */
export async function markCited(
  c: PoolClient,
  tenantId: string,
  conversationId: string,
  reply: string,
): Promise<string[]> {
  const { rows } = await c.query<{ cited: string[] }>(
    `update knowledge_usage u set cited_ids = coalesce((
        select array_agg(n.id) from knowledge_nodes n
         where n.tenant_id = u.tenant_id and n.id = any(u.node_ids) and (position(n.path in $3) > 0 or position(n.id in $3) > 0)
       ), '{}')
      where u.tenant_id = $1 and u.conversation_id = $2 and u.cited_ids = '{}'
      returning u.cited_ids as cited`,
    [tenantId, conversationId, reply],
  );
  return [...new Set(rows.flatMap((r) => r.cited))];
}

export const UsageEntry = z.object({
  conversationId: z.string().nullable(),
  turn: z.number().nullable(),
  agent: z.string().nullable(),
  kind: z.enum(['search', 'browse']),
  query: z.string(),
  nodeIds: z.array(z.string()),
  citedIds: z.array(z.string()),
  at: z.string(),
});
export type UsageEntry = z.infer<typeof UsageEntry>;

export async function usageLog(
  c: PoolClient,
  tenantId: string,
  opts: { conversationId?: string; limit: number },
): Promise<UsageEntry[]> {
  const { rows } = await c.query<{
    conversation_id: string | null;
    turn: number | null;
    agent: string | null;
    kind: 'search' | 'browse';
    query: string;
    node_ids: string[];
    cited_ids: string[];
    created_at: Date;
  }>(
    `select conversation_id, turn, agent, kind, query, node_ids, cited_ids, created_at from knowledge_usage
      where tenant_id = $1 and ($2::text is null or conversation_id = $2) order by id desc limit $3`,
    [tenantId, opts.conversationId ?? null, opts.limit],
  );
  return rows.map((r) => ({
    conversationId: r.conversation_id,
    turn: r.turn,
    agent: r.agent,
    kind: r.kind,
    query: r.query,
    nodeIds: r.node_ids,
    citedIds: r.cited_ids,
    at: r.created_at.toISOString(),
  }));
}
