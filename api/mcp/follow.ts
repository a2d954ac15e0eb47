import type { ToolCall } from './tool.js';

/** How long a long-running tool keeps the call open to stream progress (only when the client passed a progress token). */
export const FOLLOW_MS = 60_000;
const POLL_MS = 1_000;

/**
 * Streams a workflow's progress as `notifications/progress` until the workflow ends, the client
 * leaves, or FOLLOW_MS pass: `read` is polled once a second (from Postgres, where the workflow's
 * activities record their progress) and each distinct message is sent. Returns the last snapshot.
 */
export async function followWorkflow<T>(
  call: ToolCall,
  workflow: { workflowId: string; runId?: string },
  read: (ended: boolean) => Promise<{ snapshot: T; message: string; progress?: number; total?: number }>,
): Promise<T> {
  let ended = false;
  void call.deps.temporal.workflow.getHandle(workflow.workflowId, workflow.runId).result().finally(() => (ended = true)).catch(() => undefined);
  const deadline = Date.now() + FOLLOW_MS;
  let step = 0;
  let last = '';
  for (;;) {
    const finished = ended;
    const now = await read(finished);
    step++;
    if (now.message !== last) await call.progress(now.progress ?? step, now.total, now.message);
    last = now.message;
    if (finished || Date.now() > deadline || call.signal.aborted) return now.snapshot;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
