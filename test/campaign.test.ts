import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { recordHistory } from './support/histories.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { withTenant } from '../lib/db.js';
import { localTime } from '../lib/sendWindow.js';
import { allWeek, campaignStatus, createTenant, sandboxEmails, waitFor, wireSendgrid } from './support/campaign.js';

const TENANT = 'camp-a';

describe('campaigns over the real API, Temporal and the sandbox', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { SANDBOX_PORT: new URL(sandbox.url).port } });
    key = await createTenant(tp.baseUrl, TENANT);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('runs email → wait(0) → email for every lead, one email per step', async () => {
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        name: 'Spring cleaning',
        goal: 'Book a free dental check-up',
        sender: {
          email: 'desk@clinic.example',
          name: 'Front Desk',
          replyTo: 'replies@inbound.clinic.example',
          postalAddress: '1 Harbour Street, Springfield, IL 62701, USA',
        },
        policy: { sendWindow: allWeek },
        sequence: [
          { type: 'email', prompt: 'Invite them to a free check-up' },
          { type: 'wait', days: 0 },
          { type: 'email', subject: 'Following up, {{firstName}}', template: 'Hi {{firstName}}, any interest?' },
        ],
        audience: {
          type: 'leads',
          leads: [
            { email: 'ann@example.com', firstName: 'Ann' },
            { email: 'bob@example.com', firstName: 'Bob' },
            { email: 'cy@example.com', firstName: 'Cy' },
          ],
        },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.leads).toEqual({ imported: 3, duplicates: 0, errors: [] });
    const id = created.body.id;
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key })).status).toBe(202);
    const result = await tp.platform.temporal!.workflow.getHandle(`campaign:${TENANT}:${id}`).result();
    expect(result).toMatchObject({ state: 'completed', started: 3, finished: 3, outcomes: { exhausted: 3 } });
    // Leads report by their result (no leadFinished signal): the history the replay test keeps.
    await recordHistory(tp.platform.temporal!, `campaign:${TENANT}:${id}`, 'campaign-leads-by-result');

    for (const to of ['ann@example.com', 'bob@example.com', 'cy@example.com']) {
      const emails = await sandboxEmails(sandbox, to);
      expect(emails).toHaveLength(2);
      expect(emails[1]!.subject).toBe(`Following up, ${to[0]!.toUpperCase()}${to.slice(1, to.indexOf('@'))}`);
      expect(emails[0]!.replyTo?.email).toMatch(/^replies\+[a-z0-9]+@inbound\.clinic\.example$/);
    }
    const progress = await campaignStatus(tp, key, id);
    expect(progress).toMatchObject({
      status: 'completed',
      leads: { total: 3, byState: { exhausted: 3 } },
      emails: { sent: 6 },
    });
    expect(progress.costUsd).toBeGreaterThan(0);
  });

  const base = {
    name: 'N',
    goal: 'G',
    sender: { email: 'desk@clinic.example', postalAddress: '1 Harbour Street, Springfield, IL 62701, USA' },
    sequence: [{ type: 'email', subject: 'Hi', template: 'Hello' }],
  };

  it('rejects a bad definition naming the field, with nothing written; a CSV with bad rows imports the good ones and lists the rest', async () => {
    const before = await tp.adminPool.query('select count(*)::int as n from campaigns');
    for (const [body, field] of [
      [{ ...base, sequence: [] }, 'body.sequence'],
      [{ ...base, colour: 'red' }, 'colour'],
      [{ ...base, policy: { sendWindow: { startHour: 18, endHour: 9 } } }, 'body.policy.sendWindow.endHour'],
      [{ ...base, policy: { timezone: 'Mars/Olympus' } }, 'body.policy.timezone'],
      [{ ...base, sequence: [{ type: 'email' }] }, 'body.sequence.0'],
      [{ ...base, sender: { ...base.sender, email: 'nope' } }, 'body.sender.email'],
      // CAN-SPAM: an email campaign names the sender's postal address.
      [{ ...base, sender: { email: 'desk@clinic.example' } }, 'body.sender.postalAddress'],
    ] as const) {
      const res = await call(tp.baseUrl, 'POST', '/v1/campaigns', { key, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message).toContain(field);
    }
    expect((await tp.adminPool.query('select count(*)::int as n from campaigns')).rows[0].n).toBe(before.rows[0].n);

    const csv = [
      'email,phone,first_name,company,timezone,plan',
      'good1@example.com,,Gina,Acme,Europe/Paris,gold',
      'not-an-email,,Bad,,,',
      ',,NoContact,,,',
      'good2@example.com,+1 (555) 010-0200,Gus,,America/Chicago,',
      'good1@example.com,,Dup,,,',
      'tz@example.com,,Tz,,Moon/Base,',
    ].join('\n');
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: { ...base, audience: { type: 'csv', csv } },
    });
    expect(created.status).toBe(201);
    expect(created.body.leads.imported).toBe(2);
    expect(created.body.leads.errors).toEqual([
      { row: 3, field: 'email', message: 'not an email address' },
      { row: 4, field: 'email', message: 'a lead needs an email or a phone' },
      { row: 6, field: 'email', message: 'good1@example.com is already in this campaign' },
      { row: 7, field: 'timezone', message: 'not an IANA time zone (e.g. America/New_York)' },
    ]);
    const more = await fetch(`${tp.baseUrl}/v1/campaigns/${created.body.id}/leads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' },
      body: 'Email,Phone\ngood2@example.com,\nnew@example.com,\n',
    });
    expect(await more.json()).toEqual({
      imported: 1,
      duplicates: 1,
      errors: [{ row: 2, field: 'email', message: 'good2@example.com is already in this campaign' }],
    });
    const leads = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query('select email, phone, timezone, fields from campaign_leads where campaign_id = $1 order by seq', [
        created.body.id,
      ]),
    );
    expect(leads.rows).toEqual([
      { email: 'good1@example.com', phone: null, timezone: 'Europe/Paris', fields: { plan: 'gold' } },
      { email: 'good2@example.com', phone: '+15550100200', timezone: 'America/Chicago', fields: {} },
      { email: 'new@example.com', phone: null, timezone: null, fields: {} },
    ]);
  });

  it('sends only inside 9–17 recipient-local: leads outside their window wait on a durable timer for its start', async () => {
    const now = Date.now();
    const zones = [
      'Pacific/Kiritimati',
      'Asia/Tokyo',
      'Asia/Kolkata',
      'Europe/London',
      'America/New_York',
      'America/Los_Angeles',
      'Pacific/Honolulu',
      'Pacific/Pago_Pago',
    ];
    const window = { startHour: 9, endHour: 17, days: allWeek.days };
    const inside = (tz: string, at: number) => {
      const h = localTime(at, tz).hour;
      return h >= 9 && h < 17;
    };
    // Leave a margin so no lead crosses its window edge while the test runs.
    const stable = zones.filter((tz) => inside(tz, now) === inside(tz, now + 120_000));
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        ...base,
        policy: { sendWindow: window },
        audience: { type: 'leads', leads: stable.map((tz, i) => ({ email: `zone${i}@example.com`, timezone: tz })) },
      },
    });
    const id = created.body.id;
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key });
    const expectSent = stable.filter((tz) => inside(tz, now));
    expect(expectSent.length).toBeGreaterThan(0);
    expect(expectSent.length).toBeLessThan(stable.length);
    await waitFor(
      'the in-window sends',
      async () => (await campaignStatus(tp, key, id)).emails.sent === expectSent.length,
    );
    await waitFor('the others waiting', async () => {
      const { rows } = await withTenant(tp.platform.pool, TENANT, (c) =>
        c.query(`select count(*)::int as n from lead_events where campaign_id = $1 and kind = 'waiting-for-window'`, [
          id,
        ]),
      );
      return rows[0].n === stable.length - expectSent.length;
    });
    for (const [i, tz] of stable.entries()) {
      const emails = await sandboxEmails(sandbox, `zone${i}@example.com`);
      expect(emails.length).toBe(inside(tz, now) ? 1 : 0);
      for (const e of emails) expect(inside(tz, Date.parse(e.receivedAt)), `${tz} ${e.receivedAt}`).toBe(true);
      if (!inside(tz, now)) {
        const { rows } = await withTenant(tp.platform.pool, TENANT, (c) =>
          c.query(
            `select e.data->>'until' as until from lead_events e join campaign_leads l on l.id = e.lead_id and l.campaign_id = e.campaign_id where e.campaign_id = $1 and l.email = $2 and e.kind = 'waiting-for-window'`,
            [id, `zone${i}@example.com`],
          ),
        );
        const until = Date.parse(rows[0].until);
        expect(localTime(until, tz)).toMatchObject({ hour: 9, minute: 0 });
        expect(until - now).toBeLessThan(24 * 3_600_000);
      }
    }
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/cancel`, { key });
  });

  it('SendGrid events: signature checked, each sg_event_id applied once, a bounce suppresses the address', async () => {
    const [email] = await sandboxEmails(sandbox, 'ann@example.com');
    const unsigned = await call(tp.baseUrl, 'POST', `/webhooks/sendgrid/events/${TENANT}`, {
      body: [{ email: 'x@example.com', timestamp: 1, event: 'bounce', sg_event_id: 'forged' }],
    });
    expect(unsigned.status).toBe(401);
    const res = await sandbox.control('POST', '/sendgrid/events', {
      messageId: email!.messageId,
      event: 'bounce',
      duplicates: 2,
    });
    expect(res.deliveries.map((d: { status: number }) => d.status)).toEqual([200, 200, 200]);
    const { rows } = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(`select count(*)::int as n from sendgrid_events where event = 'bounce'`),
    );
    expect(rows[0].n).toBe(1);
    const suppressed = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(`select reason from suppressions where channel = 'email' and value = 'ann@example.com'`),
    );
    expect(suppressed.rows).toEqual([{ reason: 'bounce' }]);
    await sandbox.control('POST', '/sendgrid/events', { messageId: email!.messageId, event: 'open', duplicates: 1 });
    const lead = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(`select campaign_id, id from campaign_leads where email = 'ann@example.com'`),
    );
    const t = await call(tp.baseUrl, 'GET', `/v1/campaigns/${lead.rows[0].campaign_id}/leads/${lead.rows[0].id}`, {
      key,
    });
    expect(t.body.events.filter((e: { kind: string }) => e.kind === 'email-open')).toHaveLength(1);
    expect(t.body.events.filter((e: { kind: string }) => e.kind === 'email-bounce')).toHaveLength(1);
    expect((await campaignStatus(tp, key, lead.rows[0].campaign_id)).engagement).toMatchObject({
      bounce: 1,
      open: 1,
      delivered: 6,
      processed: 6,
    });
  });

  it("SendGrid events naming another tenant (sb_tenant) are not applied to the URL's tenant", async () => {
    const keyB = await createTenant(tp.baseUrl, 'camp-b');
    expect(keyB).toBeTruthy();
    const [email] = await sandboxEmails(sandbox, 'bob@example.com');
    // camp-a's events, delivered (validly signed) to camp-b's webhook URL.
    await sandbox.control('POST', '/sendgrid/config', {
      eventWebhookUrl: `${tp.baseUrl}/webhooks/sendgrid/events/camp-b`,
    });
    try {
      const res = await sandbox.control('POST', '/sendgrid/events', { messageId: email!.messageId, event: 'bounce' });
      expect(res.events.map((e: { sb_tenant: string }) => e.sb_tenant)).toEqual([TENANT]);
      expect(res.deliveries.map((d: { status: number }) => d.status)).toEqual([200]);
    } finally {
      await sandbox.control('POST', '/sendgrid/config', {
        eventWebhookUrl: `${tp.baseUrl}/webhooks/sendgrid/events/${TENANT}`,
      });
    }
    for (const tenant of ['camp-b', TENANT]) {
      const seen = await withTenant(tp.platform.pool, tenant, async (c) => ({
        bounces: (
          await c.query(
            `select count(*)::int as n from sendgrid_events where email = 'bob@example.com' and event = 'bounce'`,
          )
        ).rows[0].n,
        suppressed: (await c.query(`select value from suppressions where value = 'bob@example.com'`)).rows,
      }));
      expect(seen, tenant).toEqual({ bounces: 0, suppressed: [] });
    }
  });

  it('an audience of cached CRM contacts by tag, researched from the CRM record and its notes', async () => {
    await tp.adminPool.query(
      `insert into crm_connections (tenant_id, location_id) values ($1, 'loc_camp_a') on conflict do nothing`,
      [TENANT],
    );
    await tp.adminPool.query(
      `insert into contacts (tenant_id, id, location_id, first_name, last_name, name, email, phone, tags, timezone) values
         ($1, 'c_vip1', 'loc_camp_a', 'Vera', 'Ip', 'Vera Ip', 'vera@example.com', '+15550001111', '{vip}', 'Europe/Paris'),
         ($1, 'c_vip2', 'loc_camp_a', 'Vic', 'Po', 'Vic Po', 'vic@example.com', null, '{vip,old}', null),
         ($1, 'c_other', 'loc_camp_a', 'Ola', 'No', 'Ola No', 'ola@example.com', null, '{other}', null)`,
      [TENANT],
    );
    await tp.adminPool.query(
      `insert into crm_notes (tenant_id, id, contact_id, body, date_added) values ($1, 'n1', 'c_vip1', 'Asked about teeth whitening prices in March; prefers mornings.', now())`,
      [TENANT],
    );
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        ...base,
        goal: 'Offer teeth whitening',
        policy: { sendWindow: allWeek },
        audience: { type: 'crm', tag: 'VIP' },
      },
    });
    expect(created.body.leads).toEqual({ imported: 2, duplicates: 0, errors: [] });
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${created.body.id}/start`, { key });
    await tp.platform.temporal!.workflow.getHandle(created.body.workflowId).result();
    const { rows } = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(`select id, contact_id, timezone, state from campaign_leads where campaign_id = $1 order by contact_id`, [
        created.body.id,
      ]),
    );
    expect(rows.map((r) => [r.contact_id, r.timezone, r.state])).toEqual([
      ['c_vip1', 'Europe/Paris', 'exhausted'],
      ['c_vip2', null, 'exhausted'],
    ]);
    const t = await call(tp.baseUrl, 'GET', `/v1/campaigns/${created.body.id}/leads/${rows[0].id}`, { key });
    expect(t.body.lead.brief).toContain('teeth whitening prices');
    expect(t.body.events.find((e: { kind: string }) => e.kind === 'researched').data).toMatchObject({
      origin: 'model',
      inCrm: true,
    });
  });
});
