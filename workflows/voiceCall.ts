import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CrmActionActivities } from '../activities/crm/actions.js';
import type { CallAnalysis } from '../domain/callAnalysis.js';
import type { VoiceCallActivities } from '../activities/voice/calls.js';
import type { VoiceProvider } from '../providers/voice.js';
import type { VoiceToolActivities, VoiceToolCallAnswer } from '../activities/voice/tools.js';
import { nextCallingTime } from '../lib/callingHours.js';
import { taskPriority } from '../lib/taskPriority.js';
import { CallStatusKey, ContactPhoneKey, TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import { innermostMessage } from './failures.js';
import {
  callEventSignal,
  callStateQuery,
  toolCallsSignal,
  toolCallsUpdate,
  type ToolCallAnswer,
  type ToolCallRequest,
  type VoiceCallInput,
  type VoiceCallResult,
} from './voiceCall.contract.js';
import {
  callNote,
  callTags,
  CallState,
  noConversationAnalysis,
  oneLine,
  type CallRecordFacts,
} from './voiceCall.state.js';

/**
 * One phone call, from its first webhook to the last piece of post-call work. Provider events
 * arrive as signals (deduplicated by their idempotency key), the voice agent's tool calls as an
 * update whose result answers the live call, and everything bulky (event bodies, transcript)
 * stays in Postgres: the workflow keeps only keys and small facts (in a CallState).
 *
 * Outbound calls are one workflow per request: every attempt (no answer, busy, voicemail → try
 * again inside the tenant's calling hours) is a provider call of this same workflow.
 *
 * Replay: the steps below issue the same commands, in the same order, as the recorded histories in
 * test/histories. Helpers that run while the call is live return the activity's promise (no extra
 * `async` layer), so their commands keep their place among those of concurrent tool calls.
 */

// A caller is waiting on these: local activities run in the worker that holds the call, with no
// task-queue round trips (each idempotent, so a re-run after a crash has no second effect).
const TOOL_ATTEMPTS = 3;
const tools = proxyLocalActivities<VoiceToolActivities>({
  startToCloseTimeout: '20 seconds',
  retry: { maximumAttempts: TOOL_ATTEMPTS, initialInterval: '200 milliseconds', backoffCoefficient: 2 },
});
// Since TOOL_BOUNDED_LOCAL: a local activity that ends inside the workflow task it started in (Core
// heartbeats a task at 8 of its 10 s). One that spans tasks (a slow GHL under faults) was seen to
// replay with its result in an earlier activation than it had, so the other coroutine's commands
// came out in another order (non-determinism; found by `npm run chaos`). Past the bound the same
// tool goes on as a regular activity, which looks up what the local attempts did first.
const boundedTools = proxyLocalActivities<VoiceToolActivities>({
  scheduleToCloseTimeout: '6 seconds',
  startToCloseTimeout: '5 seconds',
  retry: { maximumAttempts: TOOL_ATTEMPTS, initialInterval: '200 milliseconds', backoffCoefficient: 2 },
});
const remoteTools = proxyActivities<VoiceToolActivities>({
  startToCloseTimeout: '20 seconds',
  priority: taskPriority.liveCall,
  retry: { maximumAttempts: TOOL_ATTEMPTS, initialInterval: '200 milliseconds', backoffCoefficient: 2 },
});
const bookkeeping = proxyActivities<VoiceCallActivities>({
  startToCloseTimeout: '30 seconds',
  priority: taskPriority.liveCall,
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds', maximumAttempts: 20 },
});
// Post-call work: the analysis, then the CRM writes.
const postCall = proxyActivities<VoiceCallActivities & CrmActionActivities>({
  // Above a CRM write's GHL retry budget (90 s a request, two when a claim is taken over) plus a claim wait.
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 30 },
  priority: taskPriority.afterCall,
});

type OutboundInput = Extract<VoiceCallInput, { direction: 'outbound' }>;

