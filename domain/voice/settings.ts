import type { PoolClient } from '../../lib/db.js';
import { defaultVoiceSettings, VoiceSettings } from '../../lib/voice.js';

/** A tenant's voice settings as stored, and the call reference we send through the providers. */

/** Metadata key carrying our call reference through the provider and back in its webhooks. */
export const CALL_REF_KEY = 'switchboardCallRef';

export async function loadVoiceSettings(client: PoolClient, tenantId: string): Promise<VoiceSettings> {
  const { rows } = await client.query<{ settings: unknown }>(
    'select settings from voice_settings where tenant_id = $1',
    [tenantId],
  );
  return rows[0] ? VoiceSettings.parse(rows[0].settings) : defaultVoiceSettings;
}
