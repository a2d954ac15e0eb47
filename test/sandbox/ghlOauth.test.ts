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

const CLIENT = { client_id: 'sandbox-client', client_secret: 'sandbox-secret' };
const REDIRECT = 'http://app.test/oauth/ghl/callback?tenant=t1';
const SCOPE = 'contacts.readonly contacts.write calendars.write';

interface TokenAnswer {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  scope: string;
  userType: string;
  locationId: string;
  companyId: string;
  userId: string;
}
interface OAuthErrorBody {
  error: string;
  error_description: string;
}
interface Grant {
  grantType: string | null;
  clientId: string | null;
  locationId: string | null;
  ok: boolean;
  error?: string;
  at: string;
}
interface Revoked {
  revoked: { refreshTokens: number; accessTokens: number };
}

/** What the app puts in the link to the location chooser. */
const authorizeParams = (over: Record<string, string> = {}) => ({
  response_type: 'code',
  client_id: CLIENT.client_id,
  redirect_uri: REDIRECT,
  scope: SCOPE,
  ...over,
});
const authorize = (params: Record<string, string>) =>
  fetch(`${sb.url}/ghl/oauth/chooselocation?${new URLSearchParams(params)}`, { redirect: 'manual' });

/** What a consent form posts back. */
const allowFields = (over: Record<string, string> = {}) => ({
  client_id: CLIENT.client_id,
  redirect_uri: REDIRECT,
  scope: SCOPE,
  location_id: 'loc_demo',
  decision: 'allow',
  ...over,
});

const decode = (s: string) => s.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n)));

/** The consent page's forms, read the way a browser submits them. */
function forms(html: string): { action: string; fields: Record<string, string> }[] {
  const input = /<input type="hidden" name="([^"]*)" value="([^"]*)">/g;
  return [...html.matchAll(/<form method="post" action="([^"]*)">([\s\S]*?)<\/form>/g)].map((m) => ({
    action: m[1]!,
    fields: Object.fromEntries([...m[2]!.matchAll(input)].map((i) => [decode(i[1]!), decode(i[2]!)])),
  }));
}

/** Submits a consent form as a browser would (form-encoded), without following the redirect. */
const submit = (fields: Record<string, string>) =>
  fetch(`${sb.url}/ghl/oauth/chooselocation`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });

/** Allow → the code from the redirect. */
async function codeFor(over: Record<string, string> = {}): Promise<string> {
  const res = await submit(allowFields(over));
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!).searchParams.get('code')!;
}

// fetch sends URLSearchParams as application/x-www-form-urlencoded, as GHL requires.
const token = (fields: Record<string, string>) =>
  fetch(`${sb.url}/ghl/oauth/token`, { method: 'POST', body: new URLSearchParams(fields) });
const exchange = (code: string, over: Record<string, string> = {}) =>
  token({ ...CLIENT, grant_type: 'authorization_code', code, redirect_uri: REDIRECT, ...over });
const refresh = (refreshToken: string, over: Record<string, string> = {}) =>
  token({ ...CLIENT, grant_type: 'refresh_token', refresh_token: refreshToken, ...over });
const oauthError = (res: Response) => json<OAuthErrorBody>(res);

/** The whole dance: consent for `locationId`, then the code exchange. */
async function connect(locationId = 'loc_demo'): Promise<TokenAnswer> {
  const res = await exchange(await codeFor({ location_id: locationId }), { user_type: 'Location' });
  expect(res.status).toBe(200);
  return json<TokenAnswer>(res);
}

