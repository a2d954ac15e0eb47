import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHistory } from './support/histories.js';
import { connectHttp, errorText, structured } from './support/mcp.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { demoFreeSlots, sandboxProviders, setUpVoiceTenant, VAPI_SECRET } from './support/voice.js';

/**
 * The front office driven by an MCP client, against the provider sandbox over HTTP: sync the CRM,
 * search a contact → free slots → book → start an outbound call → follow it to completion with
 * voice_get_call. Once with the SDK client over Streamable HTTP, once over stdio (`switchboard-mcp`).
 */

const TENANT = 'mcp-scn';

describe('MCP scenario against the sandbox', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let readKey: string;
  let slots: string[];
  const clients: Client[] = [];

  const ghlAppointments = async (contactId: string) =>
    (
      await sandbox.control<{ appointments: { id: string; startTime: string }[] }>(
        'GET',
        `/ghl/appointments?locationId=loc_demo&contactId=${contactId}&limit=1000`,
      )
    ).appointments;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: sandboxProviders(sandbox) });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    const res = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/keys`, {
      key: TEST_ADMIN_KEY,
      body: { name: 'reader', scopes: ['read'] },
    });
    readKey = res.body.key;
    slots = await demoFreeSlots(sandbox);
    // Outbound calls are answered and go through a short conversation.
    await sandbox.control('POST', '/vapi/config', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${TENANT}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      script: {
        outcome: 'answered',
        steps: [{ assistant: 'Hi, calling to confirm your cleaning.' }, { user: 'Yes, see you then.' }],
      },
    });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await tp?.stop();
    await sandbox?.close();
  });

  it('crm_sync_now fills the cache, streaming progress to a client that asked for it', async () => {
    const client = await connectHttp(tp.baseUrl, key, 'modern');
    clients.push(client);
    const progress: { progress: number; total?: number; message?: string }[] = [];
    const started = structured(
      await client.callTool(
        { name: 'crm_sync_now', arguments: { mode: 'full' } },
        { onprogress: (p) => progress.push(p) },
      ),
    );
    expect(started).toMatchObject({ workflowId: `sync:${TENANT}:ghl`, followWith: 'crm_sync_status' });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.message).toMatch(/sync completed/);
    const status = structured(await client.callTool({ name: 'crm_sync_status', arguments: {} }));
    expect(status).toMatchObject({ state: 'completed', source: 'cache' });
    expect(status.cachedContacts).toBeGreaterThan(40);
    // Without a progress token the tool answers at once with the handle.
    const again = structured(await client.callTool({ name: 'crm_sync_now', arguments: {} }));
    expect(again.workflowId).toBe(`sync:${TENANT}:ghl`);
    await tp.platform.temporal!.workflow.getHandle(again.workflowId, again.runId).result();
  });

  it('a read key cannot book: the tool is not there for it and nothing is booked', async () => {
    const reader = await connectHttp(tp.baseUrl, readKey);
    clients.push(reader);
    const names = (await reader.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['crm_search_contacts', 'crm_get_free_slots', 'voice_get_call']));
    for (const write of [
      'crm_book_appointment',
      'crm_send_sms',
      'crm_add_note',
      'crm_upsert_contact',
      'voice_start_call',
    ])
      expect(names).not.toContain(write);
    const before = (await ghlAppointments('ct_demo')).length;
    const refused = await reader
      .callTool({ name: 'crm_book_appointment', arguments: { contactId: 'ct_demo', startTime: slots[0] } })
      .then(errorText, (e: Error) => e.message);
    expect(refused).toMatch(/crm_book_appointment/);
    expect((await ghlAppointments('ct_demo')).length).toBe(before);
  });

  it('a 2026 client that can show a form is asked before a booking: nothing is booked until the user says yes, a no books nothing', async () => {
    const slot = slots[7]!;
    const atSlot = async () =>
      (await ghlAppointments('ct_demo')).filter((a) => Date.parse(a.startTime) === Date.parse(slot)).length;
    const asked: { message: string; bookedMeanwhile: number }[] = [];
    let answer: 'accept' | 'decline' = 'decline';
    const client = new Client(
      { name: 'confirming', version: '1.0.0' },
      { capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    client.setRequestHandler('elicitation/create', async (req) => {
      // The question is open: the booking must not have happened yet.
      asked.push({ message: req.params.message, bookedMeanwhile: await atSlot() });
      return answer === 'accept' ? { action: 'accept', content: { confirm: true } } : { action: 'decline' };
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${tp.baseUrl}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    clients.push(client);
    const args = { contactId: 'ct_demo', startTime: slot, title: 'Checkup' };

    const denied = await client.callTool({
      name: 'crm_book_appointment',
      arguments: { ...args, idempotencyKey: 'book-asked-no' },
    });
    expect(errorText(denied)).toMatch(/not done: the user declined/);
    expect(asked).toEqual([{ message: expect.stringContaining('contact ct_demo'), bookedMeanwhile: 0 }]);
    expect(await atSlot()).toBe(0);

    // confirm: true does not skip the question for a client that can be asked.
    answer = 'accept';
    const booked = structured(
      await client.callTool({
        name: 'crm_book_appointment',
        arguments: { ...args, idempotencyKey: 'book-asked-yes', confirm: true },
      }),
    );
    expect(asked).toHaveLength(2);
    expect(asked[1]!.bookedMeanwhile).toBe(0);
    expect(Date.parse(booked.startTime)).toBe(Date.parse(slot));
    expect(await atSlot()).toBe(1);

    // The audit trail says how each call was confirmed.
    const audit = await tp.adminPool.query<{ status: string; confirmation: string }>(
      `select status, params->>'confirmation' as confirmation from audit_log
        where tenant_id = $1 and tool = 'crm_book_appointment' and params->'args'->>'title' = 'Checkup' order by id`,
      [TENANT],
    );
    expect(audit.rows.map((r) => `${r.status}:${r.confirmation}`)).toEqual([
      'ok:asked',
      'error:declined',
      'ok:asked',
      'ok:user',
    ]);
  });

  it('a client that cannot be asked must pass confirm: true: without it nothing is booked or dialed', async () => {
    const client = await connectHttp(tp.baseUrl, key);
    clients.push(client);
    const before = (await ghlAppointments('ct_demo')).length;
    const book = await client.callTool({
      name: 'crm_book_appointment',
      arguments: { contactId: 'ct_demo', startTime: slots[8]!, idempotencyKey: 'book-unconfirmed' },
    });
    expect(errorText(book)).toMatch(/not done, confirmation needed: Book at .* for contact ct_demo\?.*confirm: true/);
    const dial = await client.callTool({
      name: 'voice_start_call',
      arguments: { to: '(555) 555-0100', purpose: 'Unconfirmed call', idempotencyKey: 'call-unconfirmed' },
    });
    expect(errorText(dial)).toMatch(/confirmation needed: Call \+15555550100 now: Unconfirmed call\?/);
    expect((await ghlAppointments('ct_demo')).length).toBe(before);
    const calls = await tp.adminPool.query(
      `select 1 from calls where tenant_id = $1 and purpose = 'Unconfirmed call'`,
      [TENANT],
    );
    expect(calls.rowCount).toBe(0);
  });

  /** The scenario, the same over any transport: each run books its own slot and places its own call. */
  async function scenario(
    client: Client,
    run: string,
    slot: string,
    opts: { followProgress?: boolean } = {},
  ): Promise<void> {
    const found = structured(await client.callTool({ name: 'crm_search_contacts', arguments: { q: 'Demo Caller' } }));
    expect(found.source).toBe('cache');
    const contact = found.contacts.find((c: { id: string }) => c.id === 'ct_demo');
    expect(contact).toMatchObject({ name: 'Demo Caller', phone: '+15555550100' });

    const free = structured(
      await client.callTool({ name: 'crm_get_free_slots', arguments: { startDate: slot.slice(0, 10) } }),
    );
    expect(free).toMatchObject({ calendarId: 'cal_demo', source: 'live' }); // 'live': the GHL client has a key (pointed at the sandbox)
    expect(free.slots.map(Date.parse)).toContain(Date.parse(slot));

    // These clients cannot be asked (2025-era): the model passes confirm: true once the user agreed.
    const bookArgs = {
      contactId: 'ct_demo',
      startTime: slot,
      title: 'Cleaning',
      idempotencyKey: `book-${run}`,
      confirm: true,
    };
    const booked = structured(await client.callTool({ name: 'crm_book_appointment', arguments: bookArgs }));
    expect(booked).toMatchObject({
      contactId: 'ct_demo',
      repeated: false,
      workflowId: `crm:${TENANT}:book-appointment:book-${run}`,
    });
    expect(Date.parse(booked.startTime)).toBe(Date.parse(slot));
    // A retry with the same key books nothing new and answers with the first booking.
    const retried = structured(await client.callTool({ name: 'crm_book_appointment', arguments: bookArgs }));
    expect(retried).toMatchObject({ appointmentId: booked.appointmentId, repeated: true });
    expect((await ghlAppointments('ct_demo')).filter((a) => Date.parse(a.startTime) === Date.parse(slot))).toHaveLength(
      1,
    );
    // The slot is gone now: booking it for someone else fails with the reason, as a tool error.
    const other = {
      startTime: slot,
      phone: `+1555555${run === 'http' ? '0171' : '0172'}`,
      name: `Other ${run}`,
      idempotencyKey: `book-${run}-other`,
      confirm: true,
    };
    expect(errorText(await client.callTool({ name: 'crm_book_appointment', arguments: other }))).toMatch(
      /crm_book_appointment|bookAppointment failed: .*(not a free slot|just taken)/,
    );
    expect((await ghlAppointments('ct_demo')).filter((a) => Date.parse(a.startTime) === Date.parse(slot))).toHaveLength(
      1,
    );

    // With a progress token the tool streams the call's status while it lasts (here: to its end).
    const progress: string[] = [];
    const started = structured(
      await client.callTool(
        // The longest follow window: on a loaded machine the call may take more than the default 20 s.
        {
          name: 'voice_start_call',
          arguments: {
            to: '(555) 555-0100',
            contactId: 'ct_demo',
            purpose: `Confirm the cleaning (${run})`,
            idempotencyKey: `confirm-${run}`,
            confirm: true,
            ...(opts.followProgress ? { followSeconds: 55 } : {}),
          },
        },
        opts.followProgress ? { onprogress: (p) => progress.push(p.message ?? '') } : {},
      ),
    );
    expect(started).toMatchObject({
      workflowId: `call:${TENANT}:vapi:out-confirm-${run}`,
      existing: false,
      followWith: 'voice_get_call',
    });
    if (opts.followProgress) {
      expect(progress.length).toBeGreaterThan(1);
      expect(progress.at(-1)).toMatch(/^call completed/);
    }

    // Follow it: until its workflow has recorded the call, voice_get_call answers "no call" (an error result).
    let last: any;
    for (let i = 0; i < 240; i++) {
      const res = await client.callTool({ name: 'voice_get_call', arguments: { callId: started.callId } });
      last = res.isError ? res.content : structured(res);
      if (last.status === 'completed' && last.summary) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(last).toMatchObject({
      status: 'completed',
      direction: 'outbound',
      phone: '+15555550100',
      contactId: 'ct_demo',
      purpose: `Confirm the cleaning (${run})`,
      source: 'cache',
    });
    expect(last.transcript.map((u: { text: string }) => u.text)).toContain('Yes, see you then.');
    expect(last.summary).toBeTruthy();

    const listed = structured(
      await client.callTool({ name: 'voice_list_calls', arguments: { phone: '+15555550100' } }),
    );
    expect(listed.calls.map((c: { id: string }) => c.id)).toContain(started.callId);
    const ops = structured(await client.callTool({ name: 'workflow_list', arguments: { kind: 'crmAction' } }));
    expect(ops.workflows.map((w: { workflowId: string }) => w.workflowId)).toContain(booked.workflowId);
  }

  it('over Streamable HTTP (SDK client, 2025 handshake): search → free slots → book → call → follow to completion', async () => {
    const client = await connectHttp(tp.baseUrl, key);
    clients.push(client);
    await scenario(client, 'http', slots[3]!, { followProgress: true });
    await recordHistory(tp.platform.temporal!, `crm:${TENANT}:book-appointment:book-http`, 'crmAction-book');
  });

  /** `switchboard-mcp` started the way Claude Desktop starts it: a command, arguments and env. */
  async function connectStdio(
    apiKey: string,
  ): Promise<{ client: Client; transport: StdioClientTransport; stderr: () => string }> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['mcp/switchboardMcp.mjs'],
      stderr: 'pipe',
      env: {
        ...(process.env as Record<string, string>),
        ...sandboxProviders(sandbox),
        DATABASE_URL: tp.config.database.url!,
        // The same install: its master key unseals the tenants' provider tokens.
        SWITCHBOARD_DATA_DIR: tp.dataDir,
        TEMPORAL_ADDRESS: tp.platform.temporalAddress,
        TEMPORAL_TASK_QUEUE: tp.config.temporal.taskQueue,
        SWITCHBOARD_API_KEY: apiKey,
        LOG_LEVEL: 'info',
      },
    });
    let stderr = '';
    transport.stderr?.on('data', (d) => (stderr += d));
    const client = new Client({ name: 'claude-desktop-like', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return { client, transport, stderr: () => stderr };
  }

  it('over stdio (switchboard-mcp as Claude Desktop starts it): the same scenario; stdout carries only MCP', async () => {
    const { client, stderr } = await connectStdio(key);
    await scenario(client, 'stdio', slots[5]!, { followProgress: true });
    const audit = await call(tp.baseUrl, 'GET', '/v1/audit?tool=crm_book_appointment', { key });
    expect(audit.body.rows.some((r: { params: { via?: string } }) => r.params?.via === 'mcp-stdio')).toBe(true);
    await client.close();
    // Logs went to stderr (JSON lines), none of them onto the protocol stream.
    expect(stderr()).toMatch(/"msg":"MCP server on stdio"/);
  });

  it('a stdio server whose key is revoked stops within seconds', async () => {
    const created = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/keys`, {
      key: TEST_ADMIN_KEY,
      body: { name: 'desktop', scopes: ['read'] },
    });
    const { client, transport, stderr } = await connectStdio(created.body.key);
    structured(await client.callTool({ name: 'crm_sync_status', arguments: {} }));
    const closed = new Promise<void>((resolve) => (transport.onclose = () => resolve()));
    expect(
      (await call(tp.baseUrl, 'DELETE', `/v1/admin/tenants/${TENANT}/keys/${created.body.id}`, { key: TEST_ADMIN_KEY }))
        .status,
    ).toBeLessThan(300);
    const started = Date.now();
    await closed;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stderr()).toMatch(/SWITCHBOARD_API_KEY was revoked/);
  });
});
