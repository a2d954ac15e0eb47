import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Pool } from '../../lib/db.js';
import {
  BrowseResult,
  EdgeInput,
  KnowledgeEdge,
  KnowledgeNode,
  KnowledgePath,
  NodeInput,
  NodePatch,
  SearchHit,
  SearchQuery,
  UsageEntry,
} from '../../domain/knowledge/nodes.js';
import { tenantOf } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import {
  browseKnowledge,
  changeNode,
  createNode,
  exportKnowledge,
  importKnowledge,
  KnowledgeImport,
  knowledgeUsage,
  readNode,
  relateNodes,
  removeNode,
  searchKnowledge,
} from '../services/knowledge.js';

const NodeParams = z.object({ id: z.string().min(1).max(500) });
const tags = ['knowledge'];

/**
 * The knowledge engine over REST (api/services/knowledge.ts): nodes (by id, or by path where a
 * path is accepted), edges, search, browse, markdown import and export, and the usage log.
 */
export const knowledgeRoutes: FastifyPluginAsyncZod<{ pool: Pool }> = async (app, { pool }) => {
  app.post(
    '/v1/knowledge/nodes',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Create a knowledge node at a path (409 if the path is taken)',
        tags,
        body: NodeInput,
        response: { 201: KnowledgeNode, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => reply.code(201).send(await createNode(pool, tenantOf(req).tenantId, req.body)),
  );
  app.get(
    '/v1/knowledge/nodes/:id',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'One node (by id, or by path URL-encoded) with its edges',
        tags,
        params: NodeParams,
        response: { 200: KnowledgeNode.extend({ edges: z.array(KnowledgeEdge) }), 404: ErrorBody },
      },
    },
    async (req) => readNode(pool, tenantOf(req).tenantId, req.params.id),
  );
  app.patch(
    '/v1/knowledge/nodes/:id',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Change a node (any of its fields; a new path moves it)',
        tags,
        params: NodeParams,
        body: NodePatch,
        response: { 200: KnowledgeNode, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => changeNode(pool, tenantOf(req).tenantId, req.params.id, req.body),
  );
  app.delete(
    '/v1/knowledge/nodes/:id',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Delete a node (and its edges)',
        tags,
        params: NodeParams,
        response: { 204: z.null(), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      await removeNode(pool, tenantOf(req).tenantId, req.params.id);
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/v1/knowledge/edges',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Relate two nodes (ids or paths) with a typed edge',
        tags,
        body: EdgeInput,
        response: { 204: z.null(), 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      await relateNodes(pool, tenantOf(req).tenantId, req.body);
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/v1/knowledge/search',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Ranked search: full text, trigram similarity for typos, boosts for labels, intent tags and scope',
        tags,
        body: SearchQuery,
        response: { 200: z.object({ hits: z.array(SearchHit) }), 400: ErrorBody },
      },
    },
    async (req) => ({ hits: await searchKnowledge(pool, tenantOf(req).tenantId, req.body) }),
  );
  app.get(
    '/v1/knowledge/browse',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'A path like a folder: its node, its children (with how many nodes each holds) and edges',
        tags,
        querystring: z.object({ path: z.union([z.literal('/'), KnowledgePath]).default('/') }),
        response: { 200: BrowseResult, 400: ErrorBody },
      },
    },
    async (req) => browseKnowledge(pool, tenantOf(req).tenantId, req.query.path),
  );
  app.post(
    '/v1/knowledge/import',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Import a folder of markdown files (folders → paths, front matter → title, type, labels, intent tags)',
        tags,
        body: KnowledgeImport,
        response: {
          200: z.object({ created: z.number(), updated: z.number(), paths: z.array(z.string()) }),
          400: ErrorBody,
        },
      },
      bodyLimit: 20 * 1024 * 1024,
    },
    async (req) => importKnowledge(pool, tenantOf(req).tenantId, req.body),
  );
  app.get(
    '/v1/knowledge/export',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Export nodes under a path as markdown files (the import format)',
        tags,
        querystring: z.object({ path: z.string().max(500).default('/') }),
        // Output as stored: the import's stricter file-name rule is for what comes in.
        response: { 200: z.object({ files: z.array(z.object({ path: z.string(), content: z.string() })) }) },
      },
    },
    async (req) => ({ files: await exportKnowledge(pool, tenantOf(req).tenantId, req.query.path) }),
  );
  app.get(
    '/v1/knowledge/usage',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'What agents retrieved: query, nodes returned, nodes the reply cited (newest first)',
        tags,
        querystring: z.object({
          conversationId: z.string().min(1).max(100).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
        response: { 200: z.object({ usage: z.array(UsageEntry) }) },
      },
    },
    async (req) => ({ usage: await knowledgeUsage(pool, tenantOf(req).tenantId, req.query) }),
  );
};
