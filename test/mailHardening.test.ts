import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { suppress } from '../domain/suppression.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { connectGhl } from './support/connections.js';
import { connectHttp, errorText } from './support/mcp.js';
import {
  allWeek,
  createTenant,
  inboundParseUrl,
  POSTAL_ADDRESS,
  sandboxEmails,
  waitFor,
  wireSendgrid,
} from './support/campaign.js';

const TENANT = 'mail-h18';
const FLOOD = 'mail-h18-flood';
const CALM = 'mail-h18-calm';

/**
 * Issue 18, what the hardening left untested, over the real API, Temporal, Postgres and the
 * sandbox: a bounded conversation hands the lead to a person, Inbound Parse is rate limited per
 * tenant, and an SMS to an opted-out or DND contact is refused before GHL hears of it.
 */
describe('mail hardening, end to end', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  const parse = (url: string, fields: Record<string, string>) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    return fetch(url, { method: 'POST', body: form });
  };
  const lastSeq = async () =>
    (await sandbox.control<{ lastSeq: number | null }>('GET', '/requests?limit=1')).lastSeq ?? 0;
  const ghlRequestsSince = async (seq: number) =>
    (
      await sandbox.control<{ requests: { method: string; route: string; url: string }[] }>(
        'GET',
        `/requests?provider=ghl&since=${seq}&limit=1000`,
      )
    ).requests;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({
      env: { SANDBOX_PORT: new URL(sandbox.url).port, GHL_BASE_URL: `${sandbox.url}/ghl` },
    });
    key = await createTenant(tp.baseUrl, TENANT);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
    await connectGhl(sandbox, tp.baseUrl, key, TENANT, 'loc_demo');
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('a lead who keeps asking is answered up to policy.conversation.maxReplies, then handed to a person; later replies get no answer', async () => {
    const lead = 'asks@example.com';
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        name: 'Check-ups',
        goal: 'Book a free check-up',
        sender: {
          email: 'desk@clinic.example',
          name: 'Front Desk',
          replyTo: 'replies@inbound.clinic.example',
          postalAddress: POSTAL_ADDRESS,
        },
        policy: { sendWindow: allWeek, conversation: { maxReplies: 2 } },
        sequence: [
          { type: 'email', subject: 'Check-up', template: 'Hi {{firstName}}, a free check-up?' },
          { type: 'wait', days: 7 },
          { type: 'email', subject: 'Following up', template: 'Hi {{firstName}}, still keen?' },
        ],
        audience: { type: 'leads', leads: [{ email: lead, firstName: 'Asker' }] },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const campaignId = created.body.id as string;
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${campaignId}/start`, { key })).status).toBe(202);
    const emailsTo = (n: number, what: string) =>
      waitFor(what, async () => {
        const got = await sandboxEmails(sandbox, lead);
        return got.length >= n ? got : undefined;
      });
    const [first] = await emailsTo(1, 'the first email');
    const leadId = first!.customArgs!.sb_lead!;
    const inboundDeliveries = async () =>
      (
        await sandbox.control<{ deliveries: { kind: string; status: number; response?: unknown }[] }>(
          'GET',
          '/sendgrid/deliveries',
        )
      ).deliveries.filter((d) => d.kind === 'inbound-parse');
    /** The lead answers the latest email it got (the sandbox posts it to our Inbound Parse URL). */
    const ask = async (text: string) => {
      const [latest] = (await sandboxEmails(sandbox, lead)).slice(-1);
      const before = (await inboundDeliveries()).length;
      await sandbox.control('POST', '/sendgrid/reply', { messageId: latest!.messageId, text });
      const delivered = await waitFor('the reply delivered', async () => (await inboundDeliveries()).at(before));
      expect(delivered.status).toBe(200);
    };

    await ask('Quick question: how long does a check-up take?');
    await emailsTo(2, 'the first answer');
    await ask('Thanks. Another question: is there parking nearby?');
    await emailsTo(3, 'the second answer');
    // The third reply is past maxReplies: no answer, a person takes over and the lead ends as replied.
    await ask('One more question: do you open on Saturdays?');
    const result = await tp.platform.temporal!.workflow.getHandle(`campaign:${TENANT}:${campaignId}`).result();
    expect(result.outcomes).toEqual({ replied: 1 });

    const timeline = async () =>
      (await call(tp.baseUrl, 'GET', `/v1/campaigns/${campaignId}/leads/${leadId}`, { key })).body as {
        lead: { state: string };
        events: { kind: string; data: Record<string, unknown> }[];
      };
    const t = await timeline();
    expect(t.lead.state).toBe('replied');
    expect(t.events.filter((e) => e.kind === 'reply-classified').map((e) => e.data.category)).toEqual([
      'question',
      'question',
      'handoff',
    ]);
    const handedOff = t.events.filter((e) => e.kind === 'handed-off');
    expect(handedOff).toHaveLength(1);
    expect(handedOff[0]!.data).toMatchObject({ replies: 3 });

    // A fourth reply after the hand-off is stored for the person, never answered.
    await ask('Hello? Any answer about Saturdays?');
    const after = await timeline();
    expect(after.events.filter((e) => e.kind === 'reply-held').map((e) => e.data.reason)).toEqual(['over-limit']);
    expect(after.events.filter((e) => e.kind === 'reply-classified')).toHaveLength(3);
    // Give a wrongly triggered answer every chance to show up before checking it did not.
    await new Promise((r) => setTimeout(r, 2_000));
    const emails = await sandboxEmails(sandbox, lead);
    expect(emails).toHaveLength(3); // the first email and two answers: no follow-up, no third answer
    expect(emails.slice(1).every((e) => e.subject.startsWith('Re: '))).toBe(true);
    const sends = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query<{ kind: string }>(
        'select kind from email_sends where tenant_id = $1 and campaign_id = $2 order by sent_at',
        [TENANT, campaignId],
      ),
    );
    expect(sends.rows.map((r) => r.kind)).toEqual(['sequence', 'answer', 'answer']);
  });

  it('an SMS through MCP crm_send_sms to a suppressed number or a DND contact is refused naming the opt-out, and GHL sends nothing', async () => {
    const { contacts } = await sandbox.control<{ contacts: { id: string; phone?: string | null }[] }>(
      'GET',
      '/ghl/contacts?locationId=loc_demo&limit=1000',
    );
    const withPhone = contacts.filter((c) => c.phone);
    const [optedOut, dnd, fine] = withPhone;
    expect(fine, 'the demo location has three contacts with a phone').toBeDefined();
    await withTenant(tp.platform.pool, TENANT, async (c) => {
      // The number texted STOP; the contact itself is not in the cache (never synced).
      await suppress(c, { tenantId: TENANT, phone: optedOut!.phone!, reason: 'stop', source: 'test' });
      // The cached contact is marked do-not-disturb in the CRM.
      await c.query(
        `insert into contacts (tenant_id, id, location_id, name, phone, dnd) values ($1, $2, 'loc_demo', 'Dee', $3, true)`,
        [TENANT, dnd!.id, dnd!.phone],
      );
    });
    const mcp = await connectHttp(tp.baseUrl, key);
    try {
      const before = await lastSeq();
      const stopped = await mcp.callTool({
        name: 'crm_send_sms',
        arguments: { contactId: optedOut!.id, message: 'Your check-up is tomorrow', idempotencyKey: 'sms-h18-stop' },
      });
      expect(errorText(stopped)).toMatch(/opted out \(suppression list\): no text sent/);
      const quiet = await mcp.callTool({
        name: 'crm_send_sms',
        arguments: { contactId: dnd!.id, message: 'Your check-up is tomorrow', idempotencyKey: 'sms-h18-dnd' },
      });
      expect(errorText(quiet)).toMatch(/do-not-disturb: no text sent/);
      const texts = (seq: number) =>
        ghlRequestsSince(seq).then((rs) =>
          rs.filter((r) => r.method === 'POST' && r.route === '/conversations/messages'),
        );
      expect(await texts(before)).toEqual([]);

      // The same tool to a contact that did not opt out texts it: the refusals were about consent.
      const ok = await mcp.callTool({
        name: 'crm_send_sms',
        arguments: { contactId: fine!.id, message: 'Your check-up is tomorrow', idempotencyKey: 'sms-h18-ok' },
      });
      expect((ok as { isError?: boolean }).isError, JSON.stringify(ok)).toBeFalsy();
      expect(await texts(before)).toHaveLength(1);
    } finally {
      await mcp.close();
    }
  });

  it('Inbound Parse past the per-tenant limit answers 429 for that tenant, while another tenant’s URL answers normally', async () => {
    const floodKey = await createTenant(tp.baseUrl, FLOOD);
    const calmKey = await createTenant(tp.baseUrl, CALM);
    const floodUrl = await inboundParseUrl(tp.baseUrl, floodKey);
    const calmUrl = await inboundParseUrl(tp.baseUrl, calmKey);
    const message = (i: number) => ({
      from: 'someone@example.com',
      to: 'replies@inbound.clinic.example',
      subject: 'Hello',
      text: `Message ${i}`,
      headers: `Message-ID: <flood-${i}@mail.example.com>`,
    });
    const LIMIT = 300; // Inbound Parse posts per tenant per minute (sendgridWebhooks.ts)
    const statuses: number[] = [];
    for (let batch = 0; batch < LIMIT; batch += 50) {
      const res = await Promise.all(
        Array.from({ length: 50 }, (_, j) => parse(floodUrl, message(batch + j)).then((r) => r.status)),
      );
      statuses.push(...res);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    const over = await parse(floodUrl, message(LIMIT));
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBeTruthy();
    // Nothing past the limit is stored.
    const stored = await withTenant(tp.platform.pool, FLOOD, (c) =>
      c.query<{ n: number }>('select count(*)::int as n from inbound_emails where tenant_id = $1', [FLOOD]),
    );
    expect(stored.rows[0]!.n).toBe(LIMIT);
    // The other tenant (same SendGrid IP) is not affected.
    const calm = await parse(calmUrl, { ...message(0), headers: 'Message-ID: <calm-0@mail.example.com>' });
    expect(calm.status).toBe(200);
    expect(await calm.json()).toMatchObject({ ok: true, routed: false });
  });
});
