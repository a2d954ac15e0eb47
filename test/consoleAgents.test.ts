import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, screenshot, watchedPage, type WatchedPage } from './support/browser.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { eventually } from './support/timeSkipping.js';
import { demoFreeSlots, sandboxProviders, setUpVoiceTenant } from './support/voice.js';

/**
 * The console's Agents screen and its connected-MCP-clients settings in Chromium, against the real
 * platform with Claude and GHL played by the sandbox: a chat with the Closer streamed into the
 * page, a booking confirmed with one press after a reload (the confirmation still offered) (one appointment in GHL), a reply carrying HTML that
 * must stay inert, a morning brief marked in the history, and the connected clients list.
 */

const TENANT = 'console-agents';
const OWNER = 'owner@agents.example';
const PASSWORD = 'correct horse battery staple';

describe('the console’s agents screen in Chromium', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let contactId: string;
  let slotDay: string;
  let browser: Browser;
  let context: BrowserContext;
  let watched: WatchedPage[] = [];

  const appointmentsOf = async (contact: string) =>
    (
      await sandbox.control<{ appointments: { id: string }[] }>(
        'GET',
        `/ghl/appointments?locationId=loc_demo&contactId=${contact}`,
      )
    ).appointments;

  async function open(): Promise<Page> {
    const w = await watchedPage(context);
    watched.push(w);
    return w.page;
  }

  async function signIn(page: Page): Promise<void> {
    await page.goto(`${tp.baseUrl}/console/signin`);
    await page.getByLabel('Email').fill(OWNER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Home' }).waitFor();
  }

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/buildConsole.mjs', '--strict'], { stdio: 'inherit' });
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { ...sandboxProviders(sandbox) } });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    const created = await sandbox.ghl('POST', '/contacts/upsert', {
      locationId: 'loc_demo',
      phone: '+15125550778',
      firstName: 'Dana',
      lastName: 'Browser',
    });
    contactId = created.body.contact.id;
    slotDay = (await demoFreeSlots(sandbox))[0]!.slice(0, 10);
    const invite = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/invites`, {
      key: TEST_ADMIN_KEY,
      body: { email: OWNER, role: 'owner' },
    });
    expect(invite.status, JSON.stringify(invite.body)).toBe(201);
    const accepted = await call(tp.baseUrl, 'POST', '/v1/auth/invites/accept', {
      body: { token: invite.body.token, password: PASSWORD },
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const first = await context.newPage();
    await signIn(first);
    await first.close();
  }, 180_000);
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

  it('chats with the Closer: the reply streams in, Confirm books exactly one appointment', async () => {
    const page = await open();
    await page.goto(`${tp.baseUrl}/console/agents`);
    await page.getByRole('heading', { level: 1, name: 'Agents' }).waitFor();
    const personas = page.getByRole('list', { name: 'Agents' });
    for (const name of ['Strategist', 'Builder', 'Closer', 'Operator'])
      await personas.getByRole('button', { name: new RegExp(name) }).waitFor();
    await personas.getByRole('button', { name: /Closer/ }).click();
    await page.getByRole('heading', { name: 'New conversation with the Closer' }).waitFor();
    await page.getByRole('heading', { name: 'Conversations with the Closer' }).waitFor();
    await expectAccessible(page, 'agents');

    // Count what the page sees of the reply while it is written: the live bubble's text grows.
    await page.evaluate(`(() => {
      window.__seen = [];
      new MutationObserver(() => {
        const live = document.querySelector('[data-testid="live-reply"]');
        if (live) window.__seen.push(live.textContent);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    await page
      .getByRole('textbox', { name: 'Message' })
      .fill(`Search the knowledge base for pricing and book contact ${contactId} on ${slotDay}.`);
    await page.getByRole('button', { name: 'Send' }).click();
    const confirmBox = page.getByRole('group', { name: /The Closer asks/ });
    await confirmBox.waitFor({ timeout: 60_000 });
    expect(await confirmBox.textContent()).toMatch(new RegExp(`Book .* for contact ${contactId} at ${slotDay}`));
    const seen = (await page.evaluate('window.__seen')) as string[];
    // More than one state of the live reply: it was shown as it streamed, not all at the end.
    expect(new Set(seen.filter((s) => /Let me use/.test(s))).size).toBeGreaterThan(1);
    expect(seen.some((s) => /Using .*crm_free_slots/.test(s))).toBe(true);
    expect(await appointmentsOf(contactId)).toEqual([]); // nothing booked before the yes
    await page.waitForURL(/[?&]c=/);
    const conversationId = new URL(page.url()).searchParams.get('c')!;
    await expectAccessible(page, 'agents awaiting confirmation');
    await screenshot(page, '20-agents-confirm');

    // Reopened (a reload, as from the history), the confirmation still waiting is offered again.
    await page.reload();
    await page
      .getByTestId('chat-messages')
      .getByText(/Search the knowledge base for pricing/)
      .waitFor();
    await confirmBox.waitFor();
    expect(await confirmBox.textContent()).toMatch(new RegExp(`for contact ${contactId} at ${slotDay}`));
    await confirmBox.getByRole('button', { name: 'Confirm' }).click();
    await confirmBox.waitFor({ state: 'detached', timeout: 60_000 });
    const messages = page.getByTestId('chat-messages');
    await messages
      .getByText(/crm_book_appointment/)
      .first()
      .waitFor({ timeout: 30_000 });
    await expect.poll(() => appointmentsOf(contactId), { timeout: 30_000 }).toHaveLength(1);
    // The conversation is in the history list, and a reload shows it from the API.
    await page.locator(`li[data-conversation-id="${conversationId}"]`).waitFor();
    await page.reload();
    await messages.getByText(/Search the knowledge base for pricing/).waitFor();
    await expectAccessible(page, 'agents after the booking');
    await screenshot(page, '21-agents-booked');
    expect(await appointmentsOf(contactId)).toHaveLength(1);
  }, 120_000);

  it('a reply carrying <script> and <img onerror> is rendered inert: markdown yes, no script, no dialog', async () => {
    const page = await open();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${tp.baseUrl}/console/agents?agent=closer`);
    await page.getByRole('heading', { name: 'New conversation with the Closer' }).waitFor();
    // The sandbox's Claude quotes the user's words back when nothing is to be looked up.
    await page
      .getByRole('textbox', { name: 'Message' })
      .fill(
        'Please repeat **loudly** [click me](javascript:alert(4)) <script>window.__pwned = 1; alert("script")</script> ' +
          '<img src=x onerror="window.__pwned = 2; alert(\'img\')"> <a href="javascript:alert(3)">link</a>',
      );
    await page.getByRole('button', { name: 'Send' }).click();
    const reply = page.getByTestId('chat-messages').locator('.turn-agent .markdown').last();
    await reply.getByText(/Here is my answer/).waitFor({ timeout: 60_000 });
    await reply.locator('strong', { hasText: 'loudly' }).waitFor(); // markdown is rendered
    expect(await page.locator('.markdown script, .markdown img, .markdown [onerror]').count()).toBe(0);
    expect(await page.locator('script:not([src])').count()).toBe(0);
    // The markdown link to javascript: is a link no more (DOMPurify took its href).
    await reply.locator('a', { hasText: 'click me' }).waitFor();
    expect(await page.locator('.markdown a[href^="javascript" i]').count()).toBe(0);
    // The raw HTML is shown as the text it is.
    expect(await reply.textContent()).toContain('<img src=x onerror=');
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(dialogs).toEqual([]);
    await expectAccessible(page, 'agents with an HTML reply');
    await screenshot(page, '22-agents-inert-html');
  }, 90_000);

  it('a morning brief shows in the history marked as such', async () => {
    const put = await call(tp.baseUrl, 'PUT', '/v1/agents/closer/schedule', { key, body: { timezone: 'UTC' } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect((await call(tp.baseUrl, 'POST', '/v1/agents/closer/brief', { key })).status).toBe(202);
    const brief = await eventually(
      'the brief conversation',
      async () => {
        const list = await call(tp.baseUrl, 'GET', '/v1/conversations?agent=closer', { key });
        const found = list.body.conversations.find((c: { origin: string }) => c.origin === 'brief');
        return found?.turns === 1 ? found : undefined;
      },
      60_000,
    );
    const page = await open();
    await page.goto(`${tp.baseUrl}/console/agents?agent=closer`);
    const item = page.locator(`li[data-conversation-id="${brief.id}"]`);
    await item.getByText('Morning brief').waitFor();
    await item.getByRole('button').click();
    await page.getByRole('heading', { name: brief.title }).waitFor();
    await page.getByText(/Morning brief: what the agent was given/).waitFor();
    await page.getByTestId('chat-messages').locator('.turn-agent .markdown').last().waitFor({ timeout: 30_000 });
    await expectAccessible(page, 'a brief');
    await screenshot(page, '23-agents-brief');

    // On a phone: the personas, history and chat stack; nothing reaches past the right edge.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForLoadState('networkidle');
    const wide = await page.evaluate(`[...document.querySelectorAll('body *')]
      .filter((e) => !e.parentElement.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`);
    expect(wide, 'the agents screen fits a phone').toEqual([]);
    await screenshot(page, '25-agents-phone', false);
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 120_000);

  it('settings lists connected MCP clients (none, then Claude) and revokes one after asking again', async () => {
    const page = await open();
    await page.goto(`${tp.baseUrl}/console/settings`);
    await page.getByRole('heading', { name: 'Connected MCP clients' }).waitFor();
    await page.getByText('No MCP client is connected.').waitFor();
    await expectAccessible(page, 'settings with no MCP client');

    // A grant as the OAuth consent leaves it (the flow itself is test/mcpOAuth's): Claude, connected by the owner.
    const owner = await tp.adminPool.query('select id from users where email = $1', [OWNER]);
    const clientId = 'https://claude.ai/oauth/mcp-client-metadata';
    await tp.adminPool.query(
      `insert into oauth_store (model, id_hash, payload, grant_id, tenant_id, user_id, client_id, client_name, expires_at)
       values ('Grant', 'console-test-grant', $1, 'console-test-grant', $2, $3, $4, 'Claude', now() + interval '1 day')`,
      [JSON.stringify({ resources: { [`${tp.baseUrl}/mcp`]: 'read act' } }), TENANT, owner.rows[0].id, clientId],
    );
    await page.reload();
    const row = page.locator(`tr[data-client-id="${clientId}"]`);
    await row.getByText('Claude', { exact: true }).waitFor();
    expect(await row.textContent()).toContain(OWNER);
    expect(await row.textContent()).toContain('read, act');
    await expectAccessible(page, 'settings with an MCP client');
    await row.getByRole('button', { name: 'Revoke' }).click();
    // Asked again on the page; Cancel keeps it.
    await row.getByRole('button', { name: 'Cancel' }).click();
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.locator('#mcp-clients').screenshot({ path: 'test/artifacts/24-mcp-clients.png' });
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'Revoked: 1 grant(s)' }).waitFor();
    await row.waitFor({ state: 'detached' });
    await page.getByText('No MCP client is connected.').waitFor();
    const left = await tp.adminPool.query(`select count(*)::int as n from oauth_store where client_id = $1`, [
      clientId,
    ]);
    expect(left.rows[0].n).toBe(0);
  });
});
