import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asSystem, createPool, withTenant, type Pool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { migrate, MIGRATIONS_DIR } from '../runtime/migrate.js';
import { createTestDatabase } from './support/platform.js';

const log = createLogger('silent', { pretty: false });

function migrateInChild(databaseUrl: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', 'runtime/migrateCli.ts'], {
      env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' },
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('migrations', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;
  beforeEach(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 3);
  });
  afterEach(async () => {
    await pool.end();
    await db.drop();
  });

  it('apply in order once; a second run does nothing and loses nothing', async () => {
    const first = await migrate(pool, log);
    expect(first[0]).toBe('001_foundation.sql');
    await asSystem(pool, (c) => c.query(`insert into tenants (id, name) values ('keep-me', 'Keep')`));
    expect(await migrate(pool, log)).toEqual([]);
    const { rows } = await asSystem(pool, (c) => c.query('select id from tenants'));
    expect(rows).toEqual([{ id: 'keep-me' }]);
    const versions = await pool.query('select version from schema_migrations order by version');
    expect(versions.rows.map((r) => r.version)).toEqual(first.map((f) => f.split('_')[0]));
  });

  it('two processes migrating at once both succeed and apply each file once', async () => {
    const [a, b] = await Promise.all([migrateInChild(db.url), migrateInChild(db.url)]);
    expect(a.code, a.output).toBe(0);
    expect(b.code, b.output).toBe(0);
    const { rows } = await pool.query('select version, count(*)::int as n from schema_migrations group by version');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.n === 1)).toBe(true);
  });

  it('a failing migration rolls back entirely and names the file; an edited applied file is refused', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-sql-'));
    try {
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
      await writeFile(
        path.join(dir, '900_broken.sql'),
        'create table half_done (id int);\nselect * from no_such_table;',
      );
      await expect(migrate(pool, log, dir)).rejects.toThrow(/sql\/900_broken\.sql failed: .*no_such_table/);
      const half = await pool.query(`select to_regclass('half_done') as t`);
      expect(half.rows[0].t).toBeNull();

      await rm(path.join(dir, '900_broken.sql'));
      await writeFile(path.join(dir, '001_foundation.sql'), '-- edited\n', { flag: 'a' });
      await expect(migrate(pool, log, dir)).rejects.toThrow(/001_foundation\.sql changed after it was applied/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('force row-level security on every tenant table: the owning user sees no tenant row outside withTenant', async () => {
    await migrate(pool, log);
    const { rows } = await pool.query<{ table: string; rls: boolean; forced: boolean; policies: string[] }>(
      `select c.relname as table, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
              array(select polname::text from pg_policy p where p.polrelid = c.oid order by polname) as policies
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relkind in ('r', 'p')
          and (c.relname = 'tenants' or exists (select 1 from pg_attribute a
                where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped))
        order by c.relname`,
    );
    expect(rows.length).toBeGreaterThan(20);
    const weak = rows.filter((r) => !r.rls || !r.forced || !r.policies.includes('tenant_isolation'));
    expect(weak.map((r) => r.table)).toEqual([]);

    // The test database belongs to a login that is not a superuser, as in production.
    const me = await pool.query<{ owner: boolean; superuser: boolean }>(
      `select pg_get_userbyid(relowner) = current_user as owner, (select rolsuper from pg_roles where rolname = current_user) as superuser
         from pg_class where relname = 'api_keys'`,
    );
    expect(me.rows[0]).toEqual({ owner: true, superuser: false });
    await asSystem(pool, (c) => c.query(`insert into tenants (id, name) values ('rls-a', 'A'), ('rls-b', 'B')`));
    await withTenant(pool, 'rls-a', (c) =>
      c.query(`insert into audit_log (tenant_id, status, duration_ms, source) values ('rls-a', 'ok', 1, 'live')`),
    );
    // The owner, without a tenant: nothing to read, nothing it may write.
    expect((await pool.query('select count(*)::int as n from tenants')).rows[0].n).toBe(0);
    expect((await pool.query('select count(*)::int as n from audit_log')).rows[0].n).toBe(0);
    await expect(pool.query(`insert into tenants (id, name) values ('rls-c', 'C')`)).rejects.toThrow(
      /row-level security/,
    );
    // The cross-tenant role sees both; a tenant sees itself.
    expect((await asSystem(pool, (c) => c.query('select count(*)::int as n from tenants'))).rows[0].n).toBe(2);
    expect((await withTenant(pool, 'rls-b', (c) => c.query('select id from tenants'))).rows).toEqual([{ id: 'rls-b' }]);
  });
});