/** What every step of one call works with. */
interface Call {
  input: VoiceCallInput;
  tenantId: string;
  provider: VoiceProvider;
  workflowId: string;
  customerPhone: string | undefined;
  state: CallState;
  /** Tool-call audit rows being written: the call finishes after them. */
  pendingWrites: Promise<unknown>[];
  /** The tool running now (TOOLS_ONE_AT_A_TIME): the next one starts after it. */
  toolTurn: Promise<void>;
}

export async function voiceCall(input: VoiceCallInput): Promise<VoiceCallResult> {
  const call = listen(input);
  call.state.settings = (await openCall(call)).settings;
  upsertSearchAttributes([
    { key: TenantIdKey, value: call.tenantId },
    { key: WorkflowKindKey, value: 'voiceCall' },
    { key: CallStatusKey, value: call.state.status },
    ...(call.customerPhone ? [{ key: ContactPhoneKey, value: call.customerPhone }] : []),
  ]);

  const record =
    input.direction === 'inbound'
      ? await persistRecord(call, await awaitRecord(call, input.providerCallId))
      : await placeAttempts(call, input);
  if (record === 'suppressed') return suppressed(call);

  const analysis = await analyse(call, record);
  const crmEffects = await writeToCrm(call, analysis);
  return finish(call, record, analysis, crmEffects);
}

/** The call's state, with the query, the event signal and the tool-call update wired to it. */
function listen(input: VoiceCallInput): Call {
  const { workflowId } = workflowInfo();
  const state = new CallState(input, (status) => upsertSearchAttributes([{ key: CallStatusKey, value: status }]));
  const call: Call = {
    input,
    tenantId: input.tenantId,
    provider: input.provider,
    workflowId,
    customerPhone: input.direction === 'inbound' ? input.customerPhone : input.to,
    state,
    pendingWrites: [],
    toolTurn: Promise.resolve(),
  };
  setHandler(callStateQuery, () => state.snapshot());
  setHandler(callEventSignal, (event) => void state.applyEvent(event));
  // The API reads each answer from its row; the signal's task is persisted, so the tool runs at once.
  setHandler(toolCallsSignal, async ({ calls }) => {
    await condition(() => state.settings !== undefined);
    await Promise.all(calls.map((c) => state.answerOnce(c, (req) => runTool(call, req, 'persisted'))));
  });
  setHandler(toolCallsUpdate, async ({ calls }) => {
    await condition(() => state.settings !== undefined);
    const results = await Promise.all(calls.map((c) => state.answerOnce(c, (req) => runTool(call, req, 'update'))));
    return { results };
  });
  return call;
}

/**
 * Since this patch a tool call is one local activity that runs the tool and writes its own row
 * (idempotently), so a live call's tool call costs one workflow task; histories recorded before it
 * take the old path (the tool, then a `recordToolCall` activity).
 */
const TOOL_RECORDS_ITSELF = 'voice-tool-records-itself';
/** Tool calls' local activities bounded to one workflow task (see boundedTools). */
const TOOL_BOUNDED_LOCAL = 'voice-tool-bounded-local';
/** Tool calls' local activities run in a persisted workflow task, never in the Update's speculative one. */
const TOOL_IN_PERSISTED_TASK = 'voice-tool-in-persisted-task';
/**
 * A call's tools run one at a time. Two local activities side by side in one workflow task that end
 * at different moments (one answered, one out of time) are resolved live in two activations but
 * replayed in one, where the shorter continuation (schedule the regular activity) comes out before
 * the other's update completion: non-determinism (12 calls of a long chaos run).
 */
const TOOLS_ONE_AT_A_TIME = 'voice-tools-one-at-a-time';

/**
 * The tool as a local activity bounded to one workflow task; past the bound (out of time, not out
 * of attempts) it goes on as a regular activity, where it may take longer.
 *
 * Since TOOL_IN_PERSISTED_TASK the local activity starts after a 1 ms timer. A tool-call Update
 * arrives in a speculative workflow task, which lives only in the server's memory until the worker
 * completes it. A server that dies while the tool runs forgets that task; the API's client sends the
 * Update again, and Core hands the new task the lost one's commands, computed without the events
 * that came meanwhile (a timer fired, a webhook): an order no replay can repeat, and the call sticks
 * on non-determinism (found by `npm run chaos`, reproduced by test/voiceTemporalRestart.test.ts).
 * The timer makes the worker complete the speculative task at once (Update accepted, timer started:
 * persisted), so the tool runs in a task the server keeps across a restart. It cost a second
 * workflow task per tool call and, worse, a second of the caller's time: the server fires timers
 * with about one-second precision (a 1 ms timer fired after ~1,005 ms on the dev server). Tool calls
 * therefore come as `toolCallsSignal` now, whose task is persisted before a worker sees it: no timer.
 */
