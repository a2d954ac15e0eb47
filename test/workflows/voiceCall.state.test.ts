import { describe, expect, it, vi } from 'vitest';
import { defaultVoiceSettings, type VoiceSettings } from '../../lib/voice.js';
import type { CallEvent, ToolCallAnswer, VoiceCallInput } from '../../workflows/voiceCall.contract.js';
import { callNote, callTags, CallState, noConversationAnalysis, oneLine } from '../../workflows/voiceCall.state.js';

type Inbound = Extract<VoiceCallInput, { direction: 'inbound' }>;
type Outbound = Extract<VoiceCallInput, { direction: 'outbound' }>;
const inbound: Inbound = { direction: 'inbound', tenantId: 't1', provider: 'vapi', providerCallId: 'pc1' };
const outbound: Outbound = {
  direction: 'outbound',
  tenantId: 't1',
  provider: 'vapi',
  callRef: 'r',
  to: '+1',
  purpose: 'x',
};
const settings = (over: Partial<VoiceSettings> = {}): VoiceSettings => ({ ...defaultVoiceSettings, ...over });

const status = (key: string, s: string, providerCallId = 'pc1'): CallEvent => ({
  key,
  providerCallId,
  kind: 'status',
  status: s,
});
const report = (key: string): CallEvent => ({ key, providerCallId: 'pc1', kind: 'report', endedReason: 'hangup' });

function inboundState() {
  const shown: string[] = [];
  const state = new CallState({ ...inbound, settings: settings() }, (s) => shown.push(s));
  return { state, shown };
}

describe('CallState: provider events', () => {
  it('a duplicated event (same key) has no second effect', () => {
    const { state, shown } = inboundState();
    expect(state.applyEvent(status('s1', 'in-progress'))).toBe(true);
    expect(state.applyEvent(status('s1', 'in-progress'))).toBe(false);
    expect(state.eventCount).toBe(1);
    expect(shown).toEqual(['in-progress']);
  });

  it('a late status never moves the call back; a report ends it whatever came before', () => {
    const { state, shown } = inboundState();
    state.applyEvent(report('r1'));
    state.applyEvent(status('s1', 'in-progress'));
    state.applyEvent(status('s2', 'ringing'));
    expect(state.status).toBe('ended');
    expect(state.attempt('pc1').status).toBe('ended');
    expect(shown).toEqual(['ended']);
    expect(state.afterWait('pc1', true)).toEqual({ record: 'r1' });
  });

  it('statuses in reverse order: the furthest one stays', () => {
    const { state } = inboundState();
    state.applyEvent(status('e', 'ended'));
    state.applyEvent(status('i', 'in-progress'));
    state.applyEvent(status('q', 'queued'));
    expect(state.status).toBe('ended');
  });

  it('only the latest attempt shows its status, and events no longer move a call in post-call work', () => {
    const shown: string[] = [];
    const state = new CallState(outbound, (s) => shown.push(s));
    state.addProviderCall('a1');
    state.addProviderCall('a2');
    state.applyEvent(status('old', 'in-progress', 'a1'));
    expect(state.status).toBe('scheduled');
    state.applyEvent(status('new', 'ringing', 'a2'));
    expect(state.status).toBe('ringing');
    state.setStatus('processing');
    state.applyEvent(status('late', 'ended', 'a2'));
    expect(state.status).toBe('processing');
    expect(shown).toEqual(['ringing', 'processing']);
  });

  it('an event of an unknown provider call adds it (a transferred or re-dialled call)', () => {
    const { state } = inboundState();
    state.applyEvent(status('x', 'ringing', 'pc2'));
    expect(state.providerCallIds).toEqual(['pc1', 'pc2']);
    expect(state.snapshot().attempts).toBe(2);
  });
});

describe('CallState: what counts as ended', () => {
  it('news of the call means wait again; silence means ask the provider', () => {
    const { state } = inboundState();
    state.applyEvent(status('s1', 'in-progress'));
    expect(state.afterWait('pc1', true)).toEqual({ wait: true });
    expect(state.afterWait('pc1', false)).toEqual({ fetch: true });
  });

  it("Retell's final call_ended stands in for a report once the call ended; a report wins over it", () => {
    const { state } = inboundState();
    state.applyEvent({ key: 'final', providerCallId: 'pc1', kind: 'status', status: 'ended', final: true });
    expect(state.afterWait('pc1', false)).toEqual({ record: 'final' });
    state.applyEvent(report('rep'));
    expect(state.afterWait('pc1', false)).toEqual({ record: 'rep' });
    state.applyEvent({ key: 'final-2', providerCallId: 'pc1', kind: 'status', status: 'ended', final: true });
    expect(state.afterWait('pc1', false)).toEqual({ record: 'rep' });
  });

  it('a final event before the call has ended is not the record yet', () => {
    const { state } = inboundState();
    state.applyEvent({ key: 'f', providerCallId: 'pc1', kind: 'activity', status: 'in-progress', final: true });
    expect(state.afterWait('pc1', false)).toEqual({ fetch: true });
  });

  it('the report grace: the configured one while the call lives, at most a minute once it has ended', () => {
    const state = new CallState({ ...inbound, settings: settings({ reportGraceSeconds: 300 }) }, () => {});
    expect(state.graceMs('pc1')).toBe(300_000);
    state.applyEvent(status('e', 'ended'));
    expect(state.graceMs('pc1')).toBe(60_000);
    const short = new CallState({ ...inbound, settings: settings({ reportGraceSeconds: 3 }) }, () => {});
    short.applyEvent(status('e', 'ended'));
    expect(short.graceMs('pc1')).toBe(3_000);
  });

  it('no answer, busy and voicemail are retried while attempts last; a completed call is not', () => {
    const state = new CallState(outbound, () => {});
    state.settings = settings({ retry: { maxAttempts: 2, spacingSeconds: 60 } });
    state.attemptNo = 1;
    expect(state.shouldRetry('no-answer')).toBe(true);
    expect(state.shouldRetry('busy')).toBe(true);
    expect(state.shouldRetry('voicemail')).toBe(true);
    expect(state.shouldRetry('completed')).toBe(false);
    expect(state.shouldRetry('failed')).toBe(false);
    state.attemptNo = 2;
    expect(state.shouldRetry('no-answer')).toBe(false);
  });
});

