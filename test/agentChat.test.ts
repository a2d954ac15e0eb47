import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIds } from '../lib/workflowIds.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { demoFreeSlots, sandboxProviders, setUpVoiceTenant } from './support/voice.js';
import { eventually } from './support/timeSkipping.js';
import {
  connectFormClient,
  connectHttp,
  createTenantWithKeys,
  errorText,
  structured,
  type ElicitationAnswer,
} from './support/mcp.js';
import { recordHistory } from './support/histories.js';

/**
 * Persona agents end to end: the real platform (API, worker, Postgres, Temporal) with Claude and
 * GHL played by the sandbox over HTTP. The sandbox's tool-use script turns the user's words into
 * tool calls, so each test says in words what the agent should do.
 */

const T = 'chat-a';
const OTHER = 'chat-b';

const knowledge = [
  { path: 'sales/index.md', content: '---\ntitle: Sales\n---\nHow we sell.' },
  {
    path: 'sales/pricing/discount-policy.md',
    content:
      '---\ntitle: Discount policy\nlabels: [pricing, discount]\nintent_tags: [negotiate]\n---\nDiscounts above 15% need the owner; annual prepay earns 10%.',
  },
];

interface SseEvent {
  id?: number;
  event: string;
  data: any;
}

/** Posts and reads the whole SSE answer, event by event. */
async function sse(url: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<SseEvent[]> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      accept: 'text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((chunk) => chunk.trim())
    .map((chunk) => {
      const e: SseEvent = { event: 'message', data: undefined };
      for (const line of chunk.split('\n')) {
        if (line.startsWith('id: ')) e.id = Number(line.slice(4));
        else if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6));
      }
      return e;
    });
}

