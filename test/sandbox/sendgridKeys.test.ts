import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../sandbox/server.js';
import { control, json, startTestSandbox } from './helpers.js';

let sb: RunningSandbox;

beforeAll(async () => {
  sb = await startTestSandbox();
});
afterAll(async () => {
  await sb.close();
});
beforeEach(async () => {
  await control(sb, 'POST', '/reset', {});
});

/** The official clients, unmodified but for their base URL. */
function clients(apiKey: string): { client: Client; mail: MailService } {
  const client = new Client();
  client.setApiKey(apiKey);
  client.setDefaultRequest('baseUrl', `${sb.url}/sendgrid/`);
  const mail = new MailService();
  mail.setClient(client);
  return { client, mail };
}

const message = (from: string) => ({ to: 'lead@example.com', from, subject: 'Hello', text: 'See you Tuesday.' });
const MISMATCH =
  'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.';
/** The error @sendgrid/mail rejects with (it throws on non-2xx answers). */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as SgError,
  );

interface SgError {
  code: number;
  response: { body: { errors: { message: string; field: string | null; help: null }[] } };
}
interface StoredEmails {
  emails: { from: { email: string } }[];
  total: number;
}

describe('SendGrid API keys bound to verified senders', () => {
  it('sends only from the key’s verified senders (403 otherwise, nothing stored)', async () => {
    await control(sb, 'POST', '/sendgrid/keys', {
      apiKey: 'SG.clinic-key',
      senders: [{ email: 'desk@clinic.example', name: 'Front Desk' }, { email: 'billing@clinic.example' }],
    });
    const { mail } = clients('SG.clinic-key');

    const [ok] = await mail.send(message('Desk@Clinic.example'));
    expect(ok.statusCode).toBe(202);

    const err = await failure(mail.send(message('someone@else.example')));
    expect(err?.code).toBe(403);
    expect(err?.response.body).toEqual({ errors: [{ message: MISMATCH, field: 'from', help: null }] });

    const stored = await control<StoredEmails>(sb, 'GET', '/sendgrid/emails');
    expect(stored.emails.map((e) => e.from.email)).toEqual(['Desk@Clinic.example']);

    // A bad body is still a 400 first, whatever the sender.
    const bad = await failure(mail.send({ ...message('someone@else.example'), to: 'nope' }));
    expect(bad?.code).toBe(400);

    // Unregistered keys keep sending as anyone.
    const [other] = await clients('SG.any-other-key').mail.send(message('someone@else.example'));
    expect(other.statusCode).toBe(202);
  });

  it('lists verified senders and scopes per key; 401 without a key', async () => {
    const senders = [{ email: 'desk@clinic.example', name: 'Front Desk' }];
    await control(sb, 'POST', '/sendgrid/keys', { apiKey: 'SG.clinic-key', senders });
    const { client } = clients('SG.clinic-key');

    const [listed] = await client.request({ method: 'GET', url: '/v3/verified_senders' });
    expect(listed.statusCode).toBe(200);
    const sender = {
      id: expect.any(Number),
      from_email: 'desk@clinic.example',
      from_name: 'Front Desk',
      verified: true,
    };
    expect(listed.body).toEqual({ results: [expect.objectContaining(sender)] });
    const [scopes] = await client.request({ method: 'GET', url: '/v3/scopes' });
    expect((scopes.body as { scopes: string[] }).scopes).toContain('mail.send');

    const unregistered = clients('SG.unregistered').client;
    const [unknownSenders] = await unregistered.request({ method: 'GET', url: '/v3/verified_senders' });
    expect(unknownSenders.body).toEqual({ results: [] });
    const [unknownScopes] = await unregistered.request({ method: 'GET', url: '/v3/scopes' });
    expect((unknownScopes.body as { scopes: string[] }).scopes).toContain('mail.send');

    for (const path of ['/v3/verified_senders', '/v3/scopes']) {
      const res = await fetch(`${sb.url}/sendgrid${path}`);
      expect(res.status, path).toBe(401);
      expect(await json(res)).toMatchObject({ errors: [{ message: expect.any(String) }] });
    }
  });

  it('a key without mail.send is refused; re-registering replaces the senders; reset forgets keys', async () => {
    const senders = [{ email: 'desk@clinic.example' }];
    await control(sb, 'POST', '/sendgrid/keys', { apiKey: 'SG.read-only', senders, scopes: ['stats.read'] });
    const readOnly = clients('SG.read-only');
    const [scopes] = await readOnly.client.request({ method: 'GET', url: '/v3/scopes' });
    expect(scopes.body).toEqual({ scopes: ['stats.read'] });
    const refused = await failure(readOnly.mail.send(message('desk@clinic.example')));
    expect(refused?.code).toBe(403);
    expect(refused?.response.body.errors[0]!.message).toBe('access forbidden');

    await control(sb, 'POST', '/sendgrid/keys', { apiKey: 'SG.k', senders: [{ email: 'old@clinic.example' }] });
    await control(sb, 'POST', '/sendgrid/keys', { apiKey: 'SG.k', senders: [{ email: 'new@clinic.example' }] });
    const k = clients('SG.k');
    expect((await failure(k.mail.send(message('old@clinic.example'))))?.code).toBe(403);
    expect((await k.mail.send(message('new@clinic.example')))[0].statusCode).toBe(202);

    await control(sb, 'POST', '/reset', {});
    expect((await k.mail.send(message('old@clinic.example')))[0].statusCode).toBe(202);

    const bad = await fetch(`${sb.url}/__sandbox/sendgrid/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey: 'SG.x', senders: [{ email: 'not an email' }] }),
    });
    expect(bad.status).toBe(400);
  });
});
