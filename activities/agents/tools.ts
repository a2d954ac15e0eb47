import { createHash } from 'node:crypto';
import { z } from 'zod';
import { withTenant, type Pool } from '../../lib/db.js';
import type { AgentToolName } from '../../lib/agentToolNames.js';
import { CampaignDefinition } from '../../lib/campaign.js';
import { recall, remember } from '../../domain/memory.js';
import { KnowledgePath, NodeType } from '../../domain/knowledge/nodes.js';
import { browseKnowledge, searchKnowledge } from '../../api/services/knowledge.js';
import { ContactSearch, getContact, searchContacts } from '../../api/services/contacts.js';
import { getCall, listCalls } from '../../api/services/calls.js';
import { campaignProgress, createCampaign, listCampaigns } from '../../api/services/campaigns.js';
import { computeInsights, computeRecommendations, InsightsQuery } from '../../api/services/insights.js';
import type { CrmActionActivities } from '../crm/actions.js';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';

/**
 * The persona agents' tools: description, argument schema (also the JSON Schema Claude sees) and
 * run, one definition each. Reads come from Switchboard's own data (the CRM cache, calls,
 * campaigns, knowledge, memory) through the same service functions as REST and MCP; writes go
 * through the CRM actions, each keyed by the tool use, so a retried activity acts once and an id
 * from the model is checked to be the tenant's (domain/crm/ownership.ts) before GHL is asked.
 * `ask_agent` is run by the workflow (a child conversation); its definition is here for Claude.
 */

export interface AgentToolContext {
  tenantId: string;
  conversationId: string;
  agentId: string;
  turn: number;
  /** Idempotency key of this tool use (workflow id + tool use id). */
  key: string;
  pool: Pool;
  access: ProviderAccess;
  crm: CrmActionActivities;
  /** A website visitor's chat: the only part of the knowledge base its tools may read. */
  knowledgeScope?: string;
}

/** Whether `path` is `scope` or below it ('/' holds everything). */
export const withinScope = (scope: string, path: string) =>
  scope === '/' || path === scope || path.startsWith(`${scope}/`);

export class AgentToolRefused extends Error {
  override readonly name = 'AgentToolRefused';
}

export interface AgentToolDefinition {
  description: string;
  args: z.ZodType;
  /** The question the owner says yes or no to, for a tool that acts. */
  confirm?(args: unknown): string;
  run(ctx: AgentToolContext, args: unknown): Promise<string>;
}

function tool<S extends z.ZodType>(def: {
  description: string;
  args: S;
  confirm?(args: z.output<S>): string;
  run(ctx: AgentToolContext, args: z.output<S>): Promise<string>;
}): AgentToolDefinition {
  return def as unknown as AgentToolDefinition;
}

const json = (v: unknown) => JSON.stringify(v);
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD');
const isoDateTime = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) && !Number.isNaN(Date.parse(s)), 'expected an ISO date-time');
const ContactId = z.string().min(1).max(100);

