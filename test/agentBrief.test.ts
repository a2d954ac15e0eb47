import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { eventually } from './support/timeSkipping.js';
import { sandboxProviders, setUpVoiceTenant } from './support/voice.js';

/**
 * Agents speaking up first, on the real dev server: the Closer's brief on a Temporal Schedule at
 * 8:00 on weekdays in the tenant's time zone; triggered, it posts a brief conversation built from
 * the CRM insights (a hot lead gone quiet, a callback asked for); a second run the same day posts
 * nothing; disabling the agent removes its schedule.
 */

const T = 'brief-a';

describe('agent briefs', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: sandboxProviders(sandbox) });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, T);
    // Active three days ago, never touched since: hot leads gone quiet.
    const added = new Date(Date.now() - 20 * 86_400_000).toISOString();
    const active = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await tp.adminPool.query(
      `insert into contacts (tenant_id, id, location_id, name, phone, tags, date_added, date_updated)
       values ($1, 'c_hot', 'loc_demo', 'Hana Hot', '+15125550101', '{hot}', $2, $3),
              ($1, 'c_cb', 'loc_demo', 'Cal Back', '+15125550102', '{callback}', $2, $3)`,
      [T, added, active],
    );
  }, 180_000);
  afterAll(async () => {
    await tp?.platform.temporal?.schedule
      .getHandle(`brief:${T}:closer:schedule`)
      .delete()
      .catch(() => undefined);
    await tp?.stop();
    await sandbox?.close();
  });

  it('schedules the Closer at 8:00 on weekdays in the tenant’s zone and posts its brief once a day', async () => {
    const bad = await call(tp.baseUrl, 'PUT', '/v1/agents/closer/schedule', {
      key,
      body: { timezone: 'Mars/Olympus' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^body\.timezone/);
    // The agent has no brief cron: its state, not the request, is what is missing.
    const noBrief = await call(tp.baseUrl, 'PUT', '/v1/agents/builder/schedule', { key, body: { timezone: 'UTC' } });
    expect(noBrief.status).toBe(409);

    const put = await call(tp.baseUrl, 'PUT', '/v1/agents/closer/schedule', {
      key,
      body: { timezone: 'America/Chicago' },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ cron: '0 8 * * 1-5', timezone: 'America/Chicago', paused: false });
    expect(put.body.nextRuns.length).toBeGreaterThanOrEqual(3);
    for (const run of put.body.nextRuns as string[]) {
      const local = new Intl.DateTimeFormat('en-US', {
        timeZone: 'America/Chicago',
        weekday: 'short',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(new Date(run));
      expect(local).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 08:00$/);
    }

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
    expect(brief.title).toMatch(/^Closer brief, \d{4}-\d{2}-\d{2}$/);
    const messages = await eventually(
      'the brief written',
      async () => {
        const r = await call(tp.baseUrl, 'GET', `/v1/conversations/${brief.id}/messages`, { key });
        const last = r.body.messages.at(-1);
        return last?.role === 'assistant' && !last.toolUses.length ? r.body.messages : undefined;
      },
      60_000,
    );
    // The material went in as data blocks; the brief names the quiet hot lead.
    expect(messages[0].text).toContain('<untrusted insights>');
    expect(messages.at(-1).text).toMatch(/Hana Hot/);

    // Again the same day: still one brief.
    expect((await call(tp.baseUrl, 'POST', '/v1/agents/closer/brief', { key })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 3000));
    const list = await call(tp.baseUrl, 'GET', '/v1/conversations?agent=closer', { key });
    expect(list.body.conversations.filter((c: { origin: string }) => c.origin === 'brief')).toHaveLength(1);

    // A disabled agent does not speak up.
    expect((await call(tp.baseUrl, 'PATCH', '/v1/agents/closer', { key, body: { enabled: false } })).status).toBe(200);
    expect((await call(tp.baseUrl, 'GET', '/v1/agents/closer/schedule', { key })).status).toBe(404);
  }, 180_000);
});
