import Retell, { sign, verify } from 'retell-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retellSignature } from '../../sandbox/retell.js';
import type { RunningSandbox } from '../../sandbox/server.js';
import { control, startReceiver, startTestSandbox, waitFor, type Received } from './helpers.js';

let sb: RunningSandbox;
let retell: Retell;
const API_KEY = 'key_retell_sandbox';

beforeAll(async () => {
  sb = await startTestSandbox();
  retell = new Retell({ apiKey: API_KEY, baseURL: `${sb.url}/retell`, maxRetries: 0 });
});
afterAll(async () => {
  await sb.close();
});

interface Sim {
  id: string;
  state: string;
  problems: string[];
  call: {
    call_status: string;
    disconnection_reason: string;
    agent_id: string;
    retell_llm_dynamic_variables?: Record<string, string>;
    transcript: string;
  };
  deliveries: { type: string; attempt: number; problems: string[]; response?: { status: number } }[];
}
const eventOf = (r: Received) =>
  (JSON.parse(r.raw) as { event?: string; name?: string }).event ??
  `fn:${(JSON.parse(r.raw) as { name: string }).name}`;

describe('Retell REST through the official SDK', () => {
  it('creates, retrieves and lists calls', async () => {
    const created = await retell.call.createPhoneCall({
      from_number: '+15555550124',
      to_number: '+14155550100',
      metadata: { leadId: 'L1' },
    });
    expect(created).toMatchObject({
      call_status: 'registered',
      agent_id: 'agent_demo',
      direction: 'outbound',
      metadata: { leadId: 'L1' },
    });
    const got = await retell.call.retrieve(created.call_id);
    expect(got.call_id).toBe(created.call_id);
    const ended = await waitFor(async () => {
      const c = await retell.call.retrieve(created.call_id);
      return c.call_status === 'ended' ? c : undefined;
    });
    expect(ended.disconnection_reason).toBe('user_hangup');
    const list = await retell.call.list({ filter_criteria: { agent: [{ agent_id: 'agent_demo' }] }, limit: 10 });
    expect(list.items.map((c) => c.call_id)).toContain(created.call_id);

    const err = await retell.call
      .createPhoneCall({ from_number: 'nope', to_number: '+14155550100' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Retell.BadRequestError);
    const missing = await retell.call.retrieve('call_missing').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Retell.NotFoundError);
  });

  it('the simulator’s signature is what retell-sdk verifies, and the other way round', async () => {
    const body = JSON.stringify({ event: 'call_started', call: { call_id: 'c1' } });
    expect(await verify(body, API_KEY, retellSignature(body, API_KEY))).toBe(true);
    expect(await verify(body, 'other-key', retellSignature(body, API_KEY))).toBe(false);
    expect(await verify(body, API_KEY, retellSignature(body, API_KEY, Date.now() - 6 * 60_000))).toBe(false);
    const sdkSig = await sign(body, API_KEY);
    const ts = Number(/v=(\d+)/.exec(sdkSig)![1]);
    expect(retellSignature(body, API_KEY, ts)).toBe(sdkSig);
  });
});

describe('Retell call simulator', () => {
  it('plays an inbound call with call_inbound, custom functions and signed events in order', async () => {
    const server = await startReceiver((r) => {
      const payload = JSON.parse(r.raw) as { event?: string; name?: string; args?: Record<string, unknown> };
      if (payload.event === 'call_inbound')
        return { body: { call_inbound: { dynamic_variables: { first_name: 'Demo' }, metadata: { tenant: 't1' } } } };
      if (payload.name === 'check_availability')
        return { body: { result: `Tuesday ${String(payload.args?.day)} at 3 PM is free` } };
      return { status: 204 };
    });
    try {
      const sim = await control<Sim>(sb, 'POST', '/retell/calls', {
        serverUrl: `${server.url}/webhooks/retell`,
        inboundWebhookUrl: `${server.url}/webhooks/retell/inbound`,
        credential: API_KEY,
        direction: 'inbound',
        wait: true,
        script: {
          transcriptUpdates: true,
          steps: [
            { user: 'Is Tuesday free?' },
            { tool: 'check_availability', arguments: { day: 'Tuesday' } },
            { user: 'Book it.' },
          ],
        },
      });
      expect(sim.problems).toEqual([]);
      expect(sim.call.retell_llm_dynamic_variables).toEqual({ first_name: 'Demo' });
      const events = server.received.map(eventOf);
      expect(events[0]).toBe('call_inbound');
      expect(events[1]).toBe('call_started');
      expect(events).toContain('fn:check_availability');
      expect(events).toContain('transcript_updated');
      expect(events.slice(-2)).toEqual(['call_ended', 'call_analyzed']);
      for (const r of server.received) {
        expect(await verify(r.raw, API_KEY, String(r.headers['x-retell-signature']))).toBe(true);
      }
      const analyzed = JSON.parse(server.received.at(-1)!.raw) as {
        call: { call_analysis: { call_summary: string; call_successful: boolean }; transcript: string };
      };
      expect(analyzed.call.transcript).toContain('Agent: Tuesday Tuesday at 3 PM is free');
      expect(analyzed.call.call_analysis.call_successful).toBe(true);
      expect(analyzed.call.call_analysis.call_summary).toContain('Tuesday');
    } finally {
      await server.close();
    }
  });

  it('re-delivers up to 3 times on non-2xx or timeout, then gives up', async () => {
    let failures = 0;
    const server = await startReceiver((r) => {
      const e = eventOf(r);
      if (e === 'call_started' && failures++ < 2) return { status: 500 };
      if (e === 'call_ended') return { delayMs: 1500, status: 200 };
      if (e === 'call_analyzed') return { status: 503 };
      return { status: 200 };
    });
    try {
      const sim = await control<Sim>(sb, 'POST', '/retell/calls', {
        serverUrl: server.url,
        credential: API_KEY,
        wait: true,
        script: { retryDelayMs: 0, webhookTimeoutMs: 1000, steps: [{ user: 'hello' }] },
      });
      const attempts = (type: string) => sim.deliveries.filter((d) => d.type === type).map((d) => d.attempt);
      expect(attempts('call_started')).toEqual([1, 2, 3]);
      expect(attempts('call_ended')).toEqual([1, 2, 3, 4]);
      expect(attempts('call_analyzed')).toEqual([1, 2, 3, 4]);
      expect(sim.problems.some((p) => p.includes('timeout after 1000 ms'))).toBe(true);
      // Duplicates reach our server: it must dedupe on event + call_id.
      expect(server.received.filter((r) => eventOf(r) === 'call_analyzed')).toHaveLength(4);
    } finally {
      await server.close();
    }
  });

  it('outbound calls can end not connected', async () => {
    const server = await startReceiver(() => ({ status: 200 }));
    try {
      const sim = await control<Sim>(sb, 'POST', '/retell/calls', {
        serverUrl: server.url,
        direction: 'outbound',
        from: '+15555550124',
        to: '+14155550002',
        wait: true,
      });
      expect(sim.call).toMatchObject({ call_status: 'not_connected', disconnection_reason: 'dial_no_answer' });
      expect(server.received.map(eventOf)).toEqual(['call_ended', 'call_analyzed']);
    } finally {
      await server.close();
    }
  });
});
