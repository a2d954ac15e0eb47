import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LeadOutcome } from '../activities/campaigns/outreach.js';

/**
 * The campaign workflow's contract: its input (with what a run carries across continue-as-new),
 * its progress (query and result), the API's pause/resume/cancel/leadsAdded signals and the
 * signal each lead sends when it is done. The names are in recorded histories: never rename them.
 */

export interface CampaignCarry {
  /** seq of the last lead started. */
  cursor: number;
  /** Leads started and not finished yet (they outlive a continue-as-new: their close policy is ABANDON). */
  active: string[];
  started: number;
  finished: number;
  outcomes: Partial<Record<LeadOutcome, number>>;
  paused: boolean;
  cancelled: boolean;
}

export interface CampaignInput {
  tenantId: string;
  campaignId: string;
  maxActiveLeads: number;
  carry?: CampaignCarry;
}

export interface CampaignProgress {
  state: 'running' | 'paused' | 'cancelling' | 'completed' | 'cancelled';
  started: number;
  finished: number;
  active: number;
  outcomes: Partial<Record<LeadOutcome, number>>;
}

export const pauseCampaignSignal = defineSignal('pause');
export const resumeCampaignSignal = defineSignal('resume');
export const cancelCampaignSignal = defineSignal('cancel');
/** New leads were added to the campaign (they are read from Postgres). */
export const leadsAddedSignal = defineSignal('leadsAdded');
export const campaignProgressQuery = defineQuery<CampaignProgress>('progress');
/** A lead's last act: tells its campaign (whichever run is current) that it is done. */
export const leadFinishedSignal = defineSignal<[{ leadId: string; outcome: LeadOutcome }]>('leadFinished');
