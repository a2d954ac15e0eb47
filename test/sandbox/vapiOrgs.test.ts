import { VapiClient, VapiError } from '@vapi-ai/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../sandbox/server.js';
import { control, startReceiver, startTestSandbox, waitFor, type Received } from './helpers.js';

let sb: RunningSandbox;
const client = (token: string) => new VapiClient({ token, baseUrl: `${sb.url}/vapi` });
let a: VapiClient;
let a2: VapiClient;
let b: VapiClient;
let anyKey: VapiClient;

beforeAll(async () => {
  sb = await startTestSandbox();
  a = client('key-a');
  a2 = client('key-a-second');
  b = client('key-b');
  anyKey = client('some-unregistered-key');
  await control(sb, 'POST', '/vapi/orgs', {
    orgId: 'org_a',
    apiKey: 'key-a',
    name: 'Clinic A',
    assistants: ['asst_a1', { id: 'asst_a2', name: 'Front desk A' }],
    phoneNumbers: [{ id: 'pn_a', number: '+14155551001' }],
  });
  await control(sb, 'POST', '/vapi/orgs', { orgId: 'org_a', apiKey: 'key-a-second' });
  await control(sb, 'POST', '/vapi/orgs', {
    orgId: 'org_b',
    apiKey: 'key-b',
    assistants: ['asst_b'],
    phoneNumbers: [{ id: 'pn_b', number: '+14155552001' }],
  });
});
afterAll(async () => {
  await sb.close();
});

interface Call {
  id: string;
  orgId: string;
  status: string;
  createdAt: string;
  metadata?: Record<string, unknown>;
}
// The SDK's types have no `metadata` on calls; Vapi takes and returns it (the app finds its calls by it).
type CreateCall = Parameters<VapiClient['calls']['create']>[0];
const create = async (c: VapiClient, assistantId: string, phoneNumberId: string, metadata?: Record<string, unknown>) =>
  (await c.calls.create({ assistantId, phoneNumberId, customer: { number: '+14155550100' }, metadata } as CreateCall, {
    maxRetries: 0,
  })) as unknown as Call;
const list = async (c: VapiClient, query: Parameters<VapiClient['calls']['list']>[0] = {}) =>
  (await c.calls.list(query)) as unknown as Call[];
const failure = (p: Promise<unknown>) => p.then(() => undefined as VapiError | undefined).catch((e: VapiError) => e);
const vapiCalls = async () => (await control<{ vapi: { calls: number } }>(sb, 'GET', '/state')).vapi.calls;
const ended = (c: VapiClient, id: string) =>
  waitFor(async () => {
    const call = (await c.calls.get({ id })) as unknown as Call;
    return call.status === 'ended' ? call : undefined;
  });
const messageOf = (r: Received) =>
  (
    JSON.parse(r.raw) as {
      message: { type: string; call: { id: string; orgId: string }; phoneNumber: { id: string; orgId: string } };
    }
  ).message;

