import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { asSystem, type Pool } from '../lib/db.js';
import { workflowIds } from '../lib/ids.js';
import { TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import { crmSync } from '../workflows/crmSync.js';

export const syncScheduleId = (tenantId: string) => `${workflowIds.crmSync(tenantId, 'ghl')}:schedule`;

/**
 * Every tenant with a CRM connection has a Temporal Schedule that starts its crmSync every N
 * minutes; a run still going when the next is due is skipped, not stacked.
 */
export async function ensureSyncSchedule(
  client: Client,
  taskQueue: string,
  tenantId: string,
  everyMinutes: number,
): Promise<void> {
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
    const handle = client.schedule.getHandle(syncScheduleId(tenantId));
    await handle.update((previous) => ({ ...previous, spec }));
    // A reconnected tenant's schedule was paused when it disconnected.
    if ((await handle.describe()).state.paused) await handle.unpause('connected');
  }
}

/** Stops the tenant's scheduled syncs (a disconnected CRM); connecting again resumes them. */
export async function pauseSyncSchedule(client: Client, tenantId: string, note: string): Promise<void> {
  try {
    await client.schedule.getHandle(syncScheduleId(tenantId)).pause(note);
  } catch (err) {
    if ((err as Error).name !== 'ScheduleNotFoundError') throw err;
  }
}

/** At start: a schedule for every tenant whose GHL is connected (its own connection, or the platform's). */
export async function ensureAllSyncSchedules(
  client: Client,
  pool: Pool,
  taskQueue: string,
  platformTenant: string | undefined,
): Promise<number> {
  // Cross-tenant: every connected tenant's schedule, at start.
  const { rows } = await asSystem(pool, (c) =>
    c.query<{ tenant_id: string; sync_every_minutes: number }>(
      `select c.tenant_id, c.sync_every_minutes from crm_connections c
        where c.tenant_id = $1
           or exists (select 1 from provider_connections p where p.tenant_id = c.tenant_id and p.provider = 'ghl')`,
      [platformTenant ?? null],
    ),
  );
  for (const r of rows) await ensureSyncSchedule(client, taskQueue, r.tenant_id, r.sync_every_minutes);
  return rows.length;
}

/** The tenant's sync schedule as Temporal runs it: paused or not, and when it next starts a sync. */
export async function describeSyncSchedule(
  client: Client,
  tenantId: string,
): Promise<{ paused: boolean; nextRunAt: string | null } | undefined> {
  try {
    const d = await client.schedule.getHandle(syncScheduleId(tenantId)).describe();
    return { paused: d.state.paused, nextRunAt: d.info.nextActionTimes[0]?.toISOString() ?? null };
  } catch (err) {
    if ((err as Error).name === 'ScheduleNotFoundError') return undefined;
    throw err;
  }
}
