import { IanaTimeZone } from '../../lib/timeZones.js';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ConversationView } from '../../domain/agents/conversations.js';
import { AgentInput, AgentPatch } from '../../domain/agents/store.js';
import { tenantOf } from '../auth.js';
import type { PgNotifications } from '../notifications.js';
import { ErrorBody } from '../http/errors.js';
import { streamChatTurn, wantsEventStream } from '../chatTurnStream.js';
import {
  addAgent,
  Agent,
  agentsOf,
  agentUsage,
  changeAgent,
  ChatReplyBody,
  confirmTool,
  Confirmation,
  conversationsOf,
  MessageView,
  messagesOf,
  PendingView,
  prepareMessage,
  prepareNewConversation,
  runTurn,
  SendMessage,
  type ChatDeps,
  type PreparedTurn,
} from '../services/agents.js';
import { badInput, notFound, conflict } from '../services/errors.js';
import { deleteBriefSchedule, describeBriefSchedule, ensureBriefSchedule, triggerBrief } from '../briefSchedules.js';

const AgentParams = z.object({ agent: z.string().min(1).max(100) });
const ConversationParams = z.object({ id: z.string().min(1).max(120) });
const tags = ['agents'];

/**
 * Persona agents over REST (api/services/agents.ts): the agents (admin: create, change, disable),
 * conversations, messages — answered as JSON, or streamed as SSE with `Accept: text/event-stream`
 * — and confirmations of tools that act.
 */
