import { createHmac } from 'node:crypto';
import { VapiClient, VapiError } from '@vapi-ai/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../sandbox/server.js';
import { control, startReceiver, startTestSandbox, waitFor, type Received } from './helpers.js';

let sb: RunningSandbox;
let vapi: VapiClient;

beforeAll(async () => {
  sb = await startTestSandbox();
  vapi = new VapiClient({ token: 'vapi-sandbox-key', baseUrl: `${sb.url}/vapi` });
});
afterAll(async () => {
  await sb.close();
});

interface Sim {
  id: string;
  state: string;
  outcome: string;
  problems: string[];
  call: { status: string; endedReason: string; transcript: string; assistantId?: string };
  deliveries: {
    type: string;
    ms: number;
    problems: string[];
    response?: { status: number; body: unknown };
    request: { message: Record<string, unknown> };
  }[];
}

const messageOf = (r: Received) =>
  (JSON.parse(r.raw) as { message: Record<string, unknown> & { type: string } }).message;

describe('Vapi REST through the official SDK', () => {
  it('creates, gets and lists calls', async () => {
    const created = (await vapi.calls.create({
      assistantId: 'asst_demo',
      phoneNumberId: 'pn_demo',
      customer: { number: '+14155550100' },
    })) as { id: string; status: string; type: string };
    expect(created).toMatchObject({ status: 'queued', type: 'outboundPhoneCall' });
    const got = await vapi.calls.get({ id: created.id });
    expect(got.id).toBe(created.id);
    const ended = await waitFor(async () => {
      const c = await vapi.calls.get({ id: created.id });
      return c.status === 'ended' ? c : undefined;
    });
    expect(ended.endedReason).toBe('customer-ended-call');
    const list = await vapi.calls.list({ assistantId: 'asst_demo', limit: 10 });
    expect(list.map((c) => c.id)).toContain(created.id);

    const noAnswer = (await vapi.calls.create({
      assistantId: 'asst_demo',
      phoneNumberId: 'pn_demo',
      customer: { number: '+14155550002' },
    })) as { id: string };
    const na = await waitFor(async () => {
      const c = await vapi.calls.get({ id: noAnswer.id });
      return c.status === 'ended' ? c : undefined;
    });
    expect(na.endedReason).toBe('customer-did-not-answer');
  });

  it('answers bad requests with Vapi error shapes', async () => {
    const err = await vapi.calls
      .create({ assistantId: 'asst_demo', phoneNumberId: 'pn_demo', customer: { number: '555' } }, { maxRetries: 0 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VapiError);
    expect((err as VapiError).statusCode).toBe(400);
    expect((err as VapiError).body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    const unknown = await vapi.calls.get({ id: 'nope' }, { maxRetries: 0 }).catch((e: unknown) => e);
    expect((unknown as VapiError).statusCode).toBe(404);
    const noAuth = await fetch(`${sb.url}/vapi/call`);
    expect(noAuth.status).toBe(401);
  });
});

describe('Vapi call simulator', () => {
  it('plays an inbound call: assistant-request, status, transcript, tool-calls, end-of-call-report — with X-Vapi-Secret', async () => {
    const server = await startReceiver((r) => {
      const m = messageOf(r);
      if (m.type === 'assistant-request')
        return { body: { assistantId: 'asst_demo', assistantOverrides: { variableValues: { name: 'Demo' } } } };
      if (m.type === 'tool-calls') {
        const list = m.toolCallList as { id: string; function: { name: string; arguments: Record<string, unknown> } }[];
        return {
          body: {
            results: list.map((c) => ({
              toolCallId: c.id,
              name: c.function.name,
              result: `Booked ${String(c.function.arguments.startTime)}`,
            })),
          },
        };
      }
      return { body: {} };
    });
    try {
      const sim = await control<Sim>(sb, 'POST', '/vapi/calls', {
        serverUrl: `${server.url}/webhooks/vapi`,
        credential: 'tenant-secret',
        direction: 'inbound',
        from: '+14155550100',
        wait: true,
        script: {
          steps: [
            { assistant: 'Hello, how can I help?' },
            { user: 'I want to book a cleaning on Tuesday at 3pm.' },
            { tool: 'book_appointment', arguments: { startTime: '2026-12-01T15:00:00-05:00' } },
            { user: 'Thanks, bye!' },
          ],
        },
      });
      expect(sim.state).toBe('done');
      expect(sim.problems).toEqual([]);
      expect(sim.call.status).toBe('ended');
      expect(sim.call.assistantId).toBe('asst_demo');
      const types = server.received.map((r) => messageOf(r).type);
      expect(types[0]).toBe('assistant-request');
      expect(types).toContain('transcript');
      expect(types).toContain('conversation-update');
      expect(types.filter((t) => t === 'status-update').length).toBeGreaterThanOrEqual(3);
      expect(types.slice(-2)).toEqual(['status-update', 'end-of-call-report']);
      expect(types.indexOf('tool-calls')).toBeLessThan(types.indexOf('end-of-call-report'));
      for (const r of server.received) expect(r.headers['x-vapi-secret']).toBe('tenant-secret');

      const report = messageOf(server.received.at(-1)!) as unknown as Record<string, unknown> & {
        artifact: { transcript: string; messages: unknown[] };
        analysis: { summary: string };
        call: { id: string };
      };
      expect(report.endedReason).toBe('customer-ended-call');
      expect(report.cost).toBeGreaterThan(0);
      expect(report.artifact.transcript).toContain('User: I want to book a cleaning on Tuesday at 3pm.');
      expect(report.artifact.transcript).toContain('AI: Booked 2026-12-01T15:00:00-05:00');
      expect(report.analysis.summary).toMatch(/cleaning|Tuesday/);
      expect(report.call.id).toBe(sim.id);

      const toolDelivery = sim.deliveries.find((d) => d.type === 'tool-calls')!;
      expect(toolDelivery.response?.status).toBe(200);
      expect(toolDelivery.ms).toBeGreaterThanOrEqual(0);
      const shown = await control<Sim>(sb, 'GET', `/vapi/calls/${sim.id}`);
      expect(shown.deliveries.length).toBe(server.received.length);
    } finally {
      await server.close();
    }
  });

  it('signs with HMAC or Bearer when the tenant chose so', async () => {
    const server = await startReceiver(() => ({ body: {} }));
    try {
      await control(sb, 'POST', '/vapi/calls', {
        serverUrl: server.url,
        credential: { type: 'hmac', secret: 'shh' },
        assistantId: 'asst_demo',
        wait: true,
        script: { steps: [{ user: 'hi' }] },
      });
      expect(server.received.length).toBeGreaterThan(2);
      for (const r of server.received) {
        const ts = String(r.headers['x-timestamp']);
        expect(r.headers['x-signature']).toBe(createHmac('sha256', 'shh').update(`${ts}.${r.raw}`).digest('hex'));
      }
      server.received.length = 0;
      await control(sb, 'POST', '/vapi/calls', {
        serverUrl: server.url,
        credential: { type: 'bearer', secret: 'tok' },
        assistantId: 'asst_demo',
        wait: true,
        script: { steps: [{ user: 'hi' }] },
      });
      for (const r of server.received) expect(r.headers.authorization).toBe('Bearer tok');
      // A fixed assistant means no assistant-request.
      expect(server.received.map((r) => messageOf(r).type)).not.toContain('assistant-request');
    } finally {
      await server.close();
    }
  });

  it('sends other message types on request and records a non-200 answer to them as a problem', async () => {
    const server = await startReceiver((r) =>
      messageOf(r).type === 'user-interrupted' ? { status: 500 } : { body: {} },
    );
    try {
      const sim = await control<Sim>(sb, 'POST', '/vapi/calls', {
        serverUrl: server.url,
        assistantId: 'asst_demo',
        wait: true,
        script: {
          serverMessages: ['user-interrupted', 'hang', 'end-of-call-report'],
          steps: [{ message: 'user-interrupted' }, { message: 'hang', fields: { reason: 'test' } }, { user: 'hi' }],
        },
      });
      expect(server.received.map((r) => messageOf(r).type)).toEqual(['user-interrupted', 'hang', 'end-of-call-report']);
      expect(sim.problems).toEqual(['user-interrupted#1: answered HTTP 500']);
    } finally {
      await server.close();
    }
  });

  it('lets our server steer a live call through monitor.controlUrl', async () => {
    let controlled = false;
    const server = await startReceiver(async (r) => {
      const m = messageOf(r);
      if (m.type === 'transcript' && m.role === 'user' && !controlled) {
        controlled = true;
        const controlUrl = (m.call as { monitor: { controlUrl: string } }).monitor.controlUrl;
        const said = await fetch(controlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'say', content: 'Transferring you now.' }),
        });
        expect(said.status).toBe(200);
        await fetch(controlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'end-call' }),
        });
      }
      return { body: {} };
    });
    try {
      const sim = await control<Sim & { controls: unknown[] }>(sb, 'POST', '/vapi/calls', {
        serverUrl: server.url,
        assistantId: 'asst_demo',
        wait: true,
        script: { steps: [{ user: 'Get me a human.' }, { assistant: 'never said' }, { user: 'never said either' }] },
      });
      expect(sim.controls).toHaveLength(2);
      expect(sim.call.endedReason).toBe('assistant-ended-call');
      expect(sim.call.transcript).toContain('AI: Transferring you now.');
      expect(sim.call.transcript).not.toContain('never said');
    } finally {
      await server.close();
    }
  });

  it('flags badly shaped tool-call answers and times out slow ones', async () => {
    const server = await startReceiver((r) => {
      const m = messageOf(r);
      if (m.type !== 'tool-calls') return { body: {} };
      const list = m.toolCallList as { id: string }[];
      if (list.length === 2) return { body: { results: [{ toolCallId: list[1]!.id, result: 'line one\nline two' }] } };
      return { delayMs: 2500, body: { results: [{ toolCallId: list[0]!.id, result: 'late' }] } };
    });
    try {
      const sim = await control<Sim>(sb, 'POST', '/vapi/calls', {
        serverUrl: server.url,
        assistantId: 'asst_demo',
        wait: true,
        script: {
          toolTimeoutMs: 1000,
          argumentsAs: 'string',
          steps: [{ tools: [{ name: 'a', arguments: { x: 1 } }, { name: 'b' }] }, { tool: 'slow' }],
        },
      });
      const [pair, slow] = sim.deliveries.filter((d) => d.type === 'tool-calls');
      expect(pair!.problems.join(' ')).toMatch(/expected 2 results/);
      expect(pair!.problems.join(' ')).toMatch(/toolCallId/);
      expect(pair!.problems.join(' ')).toMatch(/single line/);
      expect(slow!.problems.join(' ')).toMatch(/timeout after 1000 ms/);
      expect(sim.problems.length).toBeGreaterThanOrEqual(3);
      const sent = (pair!.request.message.toolCallList as { function: { arguments: unknown } }[])[0]!.function
        .arguments;
      expect(sent).toBe('{"x":1}');
    } finally {
      await server.close();
    }
  });

  it('ends outbound calls as busy or voicemail, and an assistant-request error ends the call', async () => {
    const server = await startReceiver((r) =>
      messageOf(r).type === 'assistant-request' ? { body: { error: 'Sorry, we are closed.' } } : { body: {} },
    );
    try {
      const busy = await control<Sim>(sb, 'POST', '/vapi/calls', {
        serverUrl: server.url,
        direction: 'outbound',
        to: '+14155550003',
        wait: true,
      });
      expect(busy.call.endedReason).toBe('customer-busy');
      const vm = await control<Sim>(sb, 'POST', '/vapi/calls', {
        serverUrl: server.url,
        direction: 'outbound',
        to: '+14155550100',
        script: { outcome: 'voicemail' },
        wait: true,
      });
      expect(vm.call.endedReason).toBe('voicemail');
      const closed = await control<Sim>(sb, 'POST', '/vapi/calls', {
        serverUrl: server.url,
        direction: 'inbound',
        wait: true,
      });
      expect(closed.call.endedReason).toBe('assistant-request-returned-error');
      const forwarded = await startReceiver(() => ({
        body: { destination: { type: 'number', number: '+14155550199' } },
      }));
      try {
        const fwd = await control<Sim>(sb, 'POST', '/vapi/calls', {
          serverUrl: forwarded.url,
          direction: 'inbound',
          wait: true,
        });
        expect(fwd.call.endedReason).toBe('assistant-forwarded-call');
        expect(forwarded.received.map((r) => messageOf(r).type)).toContain('status-update');
      } finally {
        await forwarded.close();
      }
      const bad = await fetch(`${sb.url}/__sandbox/vapi/calls`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ serverUrl: 'not a url' }),
      });
      expect(bad.status).toBe(400);
    } finally {
      await server.close();
    }
  });
});
