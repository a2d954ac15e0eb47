import { z } from 'zod';
import { Instant } from '../../../lib/instant.js';
import { forget, MEMORY_LIMITS, MemoryItem, MemorySource, recall, remember } from '../../../domain/memory.js';
import { defineTool, READ_ONLY } from '../tool.js';

/**
 * Per-tenant memory (domain/memory.ts). Memory is Switchboard's own store — nothing outside changes —
 * so these write Postgres directly (idempotent by key, audited) instead of starting a workflow.
 */

const Subject = z
  .string()
  .trim()
  .min(1)
  .max(MEMORY_LIMITS.subject)
  .describe('what it is about: a contact id or an E.164 phone');
const Tags = z.array(z.string().trim().min(1).max(MEMORY_LIMITS.tag)).max(MEMORY_LIMITS.tags);
const Limit = z.number().int().min(1).max(MEMORY_LIMITS.recall).default(10);
const Items = z.object({ items: z.array(MemoryItem), source: z.literal('memory') });

export const memoryTools = [
  defineTool({
    name: 'remember',
    title: 'Remember a fact',
    description:
      'Store a short fact for this tenant (e.g. a caller preference), optionally about a subject, with tags. Same idempotencyKey → stored once.',
    scope: 'act',
    input: z.strictObject({
      content: z.string().trim().min(1).max(MEMORY_LIMITS.content),
      subject: Subject.optional(),
      tags: Tags.optional(),
      idempotencyKey: z.string().min(1).max(MEMORY_LIMITS.idempotencyKey).optional(),
    }),
    output: z.object({
      id: z.string(),
      created: z.boolean().describe('false when the idempotencyKey was used before'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    run: (args, call) =>
      call.read((c) =>
        remember(c, { tenantId: call.tenantId, ...args, provenance: { source: 'mcp', apiKeyId: call.apiKeyId } }),
      ),
  }),
  defineTool({
    name: 'recall',
    title: 'Recall memories',
    description:
      'Full-text search of this tenant\'s memories, best match first (words are stemmed; "quoted phrase", -exclude and OR work). Empty query lists the newest.',
    scope: 'read',
    input: z.strictObject({ query: z.string().max(500), subject: Subject.optional(), limit: Limit }),
    output: Items,
    annotations: READ_ONLY,
    run: async (args, call) => ({
      items: await call.read((c) => recall(c, { tenantId: call.tenantId, ...args })),
      source: 'memory' as const,
    }),
  }),
  defineTool({
    name: 'search_memory',
    title: 'Search memories with filters',
    description:
      'Like recall, filtered by tags (all must match), provenance source (mcp, voice, api) and creation time.',
    scope: 'read',
    input: z.strictObject({
      query: z.string().max(500).default(''),
      subject: Subject.optional(),
      tags: Tags.optional(),
      source: MemorySource.optional(),
      since: Instant.optional().describe('only memories created at or after this instant'),
      limit: Limit,
    }),
    output: Items,
    annotations: READ_ONLY,
    run: async (args, call) => ({
      items: await call.read((c) => recall(c, { tenantId: call.tenantId, ...args })),
      source: 'memory' as const,
    }),
  }),
  defineTool({
    name: 'forget',
    title: 'Forget a memory',
    description: 'Delete one memory by id.',
    scope: 'act',
    input: z.strictObject({ id: z.string().min(1).max(100) }),
    output: z.object({ deleted: z.boolean().describe('false when there was no such memory') }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    run: (args, call) => call.read((c) => forget(c, { tenantId: call.tenantId, id: args.id })),
  }),
];
