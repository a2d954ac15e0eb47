import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { CallAnalysis } from '../domain/callAnalysis.js';
import type { CallOutcome, VoiceProvider } from '../providers/voice.js';
import { nextCallingTime } from '../lib/callingHours.js';
import { CallStatusKey, ContactPhoneKey, TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import type { VoiceSettings } from '../lib/voice.js';
import { VOICE_TOOL_NAMES, type VoiceToolName } from '../lib/voiceToolNames.js';

/**
 * One phone call, from its first webhook to the last piece of post-call work. Provider events
 * arrive as signals (deduplicated by their idempotency key), the voice agent's tool calls as an
 * update whose result answers the live call, and everything bulky (event bodies, transcript)
 * stays in Postgres: the workflow keeps only keys and small facts.
 *
 * Outbound calls are one workflow per request: every attempt (no answer, busy, voicemail → try
 * again inside the tenant's calling hours) is a provider call of this same workflow.
 */

export type VoiceCallInput =
  | {
      direction: 'inbound';
      tenantId: string;
      provider: VoiceProvider;
      providerCallId: string;
      customerPhone?: string;
      ourPhone?: string;
      /** The tenant's settings as the webhook saw them: tool calls need not wait for openCall. */
      settings?: VoiceSettings;
    }
  | {
      direction: 'outbound';
      tenantId: string;
      provider: VoiceProvider;
      /** Our reference for the request (the workflow id's last part). */
      callRef: string;
      to: string;
      contactId?: string;
      purpose: string;
      /** Provider assistant / agent id overriding the tenant's. */
      assistant?: string;
      metadata?: Record<string, string>;
    };

export interface VoiceCallResult {
  /** `suppressed`: the number or contact opted out (any channel), so no call was placed. */
  status: CallOutcome | 'suppressed';
  attempts: number;
  providerCallIds: string[];
  appointmentIds: string[];
  contactId?: string;
  outcome?: string;
  nextAction?: string;
  summary?: string;
}

/** A provider event, reduced to what the workflow decides on; its body is in `call_events`. */
export interface CallEvent {
  /** Idempotency key (Vapi: type + timestamp; Retell: event + call id). */
  key: string;
  providerCallId: string;
  kind: 'status' | 'report' | 'activity';
  /** Provider status words: queued, ringing, in-progress, forwarding, ended. */
  status?: string;
  endedReason?: string;
  /** Retell's call_ended carries the whole call: it can stand in for a report. */
  final?: boolean;
}

export interface ToolCallRequest {
  id: string;
  name: string;
  args: unknown;
}
export interface ToolCallAnswer {
  toolCallId: string;
  name: string;
  result?: string;
  error?: string;
}

export interface VoiceCallState {
  status: string;
  direction: 'inbound' | 'outbound';
  attempts: number;
  providerCallIds: string[];
  contactId: string | null;
  toolCalls: number;
  appointmentIds: string[];
}

export const callEventSignal = defineSignal<[CallEvent]>('callEvent');
export const toolCallsUpdate = defineUpdate<{ results: ToolCallAnswer[] }, [{ calls: ToolCallRequest[] }]>('toolCalls');
export const callStateQuery = defineQuery<VoiceCallState>('callState');

type Activities = ReturnType<typeof createActivities>;

// A caller is waiting on these: local activities run in the worker that holds the call, with no
// task-queue round trips (each idempotent, so a re-run after a crash has no second effect).
const tools = proxyLocalActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  retry: { maximumAttempts: 3, initialInterval: '200 milliseconds', backoffCoefficient: 2 },
});
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds', maximumAttempts: 20 },
});
const postCall = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 30 },
});

const oneLine = (s: string, max = 900) => s.replace(/\s+/g, ' ').trim().slice(0, max);

/** Provider statuses in the order a call lives them: late or repeated events never move a call back. */
const STATUS_RANK: Record<string, number> = { scheduled: 0, queued: 1, ringing: 2, 'in-progress': 3, forwarding: 4, ended: 5 };

