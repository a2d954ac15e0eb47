import { z } from 'zod';
import { withTenant, type Pool } from '../../lib/db.js';
import { exportFiles, fileToNode, MarkdownFile, MarkdownProblem } from '../../domain/knowledge/markdown.js';
import {
  browse,
  deleteNode,
  edgesOf,
  getNode,
  KnowledgeConflict,
  KnowledgePath,
  logUsage,
  nodesUnder,
  putEdge,
  putNode,
  searchNodes,
  SearchQuery,
  updateNode,
  usageLog,
  type BrowseResult,
  type EdgeInput,
  type KnowledgeEdge,
  type KnowledgeNode,
  type NodeInput,
  type NodePatch,
  type SearchHit,
  type UsageEntry,
  type UsageRecord,
} from '../../domain/knowledge/nodes.js';
import { badInput, conflict, notFound } from './errors.js';

/**
 * The knowledge engine for both adapters (REST and MCP) and the agents' tools: nodes, edges,
 * search, browse, import and export of markdown folders. Every call names the tenant; row-level
 * security keeps the statements inside it.
 */

export const KnowledgeImport = z.strictObject({
  files: z.array(MarkdownFile).min(1).max(5000),
  /** Under this path (default: the root). */
  under: KnowledgePath.optional(),
});
export type KnowledgeImport = z.infer<typeof KnowledgeImport>;

const refused = (err: unknown): never => {
  if (err instanceof KnowledgeConflict) throw conflict(err.message);
  throw err;
};

export async function createNode(pool: Pool, tenantId: string, input: NodeInput): Promise<KnowledgeNode> {
  return withTenant(pool, tenantId, async (c) => (await putNode(c, tenantId, input)).node).catch(refused);
}

export async function readNode(
  pool: Pool,
  tenantId: string,
  idOrPath: string,
): Promise<KnowledgeNode & { edges: KnowledgeEdge[] }> {
  return withTenant(pool, tenantId, async (c) => {
    const node = await getNode(c, tenantId, idOrPath);
    if (!node) throw notFound(`no knowledge node ${idOrPath}`);
    return { ...node, edges: await edgesOf(c, tenantId, node.id) };
  });
}

export async function changeNode(pool: Pool, tenantId: string, id: string, patch: NodePatch): Promise<KnowledgeNode> {
  const node = await withTenant(pool, tenantId, (c) => updateNode(c, tenantId, id, patch)).catch(refused);
  if (!node) throw notFound(`no knowledge node ${id}`);
  return node;
}

export async function removeNode(pool: Pool, tenantId: string, id: string): Promise<void> {
  if (!(await withTenant(pool, tenantId, (c) => deleteNode(c, tenantId, id))))
    throw notFound(`no knowledge node ${id}`);
}

export async function relateNodes(pool: Pool, tenantId: string, edge: EdgeInput): Promise<void> {
  if (!(await withTenant(pool, tenantId, (c) => putEdge(c, tenantId, edge))))
    throw notFound(`no knowledge nodes ${edge.from} and ${edge.to} to relate (both must exist and differ)`);
}

/** A search; with `usage` the retrieval is logged (agents' tool calls, MCP). */
export async function searchKnowledge(
  pool: Pool,
  tenantId: string,
  query: SearchQuery,
  usage?: Omit<UsageRecord, 'kind' | 'query' | 'nodeIds'>,
): Promise<SearchHit[]> {
  const q = SearchQuery.parse(query);
  return withTenant(pool, tenantId, async (c) => {
    const hits = await searchNodes(c, tenantId, q);
    if (usage)
      await logUsage(c, tenantId, { ...usage, kind: 'search', query: q.query, nodeIds: hits.map((h) => h.id) });
    return hits;
  });
}

export async function browseKnowledge(
  pool: Pool,
  tenantId: string,
  path: string,
  usage?: Omit<UsageRecord, 'kind' | 'query' | 'nodeIds'>,
): Promise<BrowseResult> {
  if (path !== '/' && !KnowledgePath.safeParse(path).success)
    throw badInput('path', 'expected a path like /sales/pricing (lowercase segments)');
  return withTenant(pool, tenantId, async (c) => {
    const result = await browse(c, tenantId, path);
    if (usage) {
      const nodeIds = [result.node?.id, ...result.children.map((ch) => ch.id)].filter((x): x is string => Boolean(x));
      await logUsage(c, tenantId, { ...usage, kind: 'browse', query: path, nodeIds });
    }
    return result;
  });
}

/**
 * Imports a folder's files in one transaction: every file is parsed first (a bad one is a 400
 * naming it, nothing written), then each node is created or replaced at its path.
 */
export async function importKnowledge(
  pool: Pool,
  tenantId: string,
  input: KnowledgeImport,
): Promise<{ created: number; updated: number; paths: string[] }> {
  const nodes = input.files.map((f, i) => {
    try {
      const node = fileToNode(f);
      return input.under ? { ...node, path: `${input.under}${node.path === '/' ? '' : node.path}` } : node;
    } catch (err) {
      if (err instanceof MarkdownProblem) throw badInput(`files.${i}`, `${err.file}: ${err.problem}`);
      throw err;
    }
  });
  const seen = new Map<string, number>();
  nodes.forEach((n, i) => {
    // `under` and the file's folders together may pass the path limit, which neither does alone.
    if (!KnowledgePath.safeParse(n.path).success)
      throw badInput(
        `files.${i}`,
        `${input.files[i]!.path} under ${input.under ?? '/'} makes the path too long or not a path`,
      );
    if (seen.has(n.path))
      throw badInput(
        `files.${i}`,
        `${input.files[i]!.path} has the same path as files.${seen.get(n.path)} (${n.path})`,
      );
    seen.set(n.path, i);
  });
  return withTenant(pool, tenantId, async (c) => {
    let created = 0;
    for (const n of nodes) if ((await putNode(c, tenantId, n, { upsert: true })).created) created++;
    return { created, updated: nodes.length - created, paths: nodes.map((n) => n.path) };
  });
}

export async function exportKnowledge(pool: Pool, tenantId: string, path = '/'): Promise<MarkdownFile[]> {
  const nodes = await withTenant(pool, tenantId, (c) => nodesUnder(c, tenantId, path));
  return exportFiles(nodes);
}

export async function knowledgeUsage(
  pool: Pool,
  tenantId: string,
  opts: { conversationId?: string; limit: number },
): Promise<UsageEntry[]> {
  return withTenant(pool, tenantId, (c) => usageLog(c, tenantId, opts));
}
