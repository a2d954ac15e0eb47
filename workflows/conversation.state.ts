import { isAgentToolName, VISITOR_TOOLS } from '../lib/agentToolNames.js';
import type {
  CarriedState,
  ChatReply,
  ConversationHistory,
  ConversationInput,
  PendingConfirmation,
} from './conversation.contract.js';

/**
 * The conversation's rules, apart from Temporal so they have plain unit tests: what one turn may
 * still spend, which tools the agent has and which wait for a yes, replies kept for re-sent
 * messages, and what continue-as-new carries.
 */

export interface OpenedConversation {
  agentId: string;
  enabled: boolean;
  tools: string[];
  confirmTools: string[];
  /** Turns and tokens of the conversation so far (a reopened one goes on counting). */
  turns: number;
  tokensUsed: number;
}

const KEPT_REPLIES = 20;
const KEPT_MESSAGE_IDS = 500;

export type TurnCheck = { ok: true } | { stop: 'turn_limit' | 'token_budget' | 'disabled' };

export class ConversationState {
  turns: number;
  tokensUsed: number;
  /** Turns in this run (continue-as-new resets it). */
  runTurns: number;
  status: ConversationHistory['status'] = 'starting';
  agent: OpenedConversation | undefined;
  pending: PendingConfirmation | null = null;
  decision: { id: string; approve: boolean } | undefined;
  /** Something happened (a message, a decision): the idle timer starts over. */
  activity = 0;
  busy = false;
  readonly messageIds: string[] = [];
  private readonly replies: Map<string, ChatReply>;

  constructor(readonly input: ConversationInput) {
    this.turns = input.carried?.turns ?? 0;
    this.tokensUsed = input.carried?.tokensUsed ?? 0;
    this.runTurns = 0;
    this.replies = new Map(input.carried?.replies ?? []);
  }

  opened(o: OpenedConversation): void {
    this.agent = o;
    // A reopened conversation's row knows more than a fresh run's input.
    this.turns = Math.max(this.turns, o.turns);
    this.tokensUsed = Math.max(this.tokensUsed, o.tokensUsed);
    this.status = 'idle';
  }

  /** Whether another turn may start: the agent is enabled and the turn and token budgets hold. */
  canStartTurn(): TurnCheck {
    if (this.agent && !this.agent.enabled) return { stop: 'disabled' };
    if (this.turns >= this.input.settings.turnLimit) return { stop: 'turn_limit' };
    if (this.tokensUsed >= this.input.settings.tokenBudget) return { stop: 'token_budget' };
    return { ok: true };
  }

  /** Tokens left before the budget; the model step is refused at 0. */
  get tokensLeft(): number {
    return Math.max(0, this.input.settings.tokenBudget - this.tokensUsed);
  }

  addUsage(u: { inputTokens: number; outputTokens: number }): void {
    this.tokensUsed += u.inputTokens + u.outputTokens;
  }

  /** A tool the agent has (in a one-shot conversation, one that does not act or ask on; for a visitor, knowledge). */
  toolAllowed(name: string): boolean {
    if (!isAgentToolName(name) || !this.agent?.tools.includes(name)) return false;
    // A website visitor is anonymous: whatever the persona has, the visitor's chat has knowledge only.
    if (this.input.origin === 'widget' && !VISITOR_TOOLS.includes(name)) return false;
    if (this.input.oneShot && (name === 'ask_agent' || this.needsConfirmation(name))) return false;
    return true;
  }

  needsConfirmation(name: string): boolean {
    if (this.input.origin === 'widget') return false;
    return Boolean(this.agent?.confirmTools.includes(name));
  }

  noteMessage(id: string): void {
    this.messageIds.push(id);
    if (this.messageIds.length > KEPT_MESSAGE_IDS) this.messageIds.splice(0, this.messageIds.length - KEPT_MESSAGE_IDS);
  }

  replyFor(messageId: string): ChatReply | undefined {
    return this.replies.get(messageId);
  }

  keepReply(reply: ChatReply): void {
    this.replies.delete(reply.messageId);
    this.replies.set(reply.messageId, reply);
    while (this.replies.size > KEPT_REPLIES) this.replies.delete(this.replies.keys().next().value!);
  }

  /** Time to continue as new: enough turns in this run, and nothing in progress. */
  shouldContinueAsNew(suggested: boolean): boolean {
    if (this.busy || this.pending) return false;
    return this.runTurns >= this.input.settings.continueAsNewEvery || (suggested && this.runTurns > 0);
  }

  carry(): CarriedState {
    return { turns: this.turns, tokensUsed: this.tokensUsed, replies: [...this.replies.entries()] };
  }

  history(): ConversationHistory {
    return {
      conversationId: this.input.conversationId,
      agentId: this.input.agentId,
      status: this.status,
      turns: this.turns,
      runTurns: this.runTurns,
      tokensUsed: this.tokensUsed,
      messageIds: [...this.messageIds],
      pending: this.pending,
    };
  }
}
