import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { demoFreeSlots, RETELL_KEY, sandboxProviders, setUpVoiceTenant, VAPI_SECRET, waitForCall } from './support/voice.js';

const TENANT = 'voice-a';

describe('voiceCall: phone calls as durable workflows', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let slots: string[];

  const vapiUrl = () => `${tp.baseUrl}/webhooks/vapi/${TENANT}`;
  const ghlRecords = async (kind: 'notes' | 'appointments' | 'tasks', contactId: string) =>
    (await sandbox.control<Record<string, any[]>>('GET', `/ghl/${kind}?locationId=loc_demo&contactId=${contactId}&limit=1000`))[kind]!;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: sandboxProviders(sandbox) });
    key = await setUpVoiceTenant(tp.baseUrl, TENANT);
    slots = await demoFreeSlots(sandbox);
    expect(slots.length).toBeGreaterThan(10);
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('inbound Vapi call: the caller is recognised, finds a slot, books it; one note, transcript and summary stored', async () => {
    const slot = slots[2]!;
    const sim = await sandbox.control('POST', '/vapi/calls', {
      serverUrl: vapiUrl(),
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      direction: 'inbound',
      from: '+15555550100',
      to: '+15555550123',
      wait: true,
      script: {
        steps: [
          { user: "Hi, it's about a cleaning appointment." },
          { tool: 'lookup_caller', arguments: {} },
          { tool: 'get_free_slots', arguments: { startDate: slot.slice(0, 10) } },
          { user: `The ${slot} one please.` },
          { tool: 'book_appointment', arguments: { startTime: slot } },
          { user: 'Great, thanks, bye.' },
        ],
      },
    });
    expect(sim.problems).toEqual([]);
    const deliveries = sim.deliveries as { type: string; response: { status: number; body: any }; ms: number }[];
    const assistant = deliveries.find((d) => d.type === 'assistant-request')!;
    expect(assistant.response.status).toBe(200);
    expect(assistant.response.body).toMatchObject({ assistantId: 'asst_demo', assistantOverrides: { variableValues: { knownCaller: 'yes', customerName: 'Demo Caller', contactId: 'ct_demo' } } });
    const toolAnswers = deliveries.filter((d) => d.type === 'tool-calls').map((d) => d.response.body.results[0]);
    expect(toolAnswers[0].result).toMatch(/Found Demo Caller/);
    expect(toolAnswers[1].result).toContain(slot);
    expect(toolAnswers[2].result).toMatch(/^Booked for/);
    for (const a of toolAnswers) expect(a.result ?? a.error).not.toMatch(/\n/);

    const workflowId = `call:${TENANT}:vapi:${sim.call.id}`;
    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed');
    expect(done).toMatchObject({ direction: 'inbound', provider: 'vapi', phone: '+15555550100', contactId: 'ct_demo', outcome: 'booked' });
    expect(done.transcript.map((u: { text: string }) => u.text)).toContain("Hi, it's about a cleaning appointment.");
    expect(done.transcript.map((u: { seq: number }) => u.seq)).toEqual(done.transcript.map((_: unknown, i: number) => i + 1));
    expect(done.toolCalls.map((t: { name: string }) => t.name)).toEqual(['lookup_caller', 'get_free_slots', 'book_appointment']);
    expect(done.summary).toBeTruthy();
    expect(done.recordingUrl).toMatch(/^http/);
    expect(done.crmEffects.noteId).toBeTruthy();

    const booked = (await ghlRecords('appointments', 'ct_demo')).filter((a) => Date.parse(a.startTime) === Date.parse(slot));
    expect(booked).toHaveLength(1);
    const notes = (await ghlRecords('notes', 'ct_demo')).filter((n) => n.body.includes(workflowId));
    expect(notes).toHaveLength(1);

    const listed = await call(tp.baseUrl, 'GET', `/v1/calls?phone=${encodeURIComponent('+15555550100')}`, { key });
    expect(listed.body.calls.map((c: { id: string }) => c.id)).toContain(workflowId);
    const described = await tp.platform.temporal!.workflow.getHandle(workflowId).describe();
    expect(described.searchAttributes).toMatchObject({ TenantId: [TENANT], ContactPhone: ['+15555550100'], CallStatus: ['completed'], WorkflowKind: ['voiceCall'] });
  });
});
