import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allWeek } from './support/campaign.js';
import { connectGhl } from './support/connections.js';
import { connectHttp, errorText, structured } from './support/mcp.js';
import { call, TEST_ADMIN_KEY, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { demoFreeSlots, sandboxProviders, setUpVoiceTenant, VAPI_SECRET, waitForCall } from './support/voice.js';

/**
 * Issue 19, the CRM behind the front desk, over REST and MCP against the sandbox's GoHighLevel:
 * appointments listed by contact and range, moved and cancelled; tasks; pipelines and opportunities
 * (create, move stage, won); GHL workflow enrollment; a campaign lead that books and a call that
 * books moving the contact's opportunity; and another tenant's ids refused with nothing written.
 */

const TENANT = 'crm-records-a';
const OTHER = 'crm-records-b';

describe('CRM records: appointments, tasks, opportunities and workflows through REST and MCP', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let keyB: string;
  let slots: string[];
  let mcp: Client;

  const rest = (method: string, path: string, body?: unknown, k = key) =>
    call(tp.baseUrl, method, path, { key: k, ...(body !== undefined ? { body } : {}) });
  const ghlAppointment = async (id: string) =>
    (
      await fetch(`${sandbox.url}/ghl/calendars/events/appointments/${id}`, {
        headers: { authorization: 'Bearer test-ghl-token', version: '2021-04-15' },
      }).then((r) => r.json() as Promise<any>)
    ).appointment;
  const opportunitiesOf = async (contactId: string) =>
    (await sandbox.control<{ opportunities: any[] }>('GET', `/ghl/opportunities?contactId=${contactId}&limit=1000`))
      .opportunities;
  /** GHL requests that change something, since `since` (ISO), touching `id`. */
  const writesTouching = async (since: string, id: string) =>
    (
      await sandbox.control<{ requests: { method: string; url: string; body?: unknown }[] }>(
        'GET',
        `/requests?provider=ghl&since=${encodeURIComponent(since)}&limit=20000`,
      )
    ).requests.filter((r) => r.method !== 'GET' && (r.url.includes(id) || JSON.stringify(r.body ?? '').includes(id)));

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { ...sandboxProviders(sandbox), SANDBOX_PORT: new URL(sandbox.url).port } });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    slots = await demoFreeSlots(sandbox);
    mcp = await connectHttp(tp.baseUrl, key);
    // Tenant B: its own location.
    await sandbox.control('POST', '/ghl/seed', { locationId: 'loc_crm_b', contacts: 2 });
    expect(
      (await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: OTHER, name: OTHER } }))
        .status,
    ).toBe(201);
    keyB = (
      await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${OTHER}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 'b', scopes: ['read', 'act', 'admin'] },
      })
    ).body.key;
    await connectGhl(sandbox, tp.baseUrl, keyB, OTHER, 'loc_crm_b');
  }, 180_000);
  afterAll(async () => {
    await mcp?.close();
    await tp?.stop();
    await sandbox?.close();
  });

  it('appointments: booked through MCP, listed by contact (cache) and by range, moved and cancelled over REST once per key', async () => {
    const [at, to] = [slots[1]!, slots[6]!];
    const booked = structured(
      await mcp.callTool({
        name: 'crm_book_appointment',
        arguments: { contactId: 'ct_demo', startTime: at, confirm: true, idempotencyKey: 'crm-rec-book-1' },
      }),
    );
    const byContact = await rest('GET', '/v1/appointments?contactId=ct_demo');
    expect(byContact.status, JSON.stringify(byContact.body)).toBe(200);
    expect(byContact.body.source).toBe('cache');
    expect(byContact.body.appointments.map((a: { id: string }) => a.id)).toContain(booked.appointmentId);
    const range = await rest(
      'GET',
      `/v1/appointments?from=${encodeURIComponent(new Date(Date.parse(at) - 60_000).toISOString())}&to=${encodeURIComponent(new Date(Date.parse(at) + 60_000).toISOString())}`,
    );
    expect(range.body.appointments.map((a: { id: string }) => a.id)).toEqual([booked.appointmentId]);
    // No contact and no range: the next 30 days.
    expect((await rest('GET', '/v1/appointments')).status).toBe(200);

    const move = () =>
      rest('POST', `/v1/appointments/${booked.appointmentId}/reschedule`, { startTime: to, idempotencyKey: 'mv-1' });
    const [first, second] = [await move(), await move()];
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ moved: true, repeated: false });
    expect(second.body).toMatchObject({ moved: true, repeated: true, workflowId: first.body.workflowId });
    expect(Date.parse((await ghlAppointment(booked.appointmentId)).startTime)).toBe(Date.parse(to));
    const free = new Set((await demoFreeSlots(sandbox)).map(Date.parse));
    expect(free.has(Date.parse(at))).toBe(true);
    expect(free.has(Date.parse(to))).toBe(false);

    // Through MCP with the same service: cancel (confirmed), the slot comes back.
    const cancelled = structured(
      await mcp.callTool({
        name: 'crm_cancel_appointment',
        arguments: { appointmentId: booked.appointmentId, reason: 'moved away', confirm: true },
      }),
    );
    expect(cancelled).toMatchObject({ appointmentId: booked.appointmentId, contactId: 'ct_demo' });
    expect((await ghlAppointment(booked.appointmentId)).appointmentStatus).toBe('cancelled');
    expect(new Set((await demoFreeSlots(sandbox)).map(Date.parse)).has(Date.parse(to))).toBe(true);
    const listed = await rest('GET', '/v1/appointments?contactId=ct_demo');
    expect(listed.body.appointments.map((a: { id: string }) => a.id)).not.toContain(booked.appointmentId);
  });

  it('tasks, pipelines, opportunities (create, move, won) and workflow enrollment', async () => {
    const due = new Date(Date.now() + 86_400_000).toISOString();
    const task = await rest('POST', '/v1/contacts/ct_demo/tasks', {
      title: 'Send the quote',
      dueDate: due,
      assignedTo: 'usr_demo',
      idempotencyKey: 'task-1',
    });
    expect(task.status, JSON.stringify(task.body)).toBe(200);
    expect(
      (
        await rest('POST', '/v1/contacts/ct_demo/tasks', {
          title: 'Send the quote',
          dueDate: due,
          idempotencyKey: 'task-1',
        })
      ).body,
    ).toMatchObject({ taskId: task.body.taskId, repeated: true });
    const done = await rest('POST', `/v1/contacts/ct_demo/tasks/${task.body.taskId}/complete`, {});
    expect(done.body).toMatchObject({ taskId: task.body.taskId, completed: true });
    const tasks = structured(await mcp.callTool({ name: 'crm_list_tasks', arguments: { contactId: 'ct_demo' } }));
    expect(tasks.tasks.filter((t: { title: string }) => t.title === 'Send the quote')).toEqual([
      expect.objectContaining({ completed: true, assignedTo: 'usr_demo' }),
    ]);

    const pipelines = await rest('GET', '/v1/pipelines');
    expect(pipelines.body.pipelines[0]).toMatchObject({ id: 'pipe_demo' });
    const created = await rest('POST', '/v1/opportunities', {
      contactId: 'ct_demo',
      pipelineId: 'pipe_demo',
      name: 'Whitening package',
      monetaryValue: 450,
      idempotencyKey: 'opp-1',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body).toMatchObject({ stageId: 'stage_new', status: 'open' });
    const moved = structured(
      await mcp.callTool({
        name: 'crm_move_opportunity',
        arguments: { opportunityId: created.body.id, stageId: 'stage_booked' },
      }),
    );
    expect(moved.stageId).toBe('stage_booked');
    const won = await rest('POST', `/v1/opportunities/${created.body.id}/status`, { status: 'won' });
    expect(won.body.status).toBe('won');
    const list = await rest('GET', '/v1/opportunities?contactId=ct_demo&status=won');
    expect(list.body.opportunities.map((o: { id: string }) => o.id)).toContain(created.body.id);
    // A stage of no pipeline of this location is refused by name, nothing changes.
    const badStage = await rest('POST', `/v1/opportunities/${created.body.id}/stage`, { stageId: 'stage_nope' });
    expect(badStage.status).toBe(404);
    expect(badStage.body.message).toMatch(/stage 'stage_nope'/);

    const workflows = structured(await mcp.callTool({ name: 'crm_list_workflows', arguments: {} }));
    expect(workflows.workflows.map((w: { id: string }) => w.id)).toContain('wf_demo_followup');
    const enrolled = await rest('POST', '/v1/contacts/ct_demo/workflows', { workflowId: 'wf_demo_followup' });
    expect(enrolled.body).toMatchObject({ enrolled: true });
    const enrollments = await sandbox.control('GET', '/ghl/enrollments?contactId=ct_demo');
    expect(enrollments.enrollments).toHaveLength(1);
  });

  it("another tenant's appointment, opportunity, pipeline and contact ids are refused, with nothing written to GoHighLevel", async () => {
    const appt = structured(
      await mcp.callTool({
        name: 'crm_book_appointment',
        arguments: { contactId: 'ct_demo', startTime: slots[10]!, confirm: true },
      }),
    );
    const opp = (
      await rest('POST', '/v1/opportunities', { contactId: 'ct_demo', pipelineId: 'pipe_demo', name: 'A only' })
    ).body;
    const since = new Date().toISOString();
    const tries = [
      await rest('POST', `/v1/appointments/${appt.appointmentId}/reschedule`, { startTime: slots[11]! }, keyB),
      await rest('POST', `/v1/appointments/${appt.appointmentId}/cancel`, {}, keyB),
      await rest('POST', `/v1/opportunities/${opp.id}/stage`, { stageId: 'stage_booked' }, keyB),
      await rest('POST', `/v1/opportunities/${opp.id}/status`, { status: 'lost' }, keyB),
      await rest('POST', '/v1/opportunities', { contactId: 'ct_demo', pipelineId: 'pipe_demo', name: 'steal' }, keyB),
      await rest('POST', '/v1/contacts/ct_demo/tasks', { title: 'x', dueDate: new Date().toISOString() }, keyB),
      await rest('POST', '/v1/contacts/ct_demo/workflows', { workflowId: 'wf_demo_followup' }, keyB),
      await rest('GET', '/v1/appointments?contactId=ct_demo', undefined, keyB),
      await rest('GET', '/v1/opportunities?pipelineId=pipe_demo', undefined, keyB),
    ];
    for (const t of tries) {
      expect(t.status, JSON.stringify(t.body)).toBe(404);
      expect(t.body.message).toMatch(/not (in this tenant's CRM|a pipeline of this tenant's location)/);
    }
    expect(await writesTouching(since, appt.appointmentId)).toEqual([]);
    expect(await writesTouching(since, opp.id)).toEqual([]);
    expect((await writesTouching(since, 'ct_demo')).filter((r) => !r.url.includes('/notes'))).toEqual([]);
    expect((await ghlAppointment(appt.appointmentId)).appointmentStatus).toBe('confirmed');
  });

  it('a campaign lead that books moves its opportunity to the stage the policy names; so does a call that books', async () => {
    // A fresh contact with no opportunity yet: the campaign creates it at the booked stage.
    const contact = (
      await sandbox.ghl('POST', '/contacts/upsert', {
        locationId: 'loc_demo',
        phone: '+15555550161',
        firstName: 'Lead',
      })
    ).body.contact.id as string;
    const slot = slots[14]!;
    await sandbox.control('POST', '/vapi/config', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${TENANT}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      script: {
        steps: [
          { assistant: 'Hi, calling about your check-up.' },
          { tool: 'book_appointment', arguments: { startTime: slot } },
          { user: 'Thanks, bye.' },
        ],
      },
    });
    const created = await rest('POST', '/v1/campaigns', {
      name: 'Check-ups',
      goal: 'Book check-ups',
      sender: { email: 'desk@clinic.example' },
      policy: { sendWindow: allWeek, pipeline: { pipelineId: 'pipe_demo', stages: { booked: 'stage_booked' } } },
      sequence: [{ type: 'call', purpose: 'Offer a check-up and book it' }],
      audience: { type: 'leads', leads: [{ phone: '+15555550161', firstName: 'Lead', contactId: contact }] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await rest('POST', `/v1/campaigns/${created.body.id}/start`, {});
    const result = await tp.platform.temporal!.workflow.getHandle(`campaign:${TENANT}:${created.body.id}`).result();
    expect(result.outcomes).toEqual({ booked: 1 });
    expect((await opportunitiesOf(contact)).map((o) => [o.pipelineId, o.pipelineStageId, o.status])).toEqual([
      ['pipe_demo', 'stage_booked', 'open'],
    ]);

    // Voice settings name the pipeline: a caller who books gets their existing opportunity moved, not a second one.
    const settings = (await rest('GET', '/v1/voice/settings')).body;
    const caller = (
      await sandbox.ghl('POST', '/contacts/upsert', { locationId: 'loc_demo', phone: '+15555550162', firstName: 'Cal' })
    ).body.contact.id as string;
    const existing = (
      await rest('POST', '/v1/opportunities', { contactId: caller, pipelineId: 'pipe_demo', name: 'Cal’s deal' })
    ).body;
    const bad = await rest('PUT', '/v1/voice/settings', {
      ...settings,
      pipeline: { pipelineId: 'pipe_elsewhere', bookedStageId: 'stage_booked' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^body\.pipeline: /);
    const put = await rest('PUT', '/v1/voice/settings', {
      ...settings,
      pipeline: { pipelineId: 'pipe_demo', bookedStageId: 'stage_booked' },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const sim = await sandbox.control('POST', '/vapi/calls', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${TENANT}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      direction: 'inbound',
      from: '+15555550162',
      to: '+15555550123',
      wait: true,
      script: { steps: [{ tool: 'book_appointment', arguments: { startTime: slots[17]! } }, { user: 'Bye.' }] },
    });
    expect(
      sim.deliveries.find((d: { type: string }) => d.type === 'tool-calls').response.body.results[0].result,
    ).toMatch(/^Booked for/);
    await waitForCall(tp.baseUrl, key, `call:${TENANT}:vapi:${sim.call.id}`, (c) => c.status === 'completed');
    expect((await opportunitiesOf(caller)).map((o) => [o.id, o.pipelineStageId])).toEqual([
      [existing.id, 'stage_booked'],
    ]);
  });

  it('a campaign workflow step adds the lead to the GHL workflow; a workflow of no location of the tenant is refused', async () => {
    const created = await rest('POST', '/v1/campaigns', {
      name: 'Reminders',
      goal: 'Hand leads to the reminder automation',
      sender: { email: 'desk@clinic.example' },
      policy: { sendWindow: allWeek },
      sequence: [
        { type: 'workflow', workflowId: 'wf_demo_reminder' },
        { type: 'workflow', workflowId: 'wf_followup_loc_crm_b' },
      ],
      audience: { type: 'leads', leads: [{ phone: '+15555550163', firstName: 'Rae' }] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await rest('POST', `/v1/campaigns/${created.body.id}/start`, {});
    const result = await tp.platform.temporal!.workflow.getHandle(`campaign:${TENANT}:${created.body.id}`).result();
    expect(result.outcomes).toEqual({ exhausted: 1 });
    const leadId = (
      await tp.adminPool.query<{ id: string }>('select id from campaign_leads where campaign_id = $1', [
        created.body.id,
      ])
    ).rows[0]!.id;
    const events = (await rest('GET', `/v1/campaigns/${created.body.id}/leads/${leadId}`)).body.events as {
      kind: string;
      data: { workflowId?: string; reason?: string };
    }[];
    expect(events.find((e) => e.kind === 'workflow-enrolled')!.data.workflowId).toBe('wf_demo_reminder');
    expect(events.find((e) => e.kind === 'workflow-failed')!.data.reason).toMatch(/not a workflow of this tenant/);
    const enrollments = (await sandbox.control('GET', '/ghl/enrollments?locationId=loc_demo')).enrollments as {
      workflowId: string;
      contactId: string;
    }[];
    const rae = (await sandbox.ghl('GET', '/contacts/search/duplicate?locationId=loc_demo&number=%2B15555550163')).body
      .contact.id as string;
    expect(enrollments.filter((e) => e.contactId === rae).map((e) => e.workflowId)).toEqual(['wf_demo_reminder']);
    expect((await sandbox.control('GET', '/ghl/enrollments?locationId=loc_crm_b')).enrollments).toEqual([]);
  });

  it('the routes are in the OpenAPI document', async () => {
    const docs = await call(tp.baseUrl, 'GET', '/docs/json');
    expect(docs.status).toBe(200);
    for (const path of [
      '/v1/appointments',
      '/v1/appointments/{id}/reschedule',
      '/v1/appointments/{id}/cancel',
      '/v1/contacts/{id}/tasks',
      '/v1/opportunities/{id}/stage',
      '/v1/crm/workflows',
      '/v1/voice/provision',
    ])
      expect(Object.keys(docs.body.paths)).toContain(path);
  });

  it('MCP refuses bad arguments by field, and a read key has no write tools', async () => {
    const bad = errorText(
      await mcp.callTool({ name: 'crm_reschedule_appointment', arguments: { appointmentId: 'x', startTime: 'soon' } }),
    );
    expect(bad).toMatch(/startTime/);
    const reader = (
      await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 'r', scopes: ['read'] },
      })
    ).body.key as string;
    const readOnly = await connectHttp(tp.baseUrl, reader);
    try {
      const names = (await readOnly.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(
        expect.arrayContaining(['crm_list_appointments', 'crm_list_opportunities', 'crm_list_tasks']),
      );
      for (const w of ['crm_cancel_appointment', 'crm_move_opportunity', 'crm_create_task', 'crm_add_to_workflow'])
        expect(names).not.toContain(w);
    } finally {
      await readOnly.close();
    }
  });
});