interface AttemptState {
  status: string;
  endedReason?: string;
  /** Key of the event holding the fullest record of the call so far (report > final call_ended). */
  recordKey?: string;
  reportReceived: boolean;
}

export async function voiceCall(input: VoiceCallInput): Promise<VoiceCallResult> {
  const { workflowId } = workflowInfo();
  const { tenantId, provider } = input;
  const customerPhone = input.direction === 'inbound' ? input.customerPhone : input.to;

  const seen = new Set<string>();
  const attempts = new Map<string, AttemptState>();
  const toolAnswers = new Map<string, Promise<ToolCallAnswer>>();
  const appointmentIds: string[] = [];
  const pendingWrites: Promise<unknown>[] = [];
  let settings: VoiceSettings | undefined = input.direction === 'inbound' ? input.settings : undefined;
  let contactId: string | null = input.direction === 'outbound' ? (input.contactId ?? null) : null;
  let status = input.direction === 'outbound' ? 'scheduled' : 'ringing';
  let lastEventCount = 0;
  let attemptNo = 0;
  const providerCallIds: string[] = input.direction === 'inbound' ? [input.providerCallId] : [];

  const attempt = (id: string) => {
    let a = attempts.get(id);
    if (!a) attempts.set(id, (a = { status: 'queued', reportReceived: false }));
    return a;
  };
  const setStatus = (next: string) => {
    if (next === status) return;
    status = next;
    upsertSearchAttributes([{ key: CallStatusKey, value: next }]);
  };

  setHandler(callStateQuery, () => ({
    status,
    direction: input.direction,
    attempts: Math.max(attemptNo, providerCallIds.length),
    providerCallIds,
    contactId,
    toolCalls: toolAnswers.size,
    appointmentIds,
  }));

  setHandler(callEventSignal, (event) => {
    if (seen.has(event.key)) return; // a duplicated delivery: no second effect
    seen.add(event.key);
    lastEventCount++;
    if (!providerCallIds.includes(event.providerCallId)) providerCallIds.push(event.providerCallId);
    const a = attempt(event.providerCallId);
    if (event.status && (STATUS_RANK[event.status] ?? -1) > (STATUS_RANK[a.status] ?? -1)) a.status = event.status;
    if (event.endedReason) a.endedReason = event.endedReason;
    if (event.kind === 'report') {
      a.reportReceived = true;
      a.recordKey = event.key;
      a.status = 'ended';
    } else if (event.final && !a.reportReceived) {
      a.recordKey = event.key;
    }
    if (event.providerCallId === providerCallIds[providerCallIds.length - 1] && status !== 'processing') {
      setStatus(a.status === 'ended' ? 'ended' : a.status);
    }
  });

  setHandler(toolCallsUpdate, async ({ calls }) => {
    await condition(() => settings !== undefined);
    const results = await Promise.all(
      calls.map((call) => {
        let answer = toolAnswers.get(call.id);
        if (!answer) {
          answer = runTool(call);
          toolAnswers.set(call.id, answer);
        }
        return answer;
      }),
    );
    return { results };
  });

  /** One tool call → one line for the voice agent. Failures are answers too (`error`), never throws. */
  async function runTool(call: ToolCallRequest): Promise<ToolCallAnswer> {
    const started = Date.now();
    const answer = await toolAnswer(call).then(
      (result): ToolCallAnswer => ({ toolCallId: call.id, name: call.name, result: oneLine(result) }),
      (err: unknown): ToolCallAnswer => ({ toolCallId: call.id, name: call.name, error: oneLine(failureMessage(err)) }),
    );
    pendingWrites.push(
      bookkeeping.recordToolCall({ tenantId, workflowId, toolCallId: call.id, name: call.name, args: call.args ?? {}, result: answer.result ?? null, error: answer.error ?? null, latencyMs: Date.now() - started }),
    );
    return answer;
  }

  async function toolAnswer(call: ToolCallRequest): Promise<string> {
    if (!(VOICE_TOOL_NAMES as readonly string[]).includes(call.name)) throw ApplicationFailure.nonRetryable(`unknown tool ${call.name}`);
    const name = call.name as VoiceToolName;
    if (!settings!.tools.includes(name)) throw ApplicationFailure.nonRetryable(`${name} is not enabled for this assistant`);
    const r = await tools.runVoiceTool({
      tenantId,
      workflowId,
      toolCallId: call.id,
      name,
      args: call.args ?? {},
      customerPhone: customerPhone ?? null,
      contactId,
      transferNumber: settings!.transferNumber ?? null,
    });
    if (r.contactId) contactId ??= r.contactId;
    if (r.appointmentId && !appointmentIds.includes(r.appointmentId)) appointmentIds.push(r.appointmentId);
    return r.text;
  }

  /**
   * Waits until this provider call has ended and its record is known: the end-of-call report, or —
   * when none comes within the grace window after the last event — the provider's REST API.
   */
  async function awaitRecord(providerCallId: string): Promise<string> {
    const a = attempt(providerCallId);
    for (;;) {
      const before = lastEventCount;
      const grace = a.status === 'ended' ? Math.min(settings!.reportGraceSeconds, 60) : settings!.reportGraceSeconds;
      const progressed = await condition(() => a.reportReceived || lastEventCount !== before, grace * 1000);
      if (a.reportReceived) return a.recordKey!;
      if (progressed) continue;
      if (a.recordKey && a.status === 'ended') return a.recordKey; // Retell: call_ended, no analysis
      const fetched = await bookkeeping.fetchProviderCall({ tenantId, workflowId, provider, providerCallId });
      if (fetched.ended) return fetched.eventKey;
    }
  }

  // --- the call --------------------------------------------------------------------------------
  const setup = await bookkeeping.openCall({
    tenantId,
    workflowId,
    provider,
    direction: input.direction,
    providerCallId: input.direction === 'inbound' ? input.providerCallId : null,
    customerPhone: customerPhone ?? null,
    ourPhone: input.direction === 'inbound' ? (input.ourPhone ?? null) : null,
    contactId,
    purpose: input.direction === 'outbound' ? input.purpose : null,
  });
  settings = setup.settings;
  upsertSearchAttributes([
    { key: TenantIdKey, value: tenantId },
    { key: WorkflowKindKey, value: 'voiceCall' },
    { key: CallStatusKey, value: status },
    ...(customerPhone ? [{ key: ContactPhoneKey, value: customerPhone }] : []),
  ]);

  let record: { outcome: CallOutcome; utterances: number; endedReason: string | null; providerSummary: string | null };
  if (input.direction === 'inbound') {
    record = await bookkeeping.persistCallRecord({ tenantId, workflowId, provider, eventKey: await awaitRecord(input.providerCallId) });
  } else {
    for (;;) {
      attemptNo++;
      const opensAt = nextCallingTime(Date.now(), settings.callingHours, settings.timezone);
      if (opensAt > Date.now()) {
        setStatus('scheduled');
        await bookkeeping.recordCallStatus({ tenantId, workflowId, status: 'scheduled', attempts: attemptNo - 1 });
        await sleep(opensAt - Date.now());
      }
      const placed = await bookkeeping.placeCall({
        tenantId,
        workflowId,
        provider,
        attempt: attemptNo,
        callRef: input.callRef,
        to: input.to,
        contactId: input.contactId,
        purpose: input.purpose,
        assistant: input.assistant,
        metadata: input.metadata ?? {},
      });
      if (placed.suppressed) {
        // Opted out on some channel since the request: no call, and no CRM note for a call that never was.
        setStatus('suppressed');
        await bookkeeping.recordCallStatus({ tenantId, workflowId, status: 'suppressed', attempts: attemptNo - 1 });
        return { status: 'suppressed', attempts: attemptNo - 1, providerCallIds, appointmentIds };
      }
      if (!providerCallIds.includes(placed.providerCallId)) providerCallIds.push(placed.providerCallId);
      setStatus('queued');
      record = await bookkeeping.persistCallRecord({ tenantId, workflowId, provider, eventKey: await awaitRecord(placed.providerCallId) });
      const unanswered = record.outcome === 'no-answer' || record.outcome === 'busy' || record.outcome === 'voicemail';
      if (!unanswered || attemptNo >= settings.retry.maxAttempts) break;
      setStatus(record.outcome);
      await bookkeeping.recordCallStatus({ tenantId, workflowId, status: `retry-after-${record.outcome}`, attempts: attemptNo });
      await sleep(settings.retry.spacingSeconds * 1000);
    }
  }

  // --- after the call ----------------------------------------------------------------------------
  setStatus('processing');
  await bookkeeping.recordCallStatus({ tenantId, workflowId, status: 'processing', attempts: Math.max(attemptNo, 1) });
  const analysis: CallAnalysis =
    record.utterances > 0
      ? await postCall.analyzeCall({ tenantId, workflowId, appointmentIds, providerSummary: record.providerSummary })
      : {
          summary: `No conversation: ${record.outcome} after ${Math.max(attemptNo, 1)} attempt(s) (${record.endedReason ?? 'no reason given'}).`,
          sentiment: 'neutral',
          outcome: record.outcome === 'completed' ? 'no-conversation' : record.outcome,
          nextAction: input.direction === 'outbound' ? 'Try another channel or call again later.' : 'none',
          followUp: input.direction === 'outbound',
        };

  const crmEffects: Record<string, unknown> = { appointmentIds };
  if (customerPhone || contactId) {
    const cid = contactId ?? (await postCall.upsertContact({ tenantId, phone: customerPhone })).contactId;
    contactId = cid;
    const note = await postCall.addContactNote({
      tenantId,
      idempotencyKey: `${workflowId}:call-note`,
      contactId: cid,
      body: [
        `${input.direction === 'inbound' ? 'Inbound' : 'Outbound'} call (${provider}) — ${analysis.outcome}, ${analysis.sentiment}.`,
        analysis.summary,
        `Next: ${analysis.nextAction}`,
        ...(appointmentIds.length ? [`Appointments: ${appointmentIds.join(', ')}`] : []),
      ].join('\n'),
    });
    const tagged = await postCall.tagContact({ tenantId, contactId: cid, tags: ['switchboard-call', `call-${analysis.outcome}`.toLowerCase().replace(/[^a-z0-9-]+/g, '-')] });
    crmEffects.noteId = note.noteId;
    crmEffects.tags = tagged.tags;
    if (analysis.followUp) {
      const due = new Date(Date.now() + 86_400_000).toISOString();
      crmEffects.taskId = (
        await postCall.createFollowUpTask({ tenantId, idempotencyKey: `${workflowId}:follow-up`, contactId: cid, title: `Follow up: ${oneLine(analysis.nextAction, 120)}`, body: analysis.summary, dueDate: due })
      ).taskId;
    }
  }
  const finalStatus = record.outcome;
  await condition(allHandlersFinished);
  await Promise.all(pendingWrites);
  await bookkeeping.finishCall({ tenantId, workflowId, status: finalStatus, contactId, analysis, crmEffects, attempts: Math.max(attemptNo, 1) });
  setStatus(finalStatus);
  return {
    status: finalStatus,
    attempts: Math.max(attemptNo, 1),
    providerCallIds,
    appointmentIds,
    ...(contactId ? { contactId } : {}),
    outcome: analysis.outcome,
    nextAction: analysis.nextAction,
    summary: analysis.summary,
  };
}

function failureMessage(err: unknown): string {
  // ActivityFailure wraps the activity's own error: its cause carries the message worth speaking.
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e && typeof e === 'object' && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e?.message ?? 'the tool failed';
}