const api = (path: string, accessToken: string, body?: unknown) =>
  fetch(`${sb.url}/ghl${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${accessToken}`, version: '2021-07-28', 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const controlRaw = (path: string, body: unknown) =>
  fetch(`${sb.url}/__sandbox${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('GHL OAuth consent page (GET /oauth/chooselocation)', () => {
  it('names the app and scopes, lists every location with an Allow form, and escapes what it reflects', async () => {
    await control(sb, 'POST', '/ghl/seed', { locationId: 'loc_branch', contacts: 3 });
    const state = '"><script>alert(1)</script>&x=<b>';
    const scope = `${SCOPE} <img src=x>`;
    const res = await authorize(authorizeParams({ scope, state }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('sandbox-client');
    for (const s of SCOPE.split(' ')) expect(html).toContain(s);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&#60;script&#62;');

    const all = forms(html);
    const allow = all.filter((f) => f.fields.decision === 'allow');
    expect(allow.map((f) => f.fields.location_id)).toEqual(['loc_demo', 'loc_branch']);
    expect(all.filter((f) => f.fields.decision === 'deny')).toHaveLength(1);
    for (const f of all) {
      expect(f.action).toBe('/ghl/oauth/chooselocation');
      // What a browser would send back is exactly what the app asked with.
      expect(f.fields).toMatchObject({ client_id: CLIENT.client_id, redirect_uri: REDIRECT, scope, state });
    }

    // Submitting the page's own Allow form lands on the redirect_uri with a code and the same state.
    const back = await submit(allow[1]!.fields);
    expect(back.status).toBe(302);
    const location = new URL(back.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe('http://app.test/oauth/ghl/callback');
    expect(location.searchParams.get('tenant')).toBe('t1');
    expect(location.searchParams.get('state')).toBe(state);
    expect(location.searchParams.get('code')).toMatch(/^[0-9a-f]{40}$/);
  });

  it('answers a bad request with a 400 page naming the problem, and never redirects', async () => {
    const { redirect_uri: _omitted, ...noRedirect } = authorizeParams();
    const cases: [Record<string, string>, string][] = [
      [authorizeParams({ client_id: 'no-such-app<x>' }), 'Unknown client_id &#34;no-such-app&#60;x&#62;&#34;'],
      [authorizeParams({ client_id: '' }), 'client_id is missing'],
      [noRedirect, 'redirect_uri is missing'],
      [authorizeParams({ redirect_uri: '/relative/callback' }), 'is not an absolute http(s) URL'],
      [authorizeParams({ redirect_uri: 'javascript:alert(1)' }), 'is not an absolute http(s) URL'],
      [authorizeParams({ response_type: 'token' }), 'response_type must be &#34;code&#34;'],
    ];
    for (const [params, problem] of cases) {
      const res = await authorize(params);
      expect(res.status, problem).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain(problem);
      expect(html).not.toContain('<x>');
    }
    // The POST checks the same things, and the location must exist.
    const { location_id: _omit, ...noLocation } = allowFields();
    const posts: [Record<string, string>, string][] = [
      [allowFields({ location_id: 'loc_nowhere' }), 'Unknown location'],
      [noLocation, 'location_id is missing'],
      [allowFields({ client_id: 'other' }), 'Unknown client_id'],
      [allowFields({ redirect_uri: 'mailto:x@example.com' }), 'is not an absolute http(s) URL'],
      [allowFields({ decision: 'maybe' }), 'decision must be'],
    ];
    for (const [fields, problem] of posts) {
      const res = await submit(fields);
      expect(res.status, problem).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.text()).toContain(problem);
    }
  });

  it('Deny redirects with error=access_denied and the state, and issues no code', async () => {
    const html = await (await authorize(authorizeParams({ state: 'st-9' }))).text();
    const deny = forms(html).find((f) => f.fields.decision === 'deny')!;
    const res = await submit(deny.fields);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('state')).toBe('st-9');
    expect(location.searchParams.get('code')).toBeNull();
  });
});

describe('GHL OAuth token endpoint (POST /oauth/token)', () => {
  it('exchanges a code once for a location-bound pair; reuse, other redirect_uri, bad clients refused', async () => {
    const code = await codeFor({ state: 'a' });

    const wrongSecret = await exchange(code, { client_secret: 'nope' });
    expect(wrongSecret.status).toBe(401);
    expect(await oauthError(wrongSecret)).toMatchObject({ error: 'invalid_client' });
    const unknownClient = await exchange(code, { client_id: 'ghost', client_secret: 'x' });
    expect(unknownClient.status).toBe(401);
    expect(await oauthError(unknownClient)).toMatchObject({ error: 'invalid_client' });
    const otherRedirect = await exchange(code, { redirect_uri: 'http://app.test/elsewhere' });
    expect(otherRedirect.status).toBe(400);
    expect(await oauthError(otherRedirect)).toMatchObject({ error: 'invalid_grant' });

    const ok = await exchange(code, { user_type: 'Location' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    const pair = await json<TokenAnswer>(ok);
    expect(pair).toMatchObject({
      token_type: 'Bearer',
      expires_in: 86399,
      scope: SCOPE,
      userType: 'Location',
      locationId: 'loc_demo',
      companyId: expect.any(String),
      userId: expect.any(String),
    });
    expect(pair.access_token).not.toBe(pair.refresh_token);

    const reused = await exchange(code);
    expect(reused.status).toBe(400);
    expect(await oauthError(reused)).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining('already been used'),
    });

    expect(await oauthError(await exchange('f'.repeat(40)))).toMatchObject({ error: 'invalid_grant' });
    const badGrant = await token({ ...CLIENT, grant_type: 'password' });
    expect(badGrant.status).toBe(400);
    expect(await oauthError(badGrant)).toMatchObject({ error: 'unsupported_grant_type' });
    const company = await refresh(pair.refresh_token, { user_type: 'Company' });
    expect(company.status).toBe(400);
    expect(await oauthError(company)).toMatchObject({ error: 'invalid_request' });
  });

  it('accepts JSON bodies and clients registered through the control API; bad bodies get OAuth errors', async () => {
    await control(sb, 'POST', '/ghl/oauth/clients', { clientId: 'switchboard-prod', clientSecret: 's3cret' });
    const res = await submit(allowFields({ client_id: 'switchboard-prod' }));
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.has('state')).toBe(false);
    const code = location.searchParams.get('code')!;
    const viaJson = await fetch(`${sb.url}/ghl/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: 'switchboard-prod',
        client_secret: 's3cret',
        grant_type: 'authorization_code',
        code,
      }),
    });
    expect(viaJson.status).toBe(200);
    expect(await json<TokenAnswer>(viaJson)).toMatchObject({ locationId: 'loc_demo' });

    const bodies: [string, string][] = [
      ['application/json', '{broken'],
      ['application/json', '[1,2]'],
      ['application/json', '{"client_id": 5}'],
      ['application/x-www-form-urlencoded', ''],
      ['text/plain', 'hello'],
    ];
    for (const [contentType, body] of bodies) {
      const headers = { 'content-type': contentType };
      const r = await fetch(`${sb.url}/ghl/oauth/token`, { method: 'POST', headers, body });
      expect(r.status, `${contentType} ${body}`).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(await oauthError(r)).toMatchObject({ error: expect.stringMatching(/^invalid_(request|client)$/) });
    }
    expect((await fetch(`${sb.url}/__sandbox/health`)).status).toBe(200);
  });

  it('binds the access token to its location: 403 elsewhere, on GET /locations/{id} and a contact search', async () => {
    await control(sb, 'POST', '/ghl/seed', { locationId: 'loc_other', contacts: 2 });
    const pair = await connect('loc_demo');

    const own = await api('/locations/loc_demo', pair.access_token);
    expect(own.status).toBe(200);
    expect(await json(own)).toMatchObject({
      location: { id: 'loc_demo', name: expect.any(String), timezone: 'America/New_York', companyId: pair.companyId },
    });
    const search = await api('/contacts/search', pair.access_token, { locationId: 'loc_demo', pageLimit: 1 });
    expect(search.status).toBe(200);
    expect((await json<{ total: number }>(search)).total).toBe(51);

    const other = await api('/locations/loc_other', pair.access_token);
    expect(other.status).toBe(403);
    expect(await json(other)).toMatchObject({ statusCode: 403 });
    const otherSearch = await api('/contacts/search', pair.access_token, { locationId: 'loc_other', pageLimit: 1 });
    expect(otherSearch.status).toBe(403);

    // A Private Integration Token scoped the same way, and an unscoped one asking for a missing location.
    await control(sb, 'POST', '/ghl/tokens', { token: 'pit-other', locationId: 'loc_other' });
    expect((await api('/locations/loc_other', 'pit-other')).status).toBe(200);
    expect((await api('/locations/loc_demo', 'pit-other')).status).toBe(403);
    const missing = await api('/locations/loc_missing', 'pit-anything');
    expect(missing.status).toBe(400);
    expect(await json(missing)).toMatchObject({ statusCode: 400, message: 'Location not found' });
    const noVersion = await fetch(`${sb.url}/ghl/locations/loc_demo`, {
      headers: { authorization: `Bearer ${pair.access_token}` },
    });
    expect(noVersion.status).toBe(400);
  });

  it('expires access tokens (control API or TTL) with 401 Invalid JWT', async () => {
    const pair = await connect();
    expect((await api('/contacts/ct_demo', pair.access_token)).status).toBe(200);
    await control(sb, 'POST', '/ghl/oauth/expire', { accessToken: pair.access_token });
    const expired = await api('/contacts/ct_demo', pair.access_token);
    expect(expired.status).toBe(401);
    expect(await json(expired)).toEqual({ statusCode: 401, message: 'Invalid JWT', error: 'Unauthorized' });

    await control(sb, 'POST', '/ghl/oauth/config', { accessTokenTtlS: 1, codeTtlS: 1 });
    const short = await connect();
    expect(short.expires_in).toBe(1);
    expect((await api('/contacts/ct_demo', short.access_token)).status).toBe(200);
    const code = await codeFor();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await api('/contacts/ct_demo', short.access_token)).status).toBe(401);
    expect(await oauthError(await exchange(code))).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining('expired'),
    });

    // A reset forgets every token: the old one is not taken for an any-location token.
    await control(sb, 'POST', '/reset', {});
    expect((await api('/contacts/ct_demo', pair.access_token)).status).toBe(401);
  });

  it('rotates refresh tokens: new pair works, the old refresh token is dead; the grants log shows it', async () => {
    const first = await connect();
    const refreshed = await refresh(first.refresh_token, { user_type: 'Location' });
    expect(refreshed.status).toBe(200);
    const second = await json<TokenAnswer>(refreshed);
    expect(second).toMatchObject({ locationId: 'loc_demo', scope: SCOPE, token_type: 'Bearer' });
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect((await api('/contacts/ct_demo', second.access_token)).status).toBe(200);

    const again = await refresh(first.refresh_token);
    expect(again.status).toBe(400);
    expect(await oauthError(again)).toMatchObject({ error: 'invalid_grant' });
    expect(await oauthError(await refresh('sandbox-rt-never-issued'))).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh(second.refresh_token)).status).toBe(200);

    const { grants } = await control<{ grants: Grant[] }>(sb, 'GET', '/ghl/oauth/grants');
    expect(grants.map((g) => [g.grantType, g.ok, g.error ?? null])).toEqual([
      ['authorization_code', true, null],
      ['refresh_token', true, null],
      ['refresh_token', false, 'invalid_grant'],
      ['refresh_token', false, 'invalid_grant'],
      ['refresh_token', true, null],
    ]);
    expect(grants[0]).toMatchObject({ clientId: 'sandbox-client', locationId: 'loc_demo' });
    expect(Number.isNaN(Date.parse(grants[0]!.at))).toBe(false);

    await control(sb, 'POST', '/reset', {});
    expect((await control<{ grants: Grant[] }>(sb, 'GET', '/ghl/oauth/grants')).grants).toEqual([]);
  });

  it('revokes one refresh token, or every token of a location (next refresh: invalid_grant; access: 401)', async () => {
    await control(sb, 'POST', '/ghl/seed', { locationId: 'loc_other', contacts: 1 });
    const a = await connect('loc_demo');
    const b = await connect('loc_demo');
    const other = await connect('loc_other');

    const one = await control<Revoked>(sb, 'POST', '/ghl/oauth/revoke', { refreshToken: a.refresh_token });
    expect(one.revoked.refreshTokens).toBe(1);
    const deadA = await refresh(a.refresh_token);
    expect(deadA.status).toBe(400);
    expect(await oauthError(deadA)).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringContaining('revoked'),
    });
    expect((await api('/contacts/ct_demo', b.access_token)).status).toBe(200);

    const all = await control<Revoked>(sb, 'POST', '/ghl/oauth/revoke', { locationId: 'loc_demo' });
    expect(all.revoked).toEqual({ refreshTokens: 1, accessTokens: 2 });
    expect(await oauthError(await refresh(b.refresh_token))).toMatchObject({ error: 'invalid_grant' });
    expect((await api('/contacts/ct_demo', b.access_token)).status).toBe(401);
    expect((await api('/locations/loc_other', other.access_token)).status).toBe(200);
    expect((await refresh(other.refresh_token)).status).toBe(200);

    expect((await controlRaw('/ghl/oauth/revoke', {})).status).toBe(400);
    expect((await controlRaw('/ghl/oauth/revoke', { refreshToken: 'nope' })).status).toBe(404);
    expect((await controlRaw('/ghl/oauth/expire', { accessToken: 'nope' })).status).toBe(404);
    expect((await controlRaw('/ghl/oauth/config', { accessTokenTtlS: -1 })).status).toBe(400);
    expect((await controlRaw('/ghl/oauth/clients', { clientId: 'x' })).status).toBe(400);
  });
});
