import { verifyVapiResources } from '../../domain/connections/verify.js';
import { openTenantCrm, type CrmDeps } from '../../domain/crm/callerLookup.js';
import { assertTenantCalendar, assertTenantPipeline, NotTenantsRecordError } from '../../domain/crm/ownership.js';
import { loadVoiceSettings } from '../../domain/voice/settings.js';
import { badInput } from './errors.js';
import { withTenant, type Pool } from '../../lib/db.js';
import type { VoiceSettings } from '../../lib/voice.js';
import type { TenantVoiceCache } from '../voiceTenants.js';

/** The tenant's voice settings; the defaults when never set. */
export function readVoiceSettings(pool: Pool, tenantId: string): Promise<VoiceSettings> {
  return withTenant(pool, tenantId, (c) => loadVoiceSettings(c, tenantId));
}

/**
 * Replaces the tenant's voice settings; this process's webhook cache drops its copy at once. The
 * ids in them must be the tenant's own: Vapi assistant and number on its Vapi account, the
 * calendar in its GHL location (400 naming the field).
 */
export async function saveVoiceSettings(
  deps: { pool: Pool; voice: TenantVoiceCache; crm: CrmDeps },
  tenantId: string,
  settings: VoiceSettings,
): Promise<VoiceSettings> {
  if (settings.vapi.assistantId || settings.vapi.phoneNumberId) {
    const vapi = await deps.crm.access.vapi(tenantId);
    await verifyVapiResources(vapi.baseUrl, vapi.apiKey, [
      { field: 'body.vapi.assistantId', kind: 'assistant', id: settings.vapi.assistantId },
      { field: 'body.vapi.phoneNumberId', kind: 'phone-number', id: settings.vapi.phoneNumberId },
    ]);
  }
  if (settings.calendarId || settings.pipeline) {
    const crm = await openTenantCrm(deps.crm, tenantId);
    if (settings.calendarId)
      await assertTenantCalendar(tenantId, crm, settings.calendarId).catch((err: unknown) => {
        throw err instanceof NotTenantsRecordError ? badInput('calendarId', err.message) : err;
      });
    const p = settings.pipeline;
    if (p)
      await assertTenantPipeline(tenantId, crm, p.pipelineId, p.bookedStageId).catch((err: unknown) => {
        throw err instanceof NotTenantsRecordError ? badInput('pipeline', err.message) : err;
      });
  }
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
