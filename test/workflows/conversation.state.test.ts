import { describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_SETTINGS } from '../../lib/config.js';
import type { ChatReply, ConversationInput } from '../../workflows/conversation.contract.js';
import { ConversationState } from '../../workflows/conversation.state.js';

const input = (over: Partial<ConversationInput> = {}): ConversationInput => ({
  tenantId: 't',
  conversationId: 'c',
  agentId: 'closer',
  origin: 'user',
  settings: { ...DEFAULT_AGENT_SETTINGS, turnLimit: 3, tokenBudget: 100, continueAsNewEvery: 2 },
  ...over,
});
const opened = {
  agentId: 'closer',
  enabled: true,
  tools: ['knowledge_search', 'crm_book_appointment', 'ask_agent'],
  confirmTools: ['crm_book_appointment'],
  turns: 0,
  tokensUsed: 0,
};
const reply = (messageId: string): ChatReply => ({
  conversationId: 'c',
  messageId,
  status: 'answered',
  reply: { id: `${messageId}.s0`, text: 'ok' },
  confirmation: null,
  stopReason: null,
  tools: [],
  usage: { inputTokens: 1, outputTokens: 1 },
});

describe('ConversationState', () => {
  it('stops at the turn limit, the token budget, or a disabled agent', () => {
    const s = new ConversationState(input());
    s.opened(opened);
    expect(s.canStartTurn()).toEqual({ ok: true });
    s.addUsage({ inputTokens: 60, outputTokens: 40 });
    expect(s.canStartTurn()).toEqual({ stop: 'token_budget' });
    const t = new ConversationState(input());
    t.opened({ ...opened, turns: 3 });
    expect(t.canStartTurn()).toEqual({ stop: 'turn_limit' });
    const d = new ConversationState(input());
    d.opened({ ...opened, enabled: false });
    expect(d.canStartTurn()).toEqual({ stop: 'disabled' });
  });

  it('offers only the agent’s tools; one-shot conversations neither act nor ask on', () => {
    const s = new ConversationState(input());
    s.opened(opened);
    expect(s.toolAllowed('knowledge_search')).toBe(true);
    expect(s.toolAllowed('crm_send_sms')).toBe(false);
    expect(s.toolAllowed('rm_rf')).toBe(false);
    expect(s.needsConfirmation('crm_book_appointment')).toBe(true);
    const child = new ConversationState(input({ oneShot: { messageId: 'q', text: 'hi' } }));
    child.opened(opened);
    expect(child.toolAllowed('knowledge_search')).toBe(true);
    expect(child.toolAllowed('ask_agent')).toBe(false);
    expect(child.toolAllowed('crm_book_appointment')).toBe(false);
  });

  it('a website visitor’s chat has the knowledge tools only, whatever the persona has, and nothing waits for a yes', () => {
    const s = new ConversationState(input({ origin: 'widget' }));
    s.opened({ ...opened, tools: [...opened.tools, 'crm_search_contacts', 'ask_agent', 'knowledge_browse'] });
    expect(s.toolAllowed('knowledge_search')).toBe(true);
    expect(s.toolAllowed('knowledge_browse')).toBe(true);
    for (const t of ['crm_book_appointment', 'crm_search_contacts', 'ask_agent', 'calls_start_outbound'])
      expect(s.toolAllowed(t), t).toBe(false);
    expect(s.needsConfirmation('crm_book_appointment')).toBe(false);
  });

  it('keeps recent replies across continue-as-new, and continues when the run has had enough turns', () => {
    const s = new ConversationState(input());
    s.opened(opened);
    for (let i = 0; i < 25; i++) s.keepReply(reply(`m${i}`));
    expect(s.replyFor('m0')).toBeUndefined();
    expect(s.replyFor('m24')?.reply?.text).toBe('ok');
    s.runTurns = 2;
    expect(s.shouldContinueAsNew(false)).toBe(true);
    s.busy = true;
    expect(s.shouldContinueAsNew(false)).toBe(false);
    const next = new ConversationState(input({ carried: s.carry() }));
    expect(next.replyFor('m24')).toBeDefined();
    expect(next.runTurns).toBe(0);
    // A reopened conversation's row counts more than a fresh run knows.
    next.opened({ ...opened, turns: 7, tokensUsed: 500 });
    expect(next.history()).toMatchObject({ turns: 7, tokensUsed: 500, status: 'idle' });
  });
});
