import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consume, DEFAULT_QUOTA_LIMITS, QuotaExceeded } from '../domain/quotas.js';
import { withTenant } from '../lib/db.js';
import { workflowIds } from '../lib/ids.js';
import { connectVapi } from './support/connections.js';
import { allWeek, createTenant, POSTAL_ADDRESS, sandboxEmails, waitFor, wireSendgrid } from './support/campaign.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

/** Quotas on paid actions over the real API, Temporal, Postgres (forced RLS) and the sandbox. */
describe('quotas', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let callsKey: string;
  let mailKey: string;

  const setQuota = async (tenantId: string, limits: Record<string, number>) => {
    const res = await call(tp.baseUrl, 'PUT', '/v1/quotas', { key: TEST_ADMIN_KEY, body: { tenantId, limits } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { SANDBOX_PORT: new URL(sandbox.url).port } });
    callsKey = await createTenant(tp.baseUrl, 'quota-calls');
    await connectVapi(tp.baseUrl, callsKey);
    const settings = await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
      key: callsKey,
      body: {
        vapi: { assistantId: 'asst_demo', phoneNumberId: 'pn_demo' },
        callingHours: { start: '00:00', end: '24:00', days: [1, 2, 3, 4, 5, 6, 7] },
        retry: { maxAttempts: 1, spacingSeconds: 1 },
        reportGraceSeconds: 3,
      },
    });
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);
    mailKey = await createTenant(tp.baseUrl, 'quota-mail');
    await wireSendgrid(sandbox, tp.baseUrl, 'quota-mail', mailKey);
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('a tenant cannot set its own quotas; the admin key can', async () => {
    const own = await call(tp.baseUrl, 'PUT', '/v1/quotas', {
      key: callsKey,
      body: { tenantId: 'quota-calls', limits: { calls_per_day: 1000 } },
    });
    expect(own.status).toBe(403);
    const bad = await call(tp.baseUrl, 'PUT', '/v1/quotas', {
      key: TEST_ADMIN_KEY,
      body: { tenantId: 'quota-calls', limits: { calls_per_year: 1 } },
    });
    expect(bad.status).toBe(400);
    await setQuota('quota-calls', { calls_per_day: 2 });
  });

  it('the third call of the day gets 429 naming calls_per_day, and nothing starts', async () => {
    const place = (n: number) =>
      call(tp.baseUrl, 'POST', '/v1/calls', {
        key: callsKey,
        body: { to: '+15555550123', purpose: 'quota test', idempotencyKey: `quota-${n}` },
      });
    expect((await place(1)).status).toBe(202);
    // The same idempotency key again is the same call: not counted twice.
    expect((await place(1)).status).toBe(202);
    expect((await place(2)).status).toBe(202);
    const third = await place(3);
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    expect(third.body.message).toMatch(/^quota 'calls_per_day' reached \(2\); resets at \d{4}-\d\d-\d\dT/);
    const resetsAt = Date.parse(third.body.message.split('resets at ')[1]);
    expect(resetsAt).toBeGreaterThan(Date.now());
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    const wid = workflowIds.voiceCall('quota-calls', 'vapi', 'out-quota-3');
    await expect(tp.platform.temporal!.workflow.getHandle(wid).describe()).rejects.toThrow();

    const quotas = await call(tp.baseUrl, 'GET', '/v1/quotas', { key: callsKey });
    expect(quotas.status).toBe(200);
    const calls = quotas.body.quotas.find((q: { quota: string }) => q.quota === 'calls_per_day');
    expect(calls).toMatchObject({ limit: 2, used: 2 });
    expect(Date.parse(calls.resetsAt)).toBe(resetsAt);
    // The other quotas show the platform defaults.
    expect(quotas.body.quotas.find((q: { quota: string }) => q.quota === 'sms_per_day')).toMatchObject({
      limit: DEFAULT_QUOTA_LIMITS.sms_per_day,
      used: 0,
    });
    // The workflows' own placeCall counts the same calls once (same key): still 2 once they dialled.
    await waitFor('both calls dialled', async () => {
      const { rows } = await tp.adminPool.query(
        "select count(*)::int as n from call_provider_ids where tenant_id = 'quota-calls'",
      );
      return rows[0].n >= 2;
    });
    const after = await call(tp.baseUrl, 'GET', '/v1/quotas', { key: callsKey });
    expect(after.body.quotas.find((q: { quota: string }) => q.quota === 'calls_per_day')).toMatchObject({ used: 2 });
  });

  it('a campaign past its email quota sends one email and defers the next, without failing', async () => {
    await setQuota('quota-mail', { emails_per_day: 1 });
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key: mailKey,
      body: {
        name: 'Quota',
        goal: 'Book',
        sender: { email: 'desk@clinic.example', postalAddress: POSTAL_ADDRESS },
        policy: { sendWindow: allWeek },
        sequence: [{ type: 'email', subject: 'Hi', template: 'Hello {{firstName}}' }],
        audience: {
          type: 'leads',
          leads: [
            { email: 'qa@example.com', firstName: 'Qa' },
            { email: 'qb@example.com', firstName: 'Qb' },
          ],
        },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key: mailKey })).status).toBe(202);
    const deferred = await waitFor('a deferred send', async () => {
      const { rows } = await tp.adminPool.query(
        "select data from lead_events where tenant_id = 'quota-mail' and kind = 'send-deferred'",
      );
      return rows[0]?.data as { cap: string; retryAt: string } | undefined;
    });
    expect(deferred.cap).toBe('emails_per_day');
    expect(Date.parse(deferred.retryAt)).toBeGreaterThan(Date.now());
    const emails = [
      ...(await sandboxEmails(sandbox, 'qa@example.com')),
      ...(await sandboxEmails(sandbox, 'qb@example.com')),
    ];
    expect(emails).toHaveLength(1);
    const wf = await tp.platform.temporal!.workflow.getHandle(`campaign:quota-mail:${id}`).describe();
    expect(wf.status.name).toBe('RUNNING');
    const quotas = await call(tp.baseUrl, 'GET', '/v1/quotas', { key: mailKey });
    expect(quotas.body.quotas.find((q: { quota: string }) => q.quota === 'emails_per_day')).toMatchObject({
      limit: 1,
      used: 1,
    });
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/cancel`, { key: mailKey });
  });

  it('past the day’s Claude tokens a drafted email waits for the reset instead of failing', async () => {
    await setQuota('quota-mail', { emails_per_day: 100, claude_tokens_per_day: 1 });
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key: mailKey,
      body: {
        name: 'Tokens',
        goal: 'Book',
        sender: { email: 'desk@clinic.example', postalAddress: POSTAL_ADDRESS },
        policy: { sendWindow: allWeek },
        sequence: [{ type: 'email', prompt: 'Invite them to a check-up' }],
        audience: { type: 'leads', leads: [{ email: 'qt@example.com', firstName: 'Qt' }] },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key: mailKey })).status).toBe(202);
    const deferred = await waitFor('a send deferred for tokens', async () => {
      const { rows } = await tp.adminPool.query(
        `select data from lead_events where tenant_id = 'quota-mail' and kind = 'send-deferred' and data->>'cap' = 'claude_tokens_per_day'`,
      );
      return rows[0]?.data as { cap: string; retryAt: string } | undefined;
    });
    expect(Date.parse(deferred.retryAt)).toBeGreaterThan(Date.now());
    expect(await sandboxEmails(sandbox, 'qt@example.com')).toHaveLength(0);
    const wf = await tp.platform.temporal!.workflow.getHandle(`campaign:quota-mail:${id}`).describe();
    expect(wf.status.name).toBe('RUNNING');
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/cancel`, { key: mailKey });
  });

  it('past the day’s Claude tokens a template email still goes out; a reply waits for the reset to be read; a “stop” is honoured at once', async () => {
    await setQuota('quota-mail', { emails_per_day: 100, claude_tokens_per_day: 0 });
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key: mailKey,
      body: {
        name: 'Replies',
        goal: 'Book',
        sender: { email: 'desk@clinic.example', postalAddress: POSTAL_ADDRESS },
        policy: { sendWindow: allWeek },
        // The wait keeps each lead listening for replies after its first email.
        sequence: [
          { type: 'email', subject: 'Hi', template: 'Hello {{firstName}}' },
          { type: 'wait', days: 3 },
          { type: 'email', subject: 'Again', template: 'Hello again {{firstName}}' },
        ],
        audience: {
          type: 'leads',
          leads: [
            { email: 'qi@example.com', firstName: 'Qi' },
            { email: 'qs@example.com', firstName: 'Qs' },
          ],
        },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key: mailKey })).status).toBe(202);
    const reply = async (to: string, text: string) => {
      const [email] = await waitFor(`the email to ${to}`, async () => {
        const sent = await sandboxEmails(sandbox, to);
        return sent.length ? sent : undefined;
      });
      await sandbox.control('POST', '/sendgrid/reply', { messageId: email!.messageId, text });
    };
    const leadId = async (email: string) =>
      (
        await tp.adminPool.query<{ id: string }>(
          "select id from campaign_leads where tenant_id = 'quota-mail' and campaign_id = $1 and email = $2",
          [id, email],
        )
      ).rows[0]!.id;
    await reply('qi@example.com', 'Yes please, I am interested. Thursday works.');
    await reply('qs@example.com', 'STOP');
    // The "stop" needs no model: suppressed now.
    await waitFor('the stop reply honoured', async () => {
      const { rows } = await tp.adminPool.query(
        "select 1 from suppressions where tenant_id = 'quota-mail' and channel = 'email' and value = 'qs@example.com'",
      );
      return rows.length > 0;
    });
    // The interested reply waits: its classification (a local activity) failed on the quota and its
    // next attempt is a timer set for the reset; the lead does not fail.
    const handle = tp.platform.temporal!.workflow.getHandle(`lead:quota-mail:${id}:${await leadId('qi@example.com')}`);
    const backoff = await waitFor('classification waiting for the token quota', async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      const refused = events.findIndex((e) =>
        /claude_tokens_per_day/.test(e.markerRecordedEventAttributes?.failure?.message ?? ''),
      );
      if (refused < 0) return undefined;
      return events.slice(refused).find((e) => e.timerStartedEventAttributes)?.timerStartedEventAttributes;
    });
    expect(Number(backoff?.startToFireTimeout?.seconds ?? 0)).toBeGreaterThan(60);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    const classified = await tp.adminPool.query(
      "select 1 from lead_events where tenant_id = 'quota-mail' and campaign_id = $1 and kind = 'reply-classified' and data->>'category' <> 'unsubscribe'",
      [id],
    );
    expect(classified.rows).toHaveLength(0);
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/cancel`, { key: mailKey });
  });

  it('concurrent consumption never passes the limit; a retried key counts once', async () => {
    const pool = tp.platform.pool;
    const defaults = { ...DEFAULT_QUOTA_LIMITS, sms_per_day: 5 };
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => consume(pool, 'quota-mail', 'sms_per_day', 1, { defaults, key: `c-${i}` })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(15);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(QuotaExceeded);

    const once = { ...DEFAULT_QUOTA_LIMITS, contact_analyses_per_hour: 10 };
    for (let i = 0; i < 3; i++)
      await consume(pool, 'quota-mail', 'contact_analyses_per_hour', 1, { defaults: once, key: 'retry-me' });
    const used = await withTenant(pool, 'quota-mail', (c) =>
      c.query<{ used: string }>(
        "select used from quota_counters where tenant_id = 'quota-mail' and quota = 'contact_analyses_per_hour'",
      ),
    );
    expect(Number(used.rows[0]!.used)).toBe(1);
  });
});
