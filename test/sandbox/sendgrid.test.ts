import { createPublicKey, verify } from 'node:crypto';
import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../sandbox/server.js';
import { control, startReceiver, startTestSandbox } from './helpers.js';

let sb: RunningSandbox;
let mail: MailService;

beforeAll(async () => {
  sb = await startTestSandbox();
  // The official client, unmodified but for its base URL.
  const client = new Client();
  client.setApiKey('SG.sandbox-key');
  client.setDefaultRequest('baseUrl', `${sb.url}/sendgrid/`);
  mail = new MailService();
  mail.setClient(client);
});
afterAll(async () => {
  await sb.close();
});

/** How a receiver checks SendGrid's signature: ECDSA over timestamp + raw body with the published key. */
function signatureOk(
  publicKeyBase64: string,
  headers: Record<string, string | string[] | undefined>,
  raw: string,
): boolean {
  const key = createPublicKey({ key: Buffer.from(publicKeyBase64, 'base64'), format: 'der', type: 'spki' });
  const ts = String(headers['x-twilio-email-event-webhook-timestamp']);
  const sig = Buffer.from(String(headers['x-twilio-email-event-webhook-signature']), 'base64');
  return verify('sha256', Buffer.from(ts + raw), key, sig);
}

describe('SendGrid through @sendgrid/mail', () => {
  it('sends (202 + X-Message-Id), stores the email, and rejects bad bodies with SendGrid errors', async () => {
    const [res] = await mail.send({
      to: 'lead@example.com',
      from: { email: 'desk@clinic.example', name: 'Front Desk' },
      replyTo: 'reply+lead42@inbound.clinic.example',
      subject: 'Your appointment',
      text: 'See you Tuesday at 3 PM.',
      customArgs: { leadId: 'lead42' },
    });
    expect(res.statusCode).toBe(202);
    const messageId = res.headers['x-message-id'] as string;
    expect(messageId).toMatch(/^[A-Za-z0-9]{22}$/);
    const stored = await control<{
      emails: { messageId: string; subject: string; customArgs: Record<string, string> }[];
    }>(sb, 'GET', '/sendgrid/emails?to=lead@example.com');
    expect(stored.emails.at(-1)).toMatchObject({
      messageId,
      subject: 'Your appointment',
      customArgs: { leadId: 'lead42' },
    });

    const err = await mail
      .send({ to: 'not-an-address', from: 'desk@clinic.example', subject: 's', text: 't' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 400 });
    const body = (err as { response: { body: { errors: { field: string; message: string }[] } } }).response.body;
    expect(body.errors[0]).toMatchObject({
      field: 'personalizations.0.to.0.email',
      message: 'Does not contain a valid address.',
    });

    const noKey = await fetch(`${sb.url}/sendgrid/v3/mail/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({
      errors: [{ message: 'The provided authorization grant is invalid, expired, or revoked' }],
    });
  });

  it('delivers signed events (with duplicates on demand) and replies as Inbound Parse multipart', async () => {
    const events = await startReceiver(() => ({ status: 200 }));
    const parse = await startReceiver(() => ({ status: 200 }));
    try {
      await control(sb, 'POST', '/sendgrid/config', {
        eventWebhookUrl: `${events.url}/webhooks/sendgrid/events`,
        inboundParseUrl: `${parse.url}/webhooks/sendgrid/inbound`,
        autoEvents: ['processed', 'delivered'],
      });
      const { publicKey } = await control<{ publicKey: string }>(sb, 'GET', '/sendgrid/webhook-key');
      const [res] = await mail.send({
        to: 'lead@example.com',
        from: 'desk@clinic.example',
        replyTo: 'reply+lead42@inbound.clinic.example',
        subject: 'Hello',
        html: '<p>Hello</p>',
        customArgs: { leadId: 'lead42' },
      });
      const messageId = res.headers['x-message-id'] as string;
      await control(sb, 'GET', '/sendgrid/deliveries');
      expect(events.received).toHaveLength(1);
      const auto = JSON.parse(events.received[0]!.raw) as {
        event: string;
        sg_message_id: string;
        leadId: string;
        sg_event_id: string;
      }[];
      expect(auto.map((e) => e.event)).toEqual(['processed', 'delivered']);
      expect(auto[0]!.sg_message_id.startsWith(`${messageId}.`)).toBe(true);
      expect(auto[0]!.leadId).toBe('lead42');
      expect(signatureOk(publicKey, events.received[0]!.headers, events.received[0]!.raw)).toBe(true);
      expect(
        signatureOk(publicKey, events.received[0]!.headers, events.received[0]!.raw.replace('lead42', 'lead43')),
      ).toBe(false);

      await control(sb, 'POST', '/sendgrid/events', { messageId, event: 'open', duplicates: 2 });
      const opens = events.received.slice(1).map((r) => JSON.parse(r.raw) as { event: string; sg_event_id: string }[]);
      expect(opens).toHaveLength(3);
      expect(new Set(opens.map((b) => b[0]!.sg_event_id)).size).toBe(1);
      expect(opens[0]![0]!.event).toBe('open');

      await control(sb, 'POST', '/sendgrid/reply', { messageId, text: 'Yes, Tuesday works for me.' });
      expect(parse.received).toHaveLength(1);
      const form = await new Response(parse.received[0]!.raw, {
        headers: { 'content-type': String(parse.received[0]!.headers['content-type']) },
      }).formData();
      expect(form.get('from')).toBe('lead@example.com');
      expect(form.get('to')).toBe('reply+lead42@inbound.clinic.example');
      expect(form.get('subject')).toBe('Re: Hello');
      expect(form.get('text')).toBe('Yes, Tuesday works for me.');
      expect(String(form.get('headers'))).toContain(`In-Reply-To: <${messageId}@sandbox.sendgrid.net>`);
      expect(JSON.parse(String(form.get('envelope')))).toEqual({
        to: ['reply+lead42@inbound.clinic.example'],
        from: 'lead@example.com',
      });
    } finally {
      await events.close();
      await parse.close();
    }
  });
});
