import { createHash, randomUUID } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowUpdateFailedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { z } from 'zod';
import { withTenant, type Pool } from '../../lib/db.js';
import { workflowIds } from '../../lib/ids.js';
import type { AgentConversationSettings } from '../../lib/config.js';
import {
  Agent,
  AgentExists,
  AgentId,
  createAgent,
  getAgent,
  listAgents,
  updateAgent,
  type AgentInput,
  type AgentPatch,
} from '../../domain/agents/store.js';
import {
  getConversation,
  listConversations,
  listMessages,
  viewOf,
  type ConversationView,
  type StoredMessage,
} from '../../domain/agents/conversations.js';
import {
  confirmToolUpdate,
  historyQuery,
  sendMessageUpdate,
  type PendingConfirmation,
  type ChatReply,
  type ConversationInput,
} from '../../workflows/conversation.contract.js';
import { badInput, conflict, notFound, ServiceError } from './errors.js';

/**
 * Persona agents and their conversations for both adapters. The API never runs a turn itself:
 * a message is the conversation workflow's `sendMessage` update (update-with-start, so the first
 * message starts it and a message to a closed conversation reopens it), and a confirmation its
 * `confirmTool` update. Reads (agents, conversations, messages) come from Postgres.
 */

export interface ChatDeps {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  settings: AgentConversationSettings;
}

export const MESSAGE_LIMIT = 20_000;
export const MessageText = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(MESSAGE_LIMIT, `at most ${MESSAGE_LIMIT} characters`);
export const MessageId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,80}$/, 'expected 1-80 letters, digits, - or _')
  .describe('your id for the message: sending it again (a reconnect) is the same turn');
export const SendMessage = z.strictObject({ text: MessageText, messageId: MessageId.optional() });
export type SendMessage = z.infer<typeof SendMessage>;
export const Confirmation = z.strictObject({
  confirmationId: z.string().min(1).max(200),
  approve: z.boolean(),
});

export const ChatReplyBody = z.object({
  conversationId: z.string(),
  messageId: z.string(),
  status: z.enum(['answered', 'awaiting_confirmation', 'stopped']),
  reply: z.object({ id: z.string(), text: z.string() }).nullable(),
  confirmation: z
    .object({
      id: z.string(),
      tool: z.string(),
      input: z.record(z.string(), z.unknown()),
      question: z.string(),
      expiresAt: z.string(),
    })
    .nullable(),
  stopReason: z.string().nullable(),
  tools: z.array(z.object({ name: z.string(), ok: z.boolean() })),
  usage: z.object({ inputTokens: z.number(), outputTokens: z.number() }),
});

export const MessageView = z.object({
  seq: z.number(),
  id: z.string(),
  turn: z.number(),
  role: z.enum(['user', 'assistant', 'tool', 'summary']),
  text: z.string(),
  toolUses: z.array(z.object({ id: z.string(), name: z.string(), input: z.unknown() })),
  createdAt: z.string(),
});
export type MessageView = z.infer<typeof MessageView>;

const messageView = (m: StoredMessage): MessageView => ({
  seq: m.seq,
  id: m.id,
  turn: m.turn,
  role: m.role,
  text: m.text,
  toolUses: (Array.isArray(m.content)
    ? (m.content as { type: string; id: string; name: string; input: unknown }[])
    : []
  )
    .filter((b) => b.type === 'tool_use')
    .map((b) => ({ id: b.id, name: b.name, input: b.input })),
  createdAt: m.createdAt,
});

export { Agent };

export async function agentsOf(pool: Pool, tenantId: string): Promise<Agent[]> {
  return withTenant(pool, tenantId, (c) => listAgents(c, tenantId));
}

export async function addAgent(pool: Pool, tenantId: string, input: AgentInput): Promise<Agent> {
  return withTenant(pool, tenantId, (c) => createAgent(c, tenantId, input)).catch((err: unknown) => {
    if (err instanceof AgentExists) throw conflict(err.message);
    throw err;
  });
}

export async function changeAgent(pool: Pool, tenantId: string, id: string, patch: AgentPatch): Promise<Agent> {
  const agent = await withTenant(pool, tenantId, (c) => updateAgent(c, tenantId, id, patch));
  if (!agent) throw notFound(`no agent ${id}`);
  return agent;
}