describe('CallState: tool calls', () => {
  it('a retried tool call (same toolCallId) gets the first answer; the tool runs once', async () => {
    const { state } = inboundState();
    const run = vi.fn(async (): Promise<ToolCallAnswer> => ({ toolCallId: 'tc1', name: 'recall', result: 'first' }));
    const a = state.answerOnce({ id: 'tc1', name: 'recall', args: {} }, run);
    const b = state.answerOnce({ id: 'tc1', name: 'recall', args: { query: 'changed' } }, run);
    expect(b).toBe(a);
    expect(await b).toEqual({ toolCallId: 'tc1', name: 'recall', result: 'first' });
    await state.answerOnce({ id: 'tc2', name: 'recall', args: {} }, run);
    expect(run).toHaveBeenCalledTimes(2);
    expect(state.snapshot().toolCalls).toBe(2);
  });

  it('unknown and disabled tools are refused by name', () => {
    const state = new CallState({ ...inbound, settings: settings({ tools: ['lookup_caller'] }) }, () => {});
    expect(state.checkTool('lookup_caller')).toEqual({ tool: 'lookup_caller' });
    const refused = { refused: 'book_appointment is not enabled for this assistant' };
    expect(state.checkTool('book_appointment')).toEqual(refused);
    expect(state.checkTool('launch_rocket')).toEqual({ refused: 'unknown tool launch_rocket' });
  });

  it('the first contact found stays the caller; appointments are kept once each', () => {
    const { state } = inboundState();
    state.noteToolResult({ contactId: 'c1' });
    state.noteToolResult({ contactId: 'c2', appointmentId: 'ap1' });
    state.noteToolResult({ appointmentId: 'ap1' });
    expect(state.contactId).toBe('c1');
    expect(state.appointmentIds).toEqual(['ap1']);
  });
});

describe('call bookkeeping', () => {
  it('starts as the direction says', () => {
    expect(new CallState(inbound, () => {}).snapshot()).toEqual({
      status: 'ringing',
      direction: 'inbound',
      attempts: 1,
      providerCallIds: ['pc1'],
      contactId: null,
      toolCalls: 0,
      appointmentIds: [],
    });
    const out = new CallState({ ...outbound, contactId: 'c9' }, () => {});
    expect(out.snapshot()).toMatchObject({ status: 'scheduled', attempts: 0, providerCallIds: [], contactId: 'c9' });
    expect(out.attemptsMade).toBe(1);
  });

  it('a call without a conversation is analysed from its record', () => {
    const record = { outcome: 'no-answer' as const, utterances: 0, endedReason: null, providerSummary: null };
    expect(noConversationAnalysis(record, 'outbound', 3)).toEqual({
      summary: 'No conversation: no-answer after 3 attempt(s) (no reason given).',
      sentiment: 'neutral',
      outcome: 'no-answer',
      nextAction: 'Try another channel or call again later.',
      followUp: true,
    });
    const silent = noConversationAnalysis({ ...record, outcome: 'completed', endedReason: 'silence' }, 'inbound', 1);
    expect(silent).toMatchObject({ outcome: 'no-conversation', nextAction: 'none', followUp: false });
  });

  it('the note, the tags and one-line answers', () => {
    const analysis = {
      summary: 'Booked a cleaning.',
      sentiment: 'positive' as const,
      outcome: 'booked' as const,
      nextAction: 'none',
      followUp: false,
    };
    expect(callNote('inbound', 'retell', analysis, ['ap1', 'ap2'])).toBe(
      'Inbound call (retell) — booked, positive.\nBooked a cleaning.\nNext: none\nAppointments: ap1, ap2',
    );
    expect(callNote('outbound', 'vapi', analysis, [])).not.toMatch(/Appointments/);
    expect(callTags('Question Answered!')).toEqual(['switchboard-call', 'call-question-answered-']);
    expect(oneLine('  a\n b\t c  ')).toBe('a b c');
    expect(oneLine('x'.repeat(1000))).toHaveLength(900);
  });
});
