/** Workflow ids carry the tenant first so visibility queries and the Web UI can filter by prefix. */
export const workflowIds = {
  voiceCall: (tenant: string, provider: 'vapi' | 'retell', providerCallId: string) =>
    `call:${tenant}:${provider}:${providerCallId}`,
  campaign: (tenant: string, campaignId: string) => `campaign:${tenant}:${campaignId}`,
  leadOutreach: (tenant: string, campaignId: string, leadId: string) => `lead:${tenant}:${campaignId}:${leadId}`,
  crmSync: (tenant: string, source: string) => `sync:${tenant}:${source}`,
  crmAction: (tenant: string, action: string, idempotencyKey: string) => `crm:${tenant}:${action}:${idempotencyKey}`,
  conversation: (tenant: string, conversationId: string) => `chat:${tenant}:${conversationId}`,
  agentBrief: (tenant: string, agent: string) => `brief:${tenant}:${agent}`,
  readinessProbe: (probeId: string) => `probe:${probeId}`,
};
