import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, TEST_ADMIN_KEY, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { connectGhl } from './support/connections.js';
import {
  demoFreeSlots,
  RETELL_KEY,
  sandboxProviders,
  setUpVoiceTenant,
  VAPI_SECRET,
  waitForCall,
} from './support/voice.js';

/**
 * Issue 19, the front desk on the phone, through the sandbox's Vapi and Retell call simulators over
 * HTTP: a caller finds, moves and cancels their own appointment (each once, however often the tool
 * call is delivered or asked), a transfer inside the tenant's hours ends the call forwarded to its
 * number, one outside them passes a message on as exactly one task, and another tenant's
 * appointment id is refused before anything is written to GoHighLevel.
 */

const TENANT = 'frontdesk-a';
const OTHER = 'frontdesk-b';
const TZ = 'America/New_York';
const TRANSFER_TO = '+15555550199';
const MESSAGE_USER = 'usr_frontdesk';

const spoken = (iso: string) =>
  new Intl.DateTimeFormat('en-US', {
    timeZone: TZ,
    weekday: 'short',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
  }).format(new Date(iso));

interface Delivery {
  type: string;
  url: string;
  headers: Record<string, string>;
  request: any;
  response: { status: number; body: any } | undefined;
}

describe('front desk: appointments, transfers and messages on the call', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let slots: string[];
  /** The settings setUpVoiceTenant saved, to change one thing at a time. */
  let baseSettings: Record<string, unknown>;

  const vapiCall = (steps: unknown[]) =>
    sandbox.control('POST', '/vapi/calls', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${TENANT}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      direction: 'inbound',
      from: '+15555550100',
      to: '+15555550123',
      wait: true,
      script: { steps },
    });
  const ghlRecords = async (kind: 'notes' | 'appointments' | 'tasks', contactId: string) =>
    (await sandbox.control<Record<string, any[]>>('GET', `/ghl/${kind}?contactId=${contactId}&limit=1000`))[kind]!;
  const calendar = (method: string, path: string, body?: unknown) =>
    fetch(`${sandbox.url}/ghl${path}`, {
      method,
      headers: { authorization: 'Bearer test-ghl-token', version: '2021-04-15', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const book = async (contactId: string, startTime: string) => {
    const r = await calendar('POST', '/calendars/events/appointments', {
      calendarId: 'cal_demo',
      locationId: 'loc_demo',
      contactId,
      startTime,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.id as string;
  };
  const freeNow = async () => new Set((await demoFreeSlots(sandbox)).map((s) => Date.parse(s)));
  /** A provider delivering the same message again (as Vapi does with a backoff plan, Retell on a timeout). */
  const redeliver = async (d: Delivery) => {
    const res = await fetch(d.url, {
      method: 'POST',
      headers: { ...d.headers, 'content-type': 'application/json' },
      body: JSON.stringify(d.request),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const toolAnswers = (sim: { deliveries: Delivery[] }) =>
    sim.deliveries
      .filter((d) => d.type === 'tool-calls')
      .map((d) => d.response!.body.results[0] as { name: string; result?: string; error?: string });
  const saveSettings = async (extra: Record<string, unknown>) => {
    const put = await call(tp.baseUrl, 'PUT', '/v1/voice/settings', { key, body: { ...baseSettings, ...extra } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
  };
  /** GHL requests that change something, since `since` (an ISO time). */
  const ghlWritesSince = async (since: string) =>
    (
      await sandbox.control<{ requests: { method: string; route: string; url: string }[] }>(
        'GET',
        `/requests?provider=ghl&since=${encodeURIComponent(since)}&limit=20000`,
      )
    ).requests.filter((r) => r.method !== 'GET');
  const lastSeq = async () => new Date().toISOString();

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: sandboxProviders(sandbox) });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT, { messageUserId: MESSAGE_USER });
    baseSettings = (await call(tp.baseUrl, 'GET', '/v1/voice/settings', { key })).body;
    slots = await demoFreeSlots(sandbox);
    expect(slots.length).toBeGreaterThan(20);
  }, 180_000);
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('a caller finds, moves and cancels their appointment: once each, under repeats and redeliveries', async () => {
    const [at, movedTo] = [slots[3]!, slots[9]!];
    const apptId = await book('ct_demo', at);
    const started = await lastSeq();

    const sim = await vapiCall([
      { user: 'I need to move my appointment.' },
      { tool: 'find_appointments' },
      { user: `Can we do ${movedTo} instead?` },
      { tool: 'reschedule_appointment', arguments: { appointmentId: apptId, startTime: movedTo } },
      // The agent asks again (a new tool call id): still one move.
      { tool: 'reschedule_appointment', arguments: { appointmentId: apptId, startTime: movedTo } },
      { user: 'Thanks, bye.' },
    ]);
    expect(sim.problems).toEqual([]);
    const [found, moved, movedAgain] = toolAnswers(sim);
    expect(found!.result).toContain(apptId);
    expect(found!.result).toContain(spoken(at));
    expect(found!.result).toContain(TZ);
    expect(moved!.result).toBe(`Moved from ${spoken(at)} to ${spoken(movedTo)} (appointment ${apptId}).`);
    expect(movedAgain!.result).toBe(moved!.result);
    // Vapi delivering the reschedule message again gets the first answer, and nothing moves again.
    const resent = await redeliver(sim.deliveries.filter((d: Delivery) => d.type === 'tool-calls')[1]!);
    expect(resent.body.results[0].result).toBe(moved!.result);

    let appt = (await calendar('GET', `/calendars/events/appointments/${apptId}`)).body.appointment;
    expect(Date.parse(appt.startTime)).toBe(Date.parse(movedTo));
    const free = await freeNow();
    expect(free.has(Date.parse(at))).toBe(true); // the old time was given back
    expect(free.has(Date.parse(movedTo))).toBe(false);
    const updates = (await ghlWritesSince(started)).filter((r) => r.url.includes(`/appointments/${apptId}`));
    expect(updates).toHaveLength(1);
    expect((await sandbox.control('GET', '/ghl/double-bookings')).doubleBookings).toEqual([]);

    // Cancelled on a second call, with the reason on the record; the cached list no longer shows it.
    const cancel = await vapiCall([
      { user: 'Actually, please cancel it, I am travelling.' },
      { tool: 'cancel_appointment', arguments: { appointmentId: apptId, reason: 'travelling that week' } },
      { tool: 'cancel_appointment', arguments: { appointmentId: apptId, reason: 'travelling that week' } },
      { tool: 'find_appointments' },
    ]);
    expect(cancel.problems).toEqual([]);
    const [cancelled, cancelledAgain, after] = toolAnswers(cancel);
    expect(cancelled!.result).toBe(`Cancelled the ${spoken(movedTo)} appointment (${apptId}); noted on the record.`);
    expect(cancelledAgain!.result).toBe(cancelled!.result);
    await redeliver(cancel.deliveries.filter((d: Delivery) => d.type === 'tool-calls')[0]!);
    expect(after!.result).not.toContain(apptId);
    appt = (await calendar('GET', `/calendars/events/appointments/${apptId}`)).body.appointment;
    expect(appt.appointmentStatus).toBe('cancelled');
    expect((await freeNow()).has(Date.parse(movedTo))).toBe(true);
    const notes = (await ghlRecords('notes', 'ct_demo')).filter((n) => n.body.includes(`Appointment ${apptId}`));
    expect(notes).toHaveLength(1);
    expect(notes[0].body).toContain('Reason: travelling that week');
    const cancels = (await ghlWritesSince(started)).filter((r) => r.url.includes(`/appointments/${apptId}`));
    expect(cancels).toHaveLength(2); // one move, one cancel

    const done = await waitForCall(
      tp.baseUrl,
      key,
      `call:${TENANT}:vapi:${cancel.call.id}`,
      (c) => c.status !== 'in-progress' && Boolean(c.endedAt),
    );
    expect(done.toolCalls.map((t: { name: string }) => t.name)).toContain('cancel_appointment');
  });

  it("refuses to move or cancel another customer's appointment by default, and a taken time", async () => {
    // Another contact of the same business.
    const other = (
      await sandbox.ghl('POST', '/contacts/upsert', {
        locationId: 'loc_demo',
        phone: '+15555550142',
        firstName: 'Olive',
      })
    ).body.contact.id as string;
    const theirs = await book(other, slots[12]!);
    const mine = await book('ct_demo', slots[13]!);
    const before = await lastSeq();
    const sim = await vapiCall([
      { tool: 'cancel_appointment', arguments: { appointmentId: theirs } },
      { tool: 'reschedule_appointment', arguments: { appointmentId: mine, startTime: slots[12]! } },
    ]);
    const [refused, taken] = toolAnswers(sim);
    expect(refused!.error).toMatch(/not this contact's appointment/);
    expect(taken!.error).toMatch(/not a free time/);
    const touched = (await ghlWritesSince(before)).filter((r) => r.url.includes(theirs) || r.url.includes(mine));
    expect(touched).toEqual([]);
    expect((await calendar('GET', `/calendars/events/appointments/${theirs}`)).body.appointment.appointmentStatus).toBe(
      'confirmed',
    );
  });

  it('a transfer inside the hours ends the Vapi call forwarded to the tenant’s number, once', async () => {
    const sim = await vapiCall([
      { user: 'Can I talk to a real person?' },
      { tool: 'transfer_to_human', arguments: { reason: 'wants a person' } },
      { user: 'Hello? Are you still there?' },
    ]);
    expect(sim.problems).toEqual([]);
    expect(toolAnswers(sim)[0]!.result).toBe(`Putting the caller through to a person now (${TRANSFER_TO}).`);
    expect(sim.call.endedReason).toBe('assistant-forwarded-call');
    expect(sim.transfer).toMatchObject({ via: 'control-url', destination: { type: 'number', number: TRANSFER_TO } });
    expect(sim.controls).toHaveLength(1);
    // The caller's last line was never heard by the assistant: the call had gone to the person.
    expect(JSON.stringify(sim.call.messages)).not.toContain('Are you still there');

    // The same tool call delivered again is answered from the call's history: no second transfer request.
    const again = await redeliver(sim.deliveries.find((d: Delivery) => d.type === 'tool-calls')!);
    expect(again.body.results[0].result).toBe(toolAnswers(sim)[0]!.result);
    const controlPosts = (
      await sandbox.control<{ requests: { method: string; url: string }[] }>(
        'GET',
        '/requests?provider=vapi&limit=20000',
      )
    ).requests.filter((r) => r.method === 'POST' && r.url.endsWith(`/call/${sim.call.id}/control`));
    expect(controlPosts).toHaveLength(1);

    const workflowId = `call:${TENANT}:vapi:${sim.call.id}`;
    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed');
    expect(done.endedReason).toBe('assistant-forwarded-call');
    expect(done.transfer).toMatchObject({ status: 'requested', outcome: 'forwarded', destination: TRANSFER_TO });

    // An assistant whose own transfer tool has no number asks us where to (transfer-destination-request).
    const asked = await vapiCall([{ user: 'A person, please.' }, { transferCall: true }, { user: 'Hello?' }]);
    expect(asked.problems).toEqual([]);
    expect(asked.transfer).toMatchObject({
      via: 'transfer-destination-request',
      destination: { type: 'number', number: TRANSFER_TO },
    });
    expect(asked.call.endedReason).toBe('assistant-forwarded-call');
    const recorded = await waitForCall(
      tp.baseUrl,
      key,
      `call:${TENANT}:vapi:${asked.call.id}`,
      (c) => c.status === 'completed',
    );
    expect(recorded.transfer).toMatchObject({ outcome: 'forwarded', detail: 'transfer-destination-request' });
  });

  it('a transfer through Retell: the function answer hands transfer_call the number and the call ends transferred', async () => {
    const base = `${tp.baseUrl}/webhooks/retell/${TENANT}`;
    const sim = await sandbox.control('POST', '/retell/calls', {
      serverUrl: base,
      functionUrl: `${base}/functions`,
      credential: RETELL_KEY,
      direction: 'inbound',
      from: '+15555550100',
      to: '+15555550124',
      wait: true,
      script: {
        steps: [
          { user: 'Put me through to someone, please.' },
          { tool: 'transfer_to_human', arguments: { reason: 'billing question' } },
          { user: 'Hello?' },
        ],
      },
    });
    expect(sim.problems).toEqual([]);
    expect(sim.call.disconnection_reason).toBe('call_transfer');
    expect(sim.call.transfer_destination).toBe(TRANSFER_TO);
    const done = await waitForCall(
      tp.baseUrl,
      key,
      `call:${TENANT}:retell:${sim.call.call_id}`,
      (c) => c.status === 'completed',
    );
    expect(done.transfer).toMatchObject({ status: 'requested', outcome: 'forwarded', destination: TRANSFER_TO });
  });

  it('outside the transfer hours the caller’s message becomes exactly one task for the message taker', async () => {
    // Open only on the weekday three days from now: closed now, whatever the hour.
    const weekday = (ms: number) =>
      ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(
        new Intl.DateTimeFormat('en-US', { timeZone: TZ, weekday: 'short' }).format(ms),
      ) + 1;
    await saveSettings({
      messageUserId: MESSAGE_USER,
      transferHours: { days: [weekday(Date.now() + 3 * 86_400_000)] },
    });
    try {
      const tasksBefore = (await ghlRecords('tasks', 'ct_demo')).length;
      const args = {
        reason: 'billing',
        name: 'Demo Caller',
        callbackNumber: '+15555550111',
        message: 'Invoice 42 is wrong',
      };
      const sim = await vapiCall([
        { user: 'I need someone about my invoice.' },
        { tool: 'transfer_to_human', arguments: args },
        { tool: 'transfer_to_human', arguments: args },
        { user: 'OK, thanks.' },
      ]);
      expect(sim.problems).toEqual([]);
      const [first, second] = toolAnswers(sim);
      expect(first!.result).toMatch(/^Nobody can take the call right now \(outside transfer hours/);
      expect(first!.result).toContain('+15555550111');
      expect(second!.result).toBe(first!.result);
      await redeliver(sim.deliveries.filter((d: Delivery) => d.type === 'tool-calls')[0]!);
      expect(sim.call.endedReason).toBe('customer-ended-call');
      expect(sim.controls).toEqual([]);

      const tasks = (await ghlRecords('tasks', 'ct_demo')).slice(tasksBefore);
      expect(tasks).toHaveLength(1);
      expect(tasks[0]).toMatchObject({ assignedTo: MESSAGE_USER, completed: false });
      expect(tasks[0].title).toContain('+15555550111');
      expect(tasks[0].body).toContain('Invoice 42 is wrong');

      const done = await waitForCall(
        tp.baseUrl,
        key,
        `call:${TENANT}:vapi:${sim.call.id}`,
        (c) => c.status === 'completed',
      );
      expect(done.transfer).toMatchObject({ status: 'message-taken', outcome: 'message-taken', taskId: tasks[0].id });

      // take_message on its own: who, callback number, what about — one task, assigned.
      const msg = await vapiCall([
        { tool: 'take_message', arguments: { name: 'Dee', callbackNumber: '+15555550112', about: 'Parking question' } },
      ]);
      expect(toolAnswers(msg)[0]!.result).toMatch(
        /^Message passed on \(task \w+\); someone will call back on \+15555550112\.$/,
      );
      const more = (await ghlRecords('tasks', 'ct_demo')).slice(tasksBefore + 1);
      expect(more.map((t) => [t.assignedTo, t.title])).toEqual([
        [MESSAGE_USER, 'Call back Dee (+15555550112): Parking question'],
      ]);
    } finally {
      await saveSettings({ messageUserId: MESSAGE_USER });
    }
  });

  it("another tenant naming this tenant's appointment is refused with nothing written to GoHighLevel", async () => {
    const apptId = await book('ct_demo', slots[15]!);
    // Tenant B: its own location, allowed to change others' appointments — only the location check stands.
    await sandbox.control('POST', '/ghl/seed', { locationId: 'loc_frontdesk_b', contacts: 3 });
    expect(
      (await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: OTHER, name: OTHER } }))
        .status,
    ).toBe(201);
    const keyB = (
      await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${OTHER}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 'b', scopes: ['read', 'act', 'admin'] },
      })
    ).body.key as string;
    await connectGhl(sandbox, tp.baseUrl, keyB, OTHER, 'loc_frontdesk_b');
    await call(tp.baseUrl, 'PUT', `/v1/admin/tenants/${OTHER}/credentials/vapi`, {
      key: keyB,
      body: { secret: VAPI_SECRET, authMode: 'x-vapi-secret' },
    });
    const put = await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
      key: keyB,
      body: { toolPolicy: { appointmentsOfOthers: true } },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    const before = await lastSeq();
    const sim = await sandbox.control('POST', '/vapi/calls', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${OTHER}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      direction: 'inbound',
      from: '+15555550177',
      to: '+15555550123',
      wait: true,
      script: {
        steps: [
          { tool: 'reschedule_appointment', arguments: { appointmentId: apptId, startTime: slots[16]! } },
          { tool: 'cancel_appointment', arguments: { appointmentId: apptId } },
        ],
      },
    });
    for (const a of toolAnswers(sim)) expect(a.error).toMatch(/not in this tenant's CRM/);
    // Nothing was sent that changes the appointment (or any calendar): the id was refused first.
    const writes = (await ghlWritesSince(before)).filter(
      (r) => r.url.includes(apptId) || r.url.includes('/calendars/'),
    );
    expect(writes).toEqual([]);
    const appt = (await calendar('GET', `/calendars/events/appointments/${apptId}`)).body.appointment;
    expect(appt.appointmentStatus).toBe('confirmed');
    expect(Date.parse(appt.startTime)).toBe(Date.parse(slots[15]!));
  });
});
