import type { Pool } from '../lib/db.js';
import { readCredential, type StoredCredential } from '../domain/credentials.js';
import { withTenant } from '../lib/db.js';
import type { VoiceSettings } from '../lib/voice.js';
import { loadVoiceSettings } from '../domain/voice/settings.js';

export interface TenantVoice {
  exists: boolean;
  vapi: StoredCredential | undefined;
  retell: StoredCredential | undefined;
  settings: VoiceSettings;
}

/**
 * A tenant's voice credentials (unsealed) and settings, for the webhook hot path: kept a few
 * seconds per API process, dropped at once when this process changes them (other replicas: ≤ TTL).
 */
export function tenantVoiceCache(pool: Pool, masterKey: Buffer, ttlMs = 5000) {
  const entries = new Map<string, { at: number; value: Promise<TenantVoice> }>();
  const load = async (tenantId: string): Promise<TenantVoice> => {
    const [exists, vapi, retell, settings] = await Promise.all([
      pool.query('select 1 from tenants where id = $1', [tenantId]).then((r) => r.rowCount === 1),
      readCredential(pool, masterKey, tenantId, 'vapi'),
      readCredential(pool, masterKey, tenantId, 'retell'),
      withTenant(pool, tenantId, (c) => loadVoiceSettings(c, tenantId)),
    ]);
    return { exists, vapi, retell, settings };
  };
  return {
    get(tenantId: string): Promise<TenantVoice> {
      const hit = entries.get(tenantId);
      if (hit && Date.now() - hit.at < ttlMs) return hit.value;
      const value = load(tenantId);
      entries.set(tenantId, { at: Date.now(), value });
      value.catch(() => entries.delete(tenantId));
      return value;
    },
    forget(tenantId: string): void {
      entries.delete(tenantId);
    },
  };
}
export type TenantVoiceCache = ReturnType<typeof tenantVoiceCache>;
