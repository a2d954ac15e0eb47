import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LeadOutcome } from '../activities/campaigns/outreach.js';

/**
 * The leadOutreach workflow's contract: its input and result, the signals the API (replies,
 * approvals) and the campaign (pause, resume) send it, and its progress query. The names are in
 * recorded histories: never rename them.
 */

export interface LeadOutreachInput {
  tenantId: string;
  campaignId: string;
  leadId: string;
  /** Told when this lead is done (the campaign continues as new, so it is found by id). */
  campaignWorkflowId: string;
  paused?: boolean;
  /**
   * The campaign run that started this lead waits for its result (it does not continue as new
   * before its leads are done): no leadFinished signal. Unset in leads started before that.
   */
  reportsByResult?: boolean;
}

export interface LeadResult {
  outcome: LeadOutcome;
  detail?: string;
}

export type LeadStage =
  | 'preparing'
  | 'waiting'
  | 'awaiting-approval'
  | 'sending'
  | 'handling-reply'
  | 'conversation'
  | 'calling'
  | 'finished';

export interface LeadProgress {
  state: LeadStage;
  stepIndex: number;
  paused: boolean;
  waitingUntil: string | null;
  outcome: LeadOutcome | null;
}

export type ApprovalDecision = 'approved' | 'edited' | 'rejected';

/** A reply stored by the Inbound Parse webhook (by id: the text stays out of history). */
export const replyReceivedSignal = defineSignal<[{ inboundId: string }]>('replyReceived');
export const approvalDecidedSignal =
  defineSignal<[{ approvalId: string; decision: ApprovalDecision }]>('approvalDecided');
export const pauseLeadSignal = defineSignal('pause');
export const resumeLeadSignal = defineSignal('resume');
export const leadProgressQuery = defineQuery<LeadProgress>('leadProgress');
