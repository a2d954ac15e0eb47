import { z } from 'zod';
import { BrowseResult, KnowledgePath, NodeType, SearchHit } from '../../../domain/knowledge/nodes.js';
import { browseKnowledge, searchKnowledge } from '../../services/knowledge.js';
import { defineTool, READ_ONLY } from '../tool.js';

/** The tenant's knowledge base (api/services/knowledge.ts); each retrieval lands in the usage log. */
export const knowledgeTools = [
  defineTool({
    name: 'knowledge_search',
    title: 'Search the knowledge base',
    description:
      "Ranked search of this business's knowledge (playbooks, pricing, processes): full text with typo tolerance, optionally within a path scope (e.g. /sales), with labels, an intent tag or node types. Returns paths, titles and snippets; read a node with knowledge_browse.",
    scope: 'read',
    input: z.strictObject({
      query: z.string().trim().min(1).max(500),
      scope: KnowledgePath.optional(),
      labels: z.array(z.string().min(1).max(60)).max(10).optional(),
      intent: z.string().min(1).max(60).optional(),
      types: z.array(NodeType).max(6).optional(),
      limit: z.number().int().min(1).max(20).default(5),
    }),
    output: z.object({ hits: z.array(SearchHit) }),
    annotations: READ_ONLY,
    run: async (args, call) => ({
      hits: await searchKnowledge(call.deps.pool, call.tenantId, args, { agent: 'mcp' }),
    }),
  }),
  defineTool({
    name: 'knowledge_browse',
    title: 'Browse the knowledge base',
    description:
      'Open a path like a folder: the node there (full body), its children with how many nodes each holds, and related nodes. Start at "/".',
    scope: 'read',
    input: z.strictObject({ path: z.string().min(1).max(500).default('/') }),
    output: BrowseResult,
    annotations: READ_ONLY,
    run: (args, call) => browseKnowledge(call.deps.pool, call.tenantId, args.path, { agent: 'mcp' }),
  }),
];
