import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { call, startTestPlatform, startWorkerProcess, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { connectGhl } from './support/connections.js';
import type { StartedProcess } from './support/process.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { tearDown } from './support/teardown.js';

const TENANT = 'crash-sync';
const LOCATION = 'loc_crash';

describe('crmSync across a worker crash', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  const workers: StartedProcess[] = [];

  const startWorker = async () => {
    const worker = await startWorkerProcess(tp, {
      GHL_API_TOKEN: 'test-ghl-token',
      GHL_BASE_URL: `${sandbox.url}/ghl`,
    });
    workers.push(worker);
    return worker;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ roles: ['api'], env: { GHL_BASE_URL: `${sandbox.url}/ghl` } });
  });
  afterAll(() => tearDown({ processes: workers, platform: tp, sandbox }));

  it('a worker SIGKILLed mid-sync: the retry resumes from the stored cursor, no page refetched from the start, no row lost or doubled', async () => {
    await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: TENANT, name: 'Crash' } });
    const key = (
      await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${TENANT}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 't', scopes: ['read', 'act', 'admin'] },
      })
    ).body.key;
    await sandbox.control('POST', '/ghl/seed', { locationId: LOCATION, contacts: 20_000, seed: 11 });
    await connectGhl(sandbox, tp.baseUrl, key, TENANT, LOCATION);
    // Slow pages down so the crash lands mid-sync.
    await sandbox.control('POST', '/faults', { provider: 'ghl', route: 'POST /contacts/search', latencyMs: 300 });

    const first = await startWorker();
    const since = Date.now();
    const started = await call(tp.baseUrl, 'POST', '/v1/sync', { key, body: { mode: 'full' } });
    for (;;) {
      const status = await call(tp.baseUrl, 'GET', '/v1/sync/status', { key });
      if (status.body.pages >= 8) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    first.child.kill('SIGKILL');
    await first.exited;
    const atCrash = (await call(tp.baseUrl, 'GET', '/v1/sync/status', { key })).body;
    expect(atCrash.state).toBe('running');
    expect(atCrash.pages).toBeLessThan(41);

    await startWorker();
    const result = await tp.platform.temporal!.workflow.getHandle(started.body.workflowId, started.body.runId).result();
    expect(result).toMatchObject({ state: 'completed', kind: 'full', pages: 41, contacts: 20_000 });

    const { requests } = await sandbox.control<{ requests: { route: string; method: string }[] }>(
      'GET',
      `/requests?provider=ghl&since=${since}&limit=20000`,
    );
    const searches = requests.filter((r) => r.method === 'POST' && r.route === '/contacts/search').length;
    // 41 pages; at most the page in flight at the crash is asked for twice.
    expect(searches).toBeGreaterThanOrEqual(41);
    expect(searches).toBeLessThanOrEqual(42);

    const { contacts } = await sandbox.control<{ contacts: { id: string }[] }>(
      'GET',
      `/ghl/contacts?locationId=${LOCATION}&limit=100000`,
    );
    const cached = await withTenant(tp.platform.pool, TENANT, async (c) =>
      (await c.query('select id from contacts order by id')).rows.map((r) => r.id),
    );
    expect(cached).toEqual(contacts.map((c) => c.id).sort());
  });
});
