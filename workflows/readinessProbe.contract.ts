/** The readinessProbe workflow's contract (no messages). */

export interface ReadinessProbeInput {
  probeId: string;
  /** Optional durable timer before the activity (used to prove a probe survives crashes). */
  waitMs?: number;
}

export interface ReadinessProbeResult {
  probeId: string;
  workflowId: string;
  /** How many times the row was written: 1 unless the activity ran more than once. */
  writes: number;
  writtenAt: string;
}