describe('Vapi orgs: each API key sees its own org', () => {
  it('lists and gets only the key’s own assistants and phone numbers', async () => {
    const mine = await a.assistants.list();
    expect(mine.map((x) => x.id).sort()).toEqual(['asst_a1', 'asst_a2']);
    for (const x of mine) expect(x).toMatchObject({ orgId: 'org_a', createdAt: expect.any(String) });
    expect(mine.find((x) => x.id === 'asst_a2')!.name).toBe('Front desk A');
    expect((await a2.assistants.list()).map((x) => x.id).sort()).toEqual(['asst_a1', 'asst_a2']);
    expect((await b.assistants.list()).map((x) => x.id)).toEqual(['asst_b']);
    expect(await a.assistants.list({ limit: 1 })).toHaveLength(1);
    // Unregistered keys are the default org, as before orgs existed.
    const demo = await anyKey.assistants.list();
    expect(demo.map((x) => x.id)).toEqual(['asst_demo']);
    expect(demo[0]!.orgId).toBe('org_sandbox');

    expect(await a.phoneNumbers.list()).toEqual([
      expect.objectContaining({ id: 'pn_a', orgId: 'org_a', number: '+14155551001', provider: 'twilio' }),
    ]);
    expect((await b.phoneNumbers.list()).map((p) => p.id)).toEqual(['pn_b']);
    expect((await anyKey.phoneNumbers.list()).map((p) => p.number)).toEqual(['+15555550123']);
    expect(await b.phoneNumbers.get({ id: 'pn_b' })).toMatchObject({ id: 'pn_b', orgId: 'org_b' });
    expect(await a.assistants.get({ id: 'asst_a1' })).toMatchObject({ id: 'asst_a1', orgId: 'org_a' });

    const otherAssistant = await failure(a.assistants.get({ id: 'asst_b' }));
    expect(otherAssistant?.statusCode).toBe(404);
    expect((otherAssistant?.body as { message: string }).message).toMatch(/^Couldn't Get Assistant\./);
    const otherNumber = await failure(anyKey.phoneNumbers.get({ id: 'pn_a' }));
    expect(otherNumber?.statusCode).toBe(404);
    expect((otherNumber?.body as { message: string }).message).toMatch(/^Couldn't Get Phone Number\./);
    expect((await failure(b.assistants.get({ id: 'asst_demo' })))?.statusCode).toBe(404);
  });

  it('keeps calls apart: create, list and get per org; another org’s ids are unknown', async () => {
    const callA = await create(a, 'asst_a1', 'pn_a');
    const callB = await create(b, 'asst_b', 'pn_b');
    const callDemo = await create(anyKey, 'asst_demo', 'pn_demo');
    expect([callA.orgId, callB.orgId, callDemo.orgId]).toEqual(['org_a', 'org_b', 'org_sandbox']);

    expect((await a.calls.list()).map((c) => c.id)).toEqual([callA.id]);
    expect((await a2.calls.list()).map((c) => c.id)).toEqual([callA.id]);
    expect((await b.calls.list()).map((c) => c.id)).toEqual([callB.id]);
    const demoIds = (await anyKey.calls.list()).map((c) => c.id);
    expect(demoIds).toContain(callDemo.id);
    expect(demoIds).not.toContain(callA.id);
    expect(demoIds).not.toContain(callB.id);
    expect((await a.calls.list({ assistantId: 'asst_a1' })).map((c) => c.id)).toEqual([callA.id]);
    expect((await a.calls.get({ id: callA.id })).orgId).toBe('org_a');
    expect((await failure(a.calls.get({ id: callB.id }, { maxRetries: 0 })))?.statusCode).toBe(404);
    expect((await failure(anyKey.calls.get({ id: callA.id }, { maxRetries: 0 })))?.statusCode).toBe(404);

    const before = await vapiCalls();
    const wrongAssistant = await failure(create(a, 'asst_b', 'pn_a'));
    expect(wrongAssistant?.statusCode).toBe(400);
    expect((wrongAssistant?.body as { message: string }).message).toBe(
      "Couldn't Get Assistant. `assistantId` asst_b Does Not Exist.",
    );
    const wrongNumber = await failure(create(a, 'asst_a1', 'pn_b'));
    expect(wrongNumber?.statusCode).toBe(400);
    expect((wrongNumber?.body as { message: string }).message).toBe(
      "Couldn't Get Phone Number. `phoneNumberId` pn_b Does Not Exist.",
    );
    expect((await failure(create(anyKey, 'asst_a1', 'pn_demo')))?.statusCode).toBe(400);
    expect(await vapiCalls()).toBe(before);
    expect((await a.calls.list()).map((c) => c.id)).toEqual([callA.id]);
    await Promise.all([ended(a, callA.id), ended(b, callB.id), ended(anyKey, callDemo.id)]);
  });

  it('refuses a key or an id that already belongs to another org, and changes nothing then', async () => {
    const post = (body: unknown) =>
      fetch(`${sb.url}/__sandbox/vapi/orgs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post({ orgId: 'org_b', apiKey: 'key-a' })).status).toBe(409);
    const taken = await post({ orgId: 'org_c', apiKey: 'key-c', assistants: ['asst_a1'] });
    expect(taken.status).toBe(409);
    expect(((await taken.json()) as { error: string }).error).toMatch(/asst_a1 belongs to org org_a/);
    expect(
      (await post({ orgId: 'org_c', apiKey: 'key-c', phoneNumbers: [{ id: 'pn_c', number: '+14155551001' }] })).status,
    ).toBe(409);
    expect(
      (await post({ orgId: 'org_c', apiKey: 'key-c', phoneNumbers: [{ id: 'pn_c', number: '555' }] })).status,
    ).toBe(400);
    expect((await post({ orgId: 'org_c' })).status).toBe(400);
    // key-c is still an unregistered key: the default org's.
    expect((await client('key-c').assistants.list()).map((x) => x.id)).toEqual(['asst_demo']);
    const orgs = await control<{ orgs: { orgId: string; apiKeys: number }[] }>(sb, 'GET', '/vapi/orgs');
    expect(orgs.orgs.map((o) => [o.orgId, o.apiKeys])).toEqual([
      ['org_sandbox', 0],
      ['org_a', 2],
      ['org_b', 1],
    ]);
    // The default org's own assistants route cannot take another org's id either.
    const res = await fetch(`${sb.url}/__sandbox/vapi/assistants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'asst_b' }),
    });
    expect(res.status).toBe(409);
  });
});

