import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderAccess } from '../domain/connections/providerAccess.js';
import { createPool, withTenant } from '../lib/db.js';
import { connectHttp, createTenantWithKeys, errorText, structured } from './support/mcp.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

/**
 * Tenants on their own provider accounts, through the real API, a real worker and the sandbox over
 * HTTP: nothing one tenant holds (a location, a contact, a calendar) is reachable by another, a
 * tenant without a connection gets a 409 naming what to connect, and GoHighLevel's OAuth (consent
 * page, rotating refresh tokens, revocation) works end to end.
 */

const A = 'conn-a';
const B = 'conn-b';
const LOC_A = 'loc_conn_a';
const LOC_B = 'loc_conn_b';
const LOC_OAUTH = 'loc_conn_oauth';
const PIT_A = 'pit-conn-a-0123456789';
const PIT_B = 'pit-conn-b-0123456789';

describe('every tenant on its own provider accounts', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let keyA: string;
  let keyB: string;

  const contactsOf = async (locationId: string) =>
    (
      await sandbox.control<{ contacts: { id: string }[] }>('GET', `/ghl/contacts?locationId=${locationId}&limit=1000`)
    ).contacts
      .map((c) => c.id)
      .sort();
  const cachedIds = (tenantId: string) =>
    withTenant(tp.platform.pool, tenantId, async (c) =>
      (await c.query<{ id: string }>('select id from contacts order by id')).rows.map((r) => r.id),
    );
  const syncNow = async (key: string) => {
    const started = await call(tp.baseUrl, 'POST', '/v1/sync', { key, body: { mode: 'full' } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    await tp.platform
      .temporal!.workflow.getHandle(started.body.workflowId, started.body.runId)
      .result()
      .catch(() => undefined);
    return (await call(tp.baseUrl, 'GET', '/v1/sync/status', { key })).body;
  };
  const lastSeq = async () =>
    (await sandbox.control<{ lastSeq: number | null }>('GET', '/requests?limit=1')).lastSeq ?? 0;
  const ghlWritesSince = async (seq: number) =>
    (
      await sandbox.control<{ requests: { method: string; route: string; path?: string }[] }>(
        'GET',
        `/requests?provider=ghl&since=${seq}&limit=1000`,
      )
    ).requests.filter((r) => r.method !== 'GET' && !String(r.route ?? r.path).includes('search'));

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    for (const [locationId, contacts] of [
      [LOC_A, 12],
      [LOC_B, 7],
      [LOC_OAUTH, 5],
    ] as const) {
      await sandbox.control('POST', '/ghl/seed', { locationId, contacts, seed: 3 });
    }
    await sandbox.control('POST', '/ghl/tokens', { token: PIT_A, locationId: LOC_A });
    await sandbox.control('POST', '/ghl/tokens', { token: PIT_B, locationId: LOC_B });
    await sandbox.control('POST', '/ghl/calendars', { id: 'cal_conn_a', locationId: LOC_A });
    await sandbox.control('POST', '/ghl/calendars', { id: 'cal_conn_b', locationId: LOC_B });
    await sandbox.control('POST', '/ghl/calendars', { id: 'cal_conn_oauth', locationId: LOC_OAUTH });
    tp = await startTestPlatform({
      env: {
        // A multi-tenant install: providers live (here: the sandbox), no tenant on the platform's keys.
        PROVIDERS_MODE: 'live',
        GHL_BASE_URL: `${sandbox.url}/ghl`,
        VAPI_BASE_URL: `${sandbox.url}/vapi`,
        RETELL_BASE_URL: `${sandbox.url}/retell`,
        SENDGRID_BASE_URL: `${sandbox.url}/sendgrid`,
        ANTHROPIC_API_KEY: 'test-anthropic-key',
        ANTHROPIC_BASE_URL: `${sandbox.url}/anthropic`,
        GHL_OAUTH_CLIENT_ID: 'sandbox-client',
        GHL_OAUTH_CLIENT_SECRET: 'sandbox-secret',
        GHL_OAUTH_AUTHORIZE_URL: `${sandbox.url}/ghl/oauth/chooselocation`,
      },
    });
    keyA = (await createTenantWithKeys(tp.baseUrl, A, { all: ['read', 'act', 'admin'] })).all;
    keyB = (await createTenantWithKeys(tp.baseUrl, B, { all: ['read', 'act', 'admin'] })).all;
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('binds each tenant to the location its own token covers; B cannot take A’s; each syncs only its own contacts', async () => {
    const a = await call(tp.baseUrl, 'PUT', '/v1/connections/ghl', {
      key: keyA,
      body: { token: PIT_A, locationId: LOC_A, syncEveryMinutes: 1440 },
    });
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body).toMatchObject({ provider: 'ghl', state: 'connected', via: 'private_token', account: LOC_A });
    expect(JSON.stringify(a.body)).not.toContain(PIT_A);

    // B's own token does not cover A's location: GHL says so, and nothing is stored.
    const foreign = await call(tp.baseUrl, 'PUT', '/v1/connections/ghl', {
      key: keyB,
      body: { token: PIT_B, locationId: LOC_A },
    });
    expect(foreign.status).toBe(400);
    expect(foreign.body.message).toMatch(/^body\.token: .*no access to location 'loc_conn_a'/);
    // Even holding A's token, B cannot bind a location another tenant has.
    const taken = await call(tp.baseUrl, 'PUT', '/v1/connections/ghl', {
      key: keyB,
      body: { token: PIT_A, locationId: LOC_A },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.message).toContain('connected to another tenant');
    // The older route takes no location on trust either.
    const legacy = await call(tp.baseUrl, 'PUT', '/v1/crm/connection', {
      key: keyB,
      body: { locationId: LOC_A, syncEveryMinutes: 60 },
    });
    expect(legacy.status).toBe(409);
    expect(legacy.body.message).toContain('connect GoHighLevel first');
    expect((await call(tp.baseUrl, 'GET', '/v1/connections', { key: keyB })).body.connections).toContainEqual(
      expect.objectContaining({ provider: 'ghl', state: 'missing' }),
    );

    const b = await call(tp.baseUrl, 'PUT', '/v1/connections/ghl', {
      key: keyB,
      body: { token: PIT_B, locationId: LOC_B },
    });
    expect(b.status, JSON.stringify(b.body)).toBe(200);

    expect((await syncNow(keyA)).state).toBe('completed');
    expect((await syncNow(keyB)).state).toBe('completed');
    expect(await cachedIds(A)).toEqual(await contactsOf(LOC_A));
    expect(await cachedIds(B)).toEqual(await contactsOf(LOC_B));
  });

  it('refuses B’s note, SMS, slots and booking on A’s contact or calendar before GHL hears of it', async () => {
    const [contactA] = await contactsOf(LOC_A);
    const [contactB] = await contactsOf(LOC_B);
    const mcp = await connectHttp(tp.baseUrl, keyB);
    try {
      const before = await lastSeq();
      const note = await mcp.callTool({
        name: 'crm_add_note',
        arguments: { contactId: contactA, body: 'hello from B' },
      });
      expect(errorText(note)).toContain(`contact '${contactA}' is not in this tenant's CRM`);
      const sms = await mcp.callTool({ name: 'crm_send_sms', arguments: { contactId: contactA, message: 'hi' } });
      expect(errorText(sms)).toContain("is not in this tenant's CRM");
      const day = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
      const slots = await mcp.callTool({
        name: 'crm_get_free_slots',
        arguments: { startDate: day, calendarId: 'cal_conn_a' },
      });
      expect(errorText(slots)).toContain("calendar 'cal_conn_a' is not a calendar of this tenant's location");
      const book = await mcp.callTool({
        name: 'crm_book_appointment',
        // Confirmed by the user: the refusal is about ownership, not a missing confirmation.
        arguments: { contactId: contactB, calendarId: 'cal_conn_a', startTime: `${day}T15:00:00Z`, confirm: true },
      });
      expect(errorText(book)).toContain("calendar 'cal_conn_a' is not a calendar of this tenant's location");
      expect(await ghlWritesSince(before)).toEqual([]);

      // The same tool on B's own contact goes through: the refusal above was about ownership.
      const own = await mcp.callTool({ name: 'crm_add_note', arguments: { contactId: contactB, body: 'own note' } });
      expect(structured(own).noteId).toEqual(expect.any(String));
      expect((await ghlWritesSince(before)).map((r) => r.method)).toEqual(['POST']);
    } finally {
      await mcp.close();
    }
  });

  it('a tenant without connections gets 409s naming what to connect, and reads still work', async () => {
    const { all: keyC } = await createTenantWithKeys(tp.baseUrl, 'conn-c', { all: ['read', 'act', 'admin'] });
    const sync = await call(tp.baseUrl, 'POST', '/v1/sync', { key: keyC, body: {} });
    expect(sync.status).toBe(409);
    expect(sync.body.message).toContain('connect GoHighLevel first');
    const callRes = await call(tp.baseUrl, 'POST', '/v1/calls', {
      key: keyC,
      body: { to: '+15555550142', purpose: 'demo' },
    });
    expect(callRes.status).toBe(409);
    expect(callRes.body.message).toContain('connect Vapi first');
    const campaign = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key: keyC,
      body: {
        name: 'c',
        goal: 'book a demo',
        sender: { email: 'sales@conn-c.test', name: 'C', postalAddress: '1 Harbour Street, Springfield, IL 62701' },
        sequence: [{ type: 'email', subject: 'Hi', template: 'Hello {{firstName}}' }],
        audience: { type: 'leads', leads: [{ email: 'lead@example.com', firstName: 'Lee' }] },
      },
    });
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(409);
    expect(campaign.body.message).toContain('connect SendGrid first');
    const list = (await call(tp.baseUrl, 'GET', '/v1/connections', { key: keyC })).body.connections as {
      provider: string;
      state: string;
      via: string | null;
    }[];
    expect(Object.fromEntries(list.map((c) => [c.provider, c.state]))).toEqual({
      ghl: 'missing',
      vapi: 'missing',
      retell: 'missing',
      sendgrid: 'missing',
      // Claude is a platform service unless the tenant brings its own key.
      anthropic: 'connected',
    });
    expect((await call(tp.baseUrl, 'GET', '/v1/contacts', { key: keyC })).status).toBe(200);
  });

  it('GoHighLevel OAuth: consent page, one refresh for two processes at once, revocation marks it broken', async () => {
    const { all: keyD } = await createTenantWithKeys(tp.baseUrl, 'conn-d', { all: ['read', 'act', 'admin'] });
    // Tokens that are already inside the refresh margin, so the next use refreshes.
    await sandbox.control('POST', '/ghl/oauth/config', { accessTokenTtlS: 60 });
    const begun = await call(tp.baseUrl, 'POST', '/v1/connections/ghl/authorize', { key: keyD, body: {} });
    expect(begun.status, JSON.stringify(begun.body)).toBe(200);
    const consent = await fetch(begun.body.url);
    const html = await consent.text();
    expect(html).toContain(LOC_OAUTH);
    // The person picks the location and allows: the form the page carries, posted as a browser does.
    const form = [...html.matchAll(/<form[^>]*>([\s\S]*?)<\/form>/g)].find((f) =>
      f[0].includes(`value="${LOC_OAUTH}"`),
    );
    expect(form).toBeDefined();
    const fields = new URLSearchParams(
      [...form![0].matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)].map(
        (m) => [m[1]!, m[2]!.replaceAll('&amp;', '&')] as [string, string],
      ),
    );
    const allowed = await fetch(`${sandbox.url}/ghl/oauth/chooselocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fields,
      redirect: 'manual',
    });
    expect(allowed.status).toBe(302);
    const back = allowed.headers.get('location')!;
    expect(back.startsWith(`${tp.baseUrl}/oauth/ghl/callback?`)).toBe(true);
    const done = await fetch(back);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain(`Location ${LOC_OAUTH} is connected`);
    // The same link again: the state was used.
    expect((await fetch(back)).status).toBe(400);
    const ghl = (await call(tp.baseUrl, 'GET', '/v1/connections', { key: keyD })).body.connections.find(
      (c: { provider: string }) => c.provider === 'ghl',
    );
    expect(ghl).toMatchObject({ state: 'connected', via: 'oauth', account: LOC_OAUTH, expiresAt: expect.any(String) });

    // Two processes (own pools, own caches) need a token at the same moment: one refresh between them.
    await sandbox.control('POST', '/ghl/oauth/config', { accessTokenTtlS: 86_399 });
    const grantsBefore = (await sandbox.control<{ grants: { grantType: string }[] }>('GET', '/ghl/oauth/grants')).grants
      .length;
    const processes = [0, 1].map(() => {
      const pool = createPool(tp.platform.databaseUrl, 2);
      return {
        pool,
        access: createProviderAccess({
          pool,
          masterKey: masterKeyOf(tp),
          providers: tp.config.providers,
          platformTenant: undefined,
          ghlOAuth: tp.platform.access.ghlOAuth,
        }),
      };
    });
    try {
      const tokens = await Promise.all(processes.map(async (p) => (await p.access.ghl('conn-d')).token.current()));
      expect(tokens[0]).toBe(tokens[1]);
      const grants = (
        await sandbox.control<{ grants: { grantType: string; ok: boolean }[] }>('GET', '/ghl/oauth/grants')
      ).grants;
      expect(grants.slice(grantsBefore).filter((g) => g.grantType === 'refresh_token')).toEqual([
        expect.objectContaining({ ok: true }),
      ]);
      const works = await fetch(`${sandbox.url}/ghl/locations/${LOC_OAUTH}`, {
        headers: { authorization: `Bearer ${tokens[0]}`, version: '2021-07-28' },
      });
      expect(works.status).toBe(200);
    } finally {
      await Promise.all(processes.map((p) => p.pool.end()));
    }

    // The tenant also takes calls, booking on its location's calendar.
    const secret = 'vapi-webhook-secret-conn-d';
    const cred = await call(tp.baseUrl, 'PUT', '/v1/admin/tenants/conn-d/credentials/vapi', {
      key: keyD,
      body: { secret, authMode: 'x-vapi-secret' },
    });
    expect(cred.status).toBe(200);
    const settings = await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
      key: keyD,
      body: { calendarId: 'cal_conn_oauth' },
    });
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);

    // GHL revokes the app's tokens: the next sync finds out, the connection is broken, and says why.
    await sandbox.control('POST', '/ghl/oauth/revoke', { locationId: LOC_OAUTH });
    tp.platform.access.forget('conn-d');
    const status = await syncNow(keyD);
    expect(status.state).toBe('failed');
    expect(status.lastError).toContain('GoHighLevel connection is broken');
    const broken = (await call(tp.baseUrl, 'GET', '/v1/connections', { key: keyD })).body.connections.find(
      (c: { provider: string }) => c.provider === 'ghl',
    );
    expect(broken).toMatchObject({ state: 'broken', lastError: expect.stringContaining('invalid_grant') });
    // Nothing retries a refused refresh: one refused grant, however often the connection is used.
    const refused = (await sandbox.control<{ grants: { ok: boolean }[] }>('GET', '/ghl/oauth/grants')).grants.filter(
      (g) => !g.ok,
    );
    expect(refused).toHaveLength(1);
    const again = await call(tp.baseUrl, 'POST', '/v1/sync', { key: keyD, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.message).toContain('reconnect');

    // A live call meanwhile: its CRM tool answers at once with a sentence the agent can say.
    const day = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
    const toolCall = await call(tp.baseUrl, 'POST', '/webhooks/vapi/conn-d', {
      headers: { 'x-vapi-secret': secret },
      body: {
        message: {
          type: 'tool-calls',
          timestamp: Date.now(),
          call: { id: 'broken-crm-call-1', type: 'inboundPhoneCall', customer: { number: '+15555550188' } },
          toolCallList: [
            {
              id: 'tc-slots-1',
              type: 'function',
              function: { name: 'get_free_slots', arguments: JSON.stringify({ startDate: day }) },
            },
          ],
        },
      },
    });
    expect(toolCall.status).toBe(200);
    expect(toolCall.body.results).toEqual([
      expect.objectContaining({
        toolCallId: 'tc-slots-1',
        error: expect.stringContaining('the booking system is not reachable right now; offer to take a message'),
      }),
    ]);
  });
});

/** The master key the test platform generated (it seals the tenants' tokens). */
function masterKeyOf(tp: TestPlatform): Buffer {
  const hex = readFileSync(path.join(tp.dataDir, 'master-key'), 'utf8').trim();
  return Buffer.from(hex, 'hex');
}
