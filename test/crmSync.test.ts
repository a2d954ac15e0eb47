import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { connectGhl } from './support/connections.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { runEntry, runEntryArgs } from './support/process.js';
import { maxInWindow, startTestSandbox, type Sandbox } from './support/sandbox.js';

const TENANT = 'sync-a';
const LOCATION = 'loc_sync_a';

describe('crmSync: GoHighLevel mirrored into Postgres', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  const syncAndWait = async (mode: 'auto' | 'full' | 'incremental') => {
    const started = await call(tp.baseUrl, 'POST', '/v1/sync', { key, body: { mode } });
    expect(started.status).toBe(202);
    expect(started.body.workflowId).toBe(`sync:${TENANT}:ghl`);
    const handle = tp.platform.temporal!.workflow.getHandle(started.body.workflowId, started.body.runId);
    return handle.result();
  };
  const cachedIds = async () =>
    withTenant(tp.platform.pool, TENANT, async (c) =>
      (await c.query<{ id: string }>('select id from contacts order by id')).rows.map((r) => r.id),
    );
  const sandboxIds = async () => {
    const { contacts } = await sandbox.control<{ contacts: { id: string }[] }>(
      'GET',
      `/ghl/contacts?locationId=${LOCATION}&limit=100000`,
    );
    return contacts.map((c) => c.id).sort();
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { GHL_BASE_URL: `${sandbox.url}/ghl` } });
    expect(
      (
        await call(tp.baseUrl, 'POST', '/v1/admin/tenants', {
          key: TEST_ADMIN_KEY,
          body: { id: TENANT, name: 'Sync A' },
        })
      ).status,
    ).toBe(201);
    key = (
      await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 't', scopes: ['read', 'act', 'admin'] },
      })
    ).body.key;
    await sandbox.control('POST', '/ghl/seed', { locationId: LOCATION, contacts: 20_000, seed: 7 });
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('refuses to sync before the tenant connects a location, naming what to do', async () => {
    const res = await call(tp.baseUrl, 'POST', '/v1/sync', { key, body: {} });
    expect(res.status).toBe(409);
    expect(res.body.message).toContain(
      'connect GoHighLevel first (POST /v1/connections/ghl/authorize or PUT /v1/connections/ghl)',
    );
    const bad = await call(tp.baseUrl, 'PUT', '/v1/connections/ghl', {
      key,
      body: { token: 'pit-nothing-0000', locationId: '', syncEveryMinutes: 99999 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/body\.locationId/);
    expect(bad.body.message).toMatch(/body\.syncEveryMinutes/);
  });

  it('a full sync of 20,000 contacts equals the sandbox set, within the rate limit, riding out a 429 storm', async () => {
    await connectGhl(sandbox, tp.baseUrl, key, TENANT, LOCATION);
    const schedule = await tp.platform.temporal!.schedule.getHandle(`sync:${TENANT}:ghl:schedule`).describe();
    expect(schedule.spec.intervals?.[0]?.every).toBe(1440 * 60_000);

    const since = Date.now();
    await sandbox.control('POST', '/faults', {
      provider: 'ghl',
      route: 'POST /contacts/search',
      status: 429,
      count: 6,
    });
    const result = await syncAndWait('auto');
    expect(result).toMatchObject({ state: 'completed', kind: 'full', contacts: 20_000, pages: 41 });
    expect(await cachedIds()).toEqual(await sandboxIds());

    const { rows } = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(`select count(*)::int as n from contacts where phone is not null and phone !~ '^\\+[0-9]{7,15}$'`),
    );
    expect(rows[0].n).toBe(0); // every phone normalised to E.164

    const status = await call(tp.baseUrl, 'GET', '/v1/sync/status', { key });
    expect(status.body).toMatchObject({
      state: 'completed',
      kind: 'full',
      contacts: 20_000,
      total: 20_000,
      cachedContacts: 20_000,
      lastError: null,
    });

    const { requests } = await sandbox.control<{ requests: { at: string; status: number; route: string }[] }>(
      'GET',
      `/requests?provider=ghl&since=${since}&limit=20000`,
    );
    const searches = requests.filter((r) => r.route === '/contacts/search');
    expect(searches.filter((r) => r.status === 429)).toHaveLength(6);
    expect(
      maxInWindow(
        requests.map((r) => Date.parse(r.at)),
        10_000,
      ),
    ).toBeLessThanOrEqual(100);
  });

  it('an incremental sync picks up updates; a deletion upstream makes the next run a full pass that removes it', async () => {
    const ids = await sandboxIds();
    for (const id of ids.slice(0, 5))
      expect((await sandbox.ghl('PUT', `/contacts/${id}`, { firstName: 'Changed' })).status).toBe(200);
    const incremental = await syncAndWait('auto');
    expect(incremental).toMatchObject({ state: 'completed', kind: 'incremental' });
    expect(incremental.pages).toBeLessThanOrEqual(2);
    const changed = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query(`select id from contacts where first_name = 'Changed' order by id`),
    );
    expect(changed.rows.map((r) => r.id)).toEqual(ids.slice(0, 5));

    for (const id of ids.slice(10, 13)) expect((await sandbox.ghl('DELETE', `/contacts/${id}`)).status).toBe(200);
    const reconciled = await syncAndWait('auto');
    expect(reconciled).toMatchObject({ state: 'completed', kind: 'full', removed: 3 });
    expect(reconciled.reason).toContain('count differs');
    expect(await cachedIds()).toEqual(await sandboxIds());
  });

  it('a missed deletion hidden behind a missed creation (equal counts) is still found: the incremental pass continues as a full one', async () => {
    const [gone] = (await sandboxIds()).slice(20, 21);
    expect((await sandbox.ghl('DELETE', `/contacts/${gone}`)).status).toBe(200);
    // The syncs before this may have spent the location's burst budget: wait for it like a client would.
    const create = () => sandbox.ghl('POST', '/contacts/', { locationId: LOCATION, firstName: 'Newcomer' });
    let created = await create();
    for (let tries = 0; created.status === 429 && tries < 50; tries++) {
      await new Promise((r) => setTimeout(r, 250));
      created = await create();
    }
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const synced = await syncAndWait('auto');
    expect(synced).toMatchObject({ state: 'completed', kind: 'full', removed: 1 });
    expect(synced.reason).toMatch(/count differs .* after an incremental pass/);
    const ids = await cachedIds();
    expect(ids).not.toContain(gone);
    expect(ids).toContain(created.body.contact.id);
    expect(ids).toEqual(await sandboxIds());

    // Asked for an incremental pass, it stays one: the deletion cannot be seen, nothing follows.
    const [another] = (await sandboxIds()).slice(30, 31);
    expect((await sandbox.ghl('DELETE', `/contacts/${another}`)).status).toBe(200);
    const asked = await syncAndWait('incremental');
    expect(asked).toMatchObject({ state: 'completed', kind: 'incremental' });
    expect(await cachedIds()).toContain(another);
  });

  it('`npm run cli -- sync` follows a sync to the end with a progress line, and names bad arguments', async () => {
    const env = {
      TEMPORAL_ADDRESS: tp.config.temporal.address,
      TEMPORAL_TASK_QUEUE: tp.config.temporal.taskQueue,
      LOG_LEVEL: 'warn',
    };
    const cli = runEntry('runtime/cli.ts', env);
    await cli.exited;
    expect(cli.child.exitCode).toBe(2);
    const run = runEntryArgs('runtime/cli.ts', ['sync', '--tenant', TENANT, '--mode', 'incremental'], env);
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/following sync:sync-a:ghl/);
    expect(run.output()).toMatch(/\d+ contacts · \d+ pages.* · completed \(incremental\)/);
    const bad = runEntryArgs('runtime/cli.ts', ['sync', '--tenant', 'Not A Tenant'], env);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toMatch(/--tenant: /);
  });

  it('serves cached reads by phone, email, tag and fuzzy name, and audits them as cache reads', async () => {
    const [sample] = (
      await withTenant(tp.platform.pool, TENANT, (c) =>
        c.query(
          `select id, phone, email, name, tags from contacts where phone is not null and email is not null and name is not null and cardinality(tags) > 0 limit 1`,
        ),
      )
    ).rows;
    const national = sample.phone.startsWith('+1')
      ? `(${sample.phone.slice(2, 5)}) ${sample.phone.slice(5, 8)}-${sample.phone.slice(8)}`
      : sample.phone;
    const byPhone = await call(tp.baseUrl, 'GET', `/v1/contacts?phone=${encodeURIComponent(national)}`, { key });
    expect(byPhone.status).toBe(200);
    expect(byPhone.body.contacts.map((c: { id: string }) => c.id)).toContain(sample.id);
    const byEmail = await call(
      tp.baseUrl,
      'GET',
      `/v1/contacts?email=${encodeURIComponent(sample.email.toUpperCase())}`,
      { key },
    );
    expect(byEmail.body.contacts[0].id).toBe(sample.id);
    const byName = await call(tp.baseUrl, 'GET', `/v1/contacts?q=${encodeURIComponent(sample.name)}&limit=100`, {
      key,
    });
    expect(byName.body.contacts.map((c: { id: string }) => c.id)).toContain(sample.id);
    const byTag = await call(tp.baseUrl, 'GET', `/v1/contacts?tag=${encodeURIComponent(sample.tags[0])}&limit=2`, {
      key,
    });
    expect(byTag.body.contacts).toHaveLength(2);
    const page2 = await call(
      tp.baseUrl,
      'GET',
      `/v1/contacts?tag=${encodeURIComponent(sample.tags[0])}&limit=2&cursor=${byTag.body.nextCursor}`,
      { key },
    );
    expect(page2.body.contacts[0].id).not.toBe(byTag.body.contacts[0].id);
    expect((await call(tp.baseUrl, 'GET', '/v1/contacts?phone=abc', { key })).body.message).toMatch(
      /^querystring\.phone: not a phone number/,
    );

    const one = await call(tp.baseUrl, 'GET', `/v1/contacts/${sample.id}`, { key });
    expect(one.body).toMatchObject({ source: 'cache', contact: { id: sample.id } });
    expect((await call(tp.baseUrl, 'GET', '/v1/contacts/nope', { key })).status).toBe(404);

    const audit = await call(tp.baseUrl, 'GET', '/v1/audit?tool=crm_search_contacts', { key });
    expect(audit.body.rows.length).toBeGreaterThanOrEqual(4);
    expect(audit.body.rows.every((r: { source: string }) => r.source === 'cache')).toBe(true);
  });

  it("another tenant's key sees none of these contacts", async () => {
    await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: 'sync-b', name: 'B' } });
    const other = (
      await call(tp.baseUrl, 'POST', '/v1/admin/tenants/sync-b/keys', {
        key: TEST_ADMIN_KEY,
        body: { name: 't', scopes: ['read'] },
      })
    ).body.key;
    const res = await call(tp.baseUrl, 'GET', '/v1/contacts?limit=5', { key: other });
    expect(res.body.contacts).toEqual([]);
    expect((await call(tp.baseUrl, 'GET', '/v1/sync/status', { key: other })).body).toMatchObject({
      state: 'never',
      cachedContacts: 0,
    });
  });
});
