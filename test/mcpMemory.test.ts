import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSystem, createPool, withTenant, type Pool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { forget, recall, remember } from '../domain/memory.js';
import { migrate } from '../runtime/migrate.js';
import { createTestDatabase } from './support/platform.js';

describe('memory (domain/memory.ts over sql/006_memory.sql)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 3);
    await migrate(pool, createLogger('silent', { pretty: false }));
    await asSystem(pool, (c) => c.query(`insert into tenants (id, name) values ('tenant-a', 'A'), ('tenant-b', 'B')`));
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const a = <T>(fn: Parameters<typeof withTenant<T>>[2]) => withTenant(pool, 'tenant-a', fn);

  it('remembers with provenance, recalls by meaning of words (stemmed, ranked), narrows by subject and filters', async () => {
    const first = await a((c) =>
      remember(c, {
        tenantId: 'tenant-a',
        content: 'Prefers appointments on Tuesday mornings; allergic to latex',
        subject: '+15551230001',
        tags: ['preference'],
        provenance: { source: 'voice', workflowId: 'call:tenant-a:vapi:c1' },
      }),
    );
    expect(first.created).toBe(true);
    await a((c) =>
      remember(c, {
        tenantId: 'tenant-a',
        content: 'Asked about teeth whitening prices',
        subject: '+15551230002',
        tags: ['lead'],
        provenance: { source: 'mcp', apiKeyId: 'key_1' },
      }),
    );
    await a((c) =>
      remember(c, {
        tenantId: 'tenant-a',
        content: 'Booked an appointment for a cleaning',
        subject: '+15551230002',
        provenance: { source: 'api' },
      }),
    );

    // "appointment" matches "appointments" (english stemming); both rows about appointments, ranked.
    const found = await a((c) => recall(c, { tenantId: 'tenant-a', query: 'appointment' }));
    expect(found.map((m) => m.content).sort()).toEqual([
      'Booked an appointment for a cleaning',
      'Prefers appointments on Tuesday mornings; allergic to latex',
    ]);
    expect(found[0]!.rank).toBeGreaterThan(0);
    const voice = found.find((m) => m.subject === '+15551230001')!;
    expect(voice.provenance).toEqual({ source: 'voice', workflowId: 'call:tenant-a:vapi:c1', apiKeyId: null });
    expect(voice.tags).toEqual(['preference']);

    const bySubject = await a((c) =>
      recall(c, { tenantId: 'tenant-a', query: 'appointment', subject: '+15551230002' }),
    );
    expect(bySubject.map((m) => m.content)).toEqual(['Booked an appointment for a cleaning']);
    // Empty query lists the newest for the subject.
    const newest = await a((c) => recall(c, { tenantId: 'tenant-a', query: '', subject: '+15551230002' }));
    expect(newest.map((m) => m.content)).toEqual([
      'Booked an appointment for a cleaning',
      'Asked about teeth whitening prices',
    ]);
    const tagged = await a((c) => recall(c, { tenantId: 'tenant-a', query: '', tags: ['lead'], source: 'mcp' }));
    expect(tagged.map((m) => m.content)).toEqual(['Asked about teeth whitening prices']);
    expect(await a((c) => recall(c, { tenantId: 'tenant-a', query: 'whitening -prices' }))).toEqual([]);
  });

  it('the same idempotency key writes once, per tenant', async () => {
    const once = await a((c) =>
      remember(c, {
        tenantId: 'tenant-a',
        content: 'x1',
        idempotencyKey: 'wf-1:step-3',
        provenance: { source: 'voice' },
      }),
    );
    const twice = await a((c) =>
      remember(c, {
        tenantId: 'tenant-a',
        content: 'x1',
        idempotencyKey: 'wf-1:step-3',
        provenance: { source: 'voice' },
      }),
    );
    expect(once.created).toBe(true);
    expect(twice).toEqual({ id: once.id, created: false });
    const other = await withTenant(pool, 'tenant-b', (c) =>
      remember(c, {
        tenantId: 'tenant-b',
        content: 'x1',
        idempotencyKey: 'wf-1:step-3',
        provenance: { source: 'voice' },
      }),
    );
    expect(other.created).toBe(true);
    // Across tenants: the owner itself sees no tenant's rows (row-level security is forced).
    const { rows } = await asSystem(pool, (c) =>
      c.query(`select tenant_id from memories where idempotency_key = 'wf-1:step-3' order by tenant_id`),
    );
    expect(rows.map((r) => r.tenant_id)).toEqual(['tenant-a', 'tenant-b']);
  });

  it("a tenant never sees, finds or deletes another tenant's memories (row-level security)", async () => {
    const secret = await a((c) =>
      remember(c, { tenantId: 'tenant-a', content: 'tenant A confidential pricing', provenance: { source: 'mcp' } }),
    );
    // Even passing tenant A's id inside tenant B's transaction finds nothing: RLS, not the where clause.
    const seen = await withTenant(pool, 'tenant-b', (c) => recall(c, { tenantId: 'tenant-a', query: 'confidential' }));
    expect(seen).toEqual([]);
    expect(await withTenant(pool, 'tenant-b', (c) => forget(c, { tenantId: 'tenant-a', id: secret.id }))).toEqual({
      deleted: false,
    });
    await expect(
      withTenant(pool, 'tenant-b', (c) =>
        remember(c, { tenantId: 'tenant-a', content: 'planted', provenance: { source: 'mcp' } }),
      ),
    ).rejects.toThrow(/row-level security/);
    expect(await a((c) => forget(c, { tenantId: 'tenant-a', id: secret.id }))).toEqual({ deleted: true });
    expect(await a((c) => recall(c, { tenantId: 'tenant-a', query: 'confidential' }))).toEqual([]);
    expect(await a((c) => forget(c, { tenantId: 'tenant-a', id: secret.id }))).toEqual({ deleted: false });
  });
});
