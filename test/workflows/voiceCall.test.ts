import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import protos from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrmActionActivities } from '../../activities/crm/actions.js';
import type { CallAnalysis } from '../../domain/callAnalysis.js';
import type { VoiceCallActivities } from '../../activities/voice/calls.js';
import type { VoiceToolActivities, VoiceToolCall, VoiceToolCallAnswer } from '../../activities/voice/tools.js';
import { defaultVoiceSettings, type VoiceSettings } from '../../lib/voice.js';
import {
  callEventSignal,
  callStateQuery,
  toolCallsUpdate,
  type CallEvent,
  type ToolCallRequest,
  type VoiceCallInput,
} from '../../workflows/voiceCall.contract.js';
import type { voiceCall } from '../../workflows/voiceCall.js';
import { bundleWorkflows, eventually, logged, startTimeSkippingEnv, stubWorker } from '../support/timeSkipping.js';

type Activities = VoiceCallActivities & CrmActionActivities & VoiceToolActivities;
const NAMES = [
  'openCall',
  'recordCallStatus',
  'placeCall',
  'fetchProviderCall',
  'persistCallRecord',
  'analyzeCall',
  'recordToolCall',
  'finishCall',
  'upsertContact',
  'addContactNote',
  'tagContact',
  'createFollowUpTask',
  'runVoiceTool',
  'answerVoiceToolCall',
] as const satisfies readonly (keyof Activities)[];

const EventType = protos.temporal.api.enums.v1.EventType;

/**
 * The voiceCall workflow on the time-skipping test server, every activity a stub: what the workflow
 * itself decides (dedupe, ordering, tool-answer reuse, finishing without a report) and nothing else.
 */
