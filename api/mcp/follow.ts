import type { ToolCall } from './tool.js';

import { z } from 'zod';

const POLL_MS = 1_000;

/**
 * How long a long-running tool keeps the call open to stream progress before answering (only when
 * the client passed a progress token). Under the 60 s request timeout many clients default to.
 */
export const FollowSeconds = z
  .number()
  .int()
  .min(1)
  .max(55)
  .default(20)
  .describe('with a progress token: how long to stream progress before answering (default 20 s)');

/**
 * Streams a workflow's progress as `notifications/progress` until the workflow ends, the client
 * leaves, or `seconds` pass: `read` is polled once a second (from Postgres, where the workflow's
 * activities record their progress) and each change is sent. Returns the last snapshot.
 */
export async function followWorkflow<T>(
  call: ToolCall,
  workflow: { workflowId: string; runId?: string },
  read: (ended: boolean) => Promise<{ snapshot: T; message: string; progress?: number; total?: number }>,
  seconds: number,
): Promise<T> {
  let ended = false;
  void call.deps.temporal.workflow
    .getHandle(workflow.workflowId, workflow.runId)
    .result()
    .finally(() => (ended = true))
    .catch(() => undefined);
  const deadline = Date.now() + seconds * 1000;
  // Progress must increase with every notification: a change of message alone counts one step.
  let sent = -1;
  let last = '';
  for (;;) {
    const finished = ended;
    const now = await read(finished);
    const progress = Math.max(now.progress ?? 0, now.message !== last ? sent + 1 : sent);
    if (progress > sent) await call.progress(progress, now.total, now.message);
    sent = Math.max(sent, progress);
    last = now.message;
    if (finished || Date.now() > deadline || call.signal.aborted) return now.snapshot;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
