import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Pool } from '../lib/db.js';
import { workflowIds } from '../lib/ids.js';
import { TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import { crmSync } from '../workflows/crmSync.js';

export const syncScheduleId = (tenantId: string) => `${workflowIds.crmSync(tenantId, 'ghl')}:schedule`;

/**
 * Every tenant with a CRM connection has a Temporal Schedule that starts its crmSync every N
 * minutes; a run still going when the next is due is skipped, not stacked.
 */
export async function ensureSyncSchedule(client: Client, taskQueue: string, tenantId: string, everyMinutes: number): Promise<void> {
  const spec = { intervals: [{ every: `${everyMinutes} minutes` as const }] };
  try {
    await client.schedule.create({
      scheduleId: syncScheduleId(tenantId),
      spec,
      action: {
        type: 'startWorkflow',
        workflowType: crmSync,
        workflowId: workflowIds.crmSync(tenantId, 'ghl'),
        args: [{ tenantId, mode: 'auto' }] satisfies Parameters<typeof crmSync>,
        taskQueue,
        typedSearchAttributes: [
          { key: TenantIdKey, value: tenantId },
          { key: WorkflowKindKey, value: 'crmSync' },
        ],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(syncScheduleId(tenantId)).update((previous) => ({ ...previous, spec }));
  }
}

export async function ensureAllSyncSchedules(client: Client, pool: Pool, taskQueue: string): Promise<number> {
  const { rows } = await pool.query<{ tenant_id: string; sync_every_minutes: number }>('select tenant_id, sync_every_minutes from crm_connections');
  for (const r of rows) await ensureSyncSchedule(client, taskQueue, r.tenant_id, r.sync_every_minutes);
  return rows.length;
}
