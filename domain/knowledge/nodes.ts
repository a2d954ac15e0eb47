import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { PoolClient } from '../../lib/db.js';
import { docsHolding, similarTerms } from '../searchTerms.js';

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
  // No `..` and no segment ending in `.`: a path is also a file path on export (`/a.` would be
  // `a..md`), and a file path with `..` is refused on import.
  .regex(
    /^(?!.*\.\.)(\/[a-z0-9](?:[a-z0-9._-]*[a-z0-9_-])?)+$/,
    'expected a path like /sales/pricing/saas-models (lowercase segments)',
  );
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
  // Stored as a Postgres real: from a thousandth (a tinier positive number would not fit).
  weight: z.number().min(0.001).max(10).default(1),
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

// English function words, and the words questions are phrased with ("can you show me the … we
// use when dealing with …"), which say nothing about what is wanted.
const STOP = new Set(
  (
    'a an the and or of to for in on at by with from is are was were be do does did how what which who whom why when where ' +
    'can could i we you my our your it its this that these those should would about into me us there any please ' +
    'show find tell give need want know use using used dealing deal handle handling get look looking see help ' +
    'thing things something way ways like have has had will just also than then'
  ).split(' '),
);

/** The query's plain words (lowercase, stop words out): the search terms, also compared with labels and intent tags. */
export function queryWords(query: string): string[] {
  const words = query
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 1 && !STOP.has(w));
  return [...new Set(words)];
}

/** The query's terms with their weight: how many nodes hold each (rare terms weigh more, as in BM25's idf). */
const TERMS_SQL = `
  -- Materialized: each term's lexeme is a value, so its statistics row is one primary-key lookup
  -- (computed in the join, it made the join read every statistics row of the tenant).
  with terms as materialized (
    select t.word, plainto_tsquery('english', t.word) as q,
           (select min(l.lexeme) from unnest(to_tsvector('english', t.word)) l) as lexeme
      from unnest($2::text[]) as t(word)
  ),
  total as (select greatest(coalesce((select s.total from knowledge_stats_state s where s.tenant_id = $1), 1), 1) as n),
  -- The search's setting rides along: index scans costed as on SSDs (the default prices a few
  -- thousand primary-key lookups above reading every node).
  stale as (
    select coalesce((select s.dirty from knowledge_stats_state s where s.tenant_id = $1), true) as dirty,
           set_config('random_page_cost', '1.1', true) as r
  )
  select t.word, t.lexeme, t.q::text as q,
         coalesce((select st.ndoc from knowledge_term_stats st where st.tenant_id = $1 and st.lexeme = t.lexeme), 0)::int as df,
         total.n::int as total, false as dirty
    from terms t cross join total cross join stale
   where t.lexeme is not null and not stale.dirty
  union all
  -- Stale statistics (nodes changed since): one row saying so, and the caller recomputes them.
  select '', '', '', 0, 0, true from stale where stale.dirty`;

/**
 * Ranks the candidates (`candidates`: SQL yielding their ids as `doc_id`, from the term index):
 * each term's full-text rank times its idf ($6, $7), the typo similarity ($8), and the label,
 * intent and scope boosts.
 */
const rankSql = (candidates: string) => `
  select r.id, r.path, r.type, r.title, r.labels, r.intent_tags, r.score,
         left(regexp_replace(r.body, '\\s+', ' ', 'g'), 240) as snippet
    from (
      select n.id, n.path, n.type, n.title, n.labels, n.intent_tags, n.body,
             (coalesce((select sum(w.idf * ts_rank('{0.2, 0.4, 0.7, 1.0}', n.search, w.q))
                          from unnest($6::tsquery[], $7::float8[]) as w(q, idf)), 0) * 3
              + coalesce((select max(word_similarity(t.word, n.title)) from unnest($8::text[]) as t(word)), 0) * 1.5
              + 0.3 * cardinality(array(select unnest(n.labels) intersect select unnest($2::text[])))
              + 0.3 * cardinality(array(select unnest(n.intent_tags) intersect select unnest($2::text[])))
              + case when $4::text is not null and $4 = any(n.intent_tags) then 2.0 else 0 end
              + case when $5::text[] is not null and n.labels @> $5 then 1.0 else 0 end
              + case when $3::text is not null and n.path like $3 || '/%' then 0.2 else 0 end)::float8 as score
        from knowledge_nodes n
       where n.tenant_id = $1 and n.id in (${candidates})
         and ($3::text is null or n.path = $3 or n.path like $3 || '/%')
         and ($9::text[] is null or n.type = any($9))
       order by score desc, n.path
       limit $10
    ) r
   order by r.score desc, r.path`;

