import type { Priority } from '@temporalio/common';

/**
 * Temporal task-queue priorities (1 is served first; work that sets none runs at 3). One worker
 * pool serves everything, so a backlog of syncs, campaigns and post-call CRM writes must never put
 * a caller on the line behind it: a call's own workflow tasks, its bookkeeping and its tools go
 * first, the work after a call next, everything else after.
 */
export const taskPriority = {
  liveCall: { priorityKey: 1 },
  afterCall: { priorityKey: 2 },
} as const satisfies Record<string, Priority>;
