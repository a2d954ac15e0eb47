import type { CallAnalysis } from '../domain/callAnalysis.js';
import type { CallOutcome, VoiceProvider } from '../providers/voice.js';
import type { VoiceSettings } from '../lib/voice.js';
import { isVoiceToolName, type VoiceToolName } from '../lib/voiceToolNames.js';
import type {
  CallEvent,
  ToolCallAnswer,
  ToolCallRequest,
  VoiceCallInput,
  VoiceCallState,
} from './voiceCall.contract.js';

/**
 * What one voiceCall workflow knows about its call, and the rules it applies to what arrives:
 * provider events deduplicated by key and never moving a call backwards, tool calls answered once
 * per toolCallId, the status the call shows, and when a provider call's record is in. Plain code
 * (no Temporal), so it is unit-tested on its own; the workflow wires its handlers to it.
 */

/** Provider statuses in the order a call lives them: late or repeated events never move a call back. */
export const STATUS_RANK: Readonly<Record<string, number>> = {
  scheduled: 0,
  queued: 1,
  ringing: 2,
  'in-progress': 3,
  forwarding: 4,
  ended: 5,
};

export interface AttemptState {
  status: string;
  endedReason?: string;
  /** Key of the event holding the fullest record of the call so far (report > final call_ended). */
  recordKey?: string;
  reportReceived: boolean;
}

/** After waiting for news of a provider call: its record's event key, wait again, or ask the provider. */
export type RecordStep = { record: string } | { wait: true } | { fetch: true };

export type ToolCheck = { tool: VoiceToolName } | { refused: string };

/** What the persisted record of a provider call says (the `persistCallRecord` result). */
export interface CallRecordFacts {
  outcome: CallOutcome;
  utterances: number;
  endedReason: string | null;
  providerSummary: string | null;
}

/** Reports come seconds after the end: once a call has ended, wait at most this long for one. */
const ENDED_GRACE_CAP_SECONDS = 60;

export class CallState {
  readonly direction: VoiceCallInput['direction'];
  status: string;
  contactId: string | null;
  /** The tenant's settings: from the webhook (inbound) or from openCall; tool calls wait for them. */
  settings: VoiceSettings | undefined;
  /** Outbound attempts started (inbound calls stay at 0). */
  attemptNo = 0;
  readonly providerCallIds: string[];
  readonly appointmentIds: string[] = [];
  /** Distinct events applied so far: a wait for news of the call watches this. */
  eventCount = 0;
  private readonly seen = new Set<string>();
  private readonly attempts = new Map<string, AttemptState>();
  private readonly toolAnswers = new Map<string, Promise<ToolCallAnswer>>();
  private readonly onStatus: (status: string) => void;

  /** `onStatus` hears every change of the shown status (the workflow upserts a search attribute). */
  constructor(input: VoiceCallInput, onStatus: (status: string) => void) {
    this.direction = input.direction;
    this.onStatus = onStatus;
    if (input.direction === 'inbound') {
      this.status = 'ringing';
      this.contactId = null;
      this.settings = input.settings;
      this.providerCallIds = [input.providerCallId];
    } else {
      this.status = 'scheduled';
      this.contactId = input.contactId ?? null;
      this.settings = undefined;
      this.providerCallIds = [];
    }
  }

  attempt(providerCallId: string): AttemptState {
    let a = this.attempts.get(providerCallId);
    if (!a) this.attempts.set(providerCallId, (a = { status: 'queued', reportReceived: false }));
    return a;
  }

  setStatus(next: string): void {
    if (next === this.status) return;
    this.status = next;
    this.onStatus(next);
  }

  addProviderCall(providerCallId: string): void {
    if (!this.providerCallIds.includes(providerCallId)) this.providerCallIds.push(providerCallId);
  }

  /** Applies one provider event; false for a duplicated delivery (which has no effect). */
  applyEvent(event: CallEvent): boolean {
    if (this.seen.has(event.key)) return false;
    this.seen.add(event.key);
    this.eventCount++;
    this.addProviderCall(event.providerCallId);
    const a = this.attempt(event.providerCallId);
    if (event.status && (STATUS_RANK[event.status] ?? -1) > (STATUS_RANK[a.status] ?? -1)) a.status = event.status;
    if (event.endedReason) a.endedReason = event.endedReason;
    if (event.kind === 'report') {
      a.reportReceived = true;
      a.recordKey = event.key;
      a.status = 'ended';
    } else if (event.final && !a.reportReceived) {
      a.recordKey = event.key;
    }
    // Only the current attempt shows; once post-call work started, events no longer move the status.
    if (event.providerCallId === this.providerCallIds.at(-1) && this.status !== 'processing') this.setStatus(a.status);
    return true;
  }

