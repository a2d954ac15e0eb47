import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../lib/db.js';
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
    await pool.query(`insert into tenants (id, name) values ('keep-me', 'Keep')`);
    expect(await migrate(pool, log)).toEqual([]);
    const { rows } = await pool.query('select id from tenants');
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
});
