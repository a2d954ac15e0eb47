import { writeFile } from 'node:fs/promises';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { Client } from '@temporalio/client';

/**
 * With RECORD_HISTORIES=1, a test saves the finished workflow's history under test/histories/ for
 * the replay test (test/replay.test.ts). Re-record only on purpose: an old history that no longer
 * replays is exactly the break the replay test exists to catch.
 */
export async function recordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  await writeFile(new URL(`../histories/${name}.json`, import.meta.url), historyToJSON(history));
}
