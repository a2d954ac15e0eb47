import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../domain/audit.js';
import { withTenant } from '../lib/db.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';

describe('API keys, scopes and tenant isolation', () => {
  let tp: TestPlatform;
  let keyA: string; // tenant-a: read + act + admin
  let readOnlyA: string;
  let keyB: string;

  beforeAll(async () => {
    tp = await startTestPlatform();
    for (const id of ['tenant-a', 'tenant-b']) {
      const res = await call(tp.baseUrl, 'POST', '/v1/admin/tenants', {
        key: TEST_ADMIN_KEY,
        body: { id, name: id.toUpperCase() },
      });
      expect(res.status).toBe(201);
    }
    const mk = async (tenant: string, scopes: string[]) => {
      const res = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${tenant}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 'test', scopes },
      });
      expect(res.status).toBe(201);
      return res.body.key as string;
    };
    keyA = await mk('tenant-a', ['read', 'act', 'admin']);
    readOnlyA = await mk('tenant-a', ['read']);
    keyB = await mk('tenant-b', ['read']);

    const row = { status: 'ok' as const, durationMs: 12, source: 'sandbox' as const };
    await recordAudit(tp.platform.pool, {
      ...row,
      tenantId: 'tenant-a',
      tool: 'lookup_caller',
      workflowId: 'call:tenant-a:vapi:1',
      params: { phone: '+15550001', apiKey: 'sk-secret' },
    });
    await recordAudit(tp.platform.pool, {
      ...row,
      tenantId: 'tenant-a',
      tool: 'book_appointment',
      workflowId: 'call:tenant-a:vapi:2',
    });
    await recordAudit(tp.platform.pool, {
      ...row,
      tenantId: 'tenant-b',
      tool: 'lookup_caller',
      workflowId: 'call:tenant-b:vapi:9',
    });
  });
  afterAll(() => tp?.stop());

  it("tags every response with a request id, keeping the caller's own", async () => {
    const own = await call(tp.baseUrl, 'GET', '/health', { headers: { 'x-request-id': 'trace-123' } });
    expect(own.headers.get('x-request-id')).toBe('trace-123');
    expect((await call(tp.baseUrl, 'GET', '/health')).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('401 without a key, with a WWW-Authenticate challenge', async () => {
    const res = await call(tp.baseUrl, 'GET', '/v1/audit');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.body.message).toMatch(/missing API key/);
  });

  it('401 for an unknown key, in either header', async () => {
    expect((await call(tp.baseUrl, 'GET', '/v1/audit', { key: 'sb_nope' })).status).toBe(401);
    expect((await call(tp.baseUrl, 'GET', '/v1/audit', { headers: { 'x-api-key': 'sb_nope' } })).status).toBe(401);
    expect((await call(tp.baseUrl, 'GET', '/v1/me', { headers: { 'x-api-key': keyA } })).body.tenantId).toBe(
      'tenant-a',
    );
  });

  it('403 when the key lacks the scope', async () => {
    const res = await call(tp.baseUrl, 'POST', '/v1/admin/tenants/tenant-a/keys', {
      key: readOnlyA,
      body: { name: 'x', scopes: ['read'] },
    });
    expect(res.status).toBe(403);
    expect(res.body.message).toContain("'admin' scope");
  });

  it("403 when a tenant's admin key reaches for another tenant", async () => {
    const res = await call(tp.baseUrl, 'POST', '/v1/admin/tenants/tenant-b/keys', {
      key: keyA,
      body: { name: 'x', scopes: ['read'] },
    });
    expect(res.status).toBe(403);
    expect(res.body.message).toContain("tenant 'tenant-b'");
    const created = await call(tp.baseUrl, 'POST', '/v1/admin/tenants', {
      key: keyA,
      body: { id: 'tenant-c', name: 'C' },
    });
    expect(created.status).toBe(403);
  });

  it('stores only a hash of each key and shows a key once', async () => {
    const { rows } = await tp.adminPool.query('select key_hash, key_prefix from api_keys');
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const r of rows) expect(Buffer.from(r.key_hash).toString()).not.toContain(keyA);
    const list = await call(tp.baseUrl, 'GET', '/v1/admin/tenants/tenant-a/keys', { key: keyA });
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(keyA);
    expect(list.body.keys.length).toBe(2);
  });

  it('a revoked key stops working', async () => {
    const made = await call(tp.baseUrl, 'POST', '/v1/admin/tenants/tenant-a/keys', {
      key: keyA,
      body: { name: 'temp', scopes: ['read'] },
    });
    expect((await call(tp.baseUrl, 'GET', '/v1/me', { key: made.body.key })).status).toBe(200);
    expect(
      (await call(tp.baseUrl, 'DELETE', `/v1/admin/tenants/tenant-a/keys/${made.body.id}`, { key: keyA })).status,
    ).toBe(204);
    expect((await call(tp.baseUrl, 'GET', '/v1/me', { key: made.body.key })).status).toBe(401);
  });

  it('rejects bad input naming the field, and writes nothing', async () => {
    const res = await call(tp.baseUrl, 'POST', '/v1/admin/tenants', {
      key: TEST_ADMIN_KEY,
      body: { id: 'Bad Id!', name: 'x' },
    });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^body\.id: /);
    const extra = await call(tp.baseUrl, 'POST', '/v1/admin/tenants', {
      key: TEST_ADMIN_KEY,
      body: { id: 'ok-id', name: 'x', plan: 'gold' },
    });
    expect(extra.status).toBe(400);
    expect(extra.body.message).toContain('plan');
    const { rows } = await tp.adminPool.query(`select id from tenants where id in ('ok-id')`);
    expect(rows).toHaveLength(0);
  });

  it("a key of tenant A reads only A's audit rows, filtered and with secrets masked", async () => {
    const res = await call(tp.baseUrl, 'GET', '/v1/audit', { key: keyA });
    expect(res.status).toBe(200);
    expect(res.body.rows.map((r: { tenantId: string }) => r.tenantId)).toEqual(['tenant-a', 'tenant-a']);
    const lookup = res.body.rows.find((r: { tool: string }) => r.tool === 'lookup_caller');
    expect(lookup.params).toEqual({ phone: '+15550001', apiKey: '[redacted]' });

    const byTool = await call(tp.baseUrl, 'GET', '/v1/audit?tool=book_appointment', { key: keyA });
    expect(byTool.body.rows).toHaveLength(1);
    const byWorkflow = await call(
      tp.baseUrl,
      'GET',
      `/v1/audit?workflowId=${encodeURIComponent('call:tenant-b:vapi:9')}`,
      { key: keyA },
    );
    expect(byWorkflow.body.rows).toHaveLength(0);
    const future = await call(
      tp.baseUrl,
      'GET',
      `/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      { key: keyA },
    );
    expect(future.body.rows).toHaveLength(0);
    const b = await call(tp.baseUrl, 'GET', '/v1/audit', { key: keyB });
    expect(b.body.rows.map((r: { workflowId: string }) => r.workflowId)).toEqual(['call:tenant-b:vapi:9']);
  });

  it('row-level security confines a tenant transaction even without a WHERE clause', async () => {
    const pool = tp.platform.pool;
    const seen = await withTenant(
      pool,
      'tenant-a',
      async (c) => (await c.query('select tenant_id from audit_log')).rows,
    );
    expect(seen.length).toBe(2);
    expect(new Set(seen.map((r) => r.tenant_id))).toEqual(new Set(['tenant-a']));
    const keys = await withTenant(
      pool,
      'tenant-a',
      async (c) => (await c.query('select tenant_id from api_keys')).rows,
    );
    expect(keys.every((r) => r.tenant_id === 'tenant-a')).toBe(true);
    await expect(
      withTenant(pool, 'tenant-a', (c) =>
        c.query(`insert into audit_log (tenant_id, status, duration_ms, source) values ('tenant-b', 'ok', 1, 'live')`),
      ),
    ).rejects.toThrow(/row-level security/);
  });
});

describe('rate limiting', () => {
  let tp: TestPlatform;
  beforeAll(async () => {
    tp = await startTestPlatform({ env: { API_RATE_LIMIT_PER_MINUTE: '3' } });
  });
  afterAll(() => tp?.stop());

  it('answers 429 with Retry-After past the per-key budget, and keeps probes exempt', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await call(tp.baseUrl, 'GET', '/v1/me', { key: TEST_ADMIN_KEY })).status);
    expect(statuses.slice(0, 3).every((s) => s !== 429)).toBe(true);
    const limited = await call(tp.baseUrl, 'GET', '/v1/me', { key: TEST_ADMIN_KEY });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another key has its own budget; health checks are never limited.
    expect((await call(tp.baseUrl, 'GET', '/v1/me', { key: 'sb_other' })).status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await call(tp.baseUrl, 'GET', '/health')).status).toBe(200);
  });

  it("a made-up key per request is no fresh budget: unverified keys share their IP's", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await call(tp.baseUrl, 'GET', '/v1/me', { key: `sb_made_up_${i}_${Date.now()}` })).status);
    // The IP's budget (3) is spent by made-up keys (one went to 'sb_other' above); the rest never
    // reach the key lookup.
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(3);
    expect(statuses.slice(-3)).toEqual([429, 429, 429]);
    // The admin key, verified, still has its own bucket (spent above): not the IP's.
    expect((await call(tp.baseUrl, 'GET', '/v1/me', { key: TEST_ADMIN_KEY })).status).toBe(429);
  });
});
