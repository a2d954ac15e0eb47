import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestPlatform, startWorkerProcess, type TestPlatform } from './support/platform.js';
import type { StartedProcess } from './support/process.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { tearDown } from './support/teardown.js';
import { eventually } from './support/timeSkipping.js';
import { demoFreeSlots, sandboxProviders, setUpVoiceTenant } from './support/voice.js';

/**
 * A worker SIGKILLed mid-turn, twice: while GHL is booking (the effect may already have happened
 * at GHL) and while Claude is streaming the reply. The API runs here, the worker in a child
 * process. Each time the reply still arrives, the booking exists once, and the streamed text has
 * no duplicate.
 */

const T = 'chat-crash';

describe('conversation survives a worker SIGKILL mid-turn', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let contactId: string;
  let slotDay: string;
  const workers: StartedProcess[] = [];

  const startWorker = async () => {
    const w = await startWorkerProcess(tp, sandboxProviders(sandbox));
    workers.push(w);
    return w;
  };
  const kill = async (w: StartedProcess) => {
    w.child.kill('SIGKILL');
    await w.exited;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ roles: ['api'], env: sandboxProviders(sandbox) });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, T);
    const created = await sandbox.ghl('POST', '/contacts/upsert', {
      locationId: 'loc_demo',
      phone: '+15125550888',
      firstName: 'Casey',
    });
    contactId = created.body.contact.id;
    slotDay = (await demoFreeSlots(sandbox))[0]!.slice(0, 10);
  }, 180_000);
  afterAll(() => tearDown({ processes: workers, platform: tp, sandbox }));

  it('killed while GHL books: the reply arrives and there is one appointment', async () => {
    const first = await startWorker();
    const asked = await call(tp.baseUrl, 'POST', '/v1/agents/closer/conversations', {
      key,
      body: { text: `Book contact ${contactId} on ${slotDay}.` },
    });
    expect(asked.body.status, JSON.stringify(asked.body)).toBe('awaiting_confirmation');
    // GHL takes its time on the booking: the worker dies while the request is in flight.
    const { fault } = await sandbox.control('POST', '/faults', {
      provider: 'ghl',
      route: 'POST /calendars/events/appointments',
      latencyMs: 2500,
    });
    const confirmed = call(tp.baseUrl, 'POST', `/v1/conversations/${asked.body.conversationId}/confirmations`, {
      key,
      body: { confirmationId: asked.body.confirmation.id, approve: true },
    });
    await eventually(
      'the booking request at GHL',
      async () => {
        const { faults } = await sandbox.control<{ faults: { id: string; hits: number }[] }>('GET', '/faults');
        return (faults.find((f) => f.id === fault.id)?.hits ?? 0) > 0;
      },
      30_000,
    );
    await kill(first);
    await sandbox.control('DELETE', '/faults');
    await startWorker();

    const done = await confirmed;
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.status).toBe('answered');
    expect(done.body.reply.text).toMatch(/Booked/);
    const { appointments } = await sandbox.control<{ appointments: unknown[] }>(
      'GET',
      `/ghl/appointments?locationId=loc_demo&contactId=${contactId}`,
    );
    expect(appointments).toHaveLength(1);
    const tools = await tp.adminPool.query(
      `select count(*) as n from conversation_messages where tenant_id = $1 and conversation_id = $2 and role = 'tool'`,
      [T, asked.body.conversationId],
    );
    expect(Number(tools.rows[0].n)).toBe(2); // free slots, then the one booking
  }, 180_000);

  it('killed while the reply streams: the reply arrives, the stream shows it once', async () => {
    // A slow writer: the reply takes seconds to stream.
    expect(
      (await call(tp.baseUrl, 'PATCH', '/v1/agents/builder', { key, body: { model: 'sandbox-paced-250' } })).status,
    ).toBe(200);
    const worker = workers.at(-1)!;
    const res = fetch(`${tp.baseUrl}/v1/agents/builder/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        text: 'Plan the first slice of the onboarding checklist work and say what you would leave out.',
        messageId: 'msg_crash_stream',
      }),
    });
    await eventually(
      'the first streamed deltas',
      async () =>
        Number(
          (
            await tp.adminPool.query(
              `select count(*) as n from conversation_deltas where message_id = 'msg_crash_stream' and kind = 'delta'`,
            )
          ).rows[0].n,
        ) >= 2,
      30_000,
    );
    await kill(worker);
    await startWorker();

    const text = await (await res).text();
    const events = text
      .split('\n\n')
      .filter(Boolean)
      .map((chunk) => ({
        event: /^event: (.+)$/m.exec(chunk)?.[1],
        data: JSON.parse(/^data: (.+)$/m.exec(chunk)?.[1] ?? 'null'),
      }));
    const reply = events.at(-1)!;
    expect(reply.event).toBe('reply');
    expect(reply.data.status).toBe('answered');
    // Deltas (and any reset) rebuild exactly the final text: nothing shown twice.
    let shown = '';
    for (const e of events) {
      if (e.event === 'delta') shown += e.data.text;
      if (e.event === 'reset') shown = e.data.text;
    }
    expect(shown).toBe(reply.data.reply.text);
    const assistant = await tp.adminPool.query(
      `select count(*) as n from conversation_messages where tenant_id = $1 and conversation_id = $2 and role = 'assistant'`,
      [T, reply.data.conversationId],
    );
    expect(Number(assistant.rows[0].n)).toBe(1);
  }, 180_000);
});