  reportReceived(providerCallId: string): boolean {
    return this.attempt(providerCallId).reportReceived;
  }

  /** How long to wait for news of a provider call before asking the provider (ms). */
  graceMs(providerCallId: string): number {
    const configured = this.settings!.reportGraceSeconds;
    const ended = this.attempt(providerCallId).status === 'ended';
    return (ended ? Math.min(configured, ENDED_GRACE_CAP_SECONDS) : configured) * 1000;
  }

  /** What counts as the call's record once a wait is over (`news`: an event arrived meanwhile). */
  afterWait(providerCallId: string, news: boolean): RecordStep {
    const a = this.attempt(providerCallId);
    if (a.reportReceived) return { record: a.recordKey! };
    if (news) return { wait: true };
    if (a.recordKey && a.status === 'ended') return { record: a.recordKey }; // Retell: call_ended, no analysis
    return { fetch: true };
  }

  /** The answer to a tool call, started once per toolCallId: a retried delivery gets the first answer. */
  answerOnce(call: ToolCallRequest, run: (call: ToolCallRequest) => Promise<ToolCallAnswer>): Promise<ToolCallAnswer> {
    let answer = this.toolAnswers.get(call.id);
    if (!answer) {
      answer = run(call);
      this.toolAnswers.set(call.id, answer);
    }
    return answer;
  }

  /** A tool this call's assistant may use, or why not. */
  checkTool(name: string): ToolCheck {
    if (!isVoiceToolName(name)) return { refused: `unknown tool ${name}` };
    if (!this.settings!.tools.includes(name)) return { refused: `${name} is not enabled for this assistant` };
    return { tool: name };
  }

  /** What a tool found out: the caller's contact (the first one found stays) and appointments booked. */
  noteToolResult(r: { contactId?: string; appointmentId?: string }): void {
    if (r.contactId) this.contactId ??= r.contactId;
    if (r.appointmentId && !this.appointmentIds.includes(r.appointmentId)) this.appointmentIds.push(r.appointmentId);
  }

  /** Attempts as reported after the call: an inbound call is one. */
  get attemptsMade(): number {
    return Math.max(this.attemptNo, 1);
  }

  /** No answer, busy or voicemail: worth another attempt while the tenant's retry budget lasts. */
  shouldRetry(outcome: CallOutcome): boolean {
    const unanswered = outcome === 'no-answer' || outcome === 'busy' || outcome === 'voicemail';
    return unanswered && this.attemptNo < this.settings!.retry.maxAttempts;
  }

  snapshot(): VoiceCallState {
    return {
      status: this.status,
      direction: this.direction,
      attempts: Math.max(this.attemptNo, this.providerCallIds.length),
      providerCallIds: this.providerCallIds,
      contactId: this.contactId,
      toolCalls: this.toolAnswers.size,
      appointmentIds: this.appointmentIds,
    };
  }
}

export { oneLine } from '../lib/text.js';

/** A call nobody talked on needs no model: its analysis follows from the provider's record. */
export function noConversationAnalysis(
  record: CallRecordFacts,
  direction: VoiceCallInput['direction'],
  attempts: number,
): CallAnalysis {
  const reason = record.endedReason ?? 'no reason given';
  return {
    summary: `No conversation: ${record.outcome} after ${attempts} attempt(s) (${reason}).`,
    sentiment: 'neutral',
    outcome: record.outcome === 'completed' ? 'no-conversation' : record.outcome,
    nextAction: direction === 'outbound' ? 'Try another channel or call again later.' : 'none',
    followUp: direction === 'outbound',
  };
}

/** The CRM note a finished call leaves on the contact. */
export function callNote(
  direction: VoiceCallInput['direction'],
  provider: VoiceProvider,
  analysis: CallAnalysis,
  appointmentIds: readonly string[],
): string {
  const kind = direction === 'inbound' ? 'Inbound' : 'Outbound';
  return [
    `${kind} call (${provider}) — ${analysis.outcome}, ${analysis.sentiment}.`,
    analysis.summary,
    `Next: ${analysis.nextAction}`,
    ...(appointmentIds.length ? [`Appointments: ${appointmentIds.join(', ')}`] : []),
  ].join('\n');
}

/** Tags for the contact: every call, and one per outcome. */
export function callTags(outcome: string): string[] {
  return ['switchboard-call', `call-${outcome}`.toLowerCase().replace(/[^a-z0-9-]+/g, '-')];
}
