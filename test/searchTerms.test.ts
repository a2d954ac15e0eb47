import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContactSearch, searchContacts } from '../api/services/contacts.js';
import { toContactRow, UPSERT_CONTACTS, type CrmContactFields } from '../domain/contactCache.js';
import {
  deleteNode,
  putNode,
  searchNodes,
  SearchQuery,
  updateNode,
  type NodeInput,
} from '../domain/knowledge/nodes.js';
import { editDistance } from '../domain/searchTerms.js';
import { asSystem, createPool, withTenant, type Pool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { migrate, MIGRATIONS_DIR } from '../runtime/migrate.js';
import { createTestDatabase } from './support/platform.js';

/**
 * The term index both searches read (sql/024_search_terms.sql) follows every write of its source
 * rows — the sync's page upserts and pass-end deletes, knowledge puts, updates and deletes — and
 * rows that existed before the migration; searches find by full name, partial name and typo, and
 * never across tenants.
 */

const log = createLogger('silent', { pretty: false });

const contact = (id: string, firstName: string, lastName: string, extra: Partial<CrmContactFields> = {}) =>
  toContactRow({
    id,
    locationId: 'loc',
    firstName,
    lastName,
    email: `${firstName}.${lastName}@example.com`.toLowerCase(),
    tags: [],
    customFields: [],
    ...extra,
  });

describe('search terms', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;
  let migrationsBefore: string;

  const upsert = (tenant: string, rows: ReturnType<typeof contact>[]) =>
    withTenant(pool, tenant, (c) => c.query(UPSERT_CONTACTS, [tenant, 'sync-1', JSON.stringify(rows)]));
  const names = async (tenant: string, q: string) =>
    (
      await withTenant(pool, tenant, (c) => searchContacts(c, tenant, ContactSearch.parse({ q, limit: 10 })))
    ).contacts.map((c) => c.name);
  const knowledge = async (tenant: string, query: string) =>
    (await withTenant(pool, tenant, (c) => searchNodes(c, tenant, SearchQuery.parse({ query })))).map((h) => h.path);

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 3);
    // Everything up to the migration first, with rows in it: the migration must index those too.
    migrationsBefore = await mkdtemp(path.join(os.tmpdir(), 'sb-migrations-'));
    await cp(MIGRATIONS_DIR, migrationsBefore, {
      recursive: true,
      filter: (f) => !/\/0(2[4-9]|[3-9]\d)_[^/]*$/.test(f),
    });
    await migrate(pool, log, migrationsBefore);
    await asSystem(pool, (c) =>
      c.query(`insert into tenants (id, name) values ('st-a', 'A'), ('st-b', 'B'), ('st-old', 'Old')`),
    );
    // As the schema stood then (today's upsert also reads later tables, e.g. contact_tombstones).
    await withTenant(pool, 'st-old', (c) =>
      c.query(
        `insert into contacts (tenant_id, id, location_id, first_name, last_name, name, email)
         values ($1, 'o1', 'loc', 'Olga', 'Petrova', 'Olga Petrova', 'olga.petrova@example.com')`,
        ['st-old'],
      ),
    );
    await withTenant(pool, 'st-old', (c) =>
      putNode(c, 'st-old', doc('/ops/refunds', 'Refund policy', 'Refunds within 30 days.')),
    );
    await migrate(pool, log);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
    if (migrationsBefore) await rm(migrationsBefore, { recursive: true, force: true });
  });

  it('finds rows written before the migration', async () => {
    expect(await names('st-old', 'Olga Petrova')).toEqual(['Olga Petrova']);
    expect(await knowledge('st-old', 'refund')).toEqual(['/ops/refunds']);
  });

  it('finds contacts by full name, partial name, typo and email; never another tenant’s', async () => {
    await upsert('st-a', [
      contact('a1', 'Alice', 'Archer'),
      contact('a2', 'Alan', 'Smith'),
      contact('a3', 'Alicia', 'Archer', { companyName: 'Northwind Traders' }),
    ]);
    await upsert('st-b', [contact('b1', 'Alice', 'Bravo')]);
    expect(await names('st-a', 'Alice Archer')).toEqual(['Alice Archer']);
    expect((await names('st-a', 'ali arch')).sort()).toEqual(['Alice Archer', 'Alicia Archer']);
    expect(await names('st-a', 'Alcie Archer')).toEqual(['Alice Archer']);
    expect(await names('st-a', 'Smtih')).toEqual(['Alan Smith']);
    expect(await names('st-a', 'alan.smith@example.com')).toEqual(['Alan Smith']);
    expect(await names('st-a', 'northwind')).toEqual(['Alicia Archer']);
    // Every word must match: a word nothing resembles finds nobody.
    expect(await names('st-a', 'Alice Zyxwvut')).toEqual([]);
    expect(await names('st-a', 'Bravo')).toEqual([]);
    expect(await names('st-b', 'Alice')).toEqual(['Alice Bravo']);
  });

  it('follows the sync: a renamed contact is found by its new name only, a removed one not at all', async () => {
    await upsert('st-a', [contact('a2', 'Alan', 'Smithers')]);
    expect(await names('st-a', 'Alan Smithers')).toEqual(['Alan Smithers']);
    expect(await names('st-a', 'Alan Smith')).toEqual(['Alan Smithers']); // a prefix still matches
    expect(await names('st-a', 'Smith ')).toEqual(['Alan Smithers']);
    await upsert('st-a', [contact('a2', 'Alan', 'Jones')]);
    expect(await names('st-a', 'Smithers')).toEqual([]);
    expect(await names('st-a', 'Alan Jones')).toEqual(['Alan Jones']);
    // The pass-end delete of a full sync (contacts the pass did not see) and a webhook's delete.
    await withTenant(pool, 'st-a', (c) =>
      c.query(`delete from contacts where tenant_id = $1 and id = any($2)`, ['st-a', ['a1', 'a2']]),
    );
    expect(await names('st-a', 'Alice Archer')).toEqual([]);
    expect(await names('st-a', 'Alan')).toEqual([]);
    expect(await names('st-a', 'Alicia')).toEqual(['Alicia Archer']);
  });

  it('follows knowledge writes: put, update and delete', async () => {
    const node = await withTenant(pool, 'st-a', (c) =>
      putNode(c, 'st-a', doc('/sales/invoices', 'Invoice corrections', 'How to correct a sent invoice.')),
    );
    await withTenant(pool, 'st-b', (c) =>
      putNode(c, 'st-b', doc('/sales/invoices', 'Invoice corrections', 'Tenant B’s own.')),
    );
    expect(await knowledge('st-a', 'invoice corrections')).toEqual(['/sales/invoices']);
    expect(await knowledge('st-a', 'invoice corrcetion')).toEqual(['/sales/invoices']); // a typo
    await withTenant(pool, 'st-a', (c) =>
      updateNode(c, 'st-a', node.node.id, { title: 'Credit notes', body: 'Issue a credit note instead.' }),
    );
    expect(await knowledge('st-a', 'corrections')).toEqual([]);
    expect(await knowledge('st-a', 'credit note')).toEqual(['/sales/invoices']);
    await withTenant(pool, 'st-a', (c) => deleteNode(c, 'st-a', node.node.id));
    expect(await knowledge('st-a', 'credit note')).toEqual([]);
    expect(await knowledge('st-b', 'invoice corrections')).toEqual(['/sales/invoices']);
  });

  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('alcie', 'alice', 2)).toBe(1);
    expect(editDistance('smtih', 'smith', 2)).toBe(1);
    expect(editDistance('pricng', 'pricing', 2)).toBe(1);
    expect(editDistance('zyxwvut', 'archer', 2)).toBe(3);
  });
});

function doc(path: string, title: string, body: string): NodeInput {
  return { path, type: 'document', title, body, labels: [], intentTags: [], metadata: {} };
}