export const agentRoutes: FastifyPluginAsyncZod<ChatDeps & { notifier: PgNotifications }> = async (app, deps) => {
  const { pool, notifier } = deps;

  app.get(
    '/v1/agents',
    {
      preHandler: app.requireScope('read'),
      schema: { summary: 'The tenant’s persona agents', tags, response: { 200: z.object({ agents: z.array(Agent) }) } },
    },
    async (req) => ({ agents: await agentsOf(pool, tenantOf(req).tenantId) }),
  );
  app.post(
    '/v1/agents',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Create an agent (its prompt is version 1)',
        tags,
        body: AgentInput,
        response: { 201: Agent, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => reply.code(201).send(await addAgent(pool, tenantOf(req).tenantId, req.body)),
  );
  app.patch(
    '/v1/agents/:agent',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Change or disable an agent; a new prompt becomes the next version (conversations keep theirs)',
        tags,
        params: AgentParams,
        body: AgentPatch,
        response: { 200: Agent, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      const agent = await changeAgent(pool, tenantId, req.params.agent, req.body);
      // A changed cron, a removed brief or a disabled agent: its schedule follows.
      if (req.body.brief !== undefined || req.body.enabled !== undefined) await syncSchedule(tenantId, agent.id);
      return agent;
    },
  );
  const BriefScheduleBody = z.object({
    cron: z.string(),
    scheduleId: z.string(),
    timezone: z.string(),
    paused: z.boolean(),
    nextRuns: z.array(z.string()),
  });
  const agentOf = async (tenantId: string, id: string) => {
    const agent = (await agentsOf(pool, tenantId)).find((a) => a.id === id);
    if (!agent) throw notFound(`no agent ${id}`);
    return agent;
  };
  /** The agent's schedule made to match it: its cron in the zone, or none when it has no brief or is disabled. */
  const syncSchedule = async (tenantId: string, id: string, timezone?: string) => {
    const agent = await agentOf(tenantId, id);
    const current = await describeBriefSchedule(deps.temporal, tenantId, id);
    const zone = timezone ?? current?.timezone;
    if (!agent.brief || !agent.enabled || !zone) {
      if (current) await deleteBriefSchedule(deps.temporal, tenantId, id);
      return undefined;
    }
    const s = await ensureBriefSchedule(deps.temporal, deps.taskQueue, deps.settings, {
      tenantId,
      agentId: id,
      cron: agent.brief.cron,
      timezone: zone,
    });
    return { ...s, cron: agent.brief.cron };
  };
  app.put(
    '/v1/agents/:agent/schedule',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Turn on the agent’s brief: its cron, in this time zone, on a Temporal Schedule',
        tags,
        params: AgentParams,
        body: z.strictObject({
          timezone: IanaTimeZone,
        }),
        response: { 200: BriefScheduleBody, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      const agent = await agentOf(tenantId, req.params.agent);
      // The agent's state, not this request, is what is missing: a conflict, as for other state.
      if (!agent.brief) throw conflict(`agent ${agent.id} has no brief cron; set one with PATCH first`);
      if (!agent.enabled) throw badInput('agent', `agent ${agent.id} is disabled`);
      return (await syncSchedule(tenantId, agent.id, req.body.timezone))!;
    },
  );
  app.get(
    '/v1/agents/:agent/schedule',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'The agent’s brief schedule and its next runs',
        tags,
        params: AgentParams,
        response: { 200: BriefScheduleBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      const agent = await agentOf(tenantId, req.params.agent);
      const s = await describeBriefSchedule(deps.temporal, tenantId, agent.id);
      if (!s) throw notFound(`agent ${agent.id} has no brief schedule`);
      return { ...s, cron: agent.brief?.cron ?? '' };
    },
  );
  app.delete(
    '/v1/agents/:agent/schedule',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Turn off the agent’s brief',
        tags,
        params: AgentParams,
        response: { 204: z.null(), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!(await deleteBriefSchedule(deps.temporal, tenantOf(req).tenantId, req.params.agent)))
        throw notFound(`agent ${req.params.agent} has no brief schedule`);
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/v1/agents/:agent/brief',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Run the agent’s brief now, as its schedule would (once per local day)',
        tags,
        params: AgentParams,
        response: { 202: z.object({ triggered: z.literal(true) }), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!(await triggerBrief(deps.temporal, tenantOf(req).tenantId, req.params.agent)))
        throw notFound(`agent ${req.params.agent} has no brief schedule`);
      return reply.code(202).send({ triggered: true as const });
    },
  );

  app.get(
    '/v1/agents/usage',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Tokens and cost of the tenant’s conversations, per agent and in all',
        tags,
        response: {
          200: z.object({
            agents: z.array(
              z.object({
                agent: z.string(),
                conversations: z.number(),
                inputTokens: z.number(),
                outputTokens: z.number(),
                costUsd: z.number(),
              }),
            ),
            total: z.object({
              conversations: z.number(),
              inputTokens: z.number(),
              outputTokens: z.number(),
              costUsd: z.number(),
            }),
          }),
        },
      },
    },
    async (req) => agentUsage(pool, tenantOf(req).tenantId),
  );

  app.post(
    '/v1/agents/:agent/conversations',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary:
          'Start a conversation with an agent by its first message; the reply (JSON, or SSE with Accept: text/event-stream)',
        tags,
        params: AgentParams,
        body: SendMessage,
        response: { 201: ChatReplyBody, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const turn = await prepareNewConversation(deps, tenantOf(req).tenantId, req.params.agent, req.body);
      if (wantsStream(req)) return streamTurn(req, reply, turn);
      return reply.code(201).send(await runTurn(deps, turn));
    },
  );
  app.post(
    '/v1/conversations/:id/messages',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary:
          'Send a message; the reply as JSON, or streamed as SSE (Accept: text/event-stream; Last-Event-ID with the same messageId resumes)',
        tags,
        params: ConversationParams,
        body: SendMessage,
        response: { 200: ChatReplyBody, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const turn = await prepareMessage(deps, tenantOf(req).tenantId, req.params.id, req.body);
      if (wantsStream(req)) return streamTurn(req, reply, turn);
      return runTurn(deps, turn);
    },
  );
  app.post(
    '/v1/conversations/:id/confirmations',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Say yes or no to the tool waiting for confirmation; the rest of the turn',
        tags,
        params: ConversationParams,
        body: Confirmation,
        response: { 200: ChatReplyBody, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => confirmTool(deps, tenantOf(req).tenantId, req.params.id, req.body),
  );
  app.get(
    '/v1/conversations',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Conversations, most recent first, with their token and cost counters',
        tags,
        querystring: z.object({
          agent: z.string().min(1).max(40).optional(),
          limit: z.coerce.number().int().min(1).max(200).default(50),
        }),
        response: { 200: z.object({ conversations: z.array(ConversationView) }) },
      },
    },
    async (req) => ({ conversations: await conversationsOf(pool, tenantOf(req).tenantId, req.query) }),
  );
  app.get(
    '/v1/conversations/:id/messages',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary:
          'A conversation’s messages in order (user, assistant, tool results, summaries), and a confirmation still waiting',
        tags,
        params: ConversationParams,
        querystring: z.object({
          after: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(200),
        }),
        response: {
          200: z.object({ conversation: ConversationView, messages: z.array(MessageView), pending: PendingView }),
          404: ErrorBody,
        },
      },
    },
    async (req) => messagesOf(deps, tenantOf(req).tenantId, req.params.id, req.query),
  );

  const wantsStream = wantsEventStream;
  const streamTurn = (req: FastifyRequest, reply: FastifyReply, turn: PreparedTurn) =>
    streamChatTurn({ pool, notifier, chat: deps }, req, reply, turn);
};
