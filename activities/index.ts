import { createCrmActionActivities, type CrmActionDeps } from './crm/actions.js';
import { createCampaignActivities, type CampaignActivityDeps } from './campaigns/index.js';
import { createCrmOpportunityActivities, type CrmOpportunityDeps } from './crm/opportunities.js';
import { createCrmSyncActivities, type CrmSyncDeps } from './crm/sync.js';
import { createPostgresActivities, type PostgresActivityDeps } from './postgres.js';
import { createVoiceCallActivities, type VoiceCallDeps } from './voice/calls.js';
import { createVoiceToolActivities } from './voice/tools.js';
import { createAgentActivities } from './agents/conversation.js';

export type ActivityDeps = PostgresActivityDeps &
  CrmSyncDeps &
  CrmOpportunityDeps &
  CrmActionDeps &
  VoiceCallDeps &
  CampaignActivityDeps;

/** All activities, built from injected dependencies (pool, provider clients, clock). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createPostgresActivities(deps),
    ...createCrmSyncActivities(deps),
    ...createCrmOpportunityActivities(deps),
    // Workflows' CRM writes (after a call, a campaign's steps) have nobody on the line: they leave
    // the budget's live reserve to the tools a caller is waiting on.
    ...createCrmActionActivities(deps, { priority: 'bulk' }),
    ...createVoiceCallActivities(deps),
    ...createVoiceToolActivities(deps),
    ...createCampaignActivities(deps),
    ...createAgentActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
