import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, startWorkerProcess, type TestPlatform } from './support/platform.js';
import type { StartedProcess } from './support/process.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { tearDown } from './support/teardown.js';
import {
  demoFreeSlots,
  sandboxProviders,
  setUpVoiceTenant,
  VAPI_SECRET,
  waitForCall,
  waitForToolAnswers,
} from './support/voice.js';

const { EventType } = temporal.api.enums.v1;
const TENANT = 'voice-crash';

describe('voiceCall survives a worker SIGKILL mid-call', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  const workers: StartedProcess[] = [];

  const startWorker = async () => {
    const w = await startWorkerProcess(tp, sandboxProviders(sandbox));
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    // The API in this process; the worker in a child process we can kill.
    tp = await startTestPlatform({ roles: ['api'], env: sandboxProviders(sandbox) });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
  });
  afterAll(() => tearDown({ processes: workers, platform: tp, sandbox }));

  it('the next tool call is answered by the restarted worker, the transcript is complete, post-call work runs once', async () => {
    const first = await startWorker();
    // A time early in a whole day (not the first, partial one): the tool lists a day's first 12 free times.
    const slots = await demoFreeSlots(sandbox);
    const day = slots.find((s) => s.slice(0, 10) !== slots[0]!.slice(0, 10))!.slice(0, 10);
    const slot = slots.filter((s) => s.startsWith(day))[3]!;
    const lines = ['I need an appointment.', 'Whatever is free that day.', 'Perfect, book it.', 'Thanks, goodbye.'];
    const { id } = await sandbox.control('POST', '/vapi/calls', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${TENANT}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      direction: 'inbound',
      from: '+15555550100',
      to: '+15555550123',
      script: {
        steps: [
          { user: lines[0] },
          { tool: 'lookup_caller', arguments: {} },
          { pauseMs: 9000 },
          { user: lines[1] },
          { tool: 'get_free_slots', arguments: { startDate: slot.slice(0, 10) } },
          { user: lines[2] },
          { tool: 'book_appointment', arguments: { startTime: slot } },
          { user: lines[3] },
        ],
      },
    });

    // Once the first tool call has its answer, the worker dies without any chance to clean up.
    await waitForToolAnswers(sandbox, id, 1);
    first.child.kill('SIGKILL');
    await first.exited;
    await startWorker();

    const workflowId = `call:${TENANT}:vapi:${id}`;
    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed', 120_000);
    const sim = await sandbox.control('GET', `/vapi/calls/${id}`);
    expect(sim.problems).toEqual([]);
    const answers = sim.deliveries
      .filter((d: { type: string }) => d.type === 'tool-calls')
      .map((d: { response: { body: any } }) => d.response.body.results[0]);
    expect(answers).toHaveLength(3);
    expect(answers[1].result).toContain(slot);
    expect(answers[2].result).toMatch(/^Booked for/);

    const spoken = done.transcript
      .filter((u: { role: string }) => u.role === 'user')
      .map((u: { text: string }) => u.text);
    expect(spoken).toEqual(lines);
    expect(done.toolCalls.map((t: { name: string }) => t.name)).toEqual([
      'lookup_caller',
      'get_free_slots',
      'book_appointment',
    ]);

    const { events } = await tp.platform.temporal!.workflow.getHandle(workflowId).fetchHistory();
    const completed = (name: string) =>
      (events ?? []).filter(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
          e.activityTaskScheduledEventAttributes?.activityType?.name === name,
      ).length;
    expect(completed('analyzeCall')).toBe(1);
    expect(completed('addContactNote')).toBe(1);
    expect(completed('finishCall')).toBe(1);
    const notes = (
      await sandbox.control('GET', '/ghl/notes?locationId=loc_demo&contactId=ct_demo&limit=1000')
    ).notes.filter((n: { body: string }) => n.body.includes(workflowId));
    expect(notes).toHaveLength(1);
    const appointments = (
      await sandbox.control('GET', '/ghl/appointments?locationId=loc_demo&contactId=ct_demo&limit=1000')
    ).appointments.filter((a: { startTime: string }) => Date.parse(a.startTime) === Date.parse(slot));
    expect(appointments).toHaveLength(1);
  });
});
