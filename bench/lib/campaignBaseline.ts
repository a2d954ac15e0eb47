import { continueAsNew, startChild } from '@temporalio/workflow';

/**
 * Workflows for the campaign benchmark's baseline: a parent that feeds `total` empty child workflows
 * with the same bound on children in flight and the same continue-as-new batch as `campaign`, the
 * textbook way (children awaited, a batch drained before continuing as new). Bench-only code.
 */
export async function emptyLead(): Promise<void> {
  // Nothing: the cost of a child workflow itself.
}

export async function baselineCampaign(input: {
  runId: string;
  total: number;
  maxActive: number;
  batch: number;
  done?: number;
}): Promise<number> {
  let next = input.done ?? 0;
  const end = Math.min(input.total, next + input.batch);
  const inFlight = new Set<Promise<void>>();
  while (next < end) {
    // Free slots are filled together (starts in parallel), like the campaign's pages of leads.
    const starts: Promise<void>[] = [];
    while (inFlight.size + starts.length < input.maxActive && next < end) {
      const n = next++;
      starts.push(
        startChild(emptyLead, { workflowId: `baseline:${input.runId}:${n}` }).then((handle) => {
          const p: Promise<void> = handle.result().then(() => void inFlight.delete(p));
          inFlight.add(p);
        }),
      );
    }
    await Promise.all(starts);
    await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (end < input.total) await continueAsNew<typeof baselineCampaign>({ ...input, done: end });
  return end;
}