function boundedTool(
  call: Call,
  input: Parameters<VoiceToolActivities['answerVoiceToolCall']>[0],
  task: ToolTask,
): Promise<VoiceToolCallAnswer> {
  const run = () =>
    boundedTools
      .answerVoiceToolCall(input)
      .catch((err: unknown) =>
        timedOut(err) ? remoteTools.answerVoiceToolCall({ ...input, resumed: true }) : Promise.reject(err),
      );
  const oneAtATime = () => {
    const turn = call.toolTurn.then(run);
    call.toolTurn = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  };
  // A signal's task is persisted already (and came after every patch below).
  if (task === 'persisted') return oneAtATime();
  if (!patched(TOOL_IN_PERSISTED_TASK)) return run();
  if (!patched(TOOLS_ONE_AT_A_TIME)) return sleep(1).then(run);
  return sleep(1).then(oneAtATime);
}

/**
 * A local activity out of time. Live, the SDK rejects with an ActivityFailure caused by a
 * TimeoutFailure; replayed from its marker, with the bare TimeoutFailure. Both must take the same
 * way, or a worker that picks the call up from its history fails on non-determinism (found by the
 * long chaos run: a worker killed after a slow tool call).
 */
function timedOut(err: unknown): boolean {
  return err instanceof TimeoutFailure || (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure);
}

/**
 * Where a tool call came in: a `toolCallsSignal` (its workflow task is persisted) or a
 * `toolCallsUpdate` (a speculative task until the worker completes it).
 */
type ToolTask = 'persisted' | 'update';

/** One tool call → one line for the voice agent. Failures are answers too (`error`), never throws. */
function runTool(call: Call, req: ToolCallRequest, task: ToolTask): Promise<ToolCallAnswer> {
  if (task === 'update' && !patched(TOOL_RECORDS_ITSELF)) return runToolThenRecord(call, req);
  const { state } = call;
  const checked = state.checkTool(req.name);
  const at = Date.now();
  const input = {
    ...toolRequest(call, req, 'refused' in checked ? req.name : checked.tool),
    ...('refused' in checked ? { refused: checked.refused } : {}),
    at,
    maxAttempts: TOOL_ATTEMPTS,
  };
  const answer =
    task === 'persisted' || patched(TOOL_BOUNDED_LOCAL)
      ? boundedTool(call, input, task)
      : tools.answerVoiceToolCall(input);
  return answer.then(
    (a): ToolCallAnswer => {
      state.noteToolResult(a);
      return a.error !== undefined
        ? { toolCallId: req.id, name: req.name, error: a.error }
        : { toolCallId: req.id, name: req.name, result: a.result ?? '' };
    },
    (err: unknown): ToolCallAnswer => {
      // Every attempt failed without an answer (timed out): the caller hears so, and the row is written apart.
      const error = oneLine(innermostMessage(err) ?? 'the tool failed');
      call.pendingWrites.push(
        bookkeeping.recordToolCall({
          ...toolRequest(call, req, req.name),
          name: req.name,
          result: null,
          error,
          latencyMs: Date.now() - at,
          at,
        }),
      );
      return { toolCallId: req.id, name: req.name, error };
    },
  );
}

function toolRequest<N extends string>(call: Call, req: ToolCallRequest, name: N) {
  const { state } = call;
  return {
    tenantId: call.tenantId,
    workflowId: call.workflowId,
    toolCallId: req.id,
    name,
    args: req.args ?? {},
    customerPhone: call.customerPhone ?? null,
    contactId: state.contactId,
    transferNumber: state.settings!.transferNumber ?? null,
  };
}

