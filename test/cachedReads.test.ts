import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditWriter } from '../domain/audit.js';
import { tenantReads, type TenantReads } from '../lib/db.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';

/**
 * Cached contact reads in one round trip (api/services/cachedReads.ts): tenant read sessions and
 * the audit rows' group commit.
 */
describe('cached reads: one round trip, every answered read audited', () => {
  let tp: TestPlatform;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    tp = await startTestPlatform({ roles: ['api'] });
    for (const tenant of ['reads-a', 'reads-b']) {
      await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: tenant, name: tenant } });
      const made = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${tenant}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 'reads', scopes: ['read'] },
      });
      keys[tenant] = made.body.key;
      await tp.adminPool.query(
        `insert into contacts (tenant_id, id, location_id, name, phone)
         select $1, $1 || '-' || i, 'loc', 'Contact ' || i, '+1512555' || lpad(i::text, 4, '0') from generate_series(1, 40) i`,
        [tenant],
      );
    }
  }, 120_000);
  afterAll(() => tp?.stop());

  const auditRows = async (tenant: string) =>
    (
      await tp.adminPool.query<{ phone: string }>(
        `select params->>'phone' as phone from audit_log where tenant_id = $1 and tool = 'crm_search_contacts'`,
        [tenant],
      )
    ).rows.map((r) => r.phone);

  it('answers concurrent reads of two tenants, each its own contact, each with exactly one audit row', async () => {
    const reads = ['reads-a', 'reads-b'].flatMap((tenant) =>
      Array.from({ length: 40 }, (_, i) => ({ tenant, phone: `+1512555${String(i + 1).padStart(4, '0')}` })),
    );
    const answers = await Promise.all(
      reads.map((r) =>
        call(tp.baseUrl, 'GET', `/v1/contacts?phone=${encodeURIComponent(r.phone)}`, { key: keys[r.tenant] }),
      ),
    );
    for (const [i, res] of answers.entries()) {
      expect(res.status).toBe(200);
      // The connection served the other tenant a moment ago: row-level security follows the read.
      expect(res.body.contacts.map((c: { id: string }) => c.id)).toEqual([
        `${reads[i]!.tenant}-${Number(reads[i]!.phone.slice(-4))}`,
      ]);
    }
    for (const tenant of ['reads-a', 'reads-b']) {
      const rows = await auditRows(tenant);
      expect(rows.sort()).toEqual(
        reads
          .filter((r) => r.tenant === tenant)
          .map((r) => r.phone)
          .sort(),
      );
    }
  });

  it('fails every read of a batch whose audit rows cannot be written, and keeps writing the next ones', async () => {
    const writer = createAuditWriter(tp.platform.pool);
    const row = (tenantId: string) =>
      ({ tenantId, tool: 'crm_search_contacts', status: 'ok', source: 'cache', durationMs: 1, params: {} }) as const;
    // A tenant that does not exist: its batch's insert fails (foreign key), so none of its reads may answer.
    const outcomes = await Promise.allSettled([
      writer.write(row('reads-gone')),
      writer.write(row('reads-gone')),
      writer.write(row('reads-a')),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    await expect(writer.write(row('reads-b'))).resolves.toBeUndefined();
  });

  it('keeps read sessions read-only and confined to their tenant', async () => {
    const reads: TenantReads = tenantReads(tp.platform.pool);
    try {
      const count = (tenant: string) =>
        reads.run(
          tenant,
          async (c) => (await c.query<{ n: number }>('select count(*)::int as n from contacts')).rows[0]!.n,
        );
      expect(await count('reads-a')).toBe(40);
      expect(await count('reads-b')).toBe(40);
      expect(await count('reads-none')).toBe(0);
      await expect(
        reads.run('reads-a', (c) => c.query(`delete from contacts where tenant_id = 'reads-a'`)),
      ).rejects.toThrow(/read-only/);
      expect(await count('reads-a')).toBe(40);
    } finally {
      await reads.end();
    }
  });
});
