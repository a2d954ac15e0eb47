import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { suppress } from '../domain/suppression.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { recordHistory } from './support/histories.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import {
  demoFreeSlots,
  RETELL_KEY,
  sandboxProviders,
  setUpVoiceTenant,
  VAPI_SECRET,
  waitForCall,
} from './support/voice.js';

const TENANT = 'voice-a';

describe('voiceCall: phone calls as durable workflows', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let slots: string[];

  const vapiUrl = () => `${tp.baseUrl}/webhooks/vapi/${TENANT}`;
  /** The sandbox's Vapi simulator calling our webhook with the tenant's secret, from the demo caller. */
  const inboundVapiCall = () => ({
    serverUrl: vapiUrl(),
    credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
    direction: 'inbound',
    from: '+15555550100',
    to: '+15555550123',
  });
  const ghlRecords = async (kind: 'notes' | 'appointments' | 'tasks', contactId: string) =>
    (
      await sandbox.control<Record<string, any[]>>(
        'GET',
        `/ghl/${kind}?locationId=loc_demo&contactId=${contactId}&limit=1000`,
      )
    )[kind]!;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: sandboxProviders(sandbox) });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    slots = await demoFreeSlots(sandbox);
    expect(slots.length).toBeGreaterThan(10);
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('inbound Vapi call: the caller is recognised, finds a slot, books it; one note, transcript and summary stored', async () => {
    // A slot of a whole day (tomorrow's): today's first slots depend on the hour the suite runs.
    const day = slots.find((s) => s.slice(0, 10) !== slots[0]!.slice(0, 10))!.slice(0, 10);
    const slot = slots.filter((s) => s.startsWith(day))[2]!;
    const sim = await sandbox.control('POST', '/vapi/calls', {
      ...inboundVapiCall(),
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
    expect(assistant.response.body).toMatchObject({
      assistantId: 'asst_demo',
      assistantOverrides: { variableValues: { knownCaller: 'yes', customerName: 'Demo Caller', contactId: 'ct_demo' } },
    });
    const toolAnswers = deliveries.filter((d) => d.type === 'tool-calls').map((d) => d.response.body.results[0]);
    expect(toolAnswers[0].result).toMatch(/Found Demo Caller/);
    expect(toolAnswers[1].result).toContain(slot);
    expect(toolAnswers[2].result).toMatch(/^Booked for/);
    for (const a of toolAnswers) expect(a.result ?? a.error).not.toMatch(/\n/);

    const workflowId = `call:${TENANT}:vapi:${sim.call.id}`;
    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed');
    expect(done).toMatchObject({
      direction: 'inbound',
      provider: 'vapi',
      phone: '+15555550100',
      contactId: 'ct_demo',
      outcome: 'booked',
    });
    expect(done.transcript.map((u: { text: string }) => u.text)).toContain("Hi, it's about a cleaning appointment.");
    expect(done.transcript.map((u: { seq: number }) => u.seq)).toEqual(
      done.transcript.map((_: unknown, i: number) => i + 1),
    );
    expect(done.toolCalls.map((t: { name: string }) => t.name)).toEqual([
      'lookup_caller',
      'get_free_slots',
      'book_appointment',
    ]);
    expect(done.summary).toBeTruthy();
    expect(done.recordingUrl).toMatch(/^http/);
    expect(done.crmEffects.noteId).toBeTruthy();

    const booked = (await ghlRecords('appointments', 'ct_demo')).filter(
      (a) => Date.parse(a.startTime) === Date.parse(slot),
    );
    expect(booked).toHaveLength(1);
    const notes = (await ghlRecords('notes', 'ct_demo')).filter((n) => n.body.includes(workflowId));
    expect(notes).toHaveLength(1);

    const audit = await call(tp.baseUrl, 'GET', `/v1/audit?workflowId=${encodeURIComponent(workflowId)}`, { key });
    expect(audit.body.rows.map((r: { tool: string }) => r.tool).sort()).toEqual([
      'voice.book_appointment',
      'voice.get_free_slots',
      'voice.lookup_caller',
    ]);

    const listed = await call(tp.baseUrl, 'GET', `/v1/calls?phone=${encodeURIComponent('+15555550100')}`, { key });
    expect(listed.body.calls.map((c: { id: string }) => c.id)).toContain(workflowId);
    const described = await tp.platform.temporal!.workflow.getHandle(workflowId).describe();
    expect(described.searchAttributes).toMatchObject({
      TenantId: [TENANT],
      ContactPhone: ['+15555550100'],
      CallStatus: ['completed'],
      WorkflowKind: ['voiceCall'],
    });
    // Each tool call is one workflow task that runs the tool, and waits on no short timer (the
    // server fires even a 1 ms timer about a second late: a silence the caller hears).
    const events = (await tp.platform.temporal!.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const arrivals = events.flatMap((e, i) =>
      e.workflowExecutionSignaledEventAttributes?.signalName === 'toolCallsArrived' ? [i] : [],
    );
    expect(arrivals).toHaveLength(3);
    for (const at of arrivals) {
      const ran = events.findIndex(
        (e, i) => i > at && e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
      );
      expect(ran).toBeGreaterThan(at);
      const between = events.slice(at, ran);
      expect(between.filter((e) => e.workflowTaskStartedEventAttributes)).toHaveLength(1);
      const shortTimers = between.filter(
        (e) =>
          e.timerStartedEventAttributes && Number(e.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0) < 1,
      );
      expect(shortTimers).toEqual([]);
    }
    await recordHistory(tp.platform.temporal!, workflowId, 'voiceCall-vapi-inbound-booking-signal');
  });

  it('inbound Retell call: inbound webhook gets dynamic variables, custom functions book, one note after call_analyzed', async () => {
    const slot = slots[4]!;
    const base = `${tp.baseUrl}/webhooks/retell/${TENANT}`;
    const sim = await sandbox.control('POST', '/retell/calls', {
      serverUrl: base,
      credential: RETELL_KEY,
      direction: 'inbound',
      from: '+15555550100',
      to: '+15555550124',
      inboundWebhookUrl: `${base}/inbound`,
      functionUrl: `${base}/functions`,
      wait: true,
      script: {
        steps: [
          { user: 'Can I book a visit?' },
          { tool: 'get_free_slots', arguments: { startDate: slot.slice(0, 10) } },
          { tool: 'book_appointment', arguments: { startTime: slot } },
          { user: 'Thank you.' },
        ],
      },
    });
    expect(sim.problems).toEqual([]);
    const inbound = sim.deliveries.find((d: { type: string }) => d.type === 'call_inbound');
    expect(inbound.response.body.call_inbound).toMatchObject({
      override_agent_id: 'agent_demo',
      dynamic_variables: { customerName: 'Demo Caller', knownCaller: 'yes' },
    });
    const fn = sim.deliveries
      .filter((d: { type: string }) => d.type === 'custom_function')
      .map((d: { response: { body: unknown } }) => d.response.body);
    expect(String(fn[1])).toMatch(/^Booked for/);

    const workflowId = `call:${TENANT}:retell:${sim.call.call_id}`;
    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed');
    expect(done).toMatchObject({ provider: 'retell', phone: '+15555550100', outcome: 'booked' });
    expect(done.transcript.length).toBeGreaterThan(2);
    expect(
      (await ghlRecords('appointments', 'ct_demo')).filter((a) => Date.parse(a.startTime) === Date.parse(slot)),
    ).toHaveLength(1);
    expect((await ghlRecords('notes', 'ct_demo')).filter((n) => n.body.includes(workflowId))).toHaveLength(1);
    await recordHistory(tp.platform.temporal!, workflowId, 'voiceCall-retell-inbound');
  });

  it('duplicated and reordered webhooks (report before "ended", every message twice) have one effect each', async () => {
    const slot = slots[6]!;
    const callId = 'dup-call-0001';
    const callObj = { id: callId, type: 'inboundPhoneCall', customer: { number: '+15555550177' } };
    const send = (message: Record<string, unknown>) =>
      call(tp.baseUrl, 'POST', `/webhooks/vapi/${TENANT}`, {
        headers: { 'x-vapi-secret': VAPI_SECRET },
        body: { message: { call: callObj, ...message } },
      });
    const t0 = Date.now();
    const book = {
      type: 'tool-calls',
      timestamp: t0 + 1,
      toolCallList: [
        {
          id: 'tc-book-1',
          type: 'function',
          function: { name: 'book_appointment', arguments: JSON.stringify({ startTime: slot, name: 'Dana Dup' }) },
        },
      ],
    };
    const report = {
      type: 'end-of-call-report',
      timestamp: t0 + 3,
      endedReason: 'customer-ended-call',
      cost: 0.12,
      artifact: {
        messages: [
          { role: 'user', message: 'Book me in please.', secondsFromStart: 1 },
          { role: 'bot', message: 'Done, see you then.', secondsFromStart: 4 },
        ],
        recordingUrl: 'https://example.com/r.wav',
      },
    };
    const ended = { type: 'status-update', timestamp: t0 + 2, status: 'ended', endedReason: 'customer-ended-call' };
    const first = await send(book);
    expect(first.status).toBe(200);
    expect(first.body.results[0].result).toMatch(/^Booked for/);
    const again = await send(book); // Vapi re-sent the same tool call
    expect(again.body.results[0].result).toBe(first.body.results[0].result);
    for (const m of [report, report, ended, ended, { type: 'status-update', timestamp: t0, status: 'in-progress' }])
      expect((await send(m)).status).toBe(200);

    const workflowId = `call:${TENANT}:vapi:${callId}`;
    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed');
    expect(done.transcript.map((u: { text: string }) => u.text)).toEqual(['Book me in please.', 'Done, see you then.']);
    expect(done.cost).toBe(0.12);
    const contactId = done.contactId as string;
    expect(
      (await ghlRecords('appointments', contactId)).filter((a) => Date.parse(a.startTime) === Date.parse(slot)),
    ).toHaveLength(1);
    expect((await ghlRecords('notes', contactId)).filter((n) => n.body.includes(workflowId))).toHaveLength(1);
    // A late duplicate after the call finished starts nothing and changes nothing.
    expect((await send(report)).status).toBe(200);
    const runs: string[] = [];
    for await (const wf of tp.platform.temporal!.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
      runs.push(wf.runId);
    expect(runs).toHaveLength(1);
  });

  it('secret mode: a stale or timestamp-less message is refused; a replay inside the window is not applied', async () => {
    const callObj = { id: 'replay-call-1', type: 'inboundPhoneCall', customer: { number: '+15555550178' } };
    const send = (message: Record<string, unknown>) =>
      call(tp.baseUrl, 'POST', `/webhooks/vapi/${TENANT}`, {
        headers: { 'x-vapi-secret': VAPI_SECRET },
        body: { message: { call: callObj, ...message } },
      });
    const stale = await send({ type: 'status-update', status: 'ringing', timestamp: Date.now() - 10 * 60_000 });
    expect(stale.status).toBe(401);
    expect(stale.body.message).toMatch(/message\.timestamp/);
    const undated = await send({ type: 'status-update', status: 'ringing' });
    expect(undated.status).toBe(401);
    const workflowId = `call:${TENANT}:vapi:${callObj.id}`;
    await expect(tp.platform.temporal!.workflow.getHandle(workflowId).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );

    const ringing = { type: 'status-update', status: 'ringing', timestamp: Date.now() };
    expect((await send(ringing)).body).toEqual({});
    for (let i = 0; i < 3; i++) expect((await send(ringing)).body).toEqual({ duplicate: true });
    const history = await tp.platform.temporal!.workflow.getHandle(workflowId).fetchHistory();
    const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes);
    // The first message's signal (signal-with-start); the replays added none.
    expect(signals.length).toBe(1);
    await tp.platform.temporal!.workflow.getHandle(workflowId).terminate('test done');
  });

  it('bad credentials get 401 and start nothing; bad bodies get 400 naming the problem; unknown types 200', async () => {
    const body = {
      message: { type: 'status-update', timestamp: Date.now(), status: 'ringing', call: { id: 'intruder-1' } },
    };
    const refusals: unknown[] = [];
    for (const headers of [
      {},
      { 'x-vapi-secret': 'wrong-secret-value' },
      { authorization: `Bearer ${VAPI_SECRET}` },
    ] as Record<string, string>[]) {
      const res = await call(tp.baseUrl, 'POST', `/webhooks/vapi/${TENANT}`, { headers, body });
      expect(res.status).toBe(401);
      refusals.push(res.body);
    }
    const retell = await call(tp.baseUrl, 'POST', `/webhooks/retell/${TENANT}`, {
      headers: { 'x-retell-signature': `v=${Date.now()},d=00ff` },
      body: { event: 'call_started', call: { call_id: 'intruder-2' } },
    });
    expect(retell.status).toBe(401);
    const unknownTenant = await call(tp.baseUrl, 'POST', '/webhooks/vapi/nobody-here', {
      headers: { 'x-vapi-secret': VAPI_SECRET },
      body,
    });
    expect(unknownTenant.status).toBe(401);
    // An unknown tenant (or a malformed id) is answered exactly like a known one with a bad credential.
    const malformed = await call(tp.baseUrl, 'POST', '/webhooks/vapi/Not_A_Tenant!', { headers: {}, body });
    expect(malformed.status).toBe(401);
    for (const r of [...refusals, malformed.body]) expect(r).toEqual(unknownTenant.body);
    await expect(
      tp.platform.temporal!.workflow.getHandle(`call:${TENANT}:vapi:intruder-1`).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(
      tp.platform.temporal!.workflow.getHandle(`call:${TENANT}:retell:intruder-2`).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);

    const raw = await fetch(`${tp.baseUrl}/webhooks/vapi/${TENANT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-vapi-secret': VAPI_SECRET },
      body: '{"message": ',
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { message: string }).message).toMatch(/not valid JSON/);
    const noCall = await call(tp.baseUrl, 'POST', `/webhooks/vapi/${TENANT}`, {
      headers: { 'x-vapi-secret': VAPI_SECRET },
      body: { message: { type: 'status-update', status: 'ringing' } },
    });
    expect(noCall.status).toBe(400);
    expect(noCall.body.message).toMatch(/body\.message\.call/);
    const huge = await call(tp.baseUrl, 'POST', `/webhooks/vapi/${TENANT}`, {
      headers: { 'x-vapi-secret': VAPI_SECRET },
      body: { message: { type: 'transcript', call: { id: 'big' }, transcript: 'x'.repeat(2_000_000) } },
    });
    expect(huge.status).toBe(413);
    const unknown = await call(tp.baseUrl, 'POST', `/webhooks/vapi/${TENANT}`, {
      headers: { 'x-vapi-secret': VAPI_SECRET },
      body: { message: { type: 'user-interrupted', call: { id: 'x-1' } } },
    });
    expect(unknown.status).toBe(200);
    const { rows } = await tp.adminPool.query(
      `select count(*)::int as n from calls where workflow_id like '%intruder%' or workflow_id like '%:big' or workflow_id like '%:x-1'`,
    );
    expect(rows[0].n).toBe(0);
  });

  it("no end-of-call report: the call is finished from the provider's REST API after the grace window", async () => {
    const sim = await sandbox.control('POST', '/vapi/calls', {
      ...inboundVapiCall(),
      assistantId: 'asst_demo',
      wait: true,
      script: {
        serverMessages: ['status-update', 'tool-calls'],
        steps: [{ user: 'Just checking your opening hours.' }, { assistant: 'We are open nine to five.' }],
      },
    });
    expect(sim.deliveries.some((d: { type: string }) => d.type === 'end-of-call-report')).toBe(false);
    const workflowId = `call:${TENANT}:vapi:${sim.call.id}`;
    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed', 90_000);
    expect(done.transcript.map((u: { text: string }) => u.text)).toContain('Just checking your opening hours.');
    expect(done.endedReason).toBe('customer-ended-call');
    const { events } = await tp.platform.temporal!.workflow.getHandle(workflowId).fetchHistory();
    const activities = (events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter(Boolean);
    expect(activities).toContain('fetchProviderCall');
    await recordHistory(tp.platform.temporal!, workflowId, 'voiceCall-rest-reconciled');
  });

  it('a slow CRM (2 s per request) still gets Vapi an answer before its tool deadline', async () => {
    const put = await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
      key,
      body: { ...(await call(tp.baseUrl, 'GET', '/v1/voice/settings', { key })).body, toolDeadlineMs: 1000 },
    });
    expect(put.status).toBe(200);
    await sandbox.control('POST', '/faults', { provider: 'ghl', route: '*', latencyMs: 2000 });
    try {
      const sim = await sandbox.control('POST', '/vapi/calls', {
        ...inboundVapiCall(),
        wait: true,
        script: {
          toolTimeoutMs: 1800,
          steps: [
            { user: 'Any time on Monday?' },
            { tool: 'get_free_slots', arguments: { startDate: slots[0]!.slice(0, 10) } },
          ],
        },
      });
      expect(sim.problems).toEqual([]);
      const answer = sim.deliveries.find((d: { type: string }) => d.type === 'tool-calls');
      expect(answer.response.status).toBe(200);
      expect(answer.ms).toBeLessThan(1800);
      expect(answer.response.body.results[0].error).toMatch(/still working/i);
      const assistant = sim.deliveries.find((d: { type: string }) => d.type === 'assistant-request');
      expect(assistant.response.body.assistantId).toBe('asst_demo');
    } finally {
      await sandbox.control('DELETE', '/faults');
      await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
        key,
        body: { ...(await call(tp.baseUrl, 'GET', '/v1/voice/settings', { key })).body, toolDeadlineMs: 12_000 },
      });
    }
  });

  it('outbound: no answer, then answered on the retry; one workflow, two provider calls, note on the contact', async () => {
    await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
      key,
      body: {
        ...(await call(tp.baseUrl, 'GET', '/v1/voice/settings', { key })).body,
        retry: { maxAttempts: 3, spacingSeconds: 3 },
      },
    });
    await sandbox.control('POST', '/vapi/config', {
      serverUrl: vapiUrl(),
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      script: { outcome: 'no-answer' },
    });
    const bad = await call(tp.baseUrl, 'POST', '/v1/calls', { key, body: { to: 'not a number', purpose: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/body\.to/);
    const started = await call(tp.baseUrl, 'POST', '/v1/calls', {
      key,
      body: {
        to: '+15555550100',
        contactId: 'ct_demo',
        purpose: 'Confirm the appointment',
        idempotencyKey: 'confirm-1',
      },
    });
    expect(started.status).toBe(202);
    const { workflowId } = started.body;
    expect(workflowId).toBe(`call:${TENANT}:vapi:out-confirm-1`);
    const repeat = await call(tp.baseUrl, 'POST', '/v1/calls', {
      key,
      body: {
        to: '+15555550100',
        contactId: 'ct_demo',
        purpose: 'Confirm the appointment',
        idempotencyKey: 'confirm-1',
      },
    });
    expect(repeat.body).toMatchObject({ workflowId, existing: true });

    await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'retry-after-no-answer');
    await sandbox.control('POST', '/vapi/config', {
      serverUrl: vapiUrl(),
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      script: {
        outcome: 'answered',
        steps: [{ assistant: 'Hi, calling to confirm tomorrow.' }, { user: 'Yes, I will be there.' }],
      },
    });
    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed');
    expect(done).toMatchObject({
      direction: 'outbound',
      attempts: 2,
      contactId: 'ct_demo',
      purpose: 'Confirm the appointment',
    });
    expect(done.providerCallIds).toHaveLength(2);
    expect(done.transcript.map((u: { text: string }) => u.text)).toContain('Yes, I will be there.');
    const result = await tp.platform.temporal!.workflow.getHandle(workflowId).result();
    expect(result).toMatchObject({ status: 'completed', attempts: 2 });
    await recordHistory(tp.platform.temporal!, workflowId, 'voiceCall-outbound-retry');
    expect((await ghlRecords('notes', 'ct_demo')).filter((n) => n.body.includes(workflowId))).toHaveLength(1);
  });

  it('a number on the suppression list (opted out on any channel) is never called', async () => {
    await withTenant(tp.platform.pool, TENANT, (c) =>
      suppress(c, { tenantId: TENANT, phone: '+15555550166', reason: 'stop', source: 'test' }),
    );
    const before = (await sandbox.control('GET', '/vapi/calls')).calls?.length ?? 0;
    const res = await call(tp.baseUrl, 'POST', '/v1/calls', {
      key,
      body: { to: '(555) 555-0166', purpose: 'Follow up' },
    });
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/opted out/);
    expect((await sandbox.control('GET', '/vapi/calls')).calls?.length ?? 0).toBe(before);
  });
});
