import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allWeek, POSTAL_ADDRESS, waitFor, wireSendgrid } from './support/campaign.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { sandboxProviders, setUpVoiceTenant, VAPI_SECRET, waitForCall } from './support/voice.js';

const TENANT = 'quota-paths';

/**
 * Where a quota runs out in the middle of work rather than at a REST request: a text a caller asks
 * for, a campaign's call step, a contact analysis. Each time the user is told, nothing is sent,
 * and no workflow fails.
 */
describe('quotas inside calls, campaigns and analyses', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  const setQuota = async (limits: Record<string, number>) => {
    const res = await call(tp.baseUrl, 'PUT', '/v1/quotas', {
      key: TEST_ADMIN_KEY,
      body: { tenantId: TENANT, limits },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };
  const requests = async (provider: string) =>
    (
      await sandbox.control<{ requests: { method: string; route: string }[] }>(
        'GET',
        `/requests?provider=${provider}&limit=20000`,
      )
    ).requests;
  const vapiDials = async () =>
    (await requests('vapi')).filter((r) => r.method === 'POST' && r.route === '/call').length;
  const ghlMessages = async (contactId: string) =>
    (
      await sandbox.control<{ messages: { body: string; direction: string }[] }>(
        'GET',
        `/ghl/messages?locationId=loc_demo&contactId=${contactId}&limit=1000`,
      )
    ).messages;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { ...sandboxProviders(sandbox), SANDBOX_PORT: new URL(sandbox.url).port } });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT, { retry: { maxAttempts: 1, spacingSeconds: 1 } });
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('past the day’s texts, a caller who asks for one hears it cannot be sent; no SMS goes out; the call completes', async () => {
    await setQuota({ sms_per_day: 0 });
    const before = (await ghlMessages('ct_demo')).length;
    const sim = await sandbox.control('POST', '/vapi/calls', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${TENANT}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      direction: 'inbound',
      from: '+15555550100',
      to: '+15555550123',
      wait: true,
      script: {
        steps: [
          { user: 'Can you text me the address?' },
          { tool: 'lookup_caller', arguments: {} },
          { tool: 'send_sms', arguments: { message: 'Our address: 1 Harbour Street' } },
          { user: 'Fine, bye.' },
        ],
      },
    });
    expect(sim.problems).toEqual([]);
    const answers = (sim.deliveries as { type: string; response: { body: any } }[])
      .filter((d) => d.type === 'tool-calls')
      .map((d) => d.response.body.results[0]);
    const sms = answers[1];
    expect(sms.result ?? sms.error).toMatch(/no more texts can be sent today/);
    const done = await waitForCall(
      tp.baseUrl,
      key,
      `call:${TENANT}:vapi:${sim.call.id}`,
      (c) => c.status === 'completed',
    );
    expect(done.status).toBe('completed');
    const after = await ghlMessages('ct_demo');
    expect(after.length).toBe(before);
    expect(after.some((m) => m.body.includes('1 Harbour Street'))).toBe(false);
    await setQuota({ sms_per_day: 500 });
  });

  it('a campaign call step past the day’s calls waits for the reset: no call placed, the call reads quota-wait, nothing fails', async () => {
    await setQuota({ calls_per_day: 0 });
    const placedBefore = await vapiDials();
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        name: 'Quota calls',
        goal: 'Book check-ups',
        sender: { email: 'desk@clinic.example', postalAddress: POSTAL_ADDRESS },
        policy: { sendWindow: allWeek, maxConcurrentCalls: 1 },
        sequence: [{ type: 'call', purpose: 'Offer a check-up' }],
        audience: { type: 'leads', leads: [{ phone: '+15555550142', email: 'qc@example.com', firstName: 'Qc' }] },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key })).status).toBe(202);
    const waiting = await waitFor('the call step waiting on its quota', async () => {
      const res = await call(tp.baseUrl, 'GET', `/v1/calls?phone=${encodeURIComponent('+15555550142')}`, { key });
      return (res.body.calls as { id: string; status: string }[]).find((c) => c.status === 'quota-wait');
    });
    expect(await vapiDials()).toBe(placedBefore);
    const temporal = tp.platform.temporal!;
    expect((await temporal.workflow.getHandle(waiting.id).describe()).status.name).toBe('RUNNING');
    expect((await temporal.workflow.getHandle(`campaign:${TENANT}:${id}`).describe()).status.name).toBe('RUNNING');
    const quotas = await call(tp.baseUrl, 'GET', '/v1/quotas', { key });
    expect(quotas.body.quotas.find((q: { quota: string }) => q.quota === 'calls_per_day')).toMatchObject({
      limit: 0,
      used: 0,
    });
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/cancel`, { key });
    await setQuota({ calls_per_day: 200 });
  });

  it('the analysis past the hour’s quota gets 429 naming contact_analyses_per_hour, and Claude is not asked', async () => {
    await tp.adminPool.query(
      `insert into contacts (tenant_id, id, location_id, name, phone, email, tags, date_added, date_updated)
       values ($1, 'ct_quota', 'loc_demo', 'Quota Person', '+15555550143', 'qp@example.com', '{}', now(), now())`,
      [TENANT],
    );
    await setQuota({ contact_analyses_per_hour: 1 });
    const claudeCalls = async () => (await requests('anthropic')).length;
    const first = await call(tp.baseUrl, 'GET', '/v1/contacts/ct_quota/analysis', { key });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const asked = await claudeCalls();
    const second = await call(tp.baseUrl, 'GET', '/v1/contacts/ct_quota/analysis', { key });
    expect(second.status).toBe(429);
    expect(second.body.message).toMatch(/^quota 'contact_analyses_per_hour' reached \(1\); resets at /);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await claudeCalls()).toBe(asked);
  });
});
