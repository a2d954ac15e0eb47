import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttemptLimiter } from '../api/users/attempts.js';
import { createLimits, requestPasswordReset } from '../api/services/users.js';
import { withTenant } from '../lib/db.js';
import { pino } from 'pino';
import { createTenant, sandboxEmails, waitFor } from './support/campaign.js';
import { connectSendgrid } from './support/connections.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

const A = 'usr-a';
const B = 'usr-b';
const PASSWORD = 'correct horse battery staple';

interface Session {
  cookie: string;
  csrf: string;
  body: any;
}

describe('tenant users: invites, sessions, roles, password reset', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let keyA: string;
  let keyB: string;

  const api = (
    method: string,
    path: string,
    opts: { session?: Session; csrf?: boolean; body?: unknown; key?: string } = {},
  ) =>
    call(tp.baseUrl, method, path, {
      key: opts.key,
      body: opts.body,
      headers: {
        ...(opts.session ? { cookie: opts.session.cookie } : {}),
        ...(opts.session && opts.csrf !== false ? { 'x-csrf-token': opts.session.csrf } : {}),
      },
    });

  /** Signs in over HTTP and keeps the cookies as a browser would. */
  async function signIn(email: string, password: string, tenantId?: string): Promise<Session> {
    const res = await fetch(`${tp.baseUrl}/v1/auth/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, ...(tenantId ? { tenantId } : {}) }),
    });
    const body = (await res.json()) as { csrfToken: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    const setCookies = res.headers.getSetCookie();
    const session = setCookies.find((c) => c.startsWith('sb_session='))!;
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Lax/);
    expect(session).not.toMatch(/Secure/); // the public URL is plain http here
    const csrfCookie = setCookies.find((c) => c.startsWith('sb_csrf='))!;
    expect(csrfCookie).not.toMatch(/HttpOnly/);
    expect(decodeURIComponent(csrfCookie.split(';')[0]!.split('=')[1]!)).toBe(body.csrfToken);
    return { cookie: setCookies.map((c) => c.split(';')[0]).join('; '), csrf: body.csrfToken, body };
  }

  async function invite(tenantId: string, email: string, role: string, by: { key?: string; session?: Session }) {
    const path =
      by.session || by.key !== TEST_ADMIN_KEY ? '/v1/users/invites' : `/v1/admin/tenants/${tenantId}/invites`;
    const res = await api('POST', path, { ...by, body: { email, role } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  async function join(tenantId: string, email: string, role: string, password = PASSWORD) {
    const inv = await invite(tenantId, email, role, { key: TEST_ADMIN_KEY });
    const accepted = await api('POST', '/v1/auth/invites/accept', { body: { token: inv.token, password } });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
    return accepted.body;
  }

  const campaign = (name: string) => ({
    name,
    goal: 'Book a check-up',
    sender: {
      email: 'desk@clinic.example',
      name: 'Front Desk',
      postalAddress: '1 Harbour Street, Springfield, IL 62701, USA',
    },
    sequence: [{ type: 'email', subject: 'Hello', template: 'Hi {{firstName}}' }],
  });

  async function resetLink(to: string, after: number): Promise<string> {
    const email = await waitFor(`a reset email to ${to}`, async () =>
      (await sandboxEmails(sandbox, to)).find((e) => /reset/i.test(e.subject) && Date.parse(e.receivedAt) >= after),
    );
    const text = email.content.map((c) => c.value).join('\n');
    const link = /(http\S+\/console\/reset\?token=\S+)/.exec(text)?.[1];
    expect(link, text).toBeTruthy();
    return link!;
  }

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ roles: ['api'], env: { SANDBOX_PORT: new URL(sandbox.url).port } });
    keyA = await createTenant(tp.baseUrl, A);
    keyB = await createTenant(tp.baseUrl, B);
    // Tenant A has its own SendGrid account; B has none (the sandbox stands in for it).
    await connectSendgrid(sandbox, tp.baseUrl, keyA, A);
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('invite → accept → sign in → cookie reads; writes need the CSRF header; sign-out ends it', async () => {
    const inv = await invite(A, 'Owner@Clinic.example', 'owner', { key: TEST_ADMIN_KEY });
    expect(inv.email).toBe('owner@clinic.example');
    expect(inv.inviteUrl).toBe(`${tp.baseUrl}/console/invite?token=${encodeURIComponent(inv.token)}`);
    expect(inv.emailed).toBe(true);
    const mailed = await sandboxEmails(sandbox, 'owner@clinic.example');
    expect(mailed.at(-1)!.content[0]!.value).toContain(inv.inviteUrl);
    // Only a hash of the token is stored.
    const stored = await tp.adminPool.query('select token_hash from user_invites');
    for (const r of stored.rows) expect(Buffer.from(r.token_hash).toString()).not.toContain(inv.token);

    const weak = await api('POST', '/v1/auth/invites/accept', { body: { token: inv.token, password: 'short' } });
    expect(weak.status).toBe(400);
    expect(weak.body.message).toMatch(/^body\.password: /);
    const accepted = await api('POST', '/v1/auth/invites/accept', { body: { token: inv.token, password: PASSWORD } });
    expect(accepted.status).toBe(201);
    expect(accepted.body).toMatchObject({ tenantId: A, email: 'owner@clinic.example', role: 'owner' });
    const again = await api('POST', '/v1/auth/invites/accept', { body: { token: inv.token, password: PASSWORD } });
    expect(again.status).toBe(400);
    expect(again.body.message).toMatch(/^body\.token: /);
    const { rows } = await tp.adminPool.query('select password_hash from users where id = $1', [accepted.body.id]);
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);

    const s = await signIn('owner@clinic.example', PASSWORD);
    expect(s.body).toMatchObject({
      user: { email: 'owner@clinic.example', role: 'owner' },
      scopes: ['read', 'act', 'admin'],
    });

    const me = await api('GET', '/v1/me', { session: s, csrf: false });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      tenantId: A,
      keyId: `user:${accepted.body.id}`,
      user: { id: accepted.body.id, email: 'owner@clinic.example', role: 'owner' },
    });
    expect((await api('GET', '/v1/campaigns', { session: s, csrf: false })).status).toBe(200);

    const noCsrf = await api('POST', '/v1/campaigns', { session: s, csrf: false, body: campaign('no csrf') });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body.message).toContain('x-csrf-token');
    const wrongCsrf = await api('POST', '/v1/campaigns', {
      session: { ...s, csrf: 'x'.repeat(43) },
      body: campaign('wrong csrf'),
    });
    expect(wrongCsrf.status).toBe(403);
    const made = await api('POST', '/v1/campaigns', { session: s, body: campaign('with csrf') });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const names = (await tp.adminPool.query('select name from campaigns')).rows.map((r) => r.name);
    expect(names).toEqual(['with csrf']);

    // API keys are unaffected: no cookie, no CSRF header.
    expect((await api('POST', '/v1/campaigns', { key: keyA, body: campaign('by key') })).status).toBe(201);

    const out = await api('POST', '/v1/auth/signout', { session: s, csrf: false });
    expect(out.status).toBe(403);
    expect((await api('POST', '/v1/auth/signout', { session: s })).status).toBe(204);
    const after = await api('GET', '/v1/me', { session: s });
    expect(after.status).toBe(401);
    expect(after.body.message).toMatch(/signed out/);
  });

  it('roles map to scopes: a viewer reads, is refused on act routes; operators act but do not manage users', async () => {
    const owner = await signIn('owner@clinic.example', PASSWORD);
    const inv = await invite(A, 'viewer@clinic.example', 'viewer', { session: owner });
    expect(inv.emailed).toBe(true);
    expect(
      (await api('POST', '/v1/auth/invites/accept', { body: { token: inv.token, password: PASSWORD } })).status,
    ).toBe(201);
    const viewer = await signIn('viewer@clinic.example', PASSWORD);
    expect(viewer.body.scopes).toEqual(['read']);
    expect((await api('GET', '/v1/campaigns', { session: viewer })).status).toBe(200);
    const act = await api('POST', '/v1/campaigns', { session: viewer, body: campaign('viewer') });
    expect(act.status).toBe(403);
    expect(act.body.message).toContain("'act' scope");
    expect((await api('GET', '/v1/users', { session: viewer })).status).toBe(403);

    // An owner promotes the viewer to operator: it applies to the live session at once.
    const list = await api('GET', '/v1/users', { session: owner });
    expect(list.status).toBe(200);
    const viewerId = list.body.users.find((u: { email: string }) => u.email === 'viewer@clinic.example').id;
    const noCsrf = await api('PATCH', `/v1/users/${viewerId}`, {
      session: owner,
      csrf: false,
      body: { role: 'operator' },
    });
    expect(noCsrf.status).toBe(403);
    const patched = await api('PATCH', `/v1/users/${viewerId}`, { session: owner, body: { role: 'operator' } });
    expect(patched.status).toBe(200);
    expect(patched.body.role).toBe('operator');
    expect((await api('POST', '/v1/campaigns', { session: viewer, body: campaign('operator') })).status).toBe(201);
    expect(
      (await api('POST', '/v1/users/invites', { session: viewer, body: { email: 'x@y.example', role: 'owner' } }))
        .status,
    ).toBe(403);
    const bad = await api('PATCH', `/v1/users/${viewerId}`, { session: owner, body: { role: 'god' } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^body\.role: /);
  });

  it('the last owner cannot be removed or demoted; a second owner makes it possible', async () => {
    const owner = await signIn('owner@clinic.example', PASSWORD);
    const ownerId = owner.body.user.id;
    const del = await api('DELETE', `/v1/users/${ownerId}`, { session: owner });
    expect(del.status).toBe(409);
    expect(del.body.message).toMatch(/last owner/);
    expect((await api('PATCH', `/v1/users/${ownerId}`, { key: keyA, body: { role: 'viewer' } })).status).toBe(409);

    const second = await join(A, 'owner2@clinic.example', 'owner');
    const s2 = await signIn('owner2@clinic.example', PASSWORD);
    expect((await api('DELETE', `/v1/users/${ownerId}`, { session: s2 })).status).toBe(204);
    // The removed user's session is gone with them.
    expect((await api('GET', '/v1/me', { session: owner })).status).toBe(401);
    expect((await api('DELETE', `/v1/users/${second.id}`, { session: s2 })).status).toBe(409);
    // Put the first owner back for the tests below.
    await join(A, 'owner@clinic.example', 'owner');
  });

  it('a user of tenant A cannot act on tenant B with their session', async () => {
    const bUser = await join(B, 'owner@b.example', 'owner');
    const a = await signIn('owner@clinic.example', PASSWORD);
    expect((await api('GET', `/v1/admin/tenants/${B}/keys`, { session: a })).status).toBe(403);
    const crossInvite = await api('POST', `/v1/admin/tenants/${B}/invites`, {
      session: a,
      body: { email: 'spy@clinic.example', role: 'owner' },
    });
    expect(crossInvite.status).toBe(403);
    expect((await api('DELETE', `/v1/users/${bUser.id}`, { session: a })).status).toBe(404);
    expect((await api('PATCH', `/v1/users/${bUser.id}`, { session: a, body: { role: 'viewer' } })).status).toBe(404);
    const users = await api('GET', '/v1/users', { session: a });
    expect(users.body.users.every((u: { tenantId: string }) => u.tenantId === A)).toBe(true);
    expect((await api('GET', '/v1/campaigns', { session: a })).body.campaigns.length).toBeGreaterThan(0);
    expect((await api('GET', '/v1/campaigns', { key: keyB })).body.campaigns).toHaveLength(0);
    // Row-level security confines the new tables too.
    const seen = await withTenant(tp.platform.pool, B, async (c) => ({
      users: (await c.query('select tenant_id from users')).rows,
      sessions: (await c.query('select tenant_id from sessions')).rows,
    }));
    expect(seen.users.length).toBe(1);
    expect(new Set([...seen.users, ...seen.sessions].map((r) => r.tenant_id))).toEqual(new Set([B]));
    await expect(
      withTenant(tp.platform.pool, B, (c) =>
        c.query(
          `insert into users (id, tenant_id, email, password_hash, role) values ('u', '${A}', 'x@y.z', 'h', 'owner')`,
        ),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('the same address in two tenants: 409 asks for the tenant when the password opens both', async () => {
    await join(B, 'owner@clinic.example', 'viewer');
    const both = await api('POST', '/v1/auth/signin', { body: { email: 'owner@clinic.example', password: PASSWORD } });
    expect(both.status).toBe(409);
    expect(both.body.message).toMatch(/tenantId/);
    expect(JSON.stringify(both.body)).not.toContain(B);
    const inB = await signIn('owner@clinic.example', PASSWORD, B);
    expect(inB.body.user).toMatchObject({ tenantId: B, role: 'viewer' });
    const wrong = await api('POST', '/v1/auth/signin', {
      body: { email: 'owner@clinic.example', password: 'nope-nope-nope' },
    });
    expect(wrong.status).toBe(401);
  });

  it('password reset: same answer for unknown addresses, a one-time link, old sessions end', async () => {
    const before = Date.now();
    const old = await signIn('owner2@clinic.example', PASSWORD);
    const known = await api('POST', '/v1/auth/reset', { body: { email: 'owner2@clinic.example' } });
    const unknown = await api('POST', '/v1/auth/reset', { body: { email: 'nobody@clinic.example' } });
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(unknown.body).toEqual(known.body);
    const bad = await api('POST', '/v1/auth/reset', { body: { email: 'not an email' } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^body\.email: /);

    // Tenant A's email goes out through its own SendGrid account, as its verified sender.
    const link = await resetLink('owner2@clinic.example', before);
    expect(link.startsWith(`${tp.baseUrl}/console/reset?token=`)).toBe(true);
    const emails = await sandboxEmails(sandbox, 'owner2@clinic.example');
    expect((emails.at(-1) as unknown as { from: { email: string } }).from.email).toBe('desk@clinic.example');
    expect(await sandboxEmails(sandbox, 'nobody@clinic.example')).toHaveLength(0);

    const token = decodeURIComponent(new URL(link).searchParams.get('token')!);
    const weak = await api('POST', '/v1/auth/reset/confirm', { body: { token, password: 'short' } });
    expect(weak.status).toBe(400);
    const done = await api('POST', '/v1/auth/reset/confirm', { body: { token, password: 'a brand new passphrase' } });
    expect(done.status).toBe(204);
    expect(
      (await api('POST', '/v1/auth/reset/confirm', { body: { token, password: 'another new passphrase' } })).status,
    ).toBe(400);
    expect((await api('GET', '/v1/me', { session: old })).status).toBe(401);
    expect(
      (await api('POST', '/v1/auth/signin', { body: { email: 'owner2@clinic.example', password: PASSWORD } })).status,
    ).toBe(401);
    const fresh = await signIn('owner2@clinic.example', 'a brand new passphrase');
    expect((await api('GET', '/v1/me', { session: fresh })).status).toBe(200);
  });

  it('a tenant without an email connection still answers 202; in sandbox mode the sandbox carries the link', async () => {
    const before = Date.now();
    const res = await api('POST', '/v1/auth/reset', { body: { email: 'owner@b.example', tenantId: B } });
    expect(res.status).toBe(202);
    const link = await resetLink('owner@b.example', before);
    const emails = await sandboxEmails(sandbox, 'owner@b.example');
    expect((emails.at(-1) as unknown as { from: { email: string } }).from.email).toBe('no-reply@switchboard.example');
    const token = decodeURIComponent(new URL(link).searchParams.get('token')!);
    expect(
      (await api('POST', '/v1/auth/reset/confirm', { body: { token, password: 'b owner new passphrase' } })).status,
    ).toBe(204);
    await signIn('owner@b.example', 'b owner new passphrase');
  });

  it('in sandbox mode the reset link is logged at info, and no other line carries the token', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const deps = {
      pool: tp.platform.pool,
      access: tp.platform.access,
      providers: tp.config.providers,
      log,
      limits: createLimits(),
    };
    const work = await requestPasswordReset(deps, { email: 'owner@b.example', tenantId: B }, '127.0.0.1', 'http://x');
    await work();
    const linkLines = lines.filter((l) => l.msg === 'password reset link (sandbox mode)');
    expect(linkLines).toHaveLength(1);
    const resetUrl = String(linkLines[0]!.resetUrl);
    expect(resetUrl).toMatch(/^http:\/\/x\/console\/reset\?token=sbr_/);
    const token = new URL(resetUrl).searchParams.get('token')!;
    const others = lines.filter((l) => l !== linkLines[0]);
    expect(others.length).toBeGreaterThan(0);
    for (const l of others) expect(JSON.stringify(l)).not.toContain(token);
  });

  it('changing the password ends every other session and hands this one a new cookie', async () => {
    const one = await signIn('owner2@clinic.example', 'a brand new passphrase');
    const two = await signIn('owner2@clinic.example', 'a brand new passphrase');
    const wrong = await api('POST', '/v1/auth/password', {
      session: one,
      body: { currentPassword: 'not it at all', newPassword: 'the third passphrase' },
    });
    expect(wrong.status).toBe(403);
    const changed = await fetch(`${tp.baseUrl}/v1/auth/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: one.cookie, 'x-csrf-token': one.csrf },
      body: JSON.stringify({ currentPassword: 'a brand new passphrase', newPassword: 'the third passphrase' }),
    });
    expect(changed.status).toBe(200);
    const renewed: Session = {
      cookie: changed.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; '),
      csrf: ((await changed.json()) as { csrfToken: string }).csrfToken,
      body: undefined,
    };
    expect((await api('GET', '/v1/me', { session: one })).status).toBe(401);
    expect((await api('GET', '/v1/me', { session: two })).status).toBe(401);
    expect((await api('GET', '/v1/me', { session: renewed })).status).toBe(200);
  });

  it('wrong passwords: 401 alike for unknown addresses, then 429 after 5 tries for that email and IP', async () => {
    await join(A, 'locked@clinic.example', 'viewer');
    const unknown = await api('POST', '/v1/auth/signin', {
      body: { email: 'ghost@clinic.example', password: 'whatever-it-is' },
    });
    expect(unknown.status).toBe(401);
    for (let i = 0; i < 5; i++) {
      const res = await api('POST', '/v1/auth/signin', {
        body: { email: 'locked@clinic.example', password: `wrong-${i}` },
      });
      expect(res.status).toBe(401);
      expect(res.body.message).toBe(unknown.body.message);
    }
    const locked = await api('POST', '/v1/auth/signin', {
      body: { email: 'locked@clinic.example', password: PASSWORD },
    });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    // No proxy is trusted by default: a forged X-Forwarded-For does not open a fresh bucket.
    const forged = await call(tp.baseUrl, 'POST', '/v1/auth/signin', {
      body: { email: 'locked@clinic.example', password: PASSWORD },
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(forged.status).toBe(429);
    // Another address from the same IP is not locked.
    await signIn('viewer@clinic.example', PASSWORD);
    // Reset requests are limited the same way, whether or not the address exists.
    for (let i = 0; i < 5; i++)
      expect((await api('POST', '/v1/auth/reset', { body: { email: 'ghost@clinic.example' } })).status).toBe(202);
    expect((await api('POST', '/v1/auth/reset', { body: { email: 'ghost@clinic.example' } })).status).toBe(429);
  });

  it('behind a trusted proxy (API_TRUST_PROXY=1) each client IP from X-Forwarded-For has its own sign-in budget', async () => {
    const proxied = await startTestPlatform({ env: { API_TRUST_PROXY: '1' } });
    try {
      const admin = { key: TEST_ADMIN_KEY };
      await call(proxied.baseUrl, 'POST', '/v1/admin/tenants', { ...admin, body: { id: 'usr-proxy', name: 'P' } });
      const inv = await call(proxied.baseUrl, 'POST', '/v1/admin/tenants/usr-proxy/invites', {
        ...admin,
        body: { email: 'proxied@clinic.example', role: 'viewer' },
      });
      expect(inv.status, JSON.stringify(inv.body)).toBe(201);
      const accept = { body: { token: inv.body.token, password: PASSWORD } };
      expect((await call(proxied.baseUrl, 'POST', '/v1/auth/invites/accept', accept)).status).toBe(201);
      const attempt = (ip: string, password: string) =>
        call(proxied.baseUrl, 'POST', '/v1/auth/signin', {
          body: { email: 'proxied@clinic.example', password },
          headers: { 'x-forwarded-for': ip },
        });
      for (let i = 0; i < 5; i++) expect((await attempt('198.51.100.1', `wrong-${i}`)).status).toBe(401);
      expect((await attempt('198.51.100.1', PASSWORD)).status).toBe(429);
      // The office next door, behind the same proxy, still signs in.
      expect((await attempt('198.51.100.2', PASSWORD)).status).toBe(200);
    } finally {
      await proxied.stop();
    }
  });

  it('the new routes are in the OpenAPI document', async () => {
    const docs = await call(tp.baseUrl, 'GET', '/docs/json');
    expect(docs.status).toBe(200);
    for (const path of ['/v1/auth/signin', '/v1/auth/reset', '/v1/users/{id}', '/v1/admin/tenants/{tenantId}/invites'])
      expect(Object.keys(docs.body.paths)).toContain(path);
  });

  it('bad input names the field', async () => {
    const res = await api('POST', '/v1/auth/signin', { body: { email: 'owner@clinic.example' } });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^body\.password: /);
    const extra = await api('POST', '/v1/users/invites', {
      key: keyA,
      body: { email: 'a@b.example', role: 'viewer', x: 1 },
    });
    expect(extra.status).toBe(400);
    expect(extra.body.message).toContain('x');
    const byAdmin = await api('POST', '/v1/users/invites', {
      key: TEST_ADMIN_KEY,
      body: { email: 'a@b.example', role: 'viewer' },
    });
    expect(byAdmin.status).toBe(403);
    const noTenant = await api('POST', '/v1/admin/tenants/nope-tenant/invites', {
      key: TEST_ADMIN_KEY,
      body: { email: 'a@b.example', role: 'viewer' },
    });
    expect(noTenant.status).toBe(404);
  });
});

describe('the sign-in attempt limiter', () => {
  it('blocks a key after max hits until its window ends, and stays within its capacity', () => {
    let now = 1_000_000;
    const limiter = new AttemptLimiter({ max: 3, windowMs: 60_000, capacity: 2, now: () => now });
    for (let i = 0; i < 3; i++) {
      expect(limiter.blockedFor('a')).toBe(0);
      limiter.hit('a');
    }
    expect(limiter.blockedFor('a')).toBe(60);
    now += 30_000;
    expect(limiter.blockedFor('a')).toBe(30);
    now += 30_000;
    expect(limiter.blockedFor('a')).toBe(0);
    // Bounded: the least recently touched key is dropped first.
    for (const k of ['x', 'y', 'z']) for (let i = 0; i < 3; i++) limiter.hit(k);
    expect(limiter.blockedFor('x')).toBe(0);
    expect(limiter.blockedFor('y')).toBeGreaterThan(0);
    expect(limiter.blockedFor('z')).toBeGreaterThan(0);
    limiter.clear('z');
    expect(limiter.blockedFor('z')).toBe(0);
  });
});
