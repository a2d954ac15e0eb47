import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { sandboxEmails, waitFor, wireSendgrid } from './support/campaign.js';
import { expectAccessible, launchBrowser, screenshot, watchedPage, type WatchedPage } from './support/browser.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { sandboxProviders, setUpVoiceTenant } from './support/voice.js';

/**
 * The web console in a real browser (Debian's Chromium through playwright-core) against the real
 * platform and the provider sandbox: sign-in, a simulated call appearing live in the list and its
 * page, a campaign from a CSV with a bad row, approving a draft (sent in the sandbox's email log),
 * GoHighLevel OAuth through the sandbox's consent page, and the other screens. Every page is
 * checked for console errors and with axe-core; screenshots go to test/artifacts/.
 */

const TENANT = 'console-a';
const OAUTH_TENANT = 'console-oauth';
const OAUTH_LOCATION = 'loc_console_oauth';
const OWNER = 'owner@console.example';
const PASSWORD = 'correct horse battery staple';

describe('the web console in Chromium', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let browser: Browser;
  let context: BrowserContext;
  let watched: WatchedPage[] = [];

  /** A user who can sign in: invited by the platform admin, accepted with a password. */
  async function createOwner(tenantId: string, email: string): Promise<void> {
    const invite = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${tenantId}/invites`, {
      key: TEST_ADMIN_KEY,
      body: { email, role: 'owner' },
    });
    expect(invite.status, JSON.stringify(invite.body)).toBe(201);
    const accepted = await call(tp.baseUrl, 'POST', '/v1/auth/invites/accept', {
      body: { token: invite.body.token, password: PASSWORD },
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
  }

  async function open(ctx: BrowserContext = context): Promise<Page> {
    const w = await watchedPage(ctx);
    watched.push(w);
    return w.page;
  }

  async function signIn(page: Page, email = OWNER): Promise<void> {
    await page.goto(`${tp.baseUrl}/console/signin`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Home' }).waitFor();
  }

  beforeAll(async () => {
    // The console as `npm install` builds it (skipped when its sources have not changed).
    execFileSync(process.execPath, ['scripts/buildConsole.mjs', '--strict'], { stdio: 'inherit' });
    sandbox = await startTestSandbox();
    await sandbox.control('POST', '/ghl/seed', { locationId: OAUTH_LOCATION, contacts: 3, seed: 5 });
    const { VAPI_API_KEY: _key, VAPI_BASE_URL: _url, ...providers } = sandboxProviders(sandbox);
    tp = await startTestPlatform({
      env: {
        ...providers,
        // Vapi (and SendGrid) are the local sandbox here, as on a keyless install: the tour's
        // simulated call exists only then.
        SANDBOX_PORT: new URL(sandbox.url).port,
        GHL_OAUTH_CLIENT_ID: 'sandbox-client',
        GHL_OAUTH_CLIENT_SECRET: 'sandbox-secret',
        GHL_OAUTH_AUTHORIZE_URL: `${sandbox.url}/ghl/oauth/chooselocation`,
        TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
      },
    });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
    await createOwner(TENANT, OWNER);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Signed in once for the context, so each test also runs alone (`-t`); the first test signs in again.
    const first = await context.newPage();
    await signIn(first);
    await first.close();
  });
  afterEach(() => {
    const errors = watched.flatMap((w) => w.errors);
    watched = [];
    expect(errors, 'no console errors on any page').toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await tp?.stop();
    await sandbox?.close();
  });

  it('is served at /console/ with a strict CSP; sign-in lands on Home', async () => {
    const root = await fetch(`${tp.baseUrl}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');
    const index = await fetch(`${tp.baseUrl}/console/calls`);
    expect(index.status).toBe(200);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    // Nothing secret in the bundle: no keys of this install, no sandbox tokens.
    const bundle = await (await fetch(`${tp.baseUrl}${/src="([^"]+\.js)"/.exec(html)![1]}`)).text();
    for (const secret of [TEST_ADMIN_KEY, key, 'sandbox-secret', 'test-ghl-token'])
      expect(bundle).not.toContain(secret);

    const page = await open();
    await page.goto(`${tp.baseUrl}/console/signin`);
    await expectAccessible(page, 'sign-in');
    await screenshot(page, '01-signin');
    // A wrong password is refused on the page.
    await page.getByLabel('Email').fill(OWNER);
    await page.getByLabel('Password').fill('wrong password, surely');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /401|password|invalid/i })
      .waitFor();
    watched.at(-1)!.errors.splice(0); // the browser logs the refused request (401) itself
    await signIn(page);
    await page.getByText(OWNER).waitFor();
    await page.getByRole('heading', { name: 'First run: try it on the sandbox' }).waitFor();
    await expectAccessible(page, 'home');
    await screenshot(page, '02-home');
  });

  it('a simulated call appears in the list live, without a reload, and its page shows transcript, tools and summary', async () => {
    const page = await open();
    await page.goto(`${tp.baseUrl}/console/calls`);
    await page.getByRole('heading', { level: 1, name: 'Calls' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await page.evaluate('window.__notReloaded = true');

    const started = await call(tp.baseUrl, 'POST', '/v1/sandbox/calls', { key, body: {} });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body.booking).toBeTruthy();
    const workflowId: string = started.body.workflowId;
    const row = page.locator(`tr[data-call-id="${workflowId}"]`);
    await row.waitFor({ timeout: 30_000 });
    // Its status changes in place as the call goes on, to the end of the post-call work.
    await row.getByText('completed').waitFor({ timeout: 60_000 });
    await row.getByText('booked').waitFor({ timeout: 30_000 });
    expect(await page.evaluate('window.__notReloaded')).toBe(true);
    await expectAccessible(page, 'calls');
    await screenshot(page, '03-calls');

    await row.getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: /Call from \+15555550100/ }).waitFor();
    const transcript = page.getByTestId('transcript');
    await transcript.getByText("Hi, I'd like to book a cleaning appointment, please.").waitFor();
    const tools = page.getByTestId('tool-calls');
    for (const name of ['lookup_caller', 'get_free_slots', 'book_appointment'])
      await tools.getByText(name, { exact: true }).waitFor();
    await tools.getByText(/Booked for/).waitFor();
    await expect.poll(() => page.getByTestId('call-summary').textContent(), { timeout: 30_000 }).toMatch(/\w{10}/);
    expect(await page.getByText(/ms$/).count()).toBeGreaterThanOrEqual(3); // each tool call's latency
    await page.locator('audio').waitFor({ state: 'attached' });
    await page.getByRole('link', { name: /Temporal Web UI/ }).waitFor();
    await expectAccessible(page, 'call page');
    await screenshot(page, '04-call');
  });

  it('creates a campaign from a CSV: the bad row’s error is shown next to it; approving a draft sends it', async () => {
    const page = await open();
    await page.goto(`${tp.baseUrl}/console/campaigns/new`);
    await page.getByRole('heading', { level: 1, name: 'New campaign' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Console review campaign');
    await page.getByLabel(/Review mode/).check();
    await page.getByLabel(/Send at any hour/).check();
    await page
      .getByLabel(/Leads CSV/)
      .fill(
        'email,firstName,lastName,company\nada@example.com,Ada,Lovelace,Engines\nnot-an-email,Bad,Row,Nowhere\ngrace@example.com,Grace,Hopper,Compilers',
      );
    await expectAccessible(page, 'new campaign');
    await page.getByRole('button', { name: 'Create the campaign' }).click();
    await page.getByRole('heading', { name: 'Campaign created' }).waitFor();
    await page.getByText('2 lead(s) imported, 1 row problem(s)').waitFor();
    const bad = page.locator('tr[data-row="3"]');
    await expect.poll(() => bad.getAttribute('class')).toContain('row-error');
    expect(await bad.textContent()).toMatch(/not-an-email.*email.*not an email address/);
    expect(await page.locator('tr[data-row="2"]').textContent()).toContain('imported');
    await expectAccessible(page, 'campaign created');
    await screenshot(page, '05-campaign-csv-errors');

    await page.getByRole('button', { name: 'Start the campaign' }).click();
    await page.getByRole('heading', { level: 1, name: 'Console review campaign' }).waitFor();
    await page.getByText('of 2 leads done').waitFor();
    await page.getByRole('img', { name: /Funnel: Leads 2/ }).waitFor();
    await page.getByText(/2\s*waiting for approval/).waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'campaign');
    await screenshot(page, '06-campaign');

    await page.getByRole('link', { name: /waiting for approval/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Approvals' }).waitFor();
    const heading = page.getByRole('heading', { level: 2, name: /^Draft to / });
    await heading.waitFor();
    const to = (await heading.textContent())!.replace('Draft to ', '').trim();
    expect(['ada@example.com', 'grace@example.com']).toContain(to);
    await page.getByRole('heading', { name: 'Research brief' }).waitFor();
    await expectAccessible(page, 'approvals');
    await screenshot(page, '07-approvals');
    const subject = await page.getByLabel('Subject').inputValue();
    // One key press approves it.
    await page.getByRole('heading', { level: 1, name: 'Approvals' }).click();
    await page.keyboard.press('a');
    await expect.poll(async () => (await heading.textContent())?.includes(to) !== true, { timeout: 30_000 }).toBe(true);
    const sent = await waitFor('the approved email in the sandbox', async () => {
      const emails = await sandboxEmails(sandbox, to);
      return emails.length ? emails : undefined;
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.subject).toBe(subject);
    const other = to === 'ada@example.com' ? 'grace@example.com' : 'ada@example.com';
    expect(await sandboxEmails(sandbox, other)).toHaveLength(0); // still held
  });

  it('a viewer reads but is offered no action; signing out sends every page back to sign-in', async () => {
    const invite = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/invites`, {
      key: TEST_ADMIN_KEY,
      body: { email: 'viewer@console.example', role: 'viewer' },
    });
    await call(tp.baseUrl, 'POST', '/v1/auth/invites/accept', {
      body: { token: invite.body.token, password: PASSWORD },
    });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const w = await watchedPage(ctx);
      watched.push(w);
      const page = w.page;
      await signIn(page, 'viewer@console.example');
      await page.getByText('viewer@console.example (viewer)').waitFor();
      expect(await page.getByRole('button', { name: 'Simulate an inbound call' }).count()).toBe(0);
      await page.getByRole('link', { name: 'Calls', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Calls' }).waitFor();
      expect(await page.getByRole('button', { name: 'Place an outbound call' }).count()).toBe(0);
      await page.getByRole('link', { name: 'Settings', exact: true }).click();
      await page.getByRole('heading', { name: 'Provider connections' }).waitFor();
      expect(await page.getByRole('heading', { name: 'Users and roles' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Connect GoHighLevel (OAuth)' }).count()).toBe(0);
      await expectAccessible(page, 'settings as a viewer');

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await page.goto(`${tp.baseUrl}/console/calls?status=completed`);
      await page.waitForURL(/\/console\/signin\?next=%2Fcalls%3Fstatus%3Dcompleted$/);
      // The refused /v1/me (401) is logged by the browser itself: expected here.
      w.errors.splice(0, w.errors.length, ...w.errors.filter((e) => !/status of 401/.test(e)));
    } finally {
      await ctx.close();
    }
  });

  it('connects GoHighLevel through the sandbox’s OAuth consent page', async () => {
    await call(tp.baseUrl, 'POST', '/v1/admin/tenants', {
      key: TEST_ADMIN_KEY,
      body: { id: OAUTH_TENANT, name: OAUTH_TENANT },
    });
    const email = 'owner@oauth.example';
    await createOwner(OAUTH_TENANT, email);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await open(ctx);
      await signIn(page, email);
      await page.goto(`${tp.baseUrl}/console/settings`);
      const ghl = page.locator('li[data-provider="ghl"]');
      await ghl.getByText('missing').waitFor();
      await page.getByRole('button', { name: 'Connect GoHighLevel (OAuth)' }).click();
      // The sandbox's consent page (another origin, GHL's stand-in): allow the location.
      await page.waitForURL(/\/ghl\/oauth\/chooselocation/);
      await page
        .locator('form', { has: page.locator(`input[name="location_id"][value="${OAUTH_LOCATION}"]`) })
        .locator('button, input[type="submit"]')
        .first()
        .click();
      await page.waitForURL(/\/console\/settings\?connected=ghl/);
      await page.getByText(`GoHighLevel is connected (location ${OAUTH_LOCATION})`).waitFor();
      await ghl.getByText('connected').waitFor();
      await ghl.getByText(/oauth/).waitFor();
      await expectAccessible(page, 'settings (OAuth tenant)');
    } finally {
      await ctx.close();
    }
  });

  it('settings, sync now, contacts, a contact, insights: readable, accessible, on a phone too', async () => {
    const page = await open();
    await page.goto(`${tp.baseUrl}/console/settings`);
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    await page.locator('li[data-provider="ghl"]').getByText('connected').waitFor();
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.locator('#sync').getByText('completed').waitFor({ timeout: 60_000 });
    await page.getByLabel('Sync every (minutes)').fill('60');
    await page.getByRole('button', { name: 'Save the schedule' }).click();
    await page.getByRole('status').filter({ hasText: 'Syncs every 60 minutes.' }).waitFor();
    // The schedule as it now runs (GET /v1/crm/connection): the interval and the next sync.
    await page.getByTestId('sync-schedule').filter({ hasText: 'Syncs every 60 minutes; next' }).waitFor();
    await page.getByLabel('Greeting').fill('Hello from the console test');
    await page.getByRole('button', { name: 'Save voice settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    expect((await call(tp.baseUrl, 'GET', '/v1/voice/settings', { key })).body).toMatchObject({
      greeting: 'Hello from the console test',
      calendarId: 'cal_demo',
    });
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByRole('table', { name: 'Audit log' }).waitFor();
    await page.getByRole('table', { name: 'Users' }).getByText(OWNER).waitFor();
    await page.getByRole('table', { name: 'API keys' }).waitFor();
    await expectAccessible(page, 'settings');
    await screenshot(page, '08-settings');

    await page.getByRole('link', { name: 'Contacts', exact: true }).click();
    await page.getByLabel('Name, phone or email').fill('Demo Caller');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Demo Caller' }).click();
    await page.getByRole('heading', { level: 1, name: 'Demo Caller' }).waitFor();
    await page.getByRole('button', { name: 'Analyse this contact' }).click();
    await page.getByText('Intent').waitFor({ timeout: 30_000 });
    await expectAccessible(page, 'contact');
    await screenshot(page, '09-contact');

    await page.getByRole('link', { name: 'Insights', exact: true }).click();
    await page.getByRole('heading', { level: 2, name: 'Recommendations' }).waitFor();
    await page.getByRole('img', { name: /Events by hour/ }).waitFor();
    await expectAccessible(page, 'insights');
    await screenshot(page, '10-insights');

    // A phone-sized screen: nothing wider than the viewport but the tables' own scroll areas.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/console/', '/console/calls', '/console/approvals', '/console/settings']) {
      await page.goto(`${tp.baseUrl}${path}`);
      await page.locator('h1').waitFor();
      await page.waitForLoadState('networkidle');
      // Elements reaching past the right edge, outside the tables' own scroll areas.
      const wide = await page.evaluate(`[...document.querySelectorAll('body *')]
        .filter((e) => !e.parentElement.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`);
      expect(wide, `${path} fits a phone`).toEqual([]);
      await screenshot(page, `11-phone${path.replace('/console', '').replaceAll('/', '-') || '-home'}`, false);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('the first-run tour runs a 20-lead demo campaign: every lead is emailed, the progress moves on its own', async () => {
    const page = await open();
    await page.goto(`${tp.baseUrl}/console/`);
    await page.getByRole('button', { name: 'Run a 20-lead demo campaign' }).click();
    await page.getByRole('heading', { level: 1, name: /^Demo campaign/ }).waitFor();
    await page.getByRole('img', { name: /Funnel: Leads 20/ }).waitFor();
    await page.getByText(/^20\s*emails sent/).waitFor({ timeout: 120_000 });
    await page.getByText('20 of 20 leads done (100%)').waitFor({ timeout: 60_000 });
    expect(
      (await sandboxEmails(sandbox)).filter((e) => e.personalizations[0]?.to[0]?.email.endsWith('@demo.example')),
    ).toHaveLength(20);
    await expectAccessible(page, 'demo campaign');
  });

  it('the first-run tour simulates a call from Home and opens it', async () => {
    const page = await open();
    await page.goto(`${tp.baseUrl}/console/`);
    await page.getByRole('button', { name: 'Simulate an inbound call' }).click();
    await page.getByRole('heading', { level: 1, name: /Call from/ }).waitFor();
    await page.getByTestId('transcript').getByText('Great, thank you. Bye!').waitFor({ timeout: 60_000 });
    expect(page.url()).toMatch(/\/console\/calls\/call%3Aconsole-a%3Avapi%3A/);
  });
});
