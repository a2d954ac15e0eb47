import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from './support/campaign.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { sandboxProviders, setUpVoiceTenant } from './support/voice.js';

/**
 * GET /v1/calls/stream (the console's live call list) at the REST level: a tenant's stream carries
 * its own calls only, from any API replica (the change is read from Postgres, not process memory),
 * and the sandbox tour's call simulator exists only when Vapi is the local sandbox.
 */

const TENANT = 'stream-a';
const OTHER = 'stream-b';

interface Stream {
  events: { event: string; data: any }[];
  close(): void;
  until(what: string, ok: (events: { event: string; data: any }[]) => boolean, timeoutMs?: number): Promise<void>;
}

async function openStream(baseUrl: string, key: string): Promise<Stream> {
  const ctrl = new AbortController();
  const res = await fetch(`${baseUrl}/v1/calls/stream`, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' },
    signal: ctrl.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: { event: string; data: any }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return {
    events,
    close: () => ctrl.abort(),
    async until(what, ok, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!ok(events)) {
        if (Date.now() > deadline)
          throw new Error(`stream: timed out waiting for ${what}; got ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

describe('the live call stream', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let replica: TestPlatform;
  let key: string;
  let otherKey: string;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    const { VAPI_API_KEY: _k, VAPI_BASE_URL: _u, ...providers } = sandboxProviders(sandbox);
    tp = await startTestPlatform({ env: { ...providers, SANDBOX_PORT: new URL(sandbox.url).port } });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    otherKey = await createTenant(tp.baseUrl, OTHER);
    // A second API replica on the same database, with Vapi live (its own key): no tour routes there.
    replica = await startTestPlatform({
      roles: ['api'],
      databaseUrl: tp.platform.databaseUrl,
      adminUrl: tp.platform.databaseUrl,
      env: { ...sandboxProviders(sandbox) },
    });
  });
  let replicaStopped = false;
  afterAll(async () => {
    if (!replicaStopped) await replica?.stop();
    await tp?.stop();
    await sandbox?.close();
  });

  it("carries the tenant's new and changed calls to streams on every replica, and no other tenant's", async () => {
    const here = await openStream(tp.baseUrl, key);
    const there = await openStream(replica.baseUrl, key);
    const other = await openStream(replica.baseUrl, otherKey);
    try {
      const started = await call(tp.baseUrl, 'POST', '/v1/sandbox/calls', { key, body: {} });
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      const id: string = started.body.workflowId;
      const mine = (events: { data: any }[]) => events.filter((e) => e.data.id === id);
      // The call shows at once, then again as it changes, to its end.
      for (const stream of [here, there]) {
        await stream.until('the new call', (e) => mine(e).length > 0, 20_000);
        await stream.until('the completed call', (e) => mine(e).some((x) => x.data.status === 'completed'));
      }
      const statuses = mine(there.events).map((e) => e.data.status);
      expect(statuses.length).toBeGreaterThan(1);
      expect(mine(there.events).at(-1)!.data).toMatchObject({ phone: '+15555550100', outcome: 'booked' });
      // Each change is sent once, not once per poll.
      const seen = mine(here.events).map((e) => JSON.stringify(e.data));
      expect(new Set(seen).size).toBe(seen.length);
      expect(other.events).toEqual([]);
    } finally {
      for (const s of [here, there, other]) s.close();
    }
  });

  it('needs a read credential; the tour route exists only on a sandbox Vapi', async () => {
    expect((await fetch(`${tp.baseUrl}/v1/calls/stream`)).status).toBe(401);
    expect((await call(tp.baseUrl, 'GET', '/v1/calls/stream', { key: TEST_ADMIN_KEY })).status).toBe(403);
    expect((await call(replica.baseUrl, 'POST', '/v1/sandbox/calls', { key, body: {} })).status).toBe(404);
  });

  it('an API replica stopping ends its open streams instead of waiting for the browsers to leave', async () => {
    const res = await fetch(`${replica.baseUrl}/v1/calls/stream`, { headers: { authorization: `Bearer ${key}` } });
    const reader = res.body!.getReader();
    await reader.read(); // connected
    const started = Date.now();
    replicaStopped = true;
    await replica.stop();
    expect(Date.now() - started).toBeLessThan(10_000);
    for (;;) if ((await reader.read()).done) break; // the stream ended
  });
});
