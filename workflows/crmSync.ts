import {
  ApplicationFailure,
  CancellationScope,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CrmOpportunityActivities } from '../activities/crm/opportunities.js';
import type { CrmSyncActivities, SyncCursor, SyncPlan } from '../activities/crm/sync.js';
import { syncProgressQuery, type CrmSyncInput, type CrmSyncProgress, type CrmSyncResult } from './crmSync.contract.js';

const { planSync, syncContactPages, finishSync } = proxyActivities<CrmSyncActivities>({
  startToCloseTimeout: '10 minutes',
  // A worker that dies mid-page is noticed within this and the retry resumes from the stored cursor.
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 20 },
});
// Opportunities, pipelines and notes for insights: resumes from its heartbeat; a failure is reported, not fatal to the contacts sync.
const { syncOpportunities } = proxyActivities<CrmOpportunityActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

/** Pages per activity call: small enough to report progress often, large enough to keep history short. */
const PAGES_PER_CHUNK = 20;
/** Chunks per run before continuing as new (each chunk is ~6 history events). */
const CHUNKS_PER_RUN = 200;

/** Mirrors a tenant's GoHighLevel contacts into Postgres: a full pass or the changes since the last one. */
export async function crmSync(input: CrmSyncInput): Promise<CrmSyncResult> {
  const info = workflowInfo();
  const progress: CrmSyncProgress = {
    state: 'planning',
    kind: null,
    reason: null,
    pages: 0,
    contacts: 0,
    total: null,
    removed: null,
  };
  setHandler(syncProgressQuery, () => progress);

  let plan: SyncPlan;
  let position: SyncCursor = { cursor: null, pages: 0, contacts: 0, highWater: null, total: null };
  if (input.carry) {
    ({ plan, position } = input.carry);
  } else {
    const planned = await planSync({
      tenantId: input.tenantId,
      mode: input.mode,
      workflowId: info.workflowId,
      // A reconciling pass marks its own rows: the incremental pass before it used the plain key.
      syncKey: `${info.workflowId}:${info.firstExecutionRunId}${input.reconcile ? ':reconcile' : ''}`,
      ...(input.reconcile ? { reason: input.reconcile } : {}),
    });
    if ('skipped' in planned) {
      Object.assign(progress, { state: 'skipped', runningWorkflowId: planned.skipped.runningWorkflowId });
      return progress;
    }
    plan = planned.plan;
  }
  Object.assign(progress, {
    state: 'running',
    kind: plan.kind,
    reason: plan.reason,
    pages: position.pages,
    contacts: position.contacts,
    total: position.total,
  });

  for (let chunk = 0; ; chunk++) {
    if (chunk >= CHUNKS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof crmSync>({ ...input, carry: { plan, position } });
    }
    let result;
    try {
      result = await syncContactPages({ plan, from: position, maxPages: PAGES_PER_CHUNK });
    } catch (err) {
      const message =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      Object.assign(progress, { state: 'failed', error: message });
      // Release the tenant's sync slot even when the run was cancelled.
      await CancellationScope.nonCancellable(() => finishSync({ plan, result: position, error: message }));
      if (isCancellation(err)) throw err;
      throw ApplicationFailure.nonRetryable(`CRM sync failed: ${message}`, 'CrmSyncFailed');
    }
    const { done, ...next } = result;
    position = next;
    Object.assign(progress, { pages: position.pages, contacts: position.contacts, total: position.total });
    if (done) break;
  }
  if (patched('crm-sync-opportunities')) {
    try {
      const synced = await syncOpportunities({ plan });
      Object.assign(progress, { opportunities: synced.opportunities, notes: synced.notes });
    } catch (err) {
      if (isCancellation(err)) {
        await CancellationScope.nonCancellable(() => finishSync({ plan, result: position, error: 'cancelled' }));
        throw err;
      }
      progress.opportunitiesError =
        err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
  }
  progress.state = 'finishing';
  const { removed, reconcile } = await finishSync({ plan, result: position, checkCounts: input.mode === 'auto' });
  if (reconcile && patched('crm-sync-reconcile')) {
    // The counts still differ after catching up: only a full pass can find what GHL deleted.
    await continueAsNew<typeof crmSync>({
      tenantId: input.tenantId,
      mode: 'full',
      reconcile: `${reconcile} after an incremental pass`,
    });
  }
  Object.assign(progress, { state: 'completed', removed });
  return progress;
}
