import { createCampaignFeedActivities } from './feed.js';
import { createOutreachActivities, type CampaignActivityDeps } from './outreach.js';

export type { CampaignActivityDeps };

/** The campaign and leadOutreach workflows' activities. */
export function createCampaignActivities(deps: CampaignActivityDeps) {
  return { ...createCampaignFeedActivities(deps), ...createOutreachActivities(deps) };
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