export const agentTools: Readonly<Record<AgentToolName, AgentToolDefinition>> = {
  knowledge_search: tool({
    description:
      "Search the business's knowledge base (playbooks, pricing, processes, examples). Returns paths, titles and snippets, best first; cite paths you use.",
    args: z.object({
      query: z.string().min(1).max(500),
      scope: KnowledgePath.optional().describe('only under this path, e.g. /sales'),
      intent: z.string().min(1).max(60).optional(),
      types: z.array(NodeType).max(6).optional(),
    }),
    async run(ctx, a) {
      // A visitor's search stays inside the widget's scope, whatever scope the model asked for.
      const scope = ctx.knowledgeScope
        ? a.scope && withinScope(ctx.knowledgeScope, a.scope)
          ? a.scope
          : ctx.knowledgeScope
        : a.scope;
      const hits = await searchKnowledge(
        ctx.pool,
        ctx.tenantId,
        { ...a, ...(scope && scope !== '/' ? { scope } : {}), limit: 5 },
        { conversationId: ctx.conversationId, turn: ctx.turn, agent: ctx.agentId, idempotencyKey: ctx.key },
      );
      if (!hits.length) return `No knowledge found for "${a.query}".`;
      return hits.map((h) => `[${h.path}] ${h.title} (${h.type}): ${h.snippet}`).join('\n');
    },
  }),
  knowledge_browse: tool({
    description: 'Open a knowledge path like a folder: the node there (full text), its children and related nodes.',
    args: z.object({ path: z.string().min(1).max(500) }),
    async run(ctx, a) {
      const scope = ctx.knowledgeScope;
      if (scope && !withinScope(scope, a.path)) throw new AgentToolRefused(`${a.path} is not open to visitors`);
      const r = await browseKnowledge(ctx.pool, ctx.tenantId, a.path, {
        conversationId: ctx.conversationId,
        turn: ctx.turn,
        agent: ctx.agentId,
        idempotencyKey: ctx.key,
      });
      const lines = [];
      if (r.node) lines.push(`[${r.node.path}] ${r.node.title}\n${r.node.body.slice(0, 4000)}`);
      for (const c of r.children) lines.push(`- ${c.path} ${c.title} (${c.descendants} inside)`);
      for (const e of r.edges.filter((e) => !scope || withinScope(scope, e.path)))
        lines.push(`~ ${e.kind}: ${e.path} ${e.title}`);
      return lines.join('\n') || `Nothing at ${r.path}.`;
    },
  }),
  crm_search_contacts: tool({
    description: 'Search CRM contacts by name words, phone, email or tag (from the synced cache).',
    args: ContactSearch.omit({ cursor: true, limit: true }).extend({
      limit: z.number().int().min(1).max(25).default(10),
    }),
    async run(ctx, a) {
      const page = await withTenant(ctx.pool, ctx.tenantId, (c) =>
        searchContacts(c, ctx.tenantId, { ...a, limit: a.limit }),
      );
      if (!page.contacts.length) return 'No contacts match.';
      return page.contacts
        .map((c) => `${c.id}: ${c.name ?? '(no name)'} ${c.phone ?? ''} ${c.email ?? ''} tags=${c.tags.join(',')}`)
        .join('\n');
    },
  }),
  crm_get_contact: tool({
    description: 'One contact with its recent timeline (calls, notes, messages).',
    args: z.object({ contactId: ContactId }),
    async run(ctx, a) {
      const contact = await withTenant(ctx.pool, ctx.tenantId, (c) => getContact(c, ctx.tenantId, a.contactId));
      if (!contact) throw new AgentToolRefused(`no contact ${a.contactId}`);
      return json(contact);
    },
  }),
  crm_free_slots: tool({
    description: 'Free appointment times between two dates (inclusive), in the business calendar.',
    args: z.object({ startDate: isoDate, endDate: isoDate.optional(), timezone: z.string().min(1).max(64).optional() }),
    async run(ctx, a) {
      const r = await ctx.crm.getFreeSlots({ tenantId: ctx.tenantId, ...a });
      if (!r.slots.length) return `No free times from ${a.startDate}.`;
      return `Free times (${r.timezone}): ${r.slots.slice(0, 12).join(', ')}`;
    },
  }),
  crm_book_appointment: tool({
    description: 'Book an appointment for a contact at one of the free times. Waits for the owner to confirm.',
    args: z.object({ contactId: ContactId, startTime: isoDateTime, title: z.string().min(1).max(200).optional() }),
    confirm: (a) => `Book ${a.title ?? 'an appointment'} for contact ${a.contactId} at ${a.startTime}?`,
    async run(ctx, a) {
      const r = await ctx.crm.bookAppointment({
        tenantId: ctx.tenantId,
        // Keyed by contact and time, not the tool use: the agent asking twice books once.
        idempotencyKey: `${ctx.conversationId}:book:${a.contactId}:${Date.parse(a.startTime)}`,
        contactId: a.contactId,
        startTime: a.startTime,
        title: a.title,
      });
      return `Booked ${r.startTime} for contact ${r.contactId} (appointment ${r.appointmentId}).`;
    },
  }),
  crm_add_note: tool({
    description: "Add a short note to a contact's CRM record.",
    args: z.object({ contactId: ContactId, body: z.string().min(1).max(5000) }),
    async run(ctx, a) {
      const r = await ctx.crm.addContactNote({ tenantId: ctx.tenantId, idempotencyKey: ctx.key, ...a });
      return `Noted on ${a.contactId} (${r.noteId}).`;
    },
  }),
  crm_send_sms: tool({
    description: 'Text a contact. Waits for the owner to confirm.',
    args: z.object({ contactId: ContactId, message: z.string().min(1).max(1600) }),
    confirm: (a) => `Text contact ${a.contactId}: "${a.message.slice(0, 200)}"?`,
    async run(ctx, a) {
      const r = await ctx.crm.sendSms({ tenantId: ctx.tenantId, idempotencyKey: ctx.key, ...a });
      return `Text sent to ${a.contactId} (${r.messageId}).`;
    },
  }),
  calls_list: tool({
    description: 'Recent phone calls, newest first, optionally by status or since a time.',
    args: z.object({
      status: z.string().min(1).max(40).optional(),
      since: isoDateTime.optional(),
      limit: z.number().int().min(1).max(50).default(10),
    }),
    async run(ctx, a) {
      const calls = await withTenant(ctx.pool, ctx.tenantId, (c) => listCalls(c, ctx.tenantId, a));
      if (!calls.length) return 'No calls.';
      return calls.map((c) => json(c)).join('\n');
    },
  }),
  calls_get: tool({
    description: 'One call with its transcript, outcome and summary.',
    args: z.object({ callId: z.string().min(1).max(200) }),
    async run(ctx, a) {
      const call = await withTenant(ctx.pool, ctx.tenantId, (c) =>
        getCall(c, ctx.tenantId, a.callId, { namespace: 'default', webUiUrl: undefined }),
      );
      if (!call) throw new AgentToolRefused(`no call ${a.callId}`);
      const { webUiUrl: _ui, ...rest } = call;
      return json(rest).slice(0, 12_000);
    },
  }),
  calls_start_outbound: tool({
    description: 'Place an outbound phone call to a contact with a purpose. Waits for the owner to confirm.',
    args: z.object({
      to: z.string().min(5).max(32),
      purpose: z.string().min(1).max(500),
      contactId: ContactId.optional(),
    }),
    confirm: (a) => `Call ${a.to} to ${a.purpose.slice(0, 200)}?`,
    run() {
      // Placed by the workflow (a voiceCall child), never from here.
      throw new AgentToolRefused('calls_start_outbound is placed by the conversation workflow');
    },
  }),
  campaigns_status: tool({
    description: 'Campaigns and their progress (leads per state, sends, replies, meetings); one campaign by id.',
    args: z.object({ campaignId: z.string().min(1).max(64).optional() }),
    async run(ctx, a) {
      if (a.campaignId) return json(await campaignProgress({ pool: ctx.pool }, ctx.tenantId, a.campaignId));
      const list = await listCampaigns({ pool: ctx.pool }, ctx.tenantId, 20);
      return list.length ? list.map((c) => json(c)).join('\n') : 'No campaigns.';
    },
  }),
  campaigns_create_draft: tool({
    description:
      'Create a draft campaign (not started): name, goal, sequence of email/sms/call/wait steps, sender and an audience.',
    args: CampaignDefinition,
    async run(ctx, a) {
      // Named after the tool use: a retried activity (worker crash) finds its draft instead of making a second.
      const id = `cmp_${createHash('sha256').update(ctx.key).digest('hex').slice(0, 20)}`;
      const r = await createCampaign({ pool: ctx.pool, access: ctx.access }, ctx.tenantId, a, { id });
      return `Draft campaign ${r.id} created with ${r.leads.imported} leads; start it from the console or REST.`;
    },
  }),
  insights: tool({
    description:
      'Figures from the CRM cache: hot leads going quiet, callbacks asked for, peak hours, conversion by source.',
    args: InsightsQuery.pick({ notContactedDays: true, activeDays: true, tz: true }).partial(),
    async run(ctx, a) {
      const { insights } = await withTenant(ctx.pool, ctx.tenantId, (c) =>
        computeInsights(c, ctx.tenantId, InsightsQuery.parse(a)),
      );
      return json(insights).slice(0, 12_000);
    },
  }),
  recommendations: tool({
    description: 'Prioritised next actions from the insights, each with its reasoning and the contacts it covers.',
    args: z.object({}),
    async run(ctx) {
      const r = await withTenant(ctx.pool, ctx.tenantId, (c) =>
        computeRecommendations(c, ctx.tenantId, InsightsQuery.parse({})),
      );
      return json(r.recommendations).slice(0, 12_000);
    },
  }),
  memory_remember: tool({
    description: 'Remember a short fact for later conversations (per business, searchable).',
    args: z.object({ content: z.string().min(1).max(2000), subject: z.string().min(1).max(200).optional() }),
    async run(ctx, a) {
      await withTenant(ctx.pool, ctx.tenantId, (c) =>
        remember(c, {
          tenantId: ctx.tenantId,
          ...a,
          tags: ['agent', ctx.agentId],
          provenance: { source: 'api', workflowId: ctx.conversationId },
          idempotencyKey: ctx.key,
        }),
      );
      return 'Remembered.';
    },
  }),
  memory_recall: tool({
    description: 'Search what was remembered earlier (facts, preferences, decisions).',
    args: z.object({ query: z.string().min(1).max(500) }),
    async run(ctx, a) {
      const items = await withTenant(ctx.pool, ctx.tenantId, (c) =>
        recall(c, { tenantId: ctx.tenantId, query: a.query, limit: 5 }),
      );
      return items.length ? items.map((i) => i.content).join('\n') : `Nothing remembered about "${a.query}".`;
    },
  }),
  ask_agent: tool({
    description:
      'Ask another agent of this business (strategist, builder, closer, operator) a question; their answer comes back.',
    args: z.object({
      agent: z.string().min(1).max(40).describe('the other agent: strategist, builder, closer or operator'),
      question: z.string().min(1).max(4000),
    }),
    run() {
      throw new AgentToolRefused('ask_agent is run by the conversation workflow');
    },
  }),
};

type ToolSpec = { name: AgentToolName; description: string; input_schema: { type: 'object'; [k: string]: unknown } };
const specs = new Map<AgentToolName, ToolSpec>();

/**
 * Claude's tool list for these names (JSON Schema from the zod schemas, computed once per tool).
 * Fresh objects each call: the caller marks the last one for prompt caching.
 */
export function toolSpecs(names: readonly AgentToolName[]): ToolSpec[] {
  return names.map((name) => {
    let spec = specs.get(name);
    if (!spec) {
      spec = {
        name,
        description: agentTools[name].description,
        input_schema: z.toJSONSchema(agentTools[name].args, {
          io: 'input',
          unrepresentable: 'any',
        }) as ToolSpec['input_schema'],
      };
      specs.set(name, spec);
    }
    return { ...spec };
  });
}

/** Arguments checked against the tool's schema: the parsed value, or the problems naming each field. */
export function parseToolArgs(
  name: AgentToolName,
  raw: unknown,
): { ok: true; args: unknown } | { ok: false; problem: string } {
  const parsed = agentTools[name].args.safeParse(raw ?? {});
  if (parsed.success) return { ok: true, args: parsed.data };
  return {
    ok: false,
    problem: parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; '),
  };
}
