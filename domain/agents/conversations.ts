import { z } from 'zod';
import type { PoolClient } from '../../lib/db.js';

/**
 * Conversations and their messages (sql/017_agents.sql). The conversation workflow writes through
 * its activities with idempotency keys (workflow id + turn + step), so a retried activity writes
 * once; token and cost counters move only with a fresh message, so they count once too.
 */

export const CHAT_NOTIFY_CHANNEL = 'switchboard_chat';

export interface ConversationRow {
  id: string;
  agentId: string;
  promptVersion: number;
  workflowId: string;
  title: string;
  origin: 'user' | 'brief' | 'agent' | 'widget';
  parentId: string | null;
  status: 'open' | 'closed';
  turns: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  costUsd: number;
  summary: string | null;
  summarySeq: number | null;
  createdAt: string;
  updatedAt: string;
}

export const ConversationView = z.object({
  id: z.string(),
  agent: z.string(),
  promptVersion: z.number(),
  workflowId: z.string(),
  title: z.string(),
  origin: z.enum(['user', 'brief', 'agent', 'widget']),
  parentId: z.string().nullable(),
  status: z.enum(['open', 'closed']),
  turns: z.number(),
  usage: z.object({
    inputTokens: z.number(),
    outputTokens: z.number(),
    cacheReadTokens: z.number(),
    costUsd: z.number(),
  }),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ConversationView = z.infer<typeof ConversationView>;

export const viewOf = (r: ConversationRow): ConversationView => ({
  id: r.id,
  agent: r.agentId,
  promptVersion: r.promptVersion,
  workflowId: r.workflowId,
  title: r.title,
  origin: r.origin,
  parentId: r.parentId,
  status: r.status,
  turns: r.turns,
  usage: {
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    cacheReadTokens: r.cacheReadTokens,
    costUsd: r.costUsd,
  },
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

interface Row {
  id: string;
  agent_id: string;
  prompt_version: number;
  workflow_id: string;
  title: string;
  origin: ConversationRow['origin'];
  parent_id: string | null;
  status: ConversationRow['status'];
  turns: number;
  input_tokens: string;
  output_tokens: string;
  cache_read_tokens: string;
  cost_usd: string;
  summary: string | null;
  summary_seq: string | null;
  created_at: Date;
  updated_at: Date;
}
const toRow = (r: Row): ConversationRow => ({
  id: r.id,
  agentId: r.agent_id,
  promptVersion: r.prompt_version,
  workflowId: r.workflow_id,
  title: r.title,
  origin: r.origin,
  parentId: r.parent_id,
  status: r.status,
  turns: r.turns,
  inputTokens: Number(r.input_tokens),
  outputTokens: Number(r.output_tokens),
  cacheReadTokens: Number(r.cache_read_tokens),
  costUsd: Number(r.cost_usd),
  summary: r.summary,
  summarySeq: r.summary_seq === null ? null : Number(r.summary_seq),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** Creates the conversation (at the agent's current prompt version), or reopens it as it was. */
export async function openConversationRow(
  c: PoolClient,
  tenantId: string,
  o: {
    id: string;
    agentId: string;
    workflowId: string;
    origin: ConversationRow['origin'];
    parentId?: string;
    title?: string;
  },
): Promise<ConversationRow> {
  const { rows } = await c.query<Row>(
    `insert into conversations (tenant_id, id, agent_id, prompt_version, workflow_id, origin, parent_id, title)
     select $1, $2, a.id, a.prompt_version, $4, $5, $6, $7 from agents a where a.tenant_id = $1 and a.id = $3
     on conflict (tenant_id, id) do update set status = 'open', updated_at = now()
     returning *`,
    [tenantId, o.id, o.agentId, o.workflowId, o.origin, o.parentId ?? null, (o.title ?? '').slice(0, 200)],
  );
  if (!rows[0]) throw new Error(`agent ${o.agentId} not found`);
  return toRow(rows[0]);
}

export async function getConversation(
  c: PoolClient,
  tenantId: string,
  id: string,
): Promise<ConversationRow | undefined> {
  const { rows } = await c.query<Row>('select * from conversations where tenant_id = $1 and id = $2', [tenantId, id]);
  return rows[0] && toRow(rows[0]);
}

export async function listConversations(
  c: PoolClient,
  tenantId: string,
  q: { agent?: string; limit: number },
): Promise<ConversationRow[]> {
  const { rows } = await c.query<Row>(
    `select * from conversations where tenant_id = $1 and ($2::text is null or agent_id = $2)
      order by updated_at desc, id limit $3`,
    [tenantId, q.agent ?? null, q.limit],
  );
  return rows.map(toRow);
}

export async function closeConversation(c: PoolClient, tenantId: string, id: string): Promise<void> {
  await c.query(`update conversations set status = 'closed', updated_at = now() where tenant_id = $1 and id = $2`, [
    tenantId,
    id,
  ]);
}

export type MessageRole = 'user' | 'assistant' | 'tool' | 'summary';

export interface NewMessage {
  conversationId: string;
  key: string;
  id: string;
  turn: number;
  role: MessageRole;
  /** user/summary: a string; assistant: content blocks; tool: one tool_result block. */
  content: unknown;
  text: string;
  usage?: { inputTokens: number; outputTokens: number; cacheReadTokens: number; costUsd: number };
}

export interface StoredMessage {
  seq: number;
  id: string;
  turn: number;
  role: MessageRole;
  content: unknown;
  text: string;
  inputTokens: number;
  outputTokens: number;
  createdAt: string;
}

const toMessage = (r: {
  seq: string;
  id: string;
  turn: number;
  role: MessageRole;
  content: unknown;
  text: string;
  input_tokens: number;
  output_tokens: number;
  created_at: Date;
}): StoredMessage => ({
  seq: Number(r.seq),
  id: r.id,
  turn: r.turn,
  role: r.role,
  content: r.content,
  text: r.text,
  inputTokens: r.input_tokens,
  outputTokens: r.output_tokens,
  createdAt: r.created_at.toISOString(),
});

/**
 * Appends a message once per key. A fresh one moves the conversation's counters (a user message
 * is a turn; usage adds tokens and cost); a repeat returns the first.
 */
export async function appendMessage(
  c: PoolClient,
  tenantId: string,
  m: NewMessage,
): Promise<{ message: StoredMessage; created: boolean }> {
  // One statement: the row and, when it is fresh, the conversation's counters (a user message
  // also reopens the conversation and names it when it has no title yet).
  const inserted = await c.query(
    `with added as (
       insert into conversation_messages (tenant_id, conversation_id, id, key, turn, role, content, text, input_tokens, output_tokens)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (tenant_id, key) do nothing
       returning seq, id, turn, role, content, text, input_tokens, output_tokens, created_at
     ), counted as (
       update conversations set turns = turns + $11, input_tokens = input_tokens + $9, output_tokens = output_tokens + $10,
              cache_read_tokens = cache_read_tokens + $12, cost_usd = cost_usd + $13, updated_at = now(),
              status = case when $6 = 'user' then 'open' else status end,
              title = case when $6 = 'user' and title = '' then left($8, 120) else title end
        where tenant_id = $1 and id = $2 and exists (select 1 from added)
     )
     select * from added`,
    [
      tenantId,
      m.conversationId,
      m.id,
      m.key,
      m.turn,
      m.role,
      JSON.stringify(m.content),
      m.text,
      m.usage?.inputTokens ?? 0,
      m.usage?.outputTokens ?? 0,
      m.role === 'user' ? 1 : 0,
      m.usage?.cacheReadTokens ?? 0,
      m.usage?.costUsd ?? 0,
    ],
  );
  if (inserted.rows[0]) return { message: toMessage(inserted.rows[0]), created: true };
  const { rows } = await c.query(
    'select seq, id, turn, role, content, text, input_tokens, output_tokens, created_at from conversation_messages where tenant_id = $1 and key = $2',
    [tenantId, m.key],
  );
  return { message: toMessage(rows[0]), created: false };
}

export async function messageByKey(c: PoolClient, tenantId: string, key: string): Promise<StoredMessage | undefined> {
  const { rows } = await c.query(
    'select seq, id, turn, role, content, text, input_tokens, output_tokens, created_at from conversation_messages where tenant_id = $1 and key = $2',
    [tenantId, key],
  );
  return rows[0] && toMessage(rows[0]);
}

/** Messages after `afterSeq` (all when 0), oldest first. */
export async function listMessages(
  c: PoolClient,
  tenantId: string,
  conversationId: string,
  q: { afterSeq?: number; limit: number; roles?: MessageRole[] },
): Promise<StoredMessage[]> {
  const { rows } = await c.query(
    `select seq, id, turn, role, content, text, input_tokens, output_tokens, created_at from conversation_messages
      where tenant_id = $1 and conversation_id = $2 and seq > $3 and ($5::text[] is null or role = any($5))
      order by seq limit $4`,
    [tenantId, conversationId, q.afterSeq ?? 0, q.limit, q.roles ?? null],
  );
  return rows.map(toMessage);
}

/** The summary continue-as-new carries: the model's words, covering messages up to `uptoSeq`. */
export async function setSummary(
  c: PoolClient,
  tenantId: string,
  conversationId: string,
  summary: string,
  uptoSeq: number,
): Promise<void> {
  await c.query(
    `update conversations set summary = $3, summary_seq = $4, updated_at = now()
      where tenant_id = $1 and id = $2 and coalesce(summary_seq, 0) <= $4`,
    [tenantId, conversationId, summary, uptoSeq],
  );
}

export type DeltaKind = 'delta' | 'reset' | 'tool' | 'done';
export interface Delta {
  seq: number;
  kind: DeltaKind;
  text: string;
  /** The model step within the turn (a reset replaces that step's text). */
  step?: number;
}

/**
 * NOTIFY payloads stay under Postgres's 8,000-byte limit: a batch this large (as JSON) goes as the
 * key alone, and the relay reads it from the table.
 */
const NOTIFY_DELTAS_MAX = 7000;

/** The notification for a message's deltas: `tenant conversation message`, then the deltas as JSON when they fit. */
export function deltaNotice(tenantId: string, conversationId: string, messageId: string, deltas: Delta[]): string {
  const key = deltaNoticeKey(tenantId, conversationId, messageId);
  const json = JSON.stringify(deltas);
  return json.length <= NOTIFY_DELTAS_MAX ? `${key}\n${json}` : key;
}

/** The key a relay waits on for one message's deltas. */
export function deltaNoticeKey(tenantId: string, conversationId: string, messageId: string): string {
  return `${tenantId} ${conversationId} ${messageId}`;
}

/** A notification's key and the deltas it carries (none: read them from the table). */
export function parseDeltaNotice(payload: string): { key: string; deltas: Delta[] | undefined } {
  const at = payload.indexOf('\n');
  if (at < 0) return { key: payload, deltas: undefined };
  try {
    return { key: payload.slice(0, at), deltas: JSON.parse(payload.slice(at + 1)) as Delta[] };
  } catch {
    return { key: payload.slice(0, at), deltas: undefined };
  }
}

/**
 * Appends deltas of one streamed message and wakes the API's listeners (NOTIFY, on commit), in one
 * statement: the notification carries the deltas, so a relay writes them without reading them back.
 */
export async function appendDeltas(
  c: PoolClient,
  tenantId: string,
  conversationId: string,
  messageId: string,
  deltas: Delta[],
): Promise<void> {
  if (!deltas.length) return;
  const rows = deltas.map((d) => ({ ...d, step: d.step ?? 0 }));
  await c.query(
    `with added as (
       insert into conversation_deltas (tenant_id, conversation_id, message_id, seq, kind, text, step)
       select $1, $2, $3, d.seq, d.kind, d.text, d.step
         from jsonb_to_recordset($4::jsonb) as d(seq int, kind text, text text, step int)
       on conflict do nothing
     )
     select pg_notify($5, $6)`,
    [
      tenantId,
      conversationId,
      messageId,
      JSON.stringify(rows),
      CHAT_NOTIFY_CHANNEL,
      deltaNotice(tenantId, conversationId, messageId, rows),
    ],
  );
}

export async function readDeltas(
  c: PoolClient,
  tenantId: string,
  conversationId: string,
  messageId: string,
  afterSeq: number,
): Promise<Delta[]> {
  const { rows } = await c.query<Delta>(
    `select seq, kind, text, step from conversation_deltas
      where tenant_id = $1 and conversation_id = $2 and message_id = $3 and seq > $4 order by seq`,
    [tenantId, conversationId, messageId, afterSeq],
  );
  return rows;
}

/** Rough list prices per million tokens, for the cost column; unknown models price as Sonnet. */
export function costOf(model: string, u: { inputTokens: number; outputTokens: number; cacheReadTokens: number }) {
  const m = model.toLowerCase();
  const [inp, out] = m.includes('opus') ? [15, 75] : m.includes('haiku') ? [1, 5] : [3, 15];
  return (u.inputTokens * inp + u.outputTokens * out + u.cacheReadTokens * inp * 0.1) / 1_000_000;
}
