import type { ProviderAccess } from '../connections/providerAccess.js';
import { verifyVapiResources } from '../connections/verify.js';
import { loadVoiceSettings } from './settings.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { workflowIds } from '../../lib/workflowIds.js';
import { contactBlocked } from '../suppression.js';
import { callQuotaKey, consume } from '../quotas.js';
import type { VoiceCallInput } from '../../workflows/voiceCall.contract.js';

/**
 * Everything an outbound call needs before its voiceCall workflow starts, for every door (REST,
 * MCP, a persona agent's tool): the number not suppressed, the tenant's own voice account (and
 * an assistant it names being its own), and one unit of the daily call quota, keyed by the call so
 * a repeated request counts once. Whoever starts the workflow does so with `workflowId` and `input`.
 */

export class OutboundRefused extends Error {
  override readonly name = 'OutboundRefused';
}

export interface OutboundRequest {
  to: string;
  purpose: string;
  contactId?: string;
  assistant?: string;
  provider?: 'vapi' | 'retell';
  /** The call's reference (its workflow id's last part comes from it). */
  callRef: string;
}

export async function prepareOutbound(
  deps: { pool: Pool; access: ProviderAccess },
  tenantId: string,
  req: OutboundRequest,
): Promise<{ workflowId: string; input: Extract<VoiceCallInput, { direction: 'outbound' }> }> {
  const { settings, suppressed } = await withTenant(deps.pool, tenantId, async (c) => ({
    settings: await loadVoiceSettings(c, tenantId),
    suppressed: Boolean(
      await contactBlocked(c, { tenantId, channel: 'call', phone: req.to, contactId: req.contactId }),
    ),
  }));
  if (suppressed) throw new OutboundRefused(`${req.to} opted out of contact (suppression list); no call placed`);
  const provider = req.provider ?? settings.defaultProvider;
  // The tenant has its own account there, and an assistant the caller names belongs to it, never
  // another business's on a shared account.
  if (provider === 'vapi') {
    const vapi = await deps.access.vapi(tenantId);
    await verifyVapiResources(vapi.baseUrl, vapi.apiKey, [
      { field: 'assistant', kind: 'assistant', id: req.assistant },
    ]);
  } else {
    await deps.access.retell(tenantId);
  }
  const workflowId = workflowIds.voiceCall(tenantId, provider, req.callRef);
  await consume(deps.pool, tenantId, 'calls_per_day', 1, {
    defaults: deps.access.quotaDefaults,
    key: callQuotaKey(workflowId),
  });
  return {
    workflowId,
    input: {
      direction: 'outbound',
      tenantId,
      provider,
      callRef: req.callRef,
      to: req.to,
      purpose: req.purpose,
      ...(req.contactId ? { contactId: req.contactId } : {}),
      ...(req.assistant ? { assistant: req.assistant } : {}),
    },
  };
}
