import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../sandbox/server.js';
import { control, startTestSandbox } from './helpers.js';

let sb: RunningSandbox;

beforeAll(async () => {
  sb = await startTestSandbox();
});
afterAll(async () => {
  await sb.close();
});

const ghlHeaders = { authorization: 'Bearer t', version: '2021-07-28', 'content-type': 'application/json' };

describe('sandbox control API', () => {
  it('describes itself at /__sandbox', async () => {
    const index = await (await fetch(`${sb.url}/__sandbox`)).json();
    expect(index).toMatchObject({
      providers: { ghl: `${sb.url}/ghl`, anthropic: `${sb.url}/anthropic` },
      demoIds: { ghlLocationId: 'loc_demo', vapiAssistantId: 'asst_demo' },
    });
  });

  it('logs every request with status and timing, and pages with since', async () => {
    const before = await control<{ lastSeq: number | null }>(sb, 'GET', '/requests?provider=ghl');
    await fetch(`${sb.url}/ghl/contacts/ct_demo`, { headers: ghlHeaders });
    await fetch(`${sb.url}/ghl/contacts/missing`, { headers: ghlHeaders });
    const log = await control<{
      requests: { provider: string; status: number; ms: number; route: string; method: string }[];
      lastSeq: number;
    }>(sb, 'GET', `/requests?provider=ghl&since=${before.lastSeq ?? 0}`);
    expect(log.requests.map((r) => [r.method, r.route, r.status])).toEqual([
      ['GET', '/contacts/:contactId', 200],
      ['GET', '/contacts/:contactId', 400],
    ]);
    expect(log.requests.every((r) => r.provider === 'ghl' && r.ms >= 0)).toBe(true);
    const after = await control<{ requests: unknown[] }>(sb, 'GET', `/requests?provider=ghl&since=${log.lastSeq}`);
    expect(after.requests).toEqual([]);
  });

  it('reports counts, resets to the seeded demo state, and is deterministic', async () => {
    await control(sb, 'POST', '/ghl/seed', { locationId: 'loc_x', contacts: 100 });
    const state = await control<{ ghl: { contacts: number }; seed: number }>(sb, 'GET', '/state');
    expect(state.ghl.contacts).toBe(151);
    const first = await control<{ contacts: { id: string }[] }>(sb, 'GET', '/ghl/contacts?locationId=loc_demo&limit=5');
    await control(sb, 'POST', '/reset', {});
    const reset = await control<{ ghl: { contacts: number }; vapi: { calls: number } }>(sb, 'GET', '/state');
    expect(reset.ghl.contacts).toBe(51);
    const again = await control<{ contacts: { id: string }[] }>(sb, 'GET', '/ghl/contacts?locationId=loc_demo&limit=5');
    expect(again.contacts.map((c) => c.id)).toEqual(first.contacts.map((c) => c.id));
    await control(sb, 'POST', '/reset', { seed: 99 });
    const other = await control<{ contacts: { id: string }[] }>(sb, 'GET', '/ghl/contacts?locationId=loc_demo&limit=5');
    expect(other.contacts.map((c) => c.id)).not.toEqual(first.contacts.map((c) => c.id));
  });

  it('validates faults and answers unknown paths in each provider’s error shape', async () => {
    const bad = await fetch(`${sb.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'nope' }),
    });
    expect(bad.status).toBe(400);
    const probe = await fetch(`${sb.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'vapi', route: 'GET /call', status: 503, probability: 0 }),
    });
    expect(probe.status).toBe(201);
    expect((await fetch(`${sb.url}/vapi/call`, { headers: { authorization: 'Bearer k' } })).status).toBe(200);
    await control(sb, 'DELETE', '/faults');

    const shapes = await Promise.all(
      ['ghl', 'vapi', 'retell', 'anthropic', 'sendgrid'].map(async (p) => {
        const r = await fetch(`${sb.url}/${p}/no/such/path`);
        return [p, r.status, await r.json()] as const;
      }),
    );
    for (const [, status] of shapes) expect(status).toBe(404);
    expect(shapes[0]![2]).toMatchObject({ statusCode: 404, error: 'Not Found' });
    expect(shapes[3]![2]).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(shapes[4]![2]).toMatchObject({ errors: [{ message: expect.any(String) }] });
  });
});
