import { proxyLocalActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { PostgresActivities } from '../activities/postgres.js';
import type { ReadinessProbeInput, ReadinessProbeResult } from './readinessProbe.contract.js';

// A local activity: the worker runs it inside the workflow task, so the whole probe is one task
// (about half the latency of a queued activity) while still proving workflow code and Postgres work.
const { recordProbe } = proxyLocalActivities<PostgresActivities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 3, initialInterval: '100ms' },
});

/** Round trip through the whole stack: API → Temporal → worker → activity → Postgres → back. */
export async function readinessProbe(input: ReadinessProbeInput): Promise<ReadinessProbeResult> {
  if (input.waitMs) await sleep(input.waitMs);
  const row = await recordProbe(input.probeId);
  return { probeId: input.probeId, workflowId: workflowInfo().workflowId, ...row };
}
