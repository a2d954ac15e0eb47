import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { contactBlocked, suppress } from '../domain/suppression.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import {
  allWeek,
  createTenant,
  inboundParseUrl,
  POSTAL_ADDRESS,
  sandboxEmails,
  waitFor,
  wireSendgrid,
} from './support/campaign.js';

const TENANT = 'mail-18';

/**
 * Issue 18 over the real API, Temporal, Postgres and the sandbox: Inbound Parse needs the tenant's
 * secret, a reply SPF/DKIM do not vouch for (or from someone other than the lead) is held instead
 * of acted on, every campaign email carries a one-click unsubscribe, and the one contactability
 * check sees the suppression list and the CRM's DND flag.
 */
describe('email replies and opt-outs cannot be spoofed', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let campaignId: string;
  let leadId: string;
  let replyTo: string;

  const count = async (sql: string) =>
    (await withTenant(tp.platform.pool, TENANT, (c) => c.query<{ n: number }>(sql))).rows[0]!.n;
  const timeline = async () =>
    (await call(tp.baseUrl, 'GET', `/v1/campaigns/${campaignId}/leads/${leadId}`, { key })).body as {
      lead: { state: string };
      events: { kind: string; data: Record<string, unknown> }[];
    };
  const parse = (url: string, fields: Record<string, string>) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    return fetch(url, { method: 'POST', body: form });
  };
  const reply = (over: Record<string, string>) => ({
    from: 'Keen Lead <keen@example.com>',
    to: replyTo,
    subject: 'Re: Check-up',
    text: 'Yes, I am interested, book me in any time next week.',
    headers: `Message-ID: <${Math.random().toString(36).slice(2)}@mail.example.com>`,
    envelope: JSON.stringify({ to: [replyTo], from: 'keen@example.com' }),
    SPF: 'pass',
    dkim: '{@example.com : pass}',
    ...over,
  });

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { SANDBOX_PORT: new URL(sandbox.url).port } });
    key = await createTenant(tp.baseUrl, TENANT);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
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
        policy: { sendWindow: allWeek },
        sequence: [
          { type: 'email', subject: 'Check-up', template: 'Hi {{firstName}}, a free check-up?' },
          { type: 'wait', days: 7 },
        ],
        audience: { type: 'leads', leads: [{ email: 'keen@example.com', firstName: 'Keen' }] },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    campaignId = created.body.id;
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${campaignId}/start`, { key })).status).toBe(202);
    const [email] = await waitFor('the first email', async () => {
      const got = await sandboxEmails(sandbox, 'keen@example.com');
      return got.length ? got : undefined;
    });
    replyTo = email!.replyTo!.email;
    leadId = email!.customArgs!.sb_lead!;
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('Inbound Parse without the tenant secret (or with a wrong one) is refused with 401, and nothing is stored', async () => {
    const before = await count('select count(*)::int as n from inbound_emails');
    const bare = await parse(`${tp.baseUrl}/webhooks/sendgrid/inbound/${TENANT}`, reply({}));
    expect(bare.status).toBe(401);
    expect(((await bare.json()) as { message: string }).message).toContain('tenant secret');
    const wrong = await parse(`${tp.baseUrl}/webhooks/sendgrid/inbound/${TENANT}/not-the-secret`, reply({}));
    expect(wrong.status).toBe(401);
    expect(await count('select count(*)::int as n from inbound_emails')).toBe(before);
    // The admin's URL works, and rotating it retires the old one at once.
    const url = await inboundParseUrl(tp.baseUrl, key);
    expect(url).toMatch(new RegExp(`/webhooks/sendgrid/inbound/${TENANT}/[A-Za-z0-9_-]{43}$`));
    const rotated = await call(tp.baseUrl, 'POST', '/v1/connections/sendgrid/inbound-parse/rotate', { key });
    expect(rotated.status).toBe(200);
    expect(rotated.body.url).not.toBe(url);
    expect((await parse(url, reply({ text: 'hello?' }))).status).toBe(401);
    await sandbox.control('POST', '/sendgrid/config', { inboundParseUrl: rotated.body.url });
  });

  it('a reply SPF/DKIM do not vouch for, or from someone other than the lead, is held for review: no booking, no answer', async () => {
    const url = await inboundParseUrl(tp.baseUrl, key);
    const forged = await parse(url, reply({ SPF: 'fail', dkim: '{@example.com : fail}' }));
    expect(forged.status).toBe(200);
    expect(await forged.json()).toMatchObject({ routed: true, held: 'unauthenticated' });
    const stranger = await parse(
      url,
      reply({
        from: 'attacker@evil.example',
        dkim: '{@evil.example : pass}',
        envelope: JSON.stringify({ to: [replyTo], from: 'attacker@evil.example' }),
        text: 'unsubscribe',
      }),
    );
    expect(await stranger.json()).toMatchObject({ routed: true, held: 'sender-mismatch' });
    const t = await timeline();
    expect(t.events.filter((e) => e.kind === 'reply-held').map((e) => e.data.reason)).toEqual([
      'unauthenticated',
      'sender-mismatch',
    ]);
    expect(t.events.some((e) => e.kind === 'reply-classified')).toBe(false);
    expect(t.lead.state).toBe('active');
    expect(await count(`select count(*)::int as n from suppressions`)).toBe(0);
    // Not routable by a guessed address alone: no token of ours, no reply to our message.
    const unrouted = await parse(url, reply({ to: 'replies@inbound.clinic.example', envelope: '{}' }));
    expect(await unrouted.json()).toMatchObject({ routed: false });
  });

  it('every campaign email carries a signed one-click unsubscribe and the postal address; a POST to it suppresses the lead at once', async () => {
    const [email] = (await sandboxEmails(sandbox, 'keen@example.com')) as unknown as {
      headers?: Record<string, string>;
      content: { value: string }[];
    }[];
    expect(email!.headers?.['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const link = /^<(https?:\/\/[^>]+\/u\/[^>]+)>$/.exec(email!.headers?.['List-Unsubscribe'] ?? '')?.[1];
    expect(link).toBeDefined();
    expect(email!.content[0]!.value).toContain(POSTAL_ADDRESS);
    expect(email!.content[0]!.value).toContain(link);

    const page = await fetch(link!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post">');
    expect(await count('select count(*)::int as n from suppressions')).toBe(0); // GET alone changes nothing

    const forgedLink = link!.replace(/\.[^.]+$/, '.AAAAAAAAAAAAAAAAAAAAAA');
    const bad = await fetch(forgedLink, { method: 'POST', body: 'List-Unsubscribe=One-Click' });
    expect(bad.status).toBe(404); // a link we did not sign is no link of ours

    const done = await fetch(link!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(done.status).toBe(200);
    const blocked = await withTenant(tp.platform.pool, TENANT, (c) =>
      contactBlocked(c, { tenantId: TENANT, channel: 'email', email: 'keen@example.com' }),
    );
    expect(blocked).toBe('suppressed');
    expect((await timeline()).events.some((e) => e.kind === 'unsubscribed')).toBe(true);
  });

  it('the one contactability check refuses a DND contact and a suppressed number on every channel', async () => {
    await withTenant(tp.platform.pool, TENANT, async (c) => {
      await c.query(
        `insert into contacts (tenant_id, id, location_id, name, phone, dnd) values ($1, 'ct-dnd', 'loc', 'Dee', '+15555550111', true)`,
        [TENANT],
      );
      await suppress(c, { tenantId: TENANT, phone: '+15555550112', reason: 'stop', source: 'test' });
    });
    const check = (keys: { phone?: string; contactId?: string }, channel: 'sms' | 'call' | 'email') =>
      withTenant(tp.platform.pool, TENANT, (c) => contactBlocked(c, { tenantId: TENANT, channel, ...keys }));
    expect(await check({ contactId: 'ct-dnd' }, 'sms')).toBe('dnd');
    expect(await check({ phone: '(555) 555-0111' }, 'call')).toBe('dnd');
    expect(await check({ phone: '+15555550112' }, 'sms')).toBe('suppressed');
    expect(await check({ phone: '+15555550113' }, 'sms')).toBeNull();
  });
});