describe('voiceCall workflow (stubbed activities)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Awaited<ReturnType<typeof stubWorker<Activities>>>;
  let bundle: { code: string };

  beforeAll(async () => {
    env = await startTimeSkippingEnv();
    bundle = await bundleWorkflows();
    worker = await stubWorker<Activities>(env, bundle, NAMES);
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  /** Stubs that answer like a plain answered call and log every call (name, input). */
  function fakeActivities(settings: VoiceSettings, over: Partial<Activities> = {}) {
    const analysis: CallAnalysis = {
      summary: 'Talked.',
      sentiment: 'positive',
      outcome: 'question-answered',
      nextAction: 'none',
      followUp: false,
    };
    const answered = { ...silent, utterances: 4, endedReason: 'customer-ended-call' };
    const defaults: Partial<Activities> = {
      openCall: async () => ({ settings }),
      recordCallStatus: async () => undefined,
      placeCall: async () => ({ providerCallId: 'out-1' }),
      fetchProviderCall: async (i) => ({ ended: true, eventKey: `rest:${i.providerCallId}:ended` }),
      persistCallRecord: async () => answered,
      analyzeCall: async () => analysis,
      recordToolCall: async () => undefined,
      finishCall: async () => undefined,
      upsertContact: async () => ({ contactId: 'ct-new', created: true }),
      addContactNote: async () => ({ noteId: 'note-1' }),
      tagContact: async (i) => ({ tags: i.tags }),
      createFollowUpTask: async () => ({ taskId: 'task-1' }),
      runVoiceTool: async (req) => ({ text: `ran ${req.name}` }),
      answerVoiceToolCall: async (c) => (c.refused ? { error: c.refused } : { result: `ran ${c.name}` }),
      ...over,
    };
    const fake = logged<Activities>(NAMES, defaults);
    worker.use(fake.stubs);
    return fake;
  }

  const settings = (over: Partial<VoiceSettings> = {}): VoiceSettings => ({ ...defaultVoiceSettings, ...over });
  const silent = { outcome: 'completed', utterances: 0, endedReason: null, providerSummary: null } as const;
  const id = () => randomBytes(4).toString('hex');

  async function startInbound(providerCallId: string, extra: Partial<VoiceCallInput> = {}) {
    const input: VoiceCallInput = {
      direction: 'inbound',
      tenantId: 'tenant-a',
      provider: 'vapi',
      providerCallId,
      customerPhone: '+15550100',
      ...extra,
    } as VoiceCallInput;
    return env.client.workflow.start<typeof voiceCall>('voiceCall', {
      taskQueue: worker.taskQueue,
      workflowId: `call:tenant-a:vapi:${providerCallId}`,
      args: [input],
    });
  }

  const status = (key: string, providerCallId: string, s: string): CallEvent => ({
    key,
    providerCallId,
    kind: 'status',
    status: s,
  });
  const report = (key: string, providerCallId: string): CallEvent => ({
    key,
    providerCallId,
    kind: 'report',
    endedReason: 'hangup',
  });

  /** True once the worker has completed a workflow task after the last signal (so it applied them all). */
  async function signalsApplied(handle: WorkflowHandle): Promise<boolean> {
    const events = (await handle.fetchHistory()).events ?? [];
    const types = events.map((e) => e.eventType);
    const lastSignal = types.lastIndexOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    return types.lastIndexOf(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) > lastSignal;
  }

  /** Server (skipped) times of the last signal and of each REST fetch being scheduled. */
  async function eventTimes(handle: WorkflowHandle): Promise<{ lastSignal: number; fetches: number[] }> {
    const events = (await handle.fetchHistory()).events ?? [];
    const ms = (e: (typeof events)[number]) =>
      Number(String(e.eventTime?.seconds ?? 0)) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
    const signals = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    const scheduled = (e: (typeof events)[number]) => e.activityTaskScheduledEventAttributes?.activityType?.name;
    const fetches = events.filter((e) => scheduled(e) === 'fetchProviderCall');
    return { lastSignal: ms(signals.at(-1)!), fetches: fetches.map(ms) };
  }

  /** Every CallStatus value the workflow upserted, in order. */
  async function callStatuses(handle: WorkflowHandle): Promise<string[]> {
    const events = (await handle.fetchHistory()).events ?? [];
    return events.flatMap((e) => {
      const field = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.CallStatus;
      return field?.data ? [JSON.parse(Buffer.from(field.data).toString('utf8')) as string] : [];
    });
  }

  it('duplicated signals have one effect: a repeated event is not news (the grace is not restarted)', async () => {
    const pc = `dup-${id()}`;
    // The provider still has the call in progress when first asked; the report comes after.
    let fetches = 0;
    const fake = fakeActivities(settings({ reportGraceSeconds: 100 }), {
      fetchProviderCall: async () => ({ ended: false, eventKey: `rest:${pc}:${++fetches}` }),
    });
    const handle = await startInbound(pc);
    await handle.signal(callEventSignal, status('s1', pc, 'in-progress'));
    await eventually('the status applied', async () => (await handle.query(callStateQuery)).status === 'in-progress');

    await env.sleep(60_000);
    // The same webhook again, 60 s in: were it news, the 100 s grace would start over (REST at 160 s).
    await handle.signal(callEventSignal, status('s1', pc, 'in-progress'));
    await handle.signal(callEventSignal, status('s1', pc, 'in-progress'));
    await eventually('the duplicates applied', () => signalsApplied(handle));
    await env.sleep(50_000);
    await eventually('the provider asked 100 s after the last news', () => fetches === 1);

    await handle.signal(callEventSignal, report('r1', pc));
    await handle.signal(callEventSignal, report('r1', pc));
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', attempts: 1, providerCallIds: [pc] });
    expect(fake.inputs<{ eventKey: string }>('persistCallRecord').map((i) => i.eventKey)).toEqual(['r1']);
    expect(fake.inputs('addContactNote')).toHaveLength(1);
    expect(fake.inputs('finishCall')).toHaveLength(1);
    expect(fetches).toBe(1);
  });

  it('out-of-order events: a report before its statuses ends the call; late statuses never move it back', async () => {
    const pc = `ooo-${id()}`;
    let openCall!: () => void;
    const opened = new Promise<void>((resolve) => (openCall = resolve));
    const s = settings();
    const fake = fakeActivities(s, { openCall: async () => (await opened, { settings: s }) });
    const handle = await startInbound(pc);
    // Webhooks race: the end-of-call report lands first, then the statuses it overtook.
    await handle.signal(callEventSignal, report('rep', pc));
    await handle.signal(callEventSignal, status('st-1', pc, 'in-progress'));
    await handle.signal(callEventSignal, status('st-2', pc, 'ringing'));
    await eventually('the events applied', () => signalsApplied(handle));
    expect((await handle.query(callStateQuery)).status).toBe('ended');

    openCall();
    const result = await handle.result();
    expect(result.status).toBe('completed');
    expect(fake.inputs<{ eventKey: string }>('persistCallRecord').map((i) => i.eventKey)).toEqual(['rep']);
    expect(fake.inputs('fetchProviderCall')).toEqual([]);
    expect(await callStatuses(handle)).toEqual(['ended', 'ended', 'processing', 'completed']);
  });

  it('a retried tool call (same toolCallId) gets the first answer; the tool runs once', async () => {
    const pc = `tool-${id()}`;
    let answer!: (r: VoiceToolCallAnswer) => void;
    const firstAnswer = new Promise<VoiceToolCallAnswer>((resolve) => (answer = resolve));
    const s = settings({ tools: ['lookup_caller', 'add_note'] });
    const fake = fakeActivities(s, {
      answerVoiceToolCall: (c) => (c.refused ? Promise.resolve({ error: c.refused }) : firstAnswer),
    });
    // Settings from the webhook: tool calls need not wait for openCall.
    const handle = await startInbound(pc, { settings: s });
    const lookup: ToolCallRequest = { id: 'tc-1', name: 'lookup_caller', args: {} };
    const ask = (calls: ToolCallRequest[]) => handle.executeUpdate(toolCallsUpdate, { args: [{ calls }] });
    const ran = () => fake.inputs<VoiceToolCall>('answerVoiceToolCall').filter((c) => !c.refused);

    const first = ask([lookup]);
    await eventually('the tool started', () => ran().length === 1);
    // The provider retries while the tool still runs, then once more after it answered.
    const retried = ask([{ ...lookup, args: { phone: '+15550199' } }]);
    const found = 'Found Ana (contact ct-ana).';
    answer({ result: found, contactId: 'ct-ana' });
    const expected = { results: [{ toolCallId: 'tc-1', name: 'lookup_caller', result: found }] };
    expect(await first).toEqual(expected);
    expect(await retried).toEqual(expected);
    expect(await ask([lookup])).toEqual(expected);
    expect(ran()).toHaveLength(1);

    // Unknown and disabled tools are answered with an error, without running anything (only recorded).
    const refused = await ask([
      { id: 'tc-2', name: 'launch_rocket', args: {} },
      { id: 'tc-3', name: 'book_appointment', args: {} },
    ]);
    expect(refused).toEqual({
      results: [
        { toolCallId: 'tc-2', name: 'launch_rocket', error: 'unknown tool launch_rocket' },
        { toolCallId: 'tc-3', name: 'book_appointment', error: 'book_appointment is not enabled for this assistant' },
      ],
    });
    expect(ran()).toHaveLength(1);
    expect(fake.inputs('runVoiceTool')).toEqual([]);
    expect((await handle.query(callStateQuery)).toolCalls).toBe(3);

    await handle.signal(callEventSignal, report('rep', pc));
    const result = await handle.result();
    // The contact the tool found is the caller's: no new contact, the note goes on it.
    expect(result.contactId).toBe('ct-ana');
    expect(fake.inputs('upsertContact')).toEqual([]);
    expect(fake.inputs<{ contactId: string }>('addContactNote').map((i) => i.contactId)).toEqual(['ct-ana']);
    // Each tool call recorded itself, in its one local activity: no separate bookkeeping activity.
    const recorded = fake.inputs<VoiceToolCall>('answerVoiceToolCall').map((i) => i.toolCallId);
    expect(recorded.sort()).toEqual(['tc-1', 'tc-2', 'tc-3']);
    expect(fake.inputs('recordToolCall')).toEqual([]);
    // One workflow task per tool call: the update is accepted and answered in the same task.
    const events = (await handle.fetchHistory()).events ?? [];
    const types = events.map((e) => e.eventType);
    const accepted = types.filter((t) => t === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED).length;
    expect(accepted).toBe(4);
    expect(
      events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'recordToolCall'),
    ).toEqual([]);
  });

  it('a tool whose every attempt fails without an answer: the caller hears so and the row is written apart', async () => {
    const pc = `tool-fail-${id()}`;
    const s = settings({ tools: ['lookup_caller'] });
    const fake = fakeActivities(s, {
      answerVoiceToolCall: async () => {
        throw new Error('the CRM timed out');
      },
    });
    const handle = await startInbound(pc, { settings: s });
    const answer = await handle.executeUpdate(toolCallsUpdate, {
      args: [{ calls: [{ id: 'tc-x', name: 'lookup_caller', args: {} }] }],
    });
    expect(answer).toEqual({ results: [{ toolCallId: 'tc-x', name: 'lookup_caller', error: 'the CRM timed out' }] });
    expect(fake.inputs('answerVoiceToolCall')).toHaveLength(3);
    await handle.signal(callEventSignal, report('rep', pc));
    await handle.result();
    expect(fake.inputs<{ toolCallId: string; error: string }>('recordToolCall')).toMatchObject([
      { toolCallId: 'tc-x', error: 'the CRM timed out' },
    ]);
  });

  it('a tool slower than its local bound goes on as a regular activity that finds its effect: the real answer, once', async () => {
    const pc = `tool-slow-${id()}`;
    const s = settings({ tools: ['lookup_caller'] });
    const fake = fakeActivities(s, {
      answerVoiceToolCall: async (input: { resumed?: boolean }) => {
        // The local attempts hang on a slow CRM; the regular activity finds what they did.
        if (!input.resumed) await new Promise((r) => setTimeout(r, 8_000));
        return { result: 'Dana Buyer, customer since 2024.' };
      },
    });
    const handle = await startInbound(pc, { settings: s });
    const answer = await handle.executeUpdate(toolCallsUpdate, {
      args: [{ calls: [{ id: 'tc-slow', name: 'lookup_caller', args: {} }] }],
    });
    expect(answer).toEqual({
      results: [{ toolCallId: 'tc-slow', name: 'lookup_caller', result: 'Dana Buyer, customer since 2024.' }],
    });
    const inputs = fake.inputs<{ resumed?: boolean }>('answerVoiceToolCall');
    expect(inputs.at(-1)).toMatchObject({ resumed: true });
    expect(inputs.filter((i) => i.resumed)).toHaveLength(1);
    await handle.signal(callEventSignal, report('rep', pc));
    await handle.result();
    expect(fake.inputs('recordToolCall')).toEqual([]);
    // A worker that picks the call up from its history takes the same way (the local attempts' timeout
    // read back from their marker; found by the long chaos run when a worker was killed after one).
    await Worker.runReplayHistory({ workflowBundle: bundle }, await handle.fetchHistory(), handle.workflowId);
  }, 60_000);

  it('two tool calls at once, one slower than its local bound: both answered, and the history replays', async () => {
    const pc = `tool-pair-${id()}`;
    const s = settings({ tools: ['lookup_caller', 'get_free_slots'] });
    const fake = fakeActivities(s, {
      answerVoiceToolCall: async (input: { name: string; resumed?: boolean }) => {
        if (input.name === 'get_free_slots' && !input.resumed) await new Promise((r) => setTimeout(r, 8_000));
        return { result: `${input.name} answered` };
      },
    });
    const handle = await startInbound(pc, { settings: s });
    // Two Updates (as two webhooks): their tools would otherwise run side by side in one workflow task.
    const answers = await Promise.all(
      (['get_free_slots', 'lookup_caller'] as const).map((name, i) =>
        handle.executeUpdate(toolCallsUpdate, { args: [{ calls: [{ id: `tc-${i}`, name, args: {} }] }] }),
      ),
    );
    expect(answers.map((a) => a.results[0]!.result)).toEqual(['get_free_slots answered', 'lookup_caller answered']);
    expect(fake.inputs('recordToolCall')).toEqual([]);
    await handle.signal(callEventSignal, report('rep', pc));
    await handle.result();
    await Worker.runReplayHistory({ workflowBundle: bundle }, await handle.fetchHistory(), handle.workflowId);
  }, 60_000);

  it('a missing end-of-call report: the call ends from the provider’s REST API after the (capped) grace', async () => {
    const pc = `rest-${id()}`;
    const answers = [
      { ended: false, eventKey: `rest:${pc}:1` },
      { ended: true, eventKey: `rest:${pc}:ended` },
    ];
    const fake = fakeActivities(settings({ reportGraceSeconds: 300 }), {
      fetchProviderCall: async () => answers.shift()!,
      persistCallRecord: async () => ({ ...silent, endedReason: 'silence-timed-out' }),
    });
    const handle = await startInbound(pc);
    await handle.signal(callEventSignal, status('end', pc, 'ended'));
    const result = await handle.result();

    expect(fake.inputs('fetchProviderCall')).toHaveLength(2);
    expect(fake.inputs<{ eventKey: string }>('persistCallRecord').map((i) => i.eventKey)).toEqual([`rest:${pc}:ended`]);
    // The call had ended: a minute per wait (not the 300 s grace of a live call) before each REST look.
    const times = await eventTimes(handle);
    expect(times.fetches).toHaveLength(2);
    const waits = [times.fetches[0]! - times.lastSignal, times.fetches[1]! - times.fetches[0]!];
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(60_000);
      expect(wait).toBeLessThan(65_000);
    }
    // Nobody spoke: no model, an analysis from the record.
    expect(fake.inputs('analyzeCall')).toEqual([]);
    expect(result).toMatchObject({ status: 'completed', outcome: 'no-conversation', attempts: 1 });
    expect(result.summary).toBe('No conversation: completed after 1 attempt(s) (silence-timed-out).');
  });
});
