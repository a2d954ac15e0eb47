import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { connectGhl } from './support/connections.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

const TENANT = 'hook-a';
const LOCATION = 'loc_hook';

describe('POST /webhooks/ghl', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  // Our own RSA key stands in for GHL's legacy x-wh-signature key, so the test can sign any payload;
  // Ed25519 (x-ghl-signature) is the sandbox's, so its real deliveries verify too.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  const post = (body: string, headers: Record<string, string>) =>
    fetch(`${tp.baseUrl}/webhooks/ghl`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as Record<string, unknown>,
    }));
  const signed = (payload: Record<string, unknown>) => {
    const body = JSON.stringify(payload);
    return {
      body,
      headers: { 'x-wh-signature': sign('sha256', Buffer.from(body), rsa.privateKey).toString('base64') },
    };
  };
  const contactRow = async (id: string) =>
    (
      await withTenant(tp.platform.pool, TENANT, (c) =>
        c.query('select first_name, phone from contacts where id = $1', [id]),
      )
    ).rows[0];
  const event = (type: string, extra: Record<string, unknown>) => ({
    type,
    locationId: LOCATION,
    webhookId: `wh_${Math.random().toString(36).slice(2)}`,
    timestamp: new Date().toISOString(),
    ...extra,
  });

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    const keys = await sandbox.control<{ 'x-ghl-signature': { publicKey: string } }>('GET', '/ghl/webhook-keys');
    tp = await startTestPlatform({
      env: {
        GHL_BASE_URL: `${sandbox.url}/ghl`,
        GHL_WEBHOOK_ED25519_PUBLIC_KEY: keys['x-ghl-signature'].publicKey,
        GHL_WEBHOOK_PUBLIC_KEY: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    });
    await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: TENANT, name: 'Hooks' } });
    const key = (
      await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 't', scopes: ['admin', 'read'] },
      })
    ).body.key;
    // The location exists at GHL (one contact) before the tenant connects it.
    await sandbox.control('POST', '/ghl/seed', { locationId: LOCATION, contacts: 1, seed: 1 });
    await connectGhl(sandbox, tp.baseUrl, key, TENANT, LOCATION);
    await sandbox.control('POST', '/ghl/webhooks', { url: `${tp.baseUrl}/webhooks/ghl`, locationId: LOCATION });
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  const eventually = async <T>(fn: () => Promise<T>, ok: (v: T) => boolean) => {
    for (let i = 0; i < 100; i++) {
      const v = await fn();
      if (ok(v)) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('condition not reached in 10 s');
  };

  it("applies the sandbox's signed contact create, update and delete to the cache at once", async () => {
    const created = await sandbox.ghl('POST', '/contacts/upsert', {
      locationId: LOCATION,
      firstName: 'Ada',
      phone: '(555) 010-4477',
      email: 'ada@example.com',
    });
    expect([200, 201]).toContain(created.status);
    const id = created.body.contact.id as string;
    expect(
      await eventually(
        () => contactRow(id),
        (r) => r !== undefined,
      ),
    ).toMatchObject({ first_name: 'Ada', phone: '+15550104477' });

    expect((await sandbox.ghl('PUT', `/contacts/${id}`, { firstName: 'Ada L.' })).status).toBe(200);
    await eventually(
      () => contactRow(id),
      (r) => r?.first_name === 'Ada L.',
    );
    expect((await sandbox.ghl('DELETE', `/contacts/${id}`)).status).toBe(200);
    await eventually(
      () => contactRow(id),
      (r) => r === undefined,
    );
  });

  it('a duplicated webhookId has exactly one effect', async () => {
    const first = event('ContactCreate', { id: 'c_dup', firstName: 'First', tags: [], customFields: [] });
    const a = signed(first);
    expect((await post(a.body, a.headers)).body).toMatchObject({ applied: true, duplicate: false });
    const again = signed({ ...first, firstName: 'Second' });
    expect((await post(again.body, again.headers)).body).toMatchObject({ applied: false, duplicate: true });
    expect((await post(a.body, a.headers)).body).toMatchObject({ duplicate: true });
    expect((await contactRow('c_dup'))?.first_name).toBe('First');
  });

  it('webhooks arriving out of order: an older update never overwrites a newer one, and a deleted contact stays deleted', async () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, s)).toISOString();
    const update = (firstName: string, dateUpdated: string) =>
      signed(event('ContactUpdate', { id: 'c_order', firstName, tags: [], customFields: [], dateUpdated }));
    const newer = update('Newer', at(2));
    const older = update('Older', at(1));
    expect((await post(newer.body, newer.headers)).body).toMatchObject({ applied: true });
    expect((await post(older.body, older.headers)).status).toBe(200);
    expect((await contactRow('c_order'))?.first_name).toBe('Newer');

    // The delete overtakes the last update before it: the contact does not come back.
    const gone = signed(event('ContactDelete', { id: 'c_order', tags: [], customFields: [], dateUpdated: at(4) }));
    const late = update('Late', at(3));
    expect((await post(gone.body, gone.headers)).body).toMatchObject({ applied: true });
    expect((await post(late.body, late.headers)).status).toBe(200);
    expect(await contactRow('c_order')).toBeUndefined();
  });

  it('refuses a bad, missing or stale signature with 401 and writes nothing', async () => {
    const events = async () =>
      (await withTenant(tp.platform.pool, TENANT, (c) => c.query('select count(*)::int as n from ghl_webhook_events')))
        .rows[0].n as number;
    const before = await events();
    const good = signed(event('ContactCreate', { id: 'c_forged', firstName: 'X', tags: [], customFields: [] }));
    const tampered = good.body.replace('"X"', '"Y"');
    expect((await post(tampered, good.headers)).status).toBe(401);
    expect((await post(good.body, {})).status).toBe(401);
    expect((await post(good.body, { 'x-ghl-signature': good.headers['x-wh-signature'] })).status).toBe(401);
    const stale = signed(
      event('ContactCreate', {
        id: 'c_stale',
        firstName: 'Old',
        tags: [],
        customFields: [],
        timestamp: new Date(Date.now() - 10 * 60_000).toISOString(),
      }),
    );
    const res = await post(stale.body, stale.headers);
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/stale/);
    expect(await contactRow('c_forged')).toBeUndefined();
    expect(await contactRow('c_stale')).toBeUndefined();
    expect(await events()).toBe(before);
  });

  it('names malformed payloads (400) and acknowledges unknown locations without writing', async () => {
    const missing = signed({ type: 'ContactCreate', locationId: LOCATION, timestamp: new Date().toISOString() });
    const res = await post(missing.body, missing.headers);
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('body.webhookId');
    const badContact = signed(event('ContactUpdate', { firstName: 'no id' }));
    const bad = await post(badContact.body, badContact.headers);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('body.id');
    const elsewhere = signed({
      ...event('ContactCreate', { id: 'c_x', tags: [], customFields: [] }),
      locationId: 'loc_not_ours',
    });
    expect((await post(elsewhere.body, elsewhere.headers)).body).toMatchObject({ applied: false });
  });

  it('records appointment events', async () => {
    const appt = signed(
      event('AppointmentCreate', {
        appointment: {
          id: 'apt_1',
          calendarId: 'cal_demo',
          contactId: 'c_dup',
          title: 'Intro call',
          appointmentStatus: 'confirmed',
          startTime: '2026-12-01T15:00:00Z',
          endTime: '2026-12-01T15:30:00Z',
        },
      }),
    );
    expect((await post(appt.body, appt.headers)).body).toMatchObject({ applied: true });
    const { rows } = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query('select title, status, contact_id from crm_appointments where id = $1', ['apt_1']),
    );
    expect(rows).toEqual([{ title: 'Intro call', status: 'confirmed', contact_id: 'c_dup' }]);
  });
});