/** Before TOOL_RECORDS_ITSELF: the tool as a local activity, then its row by a separate activity. */
async function runToolThenRecord(call: Call, req: ToolCallRequest): Promise<ToolCallAnswer> {
  const started = Date.now();
  const answer = await toolAnswer(call, req).then(
    (result): ToolCallAnswer => ({ toolCallId: req.id, name: req.name, result: oneLine(result) }),
    (err: unknown): ToolCallAnswer => ({
      toolCallId: req.id,
      name: req.name,
      error: oneLine(innermostMessage(err) ?? 'the tool failed'),
    }),
  );
  call.pendingWrites.push(
    bookkeeping.recordToolCall({
      tenantId: call.tenantId,
      workflowId: call.workflowId,
      toolCallId: req.id,
      name: req.name,
      args: req.args ?? {},
      result: answer.result ?? null,
      error: answer.error ?? null,
      latencyMs: Date.now() - started,
      at: started,
    }),
  );
  return answer;
}

async function toolAnswer(call: Call, req: ToolCallRequest): Promise<string> {
  const { state } = call;
  const checked = state.checkTool(req.name);
  if ('refused' in checked) throw ApplicationFailure.nonRetryable(checked.refused);
  const r = await tools.runVoiceTool(toolRequest(call, req, checked.tool));
  state.noteToolResult(r);
  return r.text;
}

/** Creates (or finds) the call's row; answers with the tenant's voice settings. */
function openCall(call: Call) {
  const { input, state } = call;
  return bookkeeping.openCall({
    tenantId: call.tenantId,
    workflowId: call.workflowId,
    provider: call.provider,
    direction: input.direction,
    providerCallId: input.direction === 'inbound' ? input.providerCallId : null,
    customerPhone: call.customerPhone ?? null,
    ourPhone: input.direction === 'inbound' ? (input.ourPhone ?? null) : null,
    contactId: state.contactId,
    purpose: input.direction === 'outbound' ? input.purpose : null,
  });
}

/**
 * Waits until this provider call has ended and its record is known: the end-of-call report, or —
 * when none comes within the grace window after the last event — the provider's REST API.
 */
async function awaitRecord(call: Call, providerCallId: string): Promise<string> {
  const { state } = call;
  for (;;) {
    const before = state.eventCount;
    const grace = state.graceMs(providerCallId);
    const news = await condition(() => state.reportReceived(providerCallId) || state.eventCount !== before, grace);
    const next = state.afterWait(providerCallId, news);
    if ('record' in next) return next.record;
    if ('wait' in next) continue;
    const { tenantId, workflowId, provider } = call;
    const fetched = await bookkeeping.fetchProviderCall({ tenantId, workflowId, provider, providerCallId });
    if (fetched.ended) return fetched.eventKey;
  }
}

/** The call's record (transcript, recording, ended reason) written from the event that holds it. */
function persistRecord(call: Call, eventKey: string) {
  const { tenantId, workflowId, provider } = call;
  return bookkeeping.persistCallRecord({ tenantId, workflowId, provider, eventKey });
}

function recordStatus(call: Call, status: string, attempts: number) {
  return bookkeeping.recordCallStatus({ tenantId: call.tenantId, workflowId: call.workflowId, status, attempts });
}