describe('Vapi orgs: per-org server config', () => {
  it('plays each org’s outbound calls against its own server URL with its own credential', async () => {
    const answer = (assistantId: string) => (r: Received) =>
      messageOf(r).type === 'assistant-request' ? { body: { assistantId } } : { body: {} };
    const serverA = await startReceiver(answer('asst_a1'));
    const serverB = await startReceiver(answer('asst_b'));
    try {
      const script = { steps: [{ user: 'Hello there.' }] };
      await control(sb, 'POST', '/vapi/config', {
        orgId: 'org_a',
        serverUrl: `${serverA.url}/a`,
        credential: 'secret-a',
        script,
      });
      await control(sb, 'POST', '/vapi/config', {
        orgId: 'org_b',
        serverUrl: `${serverB.url}/b`,
        credential: { type: 'bearer', secret: 'token-b' },
        script,
      });
      const callA = await create(a, 'asst_a1', 'pn_a');
      const callB = await create(b, 'asst_b', 'pn_b');
      const callDemo = await create(anyKey, 'asst_demo', 'pn_demo');
      const reportFor = (server: { received: Received[] }, id: string) =>
        waitFor(async () =>
          server.received.some((r) => messageOf(r).type === 'end-of-call-report' && messageOf(r).call.id === id)
            ? true
            : undefined,
        );
      await Promise.all([reportFor(serverA, callA.id), reportFor(serverB, callB.id), ended(anyKey, callDemo.id)]);

      expect(serverA.received.length).toBeGreaterThan(2);
      for (const r of serverA.received) {
        expect(r.url).toBe('/a');
        expect(r.headers['x-vapi-secret']).toBe('secret-a');
        expect(messageOf(r).call).toMatchObject({ id: callA.id, orgId: 'org_a' });
        expect(messageOf(r).phoneNumber).toMatchObject({ id: 'pn_a', orgId: 'org_a' });
      }
      for (const r of serverB.received) {
        expect(r.headers.authorization).toBe('Bearer token-b');
        expect(messageOf(r).call).toMatchObject({ id: callB.id, orgId: 'org_b' });
      }
      // The default org has no server configured: its call is played silently.
      const seen = [...serverA.received, ...serverB.received].map((r) => messageOf(r).call.id);
      expect(seen).not.toContain(callDemo.id);

      // Inbound: the org owning the number dialled, or the one named.
      serverB.received.length = 0;
      const inbound = await control<{ call: { orgId: string; assistantId?: string } }>(sb, 'POST', '/vapi/calls', {
        serverUrl: serverB.url,
        to: '+14155552001',
        wait: true,
        script,
      });
      expect(inbound.call).toMatchObject({ orgId: 'org_b', assistantId: 'asst_b' });
      const first = messageOf(serverB.received[0]!);
      expect(first.type).toBe('assistant-request');
      expect(first.call.orgId).toBe('org_b');
      expect(first.phoneNumber).toMatchObject({ id: 'pn_b', orgId: 'org_b' });
      serverA.received.length = 0;
      const named = await control<{ call: { orgId: string; phoneNumberId: string } }>(sb, 'POST', '/vapi/calls', {
        serverUrl: serverA.url,
        orgId: 'org_a',
        wait: true,
        script,
      });
      expect(named.call).toMatchObject({ orgId: 'org_a', phoneNumberId: 'pn_a' });
      expect(messageOf(serverA.received[0]!).phoneNumber.id).toBe('pn_a');
      const defaultInbound = await control<{ call: { orgId: string; phoneNumberId: string } }>(
        sb,
        'POST',
        '/vapi/calls',
        { serverUrl: serverA.url, wait: true, script },
      );
      expect(defaultInbound.call).toMatchObject({ orgId: 'org_sandbox', phoneNumberId: 'pn_demo' });

      const unknown = await fetch(`${sb.url}/__sandbox/vapi/config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orgId: 'org_nope', serverUrl: serverA.url }),
      });
      expect(unknown.status).toBe(404);
    } finally {
      await control(sb, 'POST', '/vapi/config', { orgId: 'org_a', serverUrl: null });
      await control(sb, 'POST', '/vapi/config', { orgId: 'org_b', serverUrl: null });
      await serverA.close();
      await serverB.close();
    }
  });
});

describe('Vapi orgs: busy accounts and slow answers', () => {
  it('bulk-creates ended calls that page back newest first by createdAt, 100 at a time', async () => {
    await control(sb, 'POST', '/vapi/orgs', { orgId: 'org_busy', apiKey: 'key-busy', assistants: ['asst_busy'] });
    const busy = client('key-busy');
    const since = new Date(Date.now() - 10 * 60_000).toISOString();
    // The needle first: a bulk's first call is the oldest, so 249 later ones all sort before it.
    await control(sb, 'POST', '/vapi/orgs/org_busy/calls/bulk', { count: 1, metadata: { jobId: 'needle' } });
    const hay = await control<{ count: number; oldestCreatedAt: string; newestCreatedAt: string }>(
      sb,
      'POST',
      '/vapi/orgs/org_busy/calls/bulk',
      { count: 249, metadata: { jobId: 'hay' } },
    );
    expect(hay.count).toBe(249);
    expect(Date.parse(hay.newestCreatedAt)).toBeLessThanOrEqual(Date.now());

    const pages: Call[][] = [];
    let cursor = new Date(Date.now() + 60_000).toISOString();
    for (;;) {
      const page = (await busy.calls.list({
        createdAtGt: since,
        createdAtLt: cursor,
        limit: 100,
      })) as unknown as Call[];
      if (!page.length) break;
      pages.push(page);
      cursor = page.at(-1)!.createdAt;
    }
    expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
    const all = pages.flat();
    expect(new Set(all.map((c) => c.id)).size).toBe(250);
    for (let i = 1; i < all.length; i++)
      expect(Date.parse(all[i]!.createdAt)).toBeLessThan(Date.parse(all[i - 1]!.createdAt));
    for (const c of all) expect(c).toMatchObject({ orgId: 'org_busy', status: 'ended' });
    const needle = all.findIndex((c) => c.metadata?.jobId === 'needle');
    expect(needle).toBeGreaterThanOrEqual(200);
    expect(((await busy.calls.get({ id: all[needle]!.id })) as unknown as Call).metadata).toEqual({ jobId: 'needle' });
    // Nobody else sees them.
    expect((await a.calls.list({ limit: 1000 })).length).toBeLessThan(10);

    const bulk = (orgId: string, body: unknown) =>
      fetch(`${sb.url}/__sandbox/vapi/orgs/${orgId}/calls/bulk`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await bulk('org_busy', { count: 0 })).status).toBe(400);
    expect((await bulk('org_busy', { count: 5001 })).status).toBe(400);
    expect((await bulk('org_nope', { count: 1 })).status).toBe(404);

    // A simulated call needs an org that exists and has a number to ring.
    const simulate = (orgId: string) =>
      fetch(`${sb.url}/__sandbox/vapi/calls`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ serverUrl: 'http://127.0.0.1:1/', orgId }),
      });
    expect((await simulate('org_nope')).status).toBe(404);
    expect((await simulate('org_busy')).status).toBe(400);
  });

  it('answerDelayMs: the call exists and runs before POST /call answers, also when the client gives up', async () => {
    await control(sb, 'POST', '/vapi/config', { orgId: 'org_a', answerDelayMs: 1500 });
    const postCall = (metadata: Record<string, unknown>, signal?: AbortSignal) =>
      fetch(`${sb.url}/vapi/call`, {
        method: 'POST',
        headers: { authorization: 'Bearer key-a', 'content-type': 'application/json' },
        body: JSON.stringify({
          assistantId: 'asst_a1',
          phoneNumberId: 'pn_a',
          customer: { number: '+14155550100' },
          metadata,
        }),
        signal,
      });
    const listed = (attempt: string) =>
      waitFor(async () => (await list(a, { limit: 10 })).find((c) => c.metadata?.attempt === attempt));

    const started = Date.now();
    let answered = false;
    const pending = postCall({ attempt: 'slow' }).then((res) => {
      answered = true;
      return res;
    });
    const seen = await listed('slow');
    expect(answered).toBe(false);
    const res = await pending;
    expect(res.status).toBe(201);
    expect(((await res.json()) as Call).id).toBe(seen.id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);

    // A client killed meanwhile: the provider accepted the call all the same, and it runs to its end.
    const abort = new AbortController();
    const killed = postCall({ attempt: 'killed' }, abort.signal);
    const orphan = await listed('killed');
    abort.abort();
    await expect(killed).rejects.toThrow();
    expect((await ended(a, orphan.id)).metadata).toEqual({ attempt: 'killed' });
    // Other orgs answer at once.
    const quick = Date.now();
    await create(b, 'asst_b', 'pn_b');
    expect(Date.now() - quick).toBeLessThan(1000);

    await control(sb, 'POST', '/vapi/config', { orgId: 'org_a', answerDelayMs: 0 });
    const fast = Date.now();
    await create(a, 'asst_a1', 'pn_a');
    expect(Date.now() - fast).toBeLessThan(1000);
  });
});

describe('Vapi orgs: reset', () => {
  it('drops the orgs: every key is the default org again', async () => {
    await control(sb, 'POST', '/reset', {});
    expect((await a.assistants.list()).map((x) => x.id)).toEqual(['asst_demo']);
    expect(await a.calls.list()).toEqual([]);
    const orgs = await control<{ orgs: { orgId: string }[] }>(sb, 'GET', '/vapi/orgs');
    expect(orgs.orgs.map((o) => o.orgId)).toEqual(['org_sandbox']);
    const call = await create(a, 'asst_demo', 'pn_demo');
    expect(call.orgId).toBe('org_sandbox');
  });
});
