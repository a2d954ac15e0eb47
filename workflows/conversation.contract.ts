import { defineQuery, defineUpdate } from '@temporalio/workflow';

/**
 * The conversation workflow's contract (id `chat:{tenant}:{conversationId}`): a message is an
 * update whose result is the reply; a tool that acts waits for `confirmTool`; the history query
 * gives ids and counts (the messages themselves are in Postgres). Names are in recorded
 * histories: never rename them.
 */

export interface ConversationSettings {
  /** Model steps (a model call, then its tool calls) in one turn before the agent must answer. */
  maxToolSteps: number;
  /** User turns a conversation may have in all. */
  turnLimit: number;
  /** Input + output tokens a conversation may spend in all. */
  tokenBudget: number;
  /** How long a tool that acts waits for the owner's yes; then it is not done. */
  confirmTimeoutMs: number;
  /** Quiet this long, the conversation closes (the next message reopens it). */
  idleTimeoutMs: number;
  /** Continue-as-new after this many turns in one run, with a model-written summary. */
  continueAsNewEvery: number;
}

export interface ConversationInput {
  tenantId: string;
  conversationId: string;
  agentId: string;
  origin: 'user' | 'brief' | 'agent' | 'widget';
  /** The conversation that asked (ask_agent), for the row. */
  parentId?: string;
  title?: string;
  settings: ConversationSettings;
  /**
   * One turn with this message, then the workflow returns the reply: another agent asking (a child
   * workflow) or a brief. Tools that act are not offered in one-shot conversations.
   */
  oneShot?: { messageId: string; text: string };
  /** What a previous run (continue-as-new) leaves to the next. */
  carried?: CarriedState;
}

export interface CarriedState {
  turns: number;
  tokensUsed: number;
  runTurns?: number;
  /** Recent replies by user message id, so a re-sent message gets its reply, not a second turn. */
  replies: [string, ChatReply][];
}

export interface SendMessageInput {
  /** The caller's id for the message (idempotency): the same id is one turn. */
  messageId: string;
  text: string;
}

export interface PendingConfirmation {
  id: string;
  tool: string;
  input: Record<string, unknown>;
  /** What will happen, in words, for the owner to say yes or no to. */
  question: string;
  expiresAt: string;
}

export interface ChatReply {
  conversationId: string;
  /** The user message this turn answers; its streamed deltas are keyed by it. */
  messageId: string;
  status: 'answered' | 'awaiting_confirmation' | 'stopped';
  reply: { id: string; text: string } | null;
  confirmation: PendingConfirmation | null;
  /** Why the agent stopped early: turn_limit, token_budget, step_limit, quota, disabled. */
  stopReason: string | null;
  tools: { name: string; ok: boolean }[];
  usage: { inputTokens: number; outputTokens: number };
}

export interface ConfirmInput {
  confirmationId: string;
  approve: boolean;
}

export interface ConversationHistory {
  conversationId: string;
  agentId: string;
  status: 'starting' | 'idle' | 'thinking' | 'awaiting_confirmation' | 'closed';
  turns: number;
  runTurns: number;
  tokensUsed: number;
  /** Message ids of this run, oldest first (the bodies are in Postgres). */
  messageIds: string[];
  pending: PendingConfirmation | null;
}

export const sendMessageUpdate = defineUpdate<ChatReply, [SendMessageInput]>('sendMessage');
export const confirmToolUpdate = defineUpdate<ChatReply, [ConfirmInput]>('confirmTool');
export const historyQuery = defineQuery<ConversationHistory>('history');

/** What the workflow returns when it ends: the last reply (a one-shot's answer), or why it closed. */
export interface ConversationResult {
  conversationId: string;
  closed: 'idle' | 'one_shot' | 'turn_limit';
  lastReply: string | null;
}
