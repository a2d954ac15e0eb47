import type { Pool } from '../lib/db.js';
import { readCredential, type StoredCredential } from '../domain/credentials.js';
import { withTenant } from '../lib/db.js';
import type { VoiceSettings } from '../lib/voice.js';
import { loadVoiceSettings } from '../domain/voice/settings.js';
import { Lru } from '../lib/lru.js';

export interface TenantVoice {
  exists: boolean;
  vapi: StoredCredential | undefined;
  retell: StoredCredential | undefined;
  settings: VoiceSettings;
}

/**
 * A tenant's voice credentials (unsealed) and settings, for the webhook hot path: kept a few
 * seconds per API process, dropped at once when this process changes them (other replicas: ≤ TTL).
 * Webhook URLs name the tenant before anything is authenticated, so the cache is bounded, and ids
 * of no tenant are kept apart: made-up ids cannot push out real tenants.
 */
export function tenantVoiceCache(pool: Pool, masterKey: Buffer, ttlMs = 5000, max = 1000) {
  const entries = new Lru<string, Promise<TenantVoice>>(max, ttlMs);
  const unknown = new Lru<string, Promise<TenantVoice>>(max, ttlMs);
  const load = async (tenantId: string): Promise<TenantVoice> => {
    const [exists, vapi, retell, settings] = await Promise.all([
      withTenant(pool, tenantId, (c) => c.query('select 1 from tenants where id = $1', [tenantId])).then(
        (r) => r.rowCount === 1,
      ),
      readCredential(pool, masterKey, tenantId, 'vapi'),
      readCredential(pool, masterKey, tenantId, 'retell'),
      withTenant(pool, tenantId, (c) => loadVoiceSettings(c, tenantId)),
    ]);
    return { exists, vapi, retell, settings };
  };
  return {
    get(tenantId: string): Promise<TenantVoice> {
      const hit = entries.get(tenantId) ?? unknown.get(tenantId);
      if (hit) return hit;
      const value = load(tenantId);
      entries.set(tenantId, value);
      value.then(
        (v) => {
          if (v.exists) return;
          entries.delete(tenantId);
          unknown.set(tenantId, value);
        },
        () => entries.delete(tenantId),
      );
      return value;
    },
    forget(tenantId: string): void {
      entries.delete(tenantId);
      unknown.delete(tenantId);
    },
    /** Entries held (both kinds), for tests. */
    get size(): number {
      return entries.size + unknown.size;
    },
  };
}
export type TenantVoiceCache = ReturnType<typeof tenantVoiceCache>;
