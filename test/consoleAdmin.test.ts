import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessible, launchBrowser, screenshot, watchedPage } from './support/browser.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { sandboxProviders, setUpVoiceTenant } from './support/voice.js';

/**
 * The platform admin switching tenants: the admin key exchanged at the console's sign-in for a
 * session, a tenant picked, the console seen as that tenant's owner sees it; every switch in the
 * audit log of the tenant switched to; the session carries one tenant at a time; a tenant's own
 * owner cannot switch.
 */

const A = 'admin-view-a';
const B = 'admin-view-b';
const OWNER = 'owner@admin-view.example';
const PASSWORD = 'correct horse battery staple';

/** The session cookie and CSRF token out of a sign-in answer, for the next requests. */
function sessionOf(res: { headers: Headers; body: { csrfToken: string } }) {
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  return { cookie, csrf: res.body.csrfToken };
}

describe('the platform admin switches tenants', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/buildConsole.mjs', '--strict'], { stdio: 'inherit' });
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { ...sandboxProviders(sandbox) } });
    await setUpVoiceTenant(sandbox, tp.baseUrl, A);
    expect(
      (await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: B, name: 'Bee' } }))
        .status,
    ).toBe(201);
    const invite = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${B}/invites`, {
      key: TEST_ADMIN_KEY,
      body: { email: OWNER, role: 'owner' },
    });
    await call(tp.baseUrl, 'POST', '/v1/auth/invites/accept', {
      body: { token: invite.body.token, password: PASSWORD },
    });
  }, 180_000);
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('over the API: one tenant at a time, each switch audited, a wrong key refused, an owner cannot switch', async () => {
    expect((await call(tp.baseUrl, 'POST', '/v1/auth/admin', { body: { adminKey: 'sbadmin_wrong' } })).status).toBe(
      401,
    );
    const signed = await call(tp.baseUrl, 'POST', '/v1/auth/admin', { body: { adminKey: TEST_ADMIN_KEY } });
    expect(signed.status).toBe(200);
    const s = sessionOf(signed);
    const as = (method: string, path: string, body?: unknown) =>
      call(tp.baseUrl, method, path, { body, headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } });

    const picker = await as('GET', '/v1/auth/admin/tenants');
    expect(picker.body.current).toBeNull();
    expect(picker.body.tenants.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining([A, B]));
    // No CSRF token: refused.
    expect(
      (await call(tp.baseUrl, 'PUT', '/v1/auth/admin/tenant', { body: { tenantId: B }, headers: { cookie: s.cookie } }))
        .status,
    ).toBe(403);
    expect((await as('PUT', '/v1/auth/admin/tenant', { tenantId: 'no-such-tenant' })).status).toBe(404);

    expect((await as('PUT', '/v1/auth/admin/tenant', { tenantId: B })).status).toBe(200);
    const me = await as('GET', '/v1/me');
    expect(me.body).toMatchObject({ tenantId: B, platformAdmin: true, scopes: ['read', 'act', 'admin'] });
    // As B's owner: B's users, not A's.
    const users = await as('GET', '/v1/users');
    expect(users.body.users.map((u: { email: string }) => u.email)).toEqual([OWNER]);
    expect((await as('PUT', '/v1/auth/admin/tenant', { tenantId: A })).status).toBe(200);
    expect((await as('GET', '/v1/me')).body.tenantId).toBe(A);
    expect((await as('GET', '/v1/users')).body.users).toEqual([]);

    // Each switch is in the audit log of the tenant switched to, naming where it came from.
    const audit = await tp.adminPool.query(
      `select tenant_id, params from audit_log where tool = 'admin_switch_tenant' order by id`,
    );
    expect(audit.rows.map((r) => [r.tenant_id, r.params.from])).toEqual([
      [B, null],
      [A, B],
    ]);

    // B's owner, signed in: cannot list tenants nor switch to A.
    const owner = sessionOf(
      await call(tp.baseUrl, 'POST', '/v1/auth/signin', { body: { email: OWNER, password: PASSWORD } }),
    );
    const asOwner = (method: string, path: string, body?: unknown) =>
      call(tp.baseUrl, method, path, { body, headers: { cookie: owner.cookie, 'x-csrf-token': owner.csrf } });
    expect((await asOwner('GET', '/v1/auth/admin/tenants')).status).toBe(403);
    expect((await asOwner('PUT', '/v1/auth/admin/tenant', { tenantId: A })).status).toBe(403);
    expect((await asOwner('GET', '/v1/me')).body.tenantId).toBe(B);

    // Signed out, the session is gone.
    expect((await as('DELETE', '/v1/auth/admin')).status).toBe(204);
    expect((await as('GET', '/v1/me')).status).toBe(401);
  });

  it('in Chromium: the admin key at sign-in, the tenant picker, the console as the owner sees it', async () => {
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const { page, errors } = await watchedPage(context);
      await page.goto(`${tp.baseUrl}/console/signin`);
      await page.getByRole('link', { name: 'Platform admin' }).click();
      await page.getByRole('heading', { level: 1, name: 'Platform admin' }).waitFor();
      await page.getByLabel('Admin key').fill(TEST_ADMIN_KEY);
      await page.getByRole('button', { name: 'Sign in as the platform admin' }).click();
      const tenants = page.getByRole('list', { name: 'Tenants' });
      await tenants.waitFor();
      await expectAccessible(page, 'the tenant picker');
      await screenshot(page, 'admin-tenant-picker');
      await tenants.getByRole('button', { name: new RegExp(`\\(${A}\\)`) }).click();
      await page.getByRole('heading', { level: 1, name: 'Home' }).waitFor();
      await page.getByText('platform admin').waitFor();
      expect(await page.locator('.tenant').textContent()).toBe(A);
      await screenshot(page, 'admin-viewing-tenant');
      // Switch again, from the header.
      await page.getByRole('link', { name: 'Switch tenant' }).click();
      await page
        .getByRole('list', { name: 'Tenants' })
        .getByRole('button', { name: /\(admin-view-b\)/ })
        .click();
      await page.getByRole('heading', { level: 1, name: 'Home' }).waitFor();
      await page.locator('.tenant', { hasText: B }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      expect(errors.filter((e) => !/401|409/.test(e))).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
