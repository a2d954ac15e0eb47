import {
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  ResourceTemplate,
  type McpServer,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { withTenant } from '../../lib/db.js';
import type { TenantPrincipal } from '../apiKeys.js';
import { getCall } from '../services/calls.js';
import { campaignProgress } from '../services/campaigns.js';
import { getContact, nextAppointment } from '../services/contacts.js';
import { asServiceError } from '../services/errors.js';
import type { ToolDeps } from './tool.js';
import { PERSONAS, SHARED_RULES } from '../../domain/agents/personas.js';
import { agentPrompt, getAgent, listAgents, type Agent } from '../../domain/agents/store.js';
import { DATA_RULE, dataBlock } from '../../lib/untrusted.js';

/**
 * The tenant's context as MCP resources and prompts: a contact, a call's transcript, a campaign's
 * progress, and prompts built on them. The tenant is the calling key's; an id in a URI or an
 * argument is looked up within that tenant only (row-level security and `tenant_id` in every
 * query), so another tenant's id reads as "not found". Read scope, like the read tools.
 */

const Id = z.string().min(1).max(200);
const json = (uri: URL, value: unknown) => ({
  contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value) }],
});

/** An agent offered as a prompt: the tenant's enabled agents, seeded personas and its own. */
export type AgentPromptEntry = Pick<Agent, 'id' | 'name' | 'role'>;

/** The tenant's enabled agents, for a server that will list or get prompts (one query). */
export async function tenantAgentPrompts(deps: ToolDeps, principal: TenantPrincipal): Promise<AgentPromptEntry[]> {
  if (!principal.scopes.includes('read')) return [];
  return withTenant(deps.pool, principal.tenantId, async (c) =>
    (await listAgents(c, principal.tenantId))
      .filter((a) => a.enabled)
      .map(({ id, name, role }) => ({ id, name, role })),
  );
}

/**
 * `agents`: the tenant's agents to offer as prompts; without it (a request that neither lists nor
 * gets prompts) the four seeded personas stand in, so the server still declares its prompts.
 */
