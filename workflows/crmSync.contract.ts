import { defineQuery } from '@temporalio/workflow';
import type { SyncCursor, SyncMode, SyncPlan } from '../activities/crm/sync.js';

/** The crmSync workflow's contract: input (with what a run carries across continue-as-new), progress and result. */

export interface CrmSyncInput {
  tenantId: string;
  mode: SyncMode;
  /** Carried across continue-as-new: the plan and how far it got. */
  carry?: { plan: SyncPlan; position: SyncCursor };
  /** Set when an incremental pass found the counts still differing and continued as a full pass: why. */
  reconcile?: string;
}

export interface CrmSyncProgress {
  state: 'planning' | 'running' | 'finishing' | 'completed' | 'failed' | 'skipped';
  kind: SyncPlan['kind'] | null;
  reason: string | null;
  pages: number;
  contacts: number;
  total: number | null;
  removed: number | null;
  runningWorkflowId?: string | null;
  error?: string;
  /** Opportunities mirrored after the contacts (and notes refreshed); or why that step failed. */
  opportunities?: number;
  notes?: number;
  opportunitiesError?: string;
}

export type CrmSyncResult = CrmSyncProgress;

/** The query name is in recorded histories: never rename it. */
export const syncProgressQuery = defineQuery<CrmSyncProgress>('syncProgress');
