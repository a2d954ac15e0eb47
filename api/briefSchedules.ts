import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { workflowIds } from '../lib/ids.js';
import type { AgentConversationSettings } from '../lib/config.js';
import { TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import type { agentBrief } from '../workflows/agentBrief.js';

export const briefScheduleId = (tenantId: string, agentId: string) =>
  `${workflowIds.agentBrief(tenantId, agentId)}:schedule`;

export interface BriefSchedule {
  scheduleId: string;
  timezone: string;
  paused: boolean;
  nextRuns: string[];
}

/**
 * An agent's brief on a Temporal Schedule: its cron, read in the tenant's time zone (Temporal
 * handles daylight saving), starts `agentBrief`; a brief still running when the next is due is
 * skipped, and a missed one is caught up only within an hour (a brief at noon is no morning brief).
 */
export async function ensureBriefSchedule(
  client: Client,
  taskQueue: string,
  settings: AgentConversationSettings,
  b: { tenantId: string; agentId: string; cron: string; timezone: string },
): Promise<BriefSchedule> {
  const scheduleId = briefScheduleId(b.tenantId, b.agentId);
  const spec = { cronExpressions: [b.cron], timezone: b.timezone };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'agentBrief',
    workflowId: workflowIds.agentBrief(b.tenantId, b.agentId),
    args: [{ tenantId: b.tenantId, agentId: b.agentId, timezone: b.timezone, settings }] satisfies Parameters<
      typeof agentBrief
    >,
    taskQueue,
    typedSearchAttributes: [
      { key: TenantIdKey, value: b.tenantId },
      { key: WorkflowKindKey, value: 'agentBrief' },
    ],
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
  }
  return (await describeBriefSchedule(client, b.tenantId, b.agentId))!;
}

export async function describeBriefSchedule(
  client: Client,
  tenantId: string,
  agentId: string,
): Promise<BriefSchedule | undefined> {
  try {
    const d = await client.schedule.getHandle(briefScheduleId(tenantId, agentId)).describe();
    return {
      scheduleId: d.scheduleId,
      timezone: d.spec.timezone ?? 'UTC',
      paused: d.state.paused,
      nextRuns: d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

export async function deleteBriefSchedule(client: Client, tenantId: string, agentId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(briefScheduleId(tenantId, agentId)).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/** Runs the agent's brief now, as its schedule would (the one-per-day rule still holds). */
export async function triggerBrief(client: Client, tenantId: string, agentId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(briefScheduleId(tenantId, agentId)).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}