describe('persona agents', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let contactId: string;
  let slotDay: string;

  const appointmentsOf = async (contact: string) =>
    (
      await sandbox.control<{ appointments: { id: string }[] }>(
        'GET',
        `/ghl/appointments?locationId=loc_demo&contactId=${contact}`,
      )
    ).appointments;
  const conversationCount = async () =>
    Number((await tp.adminPool.query('select count(*) as n from conversations')).rows[0].n);

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({
      env: {
        ...sandboxProviders(sandbox),
        AGENT_CONFIRM_TIMEOUT_SECONDS: '6',
        AGENT_CONTINUE_AS_NEW_TURNS: '3',
      },
    });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, T);
    const created = await sandbox.ghl('POST', '/contacts/upsert', {
      locationId: 'loc_demo',
      phone: '+15125550777',
      firstName: 'Dana',
      lastName: 'Buyer',
    });
    contactId = created.body.contact.id;
    slotDay = (await demoFreeSlots(sandbox))[0]!.slice(0, 10);
    const imported = await call(tp.baseUrl, 'POST', '/v1/knowledge/import', { key, body: { files: knowledge } });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
  }, 180_000);
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('seeds the four personas, each with its tools, colour and icon', async () => {
    const res = await call(tp.baseUrl, 'GET', '/v1/agents', { key });
    expect(res.status).toBe(200);
    expect(res.body.agents.map((a: { id: string }) => a.id)).toEqual(['strategist', 'builder', 'closer', 'operator']);
    const closer = res.body.agents.find((a: { id: string }) => a.id === 'closer');
    expect(closer).toMatchObject({ name: 'Closer', enabled: true, promptVersion: 1, brief: { cron: '0 8 * * 1-5' } });
    expect(closer.tools).toEqual(expect.arrayContaining(['knowledge_search', 'crm_book_appointment', 'ask_agent']));
    expect(closer.confirmTools).toEqual(expect.arrayContaining(['crm_book_appointment', 'crm_send_sms']));
    expect(closer.colour).toMatch(/^#[0-9a-f]{6}$/);
  });

  it('searches knowledge and books through a confirmation: one booking in GHL', async () => {
    const first = await call(tp.baseUrl, 'POST', '/v1/agents/closer/conversations', {
      key,
      body: { text: `Search the knowledge base for discount policy and book contact ${contactId} on ${slotDay}.` },
    });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({ status: 'awaiting_confirmation', reply: null });
    expect(first.body.confirmation).toMatchObject({ tool: 'crm_book_appointment', input: { contactId } });
    expect(first.body.confirmation.question).toMatch(new RegExp(`Book .* for contact ${contactId} at ${slotDay}`));
    expect(first.body.tools.map((t: { name: string }) => t.name)).toEqual(['knowledge_search', 'crm_free_slots']);
    // Nothing booked before the yes.
    expect(await appointmentsOf(contactId)).toEqual([]);

    const conv = first.body.conversationId as string;
    const wrong = await call(tp.baseUrl, 'POST', `/v1/conversations/${conv}/confirmations`, {
      key,
      body: { confirmationId: 'toolu_nope', approve: true },
    });
    expect(wrong.status).toBe(409);
    const yes = await call(tp.baseUrl, 'POST', `/v1/conversations/${conv}/confirmations`, {
      key,
      body: { confirmationId: first.body.confirmation.id, approve: true },
    });
    expect(yes.status, JSON.stringify(yes.body)).toBe(200);
    expect(yes.body.status).toBe('answered');
    expect(yes.body.reply.text).toMatch(/Booked/);
    expect(yes.body.reply.text).toContain('[/sales/pricing/discount-policy]');
    expect(await appointmentsOf(contactId)).toHaveLength(1);

    // The same message sent again (a reconnect) is the same turn: its reply, no second booking.
    const again = await call(tp.baseUrl, 'POST', `/v1/conversations/${conv}/messages`, {
      key,
      body: { text: 'ignored', messageId: first.body.messageId },
    });
    expect(again.status).toBe(200);
    expect(again.body.reply.id).toBe(yes.body.reply.id);
    expect(await appointmentsOf(contactId)).toHaveLength(1);

    // A no, and a silence, are "not done".
    const second = await call(tp.baseUrl, 'POST', `/v1/conversations/${conv}/messages`, {
      key,
      body: { text: `Book contact ${contactId} on ${slotDay} again.` },
    });
    expect(second.body.status).toBe('awaiting_confirmation');
    const no = await call(tp.baseUrl, 'POST', `/v1/conversations/${conv}/confirmations`, {
      key,
      body: { confirmationId: second.body.confirmation.id, approve: false },
    });
    expect(no.body.reply.text).toMatch(/did not go through: Not done: the owner declined/);
    const third = await call(tp.baseUrl, 'POST', `/v1/conversations/${conv}/messages`, {
      key,
      body: { text: `Book contact ${contactId} on ${slotDay}, third time.` },
    });
    expect(third.body.status).toBe('awaiting_confirmation');
    const messages = await eventually(
      'the unanswered confirmation to time out',
      async () => {
        const r = await call(tp.baseUrl, 'GET', `/v1/conversations/${conv}/messages`, { key });
        return r.body.messages.some((m: { text: string }) => /no confirmation for crm_book_appointment/.test(m.text))
          ? r.body.messages
          : undefined;
      },
      30_000,
    );
    expect(messages.filter((m: { role: string }) => m.role === 'user')).toHaveLength(3);
    expect(await appointmentsOf(contactId)).toHaveLength(1);
    await recordHistory(tp.platform.temporal!, workflowIds.conversation(T, conv), 'conversation-local-book-confirm');

    // The retrieval is in the usage log, cited by the answer.
    const usage = await call(tp.baseUrl, 'GET', `/v1/knowledge/usage?conversationId=${conv}`, { key });
    expect(usage.body.usage[0]).toMatchObject({ kind: 'search', agent: 'closer', turn: 1 });
    expect(usage.body.usage[0].citedIds).toHaveLength(1);
    // Tokens and cost are counted per conversation, and in the audit trail.
    const list = await call(tp.baseUrl, 'GET', '/v1/conversations?agent=closer', { key });
    const row = list.body.conversations.find((c: { id: string }) => c.id === conv);
    expect(row).toMatchObject({ agent: 'closer', promptVersion: 1, turns: 3 });
    expect(row.usage.inputTokens).toBeGreaterThan(0);
    expect(row.usage.costUsd).toBeGreaterThan(0);
    const audited = await tp.adminPool.query(
      `select count(*) as n from audit_log where tenant_id = $1 and tool = 'agent_model' and params->>'conversationId' = $2`,
      [T, conv],
    );
    expect(Number(audited.rows[0].n)).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it('places an outbound call only after the yes: the call is its own voiceCall workflow', async () => {
    const asked = await call(tp.baseUrl, 'POST', '/v1/agents/closer/conversations', {
      key,
      body: { text: 'Call +15125550777 to confirm the demo time.' },
    });
    expect(asked.body.status, JSON.stringify(asked.body)).toBe('awaiting_confirmation');
    expect(asked.body.confirmation.question).toBe('Call +15125550777 to confirm the demo time?');
    const yes = await call(tp.baseUrl, 'POST', `/v1/conversations/${asked.body.conversationId}/confirmations`, {
      key,
      body: { confirmationId: asked.body.confirmation.id, approve: true },
    });
    expect(yes.body.status, JSON.stringify(yes.body)).toBe('answered');
    const workflowId = /\((call:chat-a:vapi:agent-[^)]+)\)/.exec(yes.body.reply.text)?.[1];
    expect(workflowId, yes.body.reply.text).toBeDefined();
    const placed = await eventually(
      'the call placed',
      async () => {
        const r = await call(tp.baseUrl, 'GET', `/v1/calls/${encodeURIComponent(workflowId!)}`, { key });
        return r.status === 200 ? r.body : undefined;
      },
      30_000,
    );
    expect(placed).toMatchObject({ direction: 'outbound', phone: '+15125550777', purpose: 'confirm the demo time' });
  }, 60_000);

  it('asks another agent: a child conversation whose answer is the tool result', async () => {
    const res = await call(tp.baseUrl, 'POST', '/v1/agents/strategist/conversations', {
      key,
      body: { text: 'Ask the Closer which hot leads went quiet this week?' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.status).toBe('answered');
    expect(res.body.tools).toEqual([{ name: 'ask_agent', ok: true }]);
    expect(res.body.reply.text).toMatch(/ask_agent: Closer answered: Here is what I found\..* insights:/);
    const list = await call(tp.baseUrl, 'GET', '/v1/conversations?agent=closer', { key });
    const child = list.body.conversations.find(
      (c: { parentId: string | null }) => c.parentId === res.body.conversationId,
    );
    expect(child).toMatchObject({ origin: 'agent', agent: 'closer', turns: 1 });
    const childMessages = await call(tp.baseUrl, 'GET', `/v1/conversations/${child.id}/messages`, { key });
    expect(childMessages.body.messages[0]).toMatchObject({
      role: 'user',
      text: 'which hot leads went quiet this week?',
    });
    await recordHistory(
      tp.platform.temporal!,
      workflowIds.conversation(T, child.id),
      'conversation-local-ask-agent-child',
    );
  }, 90_000);

  it('streams the reply as SSE in order, and a reconnect gets the rest, not a duplicate', async () => {
    // A paced model: the reply is written over a visible stretch of time.
    const paced = await call(tp.baseUrl, 'PATCH', '/v1/agents/operator', { key, body: { model: 'sandbox-paced-15' } });
    expect(paced.status, JSON.stringify(paced.body)).toBe(200);
    const start = await call(tp.baseUrl, 'POST', '/v1/agents/operator/conversations', {
      key,
      body: { text: 'Hello there.' },
    });
    const conv = start.body.conversationId as string;
    const url = `${tp.baseUrl}/v1/conversations/${conv}/messages`;
    const messageId = 'msg_stream_1';
    const text = 'Search the knowledge base for discount policy and tell me what it says about annual prepay.';
    const events = await sse(url, key, { text, messageId });
    expect(events[0]!.event).toBe('start');
    expect(events.at(-1)!.event).toBe('reply');
    const reply = events.at(-1)!.data;
    expect(reply.status).toBe('answered');
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThan(3);
    // Ids strictly increase; the last step's deltas spell the final reply exactly.
    const ids = events.filter((e) => e.id !== undefined).map((e) => e.id!);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const lastStep = Math.max(...deltas.map((d) => d.data.step));
    expect(
      deltas
        .filter((d) => d.data.step === lastStep)
        .map((d) => d.data.text)
        .join(''),
    ).toBe(reply.reply.text);
    expect(events.some((e) => e.event === 'tool' && e.data.text === 'knowledge_search')).toBe(true);

    // Reconnect after the 3rd event: the rest, and the same reply.
    const cut = ids[2]!;
    const resumed = await sse(url, key, { text, messageId }, { 'last-event-id': String(cut) });
    const resumedIds = resumed.filter((e) => e.id !== undefined).map((e) => e.id!);
    expect(resumedIds).toEqual(ids.filter((i) => i > cut));
    expect(resumed.at(-1)!.data.reply).toEqual(reply.reply);
    const turns = await call(tp.baseUrl, 'GET', `/v1/conversations/${conv}/messages`, { key });
    expect(turns.body.conversation.turns).toBe(2);
  }, 90_000);

  it('continues as new every N turns with a summary, and goes on answering', async () => {
    const start = await call(tp.baseUrl, 'POST', '/v1/agents/builder/conversations', {
      key,
      body: { text: 'Turn one.' },
    });
    const conv = start.body.conversationId as string;
    const handle = tp.platform.temporal!.workflow.getHandle(workflowIds.conversation(T, conv));
    const firstRun = (await handle.describe()).runId;
    for (const n of ['two', 'three']) {
      const r = await call(tp.baseUrl, 'POST', `/v1/conversations/${conv}/messages`, {
        key,
        body: { text: `Turn ${n}.` },
      });
      expect(r.body.status).toBe('answered');
    }
    await eventually('continue-as-new', async () => (await handle.describe()).runId !== firstRun, 30_000);
    const summary = await tp.adminPool.query('select summary, summary_seq from conversations where id = $1', [conv]);
    expect(summary.rows[0].summary).toMatch(/Summary:/);
    const four = await call(tp.baseUrl, 'POST', `/v1/conversations/${conv}/messages`, {
      key,
      body: { text: 'Turn four.' },
    });
    expect(four.body.status).toBe('answered');
    const history = await handle.query('history');
    expect(history).toMatchObject({ turns: 4, runTurns: 1 });
  }, 90_000);

  it('over MCP: agent_chat, knowledge_search / knowledge_browse, and each persona as a prompt', async () => {
    const client = await connectHttp(tp.baseUrl, key);
    try {
      const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
      expect(prompts).toEqual(
        expect.arrayContaining(['agent_strategist', 'agent_builder', 'agent_closer', 'agent_operator']),
      );
      const closer = await client.getPrompt({ name: 'agent_closer', arguments: { question: 'Who is hot?' } });
      const promptText = (closer.messages[0]!.content as { text: string }).text;
      expect(promptText).toMatch(/You are the Closer/);
      expect(promptText).toContain('<untrusted owner-question>');

      const found = structured(
        await client.callTool({ name: 'knowledge_search', arguments: { query: 'discount policy prepay' } }),
      );
      expect(found.hits[0].path).toBe('/sales/pricing/discount-policy');
      const browsed = structured(await client.callTool({ name: 'knowledge_browse', arguments: { path: '/sales' } }));
      expect(browsed.children.map((c: { path: string }) => c.path)).toEqual(['/sales/pricing']);

      const chat = structured(
        await client.callTool({
          name: 'agent_chat',
          arguments: { agent: 'closer', text: 'Search the knowledge base for discount policy.' },
        }),
      );
      expect(chat.status).toBe('answered');
      expect(chat.reply.text).toContain('[/sales/pricing/discount-policy]');
      const next = structured(
        await client.callTool({
          name: 'agent_chat',
          arguments: { conversationId: chat.conversationId, text: 'Thanks.' },
        }),
      );
      expect(next.status).toBe('answered');
      const bad = await client.callTool({
        name: 'agent_chat',
        arguments: { agent: 'closer', conversationId: 'x', text: 'hi' },
      });
      expect(errorText(bad)).toMatch(/agent: give either agent/);
    } finally {
      await client.close();
    }
  }, 60_000);

  it('over MCP, a client that can show forms is asked the agent’s question itself (input_required): yes books once, no books nothing', async () => {
    const shown: string[] = [];
    let answer: ElicitationAnswer = { action: 'accept', content: { confirm: true } };
    const client = await connectFormClient(tp.baseUrl, key, (form) => {
      shown.push(form.message);
      return answer;
    });
    try {
      const before = (await appointmentsOf(contactId)).length;
      const booked = structured(
        await client.callTool({
          name: 'agent_chat',
          arguments: { agent: 'closer', text: `Book contact ${contactId} on ${slotDay}.` },
        }),
      );
      expect(shown).toHaveLength(1);
      expect(shown[0]).toMatch(new RegExp(`Book .* for contact ${contactId}`));
      expect(booked).toMatchObject({ status: 'answered', confirmation: null });
      expect(booked.reply.text).toMatch(/Booked/);
      expect(await appointmentsOf(contactId)).toHaveLength(before + 1);

      answer = { action: 'decline' };
      const declined = structured(
        await client.callTool({
          name: 'agent_chat',
          arguments: { conversationId: booked.conversationId, text: `Book contact ${contactId} on ${slotDay} again.` },
        }),
      );
      expect(shown).toHaveLength(2);
      expect(declined.status).toBe('answered');
      expect(declined.reply.text).toMatch(/the owner declined/);
      expect(await appointmentsOf(contactId)).toHaveLength(before + 1);
    } finally {
      await client.close();
    }
  }, 90_000);

  it("over MCP, the tenant's own agents are prompts too; a disabled one is no longer offered", async () => {
    const created = await call(tp.baseUrl, 'POST', '/v1/agents', {
      key,
      body: {
        id: 'front-desk',
        name: 'Front Desk',
        role: 'Answers walk-in questions',
        prompt: 'You are the Front Desk of this clinic. Greet people warmly and keep answers short.',
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const client = await connectHttp(tp.baseUrl, key);
    try {
      const listed = (await client.listPrompts()).prompts;
      expect(listed.find((p) => p.name === 'agent_front-desk')).toMatchObject({
        title: 'Front Desk: Answers walk-in questions',
      });
      const got = await client.getPrompt({ name: 'agent_front-desk', arguments: { question: 'Opening hours?' } });
      expect((got.messages[0]!.content as { text: string }).text).toMatch(/^You are the Front Desk of this clinic/);

      expect((await call(tp.baseUrl, 'PATCH', '/v1/agents/front-desk', { key, body: { enabled: false } })).status).toBe(
        200,
      );
      expect((await client.listPrompts()).prompts.map((p) => p.name)).not.toContain('agent_front-desk');
      await expect(client.getPrompt({ name: 'agent_front-desk', arguments: {} })).rejects.toThrow(/not found/);
    } finally {
      await client.close();
    }
    // Another tenant's MCP client never sees this tenant's agent.
    const stranger = await createTenantWithKeys(tp.baseUrl, 'chat-prompts-other', { reader: ['read'] });
    const other = await connectHttp(tp.baseUrl, stranger.reader);
    try {
      expect((await other.listPrompts()).prompts.map((p) => p.name)).not.toContain('agent_front-desk');
    } finally {
      await other.close();
    }
  }, 60_000);

  it('a first message sent again with its messageId (its answer lost on the way) is the same conversation and turn', async () => {
    const before = await conversationCount();
    const body = { text: 'Search the knowledge base for discount policy.', messageId: 'msg_first_again' };
    const first = await call(tp.baseUrl, 'POST', '/v1/agents/strategist/conversations', { key, body });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const again = await call(tp.baseUrl, 'POST', '/v1/agents/strategist/conversations', { key, body });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    expect(again.body.conversationId).toBe(first.body.conversationId);
    expect(again.body.reply.id).toBe(first.body.reply.id);
    expect(await conversationCount()).toBe(before + 1);
    const turns = await call(tp.baseUrl, 'GET', `/v1/conversations/${first.body.conversationId}/messages`, { key });
    expect(turns.body.conversation.turns).toBe(1);
  }, 60_000);

  it('refuses bad input with a 400 naming the field, writing nothing', async () => {
    const before = await conversationCount();
    const empty = await call(tp.baseUrl, 'POST', '/v1/agents/closer/conversations', { key, body: { text: '   ' } });
    expect(empty.status).toBe(400);
    expect(empty.body.message).toMatch(/^body\.text/);
    const huge = await call(tp.baseUrl, 'POST', '/v1/agents/closer/conversations', {
      key,
      body: { text: 'x'.repeat(20_001) },
    });
    expect(huge.status).toBe(400);
    expect(huge.body.message).toMatch(/^body\.text/);
    const unknown = await call(tp.baseUrl, 'POST', '/v1/agents/nobody/conversations', { key, body: { text: 'hi' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/^params\.agent: no agent 'nobody'/);
    const noConv = await call(tp.baseUrl, 'POST', '/v1/conversations/conv_nope/messages', {
      key,
      body: { text: 'hi' },
    });
    expect(noConv.status).toBe(404);
    expect(await conversationCount()).toBe(before);

    // Another tenant sees none of it.
    expect(
      (await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: OTHER, name: OTHER } }))
        .status,
    ).toBe(201);
    const otherKey = (
      await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${OTHER}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 't', scopes: ['read', 'act'] },
      })
    ).body.key as string;
    const theirs = await call(tp.baseUrl, 'GET', '/v1/conversations', { key: otherKey });
    expect(theirs.body.conversations).toEqual([]);
    const mine = await call(tp.baseUrl, 'GET', '/v1/conversations', { key });
    const someId = mine.body.conversations[0].id as string;
    expect((await call(tp.baseUrl, 'GET', `/v1/conversations/${someId}/messages`, { key: otherKey })).status).toBe(404);
  }, 60_000);
});
