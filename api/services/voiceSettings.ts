import { loadVoiceSettings } from '../../domain/voice/settings.js';
import { withTenant, type Pool } from '../../lib/db.js';
import type { VoiceSettings } from '../../lib/voice.js';
import type { TenantVoiceCache } from '../voiceTenants.js';

/** The tenant's voice settings; the defaults when never set. */
export function readVoiceSettings(pool: Pool, tenantId: string): Promise<VoiceSettings> {
  return withTenant(pool, tenantId, (c) => loadVoiceSettings(c, tenantId));
}

/** Replaces the tenant's voice settings; this process's webhook cache drops its copy at once. */
export async function saveVoiceSettings(
  deps: { pool: Pool; voice: TenantVoiceCache },
  tenantId: string,
  settings: VoiceSettings,
): Promise<VoiceSettings> {
  await withTenant(deps.pool, tenantId, (c) =>
    c.query(
      `insert into voice_settings (tenant_id, settings) values ($1, $2)
       on conflict (tenant_id) do update set settings = excluded.settings, updated_at = now()`,
      [tenantId, JSON.stringify(settings)],
    ),
  );
  deps.voice.forget(tenantId);
  return settings;
}
