import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantVoiceCache } from '../api/voiceTenants.js';
import { asSystem, createPool, type Pool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { Lru } from '../lib/lru.js';
import { migrate } from '../runtime/migrate.js';
import { createTestDatabase } from './support/platform.js';

describe('bounded caches', () => {
  it('Lru drops the least recently used entry past its size, and expired entries', async () => {
    const lru = new Lru<string, number>(3, 50);
    for (const [k, v] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const)
      lru.set(k, v);
    expect(lru.get('a')).toBe(1); // a is now the most recent
    lru.set('d', 4);
    expect(lru.size).toBe(3);
    expect(lru.get('b')).toBeUndefined();
    expect([lru.get('a'), lru.get('c'), lru.get('d')]).toEqual([1, 3, 4]);
    await new Promise((r) => setTimeout(r, 60));
    expect(lru.get('a')).toBeUndefined();
    for (let i = 0; i < 10_000; i++) lru.set(`k${i}`, i);
    expect(lru.size).toBe(3);
  });

  describe('the voice webhook tenant cache', () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let pool: Pool;
    beforeAll(async () => {
      db = await createTestDatabase();
      pool = createPool(db.url, 3);
      await migrate(pool, createLogger('silent', { pretty: false }));
      await asSystem(pool, (c) => c.query(`insert into tenants (id, name) values ('real-one', 'Real')`));
    });
    afterAll(async () => {
      await pool.end();
      await db.drop();
    });

    it('stays bounded under made-up tenant ids, which cannot push out a real tenant', async () => {
      const cache = tenantVoiceCache(pool, Buffer.alloc(32), 60_000, 20);
      expect((await cache.get('real-one')).exists).toBe(true);
      for (let i = 0; i < 200; i++) expect((await cache.get(`nobody-${i}`)).exists).toBe(false);
      expect(cache.size).toBeLessThanOrEqual(40);
      // Still cached: no reload (a reload would be a new promise).
      expect(cache.get('real-one')).toBe(cache.get('real-one'));
    });
  });
});
