import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { migrate, MIGRATIONS_DIR } from '../runtime/migrate.js';
import { createTenantWithKeys } from './support/mcp.js';
import { call, createTestDatabase, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

/**
 * An install from before tenant connections: one tenant, connected to its location with the
 * platform's GHL_API_TOKEN. After the upgrade it keeps working on that token, while a tenant added
 * later must connect its own account.
 */
describe('upgrade: the one tenant of an install keeps its platform keys', () => {
  let sandbox: Sandbox;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let tp: TestPlatform;
  let oldDir: string;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    await sandbox.control('POST', '/ghl/seed', { locationId: 'loc_upgrade', contacts: 25, seed: 9 });
    db = await createTestDatabase();
    // The schema as it was before 009, with the data such an install has.
    oldDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-old-sql-'));
    for (const f of (await readdir(MIGRATIONS_DIR)).filter((f) => f < '009')) {
      await cp(path.join(MIGRATIONS_DIR, f), path.join(oldDir, f));
    }
    const pool = createPool(db.url, 2);
    await migrate(pool, createLogger('silent', { pretty: false }), oldDir);
    await pool.query(`insert into tenants (id, name) values ('solo', 'Solo Dental')`);
    await pool.query(
      `insert into crm_connections (tenant_id, location_id, sync_every_minutes) values ('solo', 'loc_upgrade', 1440)`,
    );
    await pool.end();
    // The new release starts on that database with the same environment as before.
    tp = await startTestPlatform({
      databaseUrl: db.url,
      adminUrl: db.adminUrl,
      env: { GHL_BASE_URL: `${sandbox.url}/ghl` },
    });
  });
  afterAll(async () => {
    await tp?.stop();
    await db?.drop();
    await sandbox?.close();
    await rm(oldDir, { recursive: true, force: true });
  });

  it('syncs the old tenant on GHL_API_TOKEN; a new tenant gets 409 until it connects its own', async () => {
    const { key } = await createTenantWithKeysFor(tp, 'solo');
    const connections = (await call(tp.baseUrl, 'GET', '/v1/connections', { key })).body.connections;
    expect(connections.find((c: { provider: string }) => c.provider === 'ghl')).toMatchObject({
      state: 'connected',
      via: 'platform',
      account: 'loc_upgrade',
    });
    const started = await call(tp.baseUrl, 'POST', '/v1/sync', { key, body: { mode: 'full' } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    await tp.platform.temporal!.workflow.getHandle(started.body.workflowId, started.body.runId).result();
    expect((await call(tp.baseUrl, 'GET', '/v1/sync/status', { key })).body).toMatchObject({
      state: 'completed',
      cachedContacts: 25,
    });

    const { all: newcomer } = await createTenantWithKeys(tp.baseUrl, 'later', { all: ['read', 'act', 'admin'] });
    const refused = await call(tp.baseUrl, 'POST', '/v1/sync', { key: newcomer, body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain('connect GoHighLevel first');
  });
});

/** A key for a tenant that already exists (the old install's), made with the platform admin key. */
async function createTenantWithKeysFor(tp: TestPlatform, tenantId: string): Promise<{ key: string }> {
  const res = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${tenantId}/keys`, {
    key: TEST_ADMIN_KEY,
    body: { name: 'after upgrade', scopes: ['read', 'act', 'admin'] },
  });
  expect(res.status).toBe(201);
  return { key: res.body.key };
}