/**
 * Recomputes the term statistics search ranks with, after nodes changed (a write marks them
 * dirty). One recompute at a time per tenant; a concurrent search waits for it, then finds them fresh.
 */
async function freshTermStats(c: PoolClient, tenantId: string): Promise<void> {
  await c.query('select pg_advisory_xact_lock(hashtext($1))', [`knowledge-stats:${tenantId}`]);
  const again = await c.query<{ dirty: boolean }>('select dirty from knowledge_stats_state where tenant_id = $1', [
    tenantId,
  ]);
  if (again.rows[0] && !again.rows[0].dirty) return;
  await c.query('delete from knowledge_term_stats where tenant_id = $1', [tenantId]);
  // ts_stat runs its query as this role, under row-level security: the tenant's nodes only.
  await c.query(
    `insert into knowledge_term_stats (tenant_id, lexeme, ndoc)
     select $1, word, ndoc from ts_stat(format('select search from knowledge_nodes where tenant_id = %L', $1::text))`,
    [tenantId],
  );
  await c.query(
    `insert into knowledge_stats_state (tenant_id, dirty, total)
     values ($1, false, (select count(*) from knowledge_nodes where tenant_id = $1))
     on conflict (tenant_id) do update set dirty = false, total = excluded.total`,
    [tenantId],
  );
}

/**
 * Ranked search, in one statement. Terms are the query's words (question phrasing dropped),
 * weighed by how rare they are among the tenant's nodes (idf, as BM25 does): a candidate holds a
 * term that is not everywhere, a title word trigram-similar to a word found nowhere (a typo), or a
 * label naming a query word. Score: each term's full-text rank (title over labels and path over
 * body) times its idf, the typo similarity, and boosts for labels and intent tags naming query
 * words, the wanted intent and labels, and the scope. Tuned on bench/knowledge (recall@5, MRR).
 */
export async function searchNodes(
  c: PoolClient,
  tenantId: string,
  q: z.output<typeof SearchQuery>,
): Promise<SearchHit[]> {
  const words = queryWords(q.query);
  if (!words.length && !q.intent && !q.labels) return [];
  type Term = { word: string; lexeme: string; q: string; df: number; total: number; dirty: boolean };
  let terms = (await c.query<Term>(TERMS_SQL, [tenantId, words])).rows;
  if (terms[0]?.dirty) {
    await freshTermStats(c, tenantId);
    terms = (await c.query<Term>(TERMS_SQL, [tenantId, words])).rows;
  }
  const total = terms[0]?.total ?? 1;
  // A term most nodes hold does not count; candidates come from the rarer ones (all, when every one is common).
  const weighed = terms
    .filter((t) => t.df > 0 && t.df <= Math.max(30, total * 0.5))
    .map((t) => ({ ...t, idf: Math.log(1 + (total - t.df + 0.5) / (t.df + 0.5)) }));
  const rare = weighed.filter((t) => t.df <= Math.max(30, total * 0.05));
  const typos = terms.filter((t) => t.df === 0 && t.word.length >= 5).map((t) => t.word);
  const params: unknown[] = [
    tenantId,
    words,
    q.scope ?? null,
    q.intent ?? null,
    q.labels ?? null,
    weighed.map((t) => t.q),
    weighed.map((t) => t.idf),
    typos,
    q.types ?? null,
    q.limit,
  ];
  // Candidates: nodes holding one of the rarer terms (any, when every one is common), and nodes
  // whose title holds a word a typo may stand for.
  const candidates: string[] = [];
  const lexemes = (rare.length ? rare : weighed).map((t) => t.lexeme);
  if (lexemes.length) candidates.push(docsHolding('knowledge', '$1', [{ anyOf: lexemes }], params));
  const near = (await Promise.all(typos.map((t) => similarTerms(c, tenantId, 'knowledge_titles', t)))).flat();
  if (near.length) candidates.push(docsHolding('knowledge_titles', '$1', [{ anyOf: near }], params));
  if (!candidates.length) return [];
  const { rows } = await c.query<{
    id: string;
    path: string;
    type: NodeType;
    title: string;
    labels: string[];
    intent_tags: string[];
    snippet: string;
    score: number;
  }>(rankSql(candidates.join('\nunion\n')), params);
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