export function registerTenantContext(
  server: McpServer,
  principal: TenantPrincipal,
  deps: ToolDeps,
  agents: readonly AgentPromptEntry[] = PERSONAS,
): void {
  if (!principal.scopes.includes('read')) return;
  const { tenantId } = principal;
  const idOf = (uri: URL, v: unknown): string => {
    // The template hands over the segment as written: ids with ':' (workflow ids) arrive percent-encoded.
    const raw = Array.isArray(v) ? v[0] : v;
    const decode = (x: unknown): unknown => {
      try {
        return typeof x === 'string' ? decodeURIComponent(x) : x;
      } catch {
        throw new ResourceNotFoundError(uri.href);
      }
    };
    const parsed = Id.safeParse(decode(raw));
    if (!parsed.success) throw new ResourceNotFoundError(uri.href);
    return parsed.data;
  };

  server.registerResource(
    'contact',
    new ResourceTemplate('switchboard://contacts/{contactId}', { list: undefined }),
    {
      title: 'Contact',
      description: 'A CRM contact from the Switchboard cache, with its recent timeline (calls, notes, messages).',
      mimeType: 'application/json',
    },
    async (uri, vars) => {
      const contact = await withTenant(deps.pool, tenantId, (c) => getContact(c, tenantId, idOf(uri, vars.contactId)));
      if (!contact) throw new ResourceNotFoundError(uri.href);
      return json(uri, contact);
    },
  );
  server.registerResource(
    'call-transcript',
    new ResourceTemplate('switchboard://calls/{callId}/transcript', { list: undefined }),
    {
      title: 'Call transcript',
      description: 'What was said on a call (by workflow id or provider call id), turn by turn, with its outcome.',
      mimeType: 'application/json',
    },
    async (uri, vars) => {
      const call = await withTenant(deps.pool, tenantId, (c) =>
        getCall(c, tenantId, idOf(uri, vars.callId), { namespace: deps.namespace, webUiUrl: deps.temporalUiUrl }),
      );
      if (!call) throw new ResourceNotFoundError(uri.href);
      const { id, status, outcome, summary, nextAction, transcript } = call;
      return json(uri, { callId: id, status, outcome, summary, nextAction, transcript });
    },
  );
  server.registerResource(
    'campaign-progress',
    new ResourceTemplate('switchboard://campaigns/{campaignId}/progress', { list: undefined }),
    {
      title: 'Campaign progress',
      description: 'Leads per state, sends, replies, meetings, approvals waiting, engagement and cost of a campaign.',
      mimeType: 'application/json',
    },
    async (uri, vars) => {
      try {
        return json(uri, await campaignProgress(deps, tenantId, idOf(uri, vars.campaignId)));
      } catch (err) {
        if (asServiceError(err)?.status === 404) throw new ResourceNotFoundError(uri.href);
        throw err;
      }
    },
  );

  // Each agent as a prompt: its current prompt (the tenant may have edited it) for the client's own model.
  for (const entry of agents) {
    server.registerPrompt(
      `agent_${entry.id}`,
      {
        title: `${entry.name}: ${entry.role}`,
        description: `Take on the ${entry.name} agent of this business (agent_chat talks to the agent itself).`,
        argsSchema: z.object({ question: z.string().max(4000).optional().describe('what to ask the agent') }),
      },
      async ({ question }) => {
        const prompt = await withTenant(deps.pool, tenantId, async (c) => {
          const agent = await getAgent(c, tenantId, entry.id);
          // Disabled or removed since the list was made: not offered any more.
          if (!agent?.enabled)
            throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Prompt agent_${entry.id} not found`);
          return agentPrompt(c, tenantId, entry.id, agent.promptVersion);
        });
        const ask = question ? `\n\nThe owner asks:\n${dataBlock('owner-question', question)}` : '';
        return {
          description: `${entry.name} agent`,
          messages: [
            { role: 'user', content: { type: 'text', text: `${prompt}\n\n${SHARED_RULES}\n${DATA_RULE}${ask}` } },
          ],
        };
      },
    );
  }

  server.registerPrompt(
    'prepare_next_appointment',
    {
      title: 'Prepare me for my next appointment',
      description: 'Briefing for the next booked appointment: who it is with and their recent history.',
    },
    async () => {
      const brief = await withTenant(deps.pool, tenantId, async (c) => {
        const next = await nextAppointment(c, tenantId);
        const contact = next?.contactId ? await getContact(c, tenantId, next.contactId) : null;
        return { next, contact };
      });
      if (!brief.next)
        return {
          description: 'No upcoming appointment',
          messages: [
            {
              role: 'user',
              content: { type: 'text', text: 'I have no upcoming appointments booked. Suggest who to follow up with.' },
            },
          ],
        };
      return {
        description: `Briefing for ${brief.next.title ?? 'the next appointment'}`,
        messages: [
          {
            role: 'user',
            content: {
              type: 'text',
              text:
                `Prepare me for my next appointment (${brief.next.title ?? 'untitled'}, ${brief.next.startTime}). ` +
                'Summarise who it is with, what happened so far and what I should ask or offer.',
            },
          },
          ...(brief.contact
            ? [
                {
                  role: 'user' as const,
                  content: {
                    type: 'resource' as const,
                    resource: {
                      uri: `switchboard://contacts/${encodeURIComponent(brief.contact.contact.id)}`,
                      mimeType: 'application/json',
                      text: JSON.stringify(brief.contact),
                    },
                  },
                },
              ]
            : []),
        ],
      };
    },
  );
  server.registerPrompt(
    'review_call',
    {
      title: 'Review a call',
      description: 'What was agreed on a call and what to do next, from its transcript.',
      argsSchema: z.object({ callId: Id.describe('Workflow id or provider call id of the call') }),
    },
    async ({ callId }) => {
      const call = await withTenant(deps.pool, tenantId, (c) =>
        getCall(c, tenantId, callId, { namespace: deps.namespace, webUiUrl: deps.temporalUiUrl }),
      );
      if (!call) throw new ResourceNotFoundError(`switchboard://calls/${encodeURIComponent(callId)}/transcript`);
      return {
        messages: [
          {
            role: 'user',
            content: {
              type: 'resource',
              resource: {
                uri: `switchboard://calls/${encodeURIComponent(callId)}/transcript`,
                mimeType: 'application/json',
                text: JSON.stringify(call.transcript),
              },
            },
          },
          {
            role: 'user',
            content: {
              type: 'text',
              text: 'Review this call: what did the caller want, what was agreed, and what is the next step?',
            },
          },
        ],
      };
    },
  );
}