const newConversationId = () => `conv_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
/**
 * A first message that carries its messageId names its conversation: sent again because its answer
 * was lost (the API restarted mid-turn), it reaches the same conversation and turn, not a second one.
 */
const conversationIdFor = (tenantId: string, agentId: string, messageId: string | undefined) =>
  messageId === undefined
    ? newConversationId()
    : `conv_${createHash('sha256').update(`${tenantId}\0${agentId}\0${messageId}`).digest('hex').slice(0, 20)}`;
const newMessageId = () => `msg_${randomUUID().replaceAll('-', '').slice(0, 20)}`;

/** What a turn is started with: its conversation's workflow, and the message's id. */
export interface PreparedTurn {
  conversationId: string;
  workflowId: string;
  messageId: string;
  /** The caller named the message: it may have been sent before (a reconnect). */
  resent: boolean;
  start: ConversationInput;
  text: string;
}

/** A new conversation with an agent, started by its first message (nothing written on bad input). */
export async function prepareNewConversation(
  deps: ChatDeps,
  tenantId: string,
  agentId: string,
  msg: SendMessage,
): Promise<PreparedTurn> {
  if (!AgentId.safeParse(agentId).success) throw badInput('agent', `no agent '${agentId}'`);
  const agent = await withTenant(deps.pool, tenantId, (c) => getAgent(c, tenantId, agentId));
  if (!agent) throw badInput('agent', `no agent '${agentId}'`);
  if (!agent.enabled) throw conflict(`agent '${agentId}' is disabled`);
  const conversationId = conversationIdFor(tenantId, agentId, msg.messageId);
  return {
    conversationId,
    workflowId: workflowIds.conversation(tenantId, conversationId),
    messageId: msg.messageId ?? newMessageId(),
    // A new conversation: its messages cannot have been answered before.
    resent: false,
    text: msg.text,
    start: { tenantId, conversationId, agentId, origin: 'user', settings: deps.settings },
  };
}

/** The next message of a conversation of this tenant (404 for another tenant's id). */
export async function prepareMessage(
  deps: ChatDeps,
  tenantId: string,
  conversationId: string,
  msg: SendMessage,
): Promise<PreparedTurn> {
  const conv = await withTenant(deps.pool, tenantId, (c) => getConversation(c, tenantId, conversationId));
  if (!conv) throw notFound(`no conversation ${conversationId}`);
  // The visitor speaks in their own chat (api/services/widgets.ts); the owner reads it, and follows up by email.
  if (conv.origin === 'widget') throw conflict('a website visitor’s chat: only the visitor writes in it');
  return {
    conversationId,
    workflowId: conv.workflowId,
    messageId: msg.messageId ?? newMessageId(),
    resent: msg.messageId !== undefined,
    text: msg.text,
    start: {
      tenantId,
      conversationId,
      agentId: conv.agentId,
      origin: conv.origin,
      ...(conv.parentId ? { parentId: conv.parentId } : {}),
      settings: deps.settings,
    },
  };
}

/** The turn as an update-with-start: the first message starts the workflow, a later one finds it (or reopens it). */
export async function runTurn(deps: ChatDeps, t: PreparedTurn): Promise<ChatReply> {
  // Only a message id the caller chose can have been answered before (ours are new).
  const answered = t.resent ? await answeredBefore(deps.pool, t) : undefined;
  if (answered) return answered;
  try {
    return await deps.temporal.workflow.executeUpdateWithStart(sendMessageUpdate, {
      args: [{ messageId: t.messageId, text: t.text }],
      startWorkflowOperation: new WithStartWorkflowOperation('conversation', {
        workflowId: t.workflowId,
        taskQueue: deps.taskQueue,
        args: [t.start],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
  } catch (err) {
    throw refusedUpdate(err);
  }
}

/**
 * A message sent again after its turn finished and its run closed (a late reconnect): the stored
 * answer, instead of a second turn.
 */
async function answeredBefore(pool: Pool, t: PreparedTurn): Promise<ChatReply | undefined> {
  const { tenantId } = t.start;
  return withTenant(pool, tenantId, async (c) => {
    const { rows } = await c.query<{ id: string; text: string; content: unknown }>(
      `select m.id, m.text, m.content from conversation_messages u
         join conversation_messages m on m.tenant_id = u.tenant_id and m.conversation_id = u.conversation_id
                                      and m.turn = u.turn and m.role = 'assistant'
        where u.tenant_id = $1 and u.conversation_id = $2 and u.id = $3 and u.role = 'user'
        order by m.seq desc limit 1`,
      [tenantId, t.conversationId, t.messageId],
    );
    const last = rows[0];
    if (!last) return undefined;
    const final = !(Array.isArray(last.content) && last.content.some((b: { type?: string }) => b.type === 'tool_use'));
    if (!final) return undefined;
    return {
      conversationId: t.conversationId,
      messageId: t.messageId,
      status: 'answered',
      reply: { id: last.id, text: last.text },
      confirmation: null,
      stopReason: null,
      tools: [],
      usage: { inputTokens: 0, outputTokens: 0 },
    };
  });
}

function refusedUpdate(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    const message = err.cause?.message ?? err.message;
    const field = /^(\w+):/.exec(message)?.[1];
    return field ? new ServiceError(field === 'confirmationId' ? 409 : 400, message, field) : conflict(message);
  }
  if (err instanceof WorkflowNotFoundError)
    return conflict('the conversation is not running; send a message to reopen it');
  return err;
}

export async function confirmTool(
  deps: ChatDeps,
  tenantId: string,
  conversationId: string,
  decision: z.infer<typeof Confirmation>,
): Promise<ChatReply> {
  const conv = await withTenant(deps.pool, tenantId, (c) => getConversation(c, tenantId, conversationId));
  if (!conv) throw notFound(`no conversation ${conversationId}`);
  try {
    return await deps.temporal.workflow
      .getHandle(conv.workflowId)
      .executeUpdate(confirmToolUpdate, { args: [decision] });
  } catch (err) {
    throw refusedUpdate(err);
  }
}

export async function conversationsOf(
  pool: Pool,
  tenantId: string,
  q: { agent?: string; limit: number },
): Promise<ConversationView[]> {
  return (await withTenant(pool, tenantId, (c) => listConversations(c, tenantId, q))).map(viewOf);
}

export const PendingView = z
  .object({
    id: z.string(),
    tool: z.string(),
    input: z.record(z.string(), z.unknown()),
    question: z.string(),
    expiresAt: z.string(),
  })
  .nullable()
  .describe('a tool waiting for the owner’s yes or no (POST …/confirmations), or null');

export async function messagesOf(
  deps: Pick<ChatDeps, 'pool' | 'temporal'>,
  tenantId: string,
  conversationId: string,
  q: { after?: number; limit: number },
): Promise<{ conversation: ConversationView; messages: MessageView[]; pending: PendingConfirmation | null }> {
  const { conv, rows } = await withTenant(deps.pool, tenantId, async (c) => {
    const conv = await getConversation(c, tenantId, conversationId);
    if (!conv) throw notFound(`no conversation ${conversationId}`);
    return { conv, rows: await listMessages(c, tenantId, conversationId, { afterSeq: q.after, limit: q.limit }) };
  });
  return { conversation: viewOf(conv), messages: rows.map(messageView), pending: await pendingOf(deps, conv) };
}

/**
 * What the conversation's workflow is waiting for, if anything: only a running workflow knows (its
 * history query), so a closed conversation, or one whose workflow is gone, has nothing pending.
 */
async function pendingOf(
  deps: Pick<ChatDeps, 'temporal'>,
  conv: { status: string; workflowId: string },
): Promise<PendingConfirmation | null> {
  if (conv.status !== 'open') return null;
  try {
    const history = await deps.temporal.workflow.getHandle(conv.workflowId).query(historyQuery);
    return history.pending;
  } catch {
    // The workflow is gone or cannot answer: nothing is waiting that a confirmation could reach.
    return null;
  }
}

/** Token and cost totals of the tenant's conversations (per agent), from the conversations' counters. */
export async function agentUsage(pool: Pool, tenantId: string) {
  const { rows } = await withTenant(pool, tenantId, (c) =>
    c.query<{ agent_id: string; conversations: number; input: string; output: string; cost: string }>(
      `select agent_id, count(*)::int as conversations, sum(input_tokens) as input, sum(output_tokens) as output,
              sum(cost_usd) as cost
         from conversations where tenant_id = $1 group by agent_id order by agent_id`,
      [tenantId],
    ),
  );
  const agents = rows.map((r) => ({
    agent: r.agent_id,
    conversations: r.conversations,
    inputTokens: Number(r.input),
    outputTokens: Number(r.output),
    costUsd: Number(r.cost),
  }));
  return {
    agents,
    total: agents.reduce(
      (t, a) => ({
        conversations: t.conversations + a.conversations,
        inputTokens: t.inputTokens + a.inputTokens,
        outputTokens: t.outputTokens + a.outputTokens,
        costUsd: t.costUsd + a.costUsd,
      }),
      { conversations: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
    ),
  };
}
