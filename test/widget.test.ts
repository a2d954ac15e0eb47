import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { expectAccessible, launchBrowser, screenshot, watchedPage, type WatchedPage } from './support/browser.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { eventually } from './support/timeSkipping.js';
import { demoFreeSlots, sandboxProviders, setUpVoiceTenant } from './support/voice.js';

/**
 * The embeddable website chat in Chromium: an owner turns it on in Settings; a page on another
 * origin (its own little server) carries the script tag; a visitor opens the bubble, passes the lead
 * gate with consent, and gets a streamed answer from the knowledge base — the GHL contact and its
 * note in the sandbox. The persona (the Closer, who may book) gets knowledge tools only here, and
 * only the widget's scope of them. A page on an origin not allowed gets no widget; unauthenticated
 * requests are checked for origin, token and rate.
 */

const TENANT = 'widget-shop';
const OWNER = 'owner@widget.example';
const PASSWORD = 'correct horse battery staple';
const VISITOR = { name: 'Vera Visitor', email: 'vera@visitor.example' };

interface HostPage {
  origin: string;
  close(): Promise<void>;
}

/** A tenant's website: one page with whatever HTML it is given, on its own port (its own origin). */
async function hostPage(html: () => string): Promise<HostPage> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const shopPage = (body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
   <style>button, p, h1 { font-family: serif; color: #f0f !important; } iframe { border: 5px solid red; }</style>
   </head><body><main><h1>Our shop</h1><p>Welcome.</p></main>${body}</body></html>`;

describe('the website chat widget in Chromium', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let contactId: string;
  let browser: Browser;
  let owner: BrowserContext;
  let watched: WatchedPage[] = [];
  let allowed: HostPage;
  let stranger: HostPage;
  let snippet = '';
  let widgetId = '';
  let visitorConversation = '';

  async function open(context: BrowserContext): Promise<Page> {
    const w = await watchedPage(context);
    watched.push(w);
    return w.page;
  }

  const widgetFrame = async (page: Page): Promise<Frame> => {
    const handle = await page.waitForSelector('iframe[data-switchboard-widget]');
    const frame = await handle.contentFrame();
    if (!frame) throw new Error('the widget frame has no content');
    return frame;
  };

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/buildConsole.mjs', '--strict'], { stdio: 'inherit' });
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { ...sandboxProviders(sandbox) } });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    // A booking the Closer could make for a known contact, were it allowed to.
    const created = await sandbox.ghl('POST', '/contacts/upsert', {
      locationId: 'loc_demo',
      phone: '+15125550779',
      firstName: 'Known',
      lastName: 'Customer',
    });
    contactId = created.body.contact.id;
    for (const node of [
      {
        path: '/public/pricing',
        type: 'document',
        title: 'Pricing',
        body: 'The starter plan costs 49 dollars a month; pricing for teams on request.',
      },
      {
        path: '/internal/pricing-floor',
        type: 'document',
        title: 'Pricing floor (internal)',
        body: 'Secret pricing: never go below 19 dollars.',
      },
    ]) {
      const r = await call(tp.baseUrl, 'POST', '/v1/knowledge/nodes', { key, body: node });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const invite = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/invites`, {
      key: TEST_ADMIN_KEY,
      body: { email: OWNER, role: 'owner' },
    });
    expect(invite.status, JSON.stringify(invite.body)).toBe(201);
    const accepted = await call(tp.baseUrl, 'POST', '/v1/auth/invites/accept', {
      body: { token: invite.body.token, password: PASSWORD },
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
    allowed = await hostPage(() => shopPage(snippet));
    stranger = await hostPage(() =>
      shopPage(
        `${snippet}<iframe title="framed" src="${tp.baseUrl}/widget/${widgetId}/frame?origin=${encodeURIComponent(allowed.origin)}"></iframe>`,
      ),
    );
    browser = await launchBrowser();
    owner = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  }, 180_000);
  afterEach(() => {
    const errors = watched.flatMap((w) => w.errors);
    watched = [];
    expect(errors, 'no console errors on any page').toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await allowed?.close();
    await stranger?.close();
    await tp?.stop();
    await sandbox?.close();
  });

  it('an owner turns the chat on in Settings and gets the script tag', async () => {
    const page = await open(owner);
    await page.goto(`${tp.baseUrl}/console/signin`);
    await page.getByLabel('Email').fill(OWNER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Home' }).waitFor();
    await page.goto(`${tp.baseUrl}/console/settings#widget`);
    const form = page.getByRole('form', { name: 'Website chat' });
    await form.waitFor();
    await form.getByLabel('Show the chat on my site').check();
    await form.getByLabel('Persona').selectOption('closer');
    await form.getByLabel(/Sites allowed/).fill(`${allowed.origin}\nhttps://www.widget-shop.example`);
    await form.getByLabel('First words to visitors').fill('Hi! Ask us anything about our plans.');
    await form.getByRole('button', { name: 'Save the website chat' }).click();
    await page.getByText('Saved.').waitFor();
    snippet = (await page.getByTestId('widget-snippet').textContent()) ?? '';
    expect(snippet).toMatch(new RegExp(`^<script src="${tp.baseUrl}/widget/wg_[a-z0-9]{16}\\.js" async></script>$`));
    widgetId = /\/widget\/(wg_[a-z0-9]{16})\.js/.exec(snippet)![1]!;
    await expectAccessible(page, 'settings with the website chat');
    await page.locator('#widget').scrollIntoViewIfNeeded();
    await screenshot(page, 'settings-website-chat', false);

    // Owners only: a key without admin, and another tenant's key, see nothing of it.
    const reader = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/keys`, {
      key,
      body: { name: 'reader', scopes: ['read'] },
    });
    expect((await call(tp.baseUrl, 'GET', '/v1/widget', { key: reader.body.key })).status).toBe(403);
    expect(
      (
        await call(tp.baseUrl, 'PUT', '/v1/widget', {
          key,
          body: { enabled: true, agent: 'closer', allowedOrigins: ['https://example.com/path'] },
        })
      ).status,
    ).toBe(400);
  });

  it('a visitor on the allowed site: bubble, gate with consent, a streamed answer; the contact and its note in GHL', async () => {
    const visitor = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await open(visitor);
    await page.goto(allowed.origin);
    const frame = await widgetFrame(page);
    const bubble = frame.getByRole('button', { name: 'Chat with us' });
    await bubble.waitFor();
    // The host page's styles stop at the frame: our button keeps its own colours and font.
    const look = (await frame.evaluate(
      `(() => { const s = getComputedStyle(document.querySelector('.bubble')); return [s.color, s.fontFamily]; })()`,
    )) as string[];
    expect(look[0]).toBe('rgb(255, 255, 255)');
    expect(look[1]).not.toMatch(/^serif$/);
    await expectAccessible(frame as unknown as Page, 'the closed widget');
    await screenshot(page, 'widget-closed', false);

    await bubble.click();
    const gate = frame.getByRole('form', { name: 'Before we chat' });
    await gate.waitFor();
    await gate.getByLabel('Name', { exact: true }).fill(VISITOR.name);
    await gate.getByLabel('Email', { exact: true }).fill(VISITOR.email);
    // Without the consent box ticked, the form does not go (the API would refuse it too).
    await gate.getByRole('button', { name: 'Start the chat' }).click();
    expect(
      await gate
        .getByRole('checkbox')
        .evaluate((c) => (c as unknown as { validity: { valid: boolean } }).validity.valid),
    ).toBe(false);
    expect(
      (await tp.adminPool.query('select count(*)::int as n from widget_leads where tenant_id = $1', [TENANT])).rows[0]
        .n,
    ).toBe(0);
    await expectAccessible(frame as unknown as Page, 'the lead gate');
    await screenshot(page, 'widget-gate', false);
    await gate.getByRole('checkbox').check();
    await gate.getByRole('button', { name: 'Start the chat' }).click();
    const box = frame.getByRole('textbox', { name: 'Message' });
    await box.waitFor();

    await frame.evaluate(`(() => {
      window.__seen = [];
      new MutationObserver(() => {
        const live = document.querySelector('[data-testid="widget-live-reply"]');
        if (live) window.__seen.push(live.textContent);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    const slotDay = (await demoFreeSlots(sandbox))[0]!.slice(0, 10);
    await box.fill(
      `Search the knowledge base for pricing. Then find contact Known Customer and book contact ${contactId} on ${slotDay}.`,
    );
    await frame.getByRole('button', { name: 'Send' }).click();
    const answer = frame.locator('.line-agent').filter({ hasText: '49 dollars' });
    await answer.waitFor({ timeout: 60_000 });
    const seen = (await frame.evaluate('window.__seen')) as string[];
    expect(new Set(seen).size, 'the reply was shown while it streamed').toBeGreaterThan(1);
    expect(await frame.locator('.lines').textContent()).not.toContain('19 dollars');
    await expectAccessible(frame as unknown as Page, 'the open chat');
    await screenshot(page, 'widget-chat', false);

    // The lead, its GHL contact (by the visitor's email) and the chat as a note on it.
    const lead = (
      await tp.adminPool.query(
        'select id, conversation_id, contact_id, consent_text, page_origin from widget_leads where tenant_id = $1',
        [TENANT],
      )
    ).rows;
    expect(lead).toHaveLength(1);
    visitorConversation = lead[0].conversation_id;
    expect(lead[0].page_origin).toBe(allowed.origin);
    expect(lead[0].consent_text).toMatch(/I agree/);
    const contact = await sandbox.ghl('GET', `/contacts/${lead[0].contact_id}`);
    expect(contact.body.contact).toMatchObject({ email: VISITOR.email, firstName: 'Vera', lastName: 'Visitor' });
    const note = await eventually('the chat noted on the contact', async () => {
      const notes = (await sandbox.ghl('GET', `/contacts/${lead[0].contact_id}/notes`)).body.notes as {
        body: string;
      }[];
      return notes.length === 1 && notes[0]!.body.includes('49 dollars') ? notes[0] : undefined;
    });
    expect(note.body).toContain(`Website chat with ${VISITOR.name} <${VISITOR.email}>`);
    expect(note.body).toContain('Visitor: Search the knowledge base for pricing');

    // The Closer may book and read the CRM, but not for a visitor: only knowledge tools ran, only
    // within /public, and no appointment was made.
    const tools = (
      await tp.adminPool.query(
        `select distinct b->>'name' as name from conversation_messages m, jsonb_array_elements(m.content) b
          where m.tenant_id = $1 and m.conversation_id = $2 and m.role = 'assistant' and jsonb_typeof(m.content) = 'array'
            and b->>'type' = 'tool_use'`,
        [TENANT, lead[0].conversation_id],
      )
    ).rows.map((r) => r.name);
    expect(tools).toEqual(['knowledge_search']);
    const appointments = await sandbox.control<{ appointments: unknown[] }>(
      'GET',
      `/ghl/appointments?locationId=loc_demo&contactId=${contactId}`,
    );
    expect(appointments.appointments).toEqual([]);

    // The owner reads the visitor's chat but does not write in it (the note says who said what).
    const owners = await call(tp.baseUrl, 'POST', `/v1/conversations/${lead[0].conversation_id}/messages`, {
      key,
      body: { text: 'Hi, owner here' },
    });
    expect(owners.status).toBe(409);

    // A second message updates the same note.
    await box.fill('Search the knowledge base for teams.');
    await frame.getByRole('button', { name: 'Send' }).click();
    await frame.locator('.line-agent').nth(2).waitFor({ timeout: 60_000 });
    await eventually('the note brought up to date', async () => {
      const notes = (await sandbox.ghl('GET', `/contacts/${lead[0].contact_id}/notes`)).body.notes as {
        body: string;
      }[];
      return notes.length === 1 && notes[0]!.body.includes('Visitor: Search the knowledge base for teams')
        ? true
        : undefined;
    });
    await visitor.close();
  });

  it('the owner reads the visitor’s chat in Agents, marked as such, with nothing to write in', async () => {
    const page = await open(owner);
    await page.goto(`${tp.baseUrl}/console/agents?agent=closer&c=${visitorConversation}`);
    const messages = page.getByTestId('chat-messages');
    await messages.getByText(/Search the knowledge base for pricing/).waitFor();
    await messages.getByText('Visitor', { exact: true }).first().waitFor();
    await page.getByText(/only the visitor writes here/).waitFor();
    expect(await page.getByRole('textbox', { name: 'Message' }).count()).toBe(0);
    await page.locator(`li[data-conversation-id="${visitorConversation}"][data-origin="widget"]`).waitFor();
    await expectAccessible(page, 'a visitor’s chat in Agents');
    await screenshot(page, 'agents-visitor-chat');
  });

  it('a page on an origin the widget does not allow gets no working widget', async () => {
    const visitor = await browser.newContext();
    const w = await watchedPage(visitor);
    const page = w.page;
    const responses: { url: string; status: number; csp?: string }[] = [];
    page.on('response', (r) =>
      responses.push({ url: r.url(), status: r.status(), csp: r.headers()['content-security-policy'] }),
    );
    // The loader is refused (a 403, which Chromium's opaque-response blocking may turn into a failed load).
    const refused: string[] = [];
    page.on('requestfailed', (r) => refused.push(`${r.url()} ${r.failure()?.errorText}`));
    await page.goto(stranger.origin);
    await page.waitForLoadState('load');
    const loader = responses.find((r) => r.url.endsWith(`/widget/${widgetId}.js`));
    if (loader) expect(loader.status).toBe(403);
    else expect(refused.join('\n')).toContain(`/widget/${widgetId}.js`);
    const direct = await fetch(`${tp.baseUrl}/widget/${widgetId}.js`, { headers: { referer: `${stranger.origin}/` } });
    expect(direct.status).toBe(403);
    // The chat page framed by hand on this site: the browser refuses to show it (frame-ancestors).
    const framed = responses.find((r) => r.url.includes(`/widget/${widgetId}/frame`));
    expect(framed?.csp).toContain(`frame-ancestors ${allowed.origin}`);
    expect(await page.locator('iframe[data-switchboard-widget]').count()).toBe(0);
    const handFramed = await (await page.waitForSelector('iframe[title="framed"]')).contentFrame();
    expect(await handFramed!.locator('button').count()).toBe(0);
    // Chromium reports both refusals on the console; nothing else went wrong.
    expect(w.errors.filter((e) => !/403|ORB|frame-ancestors|Refused to (frame|display)/.test(e))).toEqual([]);
    await screenshot(page, 'widget-refused-origin', false);
    await visitor.close();
  });

  it('the public routes check origin, token, body and rate', async () => {
    const post = (path: string, body: unknown, headers: Record<string, string>) =>
      fetch(`${tp.baseUrl}/widget/${widgetId}/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const page = { 'x-widget-origin': allowed.origin };
    // Another site's page calling directly (its Origin), or claiming an origin not allowed: 403.
    expect((await post('config', {}, { ...page, origin: stranger.origin })).status).toBe(403);
    expect((await post('config', {}, { 'x-widget-origin': stranger.origin })).status).toBe(403);
    expect((await post('config', {}, { ...page, origin: tp.baseUrl })).status).toBe(200);
    // No token, a forged one: 403 before any turn.
    const msg = { text: 'hello' };
    expect((await post('messages', msg, page)).status).toBe(403);
    expect((await post('messages', msg, { ...page, 'x-widget-token': 'eyJ0IjoieCJ9.forged' })).status).toBe(403);
    // A message past the size limit: 413 (the body) or 400 (the text), nothing run.
    expect([400, 413]).toContain((await post('messages', { text: 'x'.repeat(9000) }, page)).status);
    // Leads: consent is required; past five an hour from one address, 429 with Retry-After.
    expect((await post('leads', { name: 'N', email: 'n@x.example', consent: false }, page)).status).toBe(400);
    let limited: Response | undefined;
    for (let i = 0; i < 6 && !limited; i++) {
      const r = await post('leads', { name: 'N', email: 'not-an-email', consent: true }, page);
      if (r.status === 429) limited = r;
      else expect(r.status).toBe(400);
    }
    expect(limited?.status).toBe(429);
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
    // A widget turned off is not there at all.
    const off = await call(tp.baseUrl, 'PUT', '/v1/widget', {
      key,
      body: { enabled: false, agent: 'closer', allowedOrigins: [allowed.origin] },
    });
    expect(off.status).toBe(200);
    expect((await fetch(`${tp.baseUrl}/widget/${widgetId}.js`)).status).toBe(404);
  });
});
