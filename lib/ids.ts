import { z } from 'zod';

/** Tenant ids appear in workflow ids, URLs and RLS settings, so they are kept short and plain. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const TenantId = z
  .string()
  .regex(TENANT_ID_PATTERN, 'tenant id: 2-63 lowercase letters, digits or dashes, starting with a letter or digit');
export type TenantId = z.infer<typeof TenantId>;

/** Workflow ids carry the tenant first so visibility queries and the Web UI can filter by prefix. */
export const workflowIds = {
  voiceCall: (tenant: string, provider: 'vapi' | 'retell', providerCallId: string) => `call:${tenant}:${provider}:${providerCallId}`,
  campaign: (tenant: string, campaignId: string) => `campaign:${tenant}:${campaignId}`,
  leadOutreach: (tenant: string, campaignId: string, leadId: string) => `lead:${tenant}:${campaignId}:${leadId}`,
  crmSync: (tenant: string, source: string) => `sync:${tenant}:${source}`,
  crmAction: (tenant: string, action: string, idempotencyKey: string) => `crm:${tenant}:${action}:${idempotencyKey}`,
  conversation: (tenant: string, conversationId: string) => `chat:${tenant}:${conversationId}`,
  readinessProbe: (probeId: string) => `probe:${probeId}`,
};