/** Outbound: attempts inside the calling hours until one is answered or the retry budget is spent. */
async function placeAttempts(call: Call, input: OutboundInput): Promise<CallRecordFacts | 'suppressed'> {
  const { state } = call;
  const settings = state.settings!;
  for (;;) {
    state.attemptNo++;
    const opensAt = nextCallingTime(Date.now(), settings.callingHours, settings.timezone);
    if (opensAt > Date.now()) {
      state.setStatus('scheduled');
      await recordStatus(call, 'scheduled', state.attemptNo - 1);
      await sleep(opensAt - Date.now());
    }
    const placed = await bookkeeping.placeCall({
      tenantId: call.tenantId,
      workflowId: call.workflowId,
      provider: call.provider,
      attempt: state.attemptNo,
      callRef: input.callRef,
      to: input.to,
      contactId: input.contactId,
      purpose: input.purpose,
      assistant: input.assistant,
      metadata: input.metadata ?? {},
    });
    if (placed.suppressed) {
      // Opted out on some channel since the request: no call, and no CRM note for a call that never was.
      state.setStatus('suppressed');
      await recordStatus(call, 'suppressed', state.attemptNo - 1);
      return 'suppressed';
    }
    state.addProviderCall(placed.providerCallId);
    state.setStatus('queued');
    const record = await persistRecord(call, await awaitRecord(call, placed.providerCallId));
    if (!state.shouldRetry(record.outcome)) return record;
    state.setStatus(record.outcome);
    await recordStatus(call, `retry-after-${record.outcome}`, state.attemptNo);
    await sleep(settings.retry.spacingSeconds * 1000);
  }
}

function suppressed({ state }: Call): VoiceCallResult {
  const { providerCallIds, appointmentIds } = state;
  return { status: 'suppressed', attempts: state.attemptNo - 1, providerCallIds, appointmentIds };
}

/** Claude reads a call with a conversation; one without follows from the provider's record. */
async function analyse(call: Call, record: CallRecordFacts): Promise<CallAnalysis> {
  const { state } = call;
  state.setStatus('processing');
  await recordStatus(call, 'processing', state.attemptsMade);
  return record.utterances > 0
    ? postCall.analyzeCall({
        tenantId: call.tenantId,
        workflowId: call.workflowId,
        appointmentIds: state.appointmentIds,
        providerSummary: record.providerSummary,
      })
    : noConversationAnalysis(record, state.direction, state.attemptsMade);
}

/** The caller's CRM contact gets a note, tags and (when the analysis asks for one) a follow-up task. */
async function writeToCrm(call: Call, analysis: CallAnalysis): Promise<Record<string, unknown>> {
  const { state, tenantId, workflowId } = call;
  const crmEffects: Record<string, unknown> = { appointmentIds: state.appointmentIds };
  if (!call.customerPhone && !state.contactId) return crmEffects;
  const contactId =
    state.contactId ?? (await postCall.upsertContact({ tenantId, phone: call.customerPhone })).contactId;
  state.contactId = contactId;
  const note = await postCall.addContactNote({
    tenantId,
    idempotencyKey: `${workflowId}:call-note`,
    contactId,
    body: callNote(state.direction, call.provider, analysis, state.appointmentIds),
  });
  const tagged = await postCall.tagContact({ tenantId, contactId, tags: callTags(analysis.outcome) });
  crmEffects.noteId = note.noteId;
  crmEffects.tags = tagged.tags;
  if (analysis.followUp) {
    const task = await postCall.createFollowUpTask({
      tenantId,
      idempotencyKey: `${workflowId}:follow-up`,
      contactId,
      title: `Follow up: ${oneLine(analysis.nextAction, 120)}`,
      body: analysis.summary,
      dueDate: new Date(Date.now() + 86_400_000).toISOString(),
    });
    crmEffects.taskId = task.taskId;
  }
  return crmEffects;
}

/** Once every tool call is answered and audited: the call's row closed, its final status shown. */
async function finish(
  call: Call,
  record: CallRecordFacts,
  analysis: CallAnalysis,
  crmEffects: Record<string, unknown>,
): Promise<VoiceCallResult> {
  const { state } = call;
  const status = record.outcome;
  await condition(allHandlersFinished);
  await Promise.all(call.pendingWrites);
  await bookkeeping.finishCall({
    tenantId: call.tenantId,
    workflowId: call.workflowId,
    status,
    contactId: state.contactId,
    analysis,
    crmEffects,
    attempts: state.attemptsMade,
  });
  state.setStatus(status);
  return {
    status,
    attempts: state.attemptsMade,
    providerCallIds: state.providerCallIds,
    appointmentIds: state.appointmentIds,
    ...(state.contactId ? { contactId: state.contactId } : {}),
    outcome: analysis.outcome,
    nextAction: analysis.nextAction,
    summary: analysis.summary,
  };
}
