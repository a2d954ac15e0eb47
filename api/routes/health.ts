import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Pool } from '../../lib/db.js';
import { workflowIds } from '../../lib/ids.js';
import { WorkflowKindKey } from '../../lib/searchAttributes.js';
import { readinessProbe } from '../../workflows/readinessProbe.js';

const Check = z.object({
  ok: z.boolean(),
  ms: z.number().describe('latency of this check in milliseconds'),
  error: z.string().optional(),
});
const ReadyResponse = z.object({
  status: z.enum(['ready', 'unavailable']),
  checks: z.object({
    postgres: Check.describe('SELECT 1 on the pool'),
    temporal: Check.describe('DescribeNamespace on the Temporal frontend'),
    worker: Check.describe('probe workflow round trip: worker runs an activity that writes and reads Postgres'),
  }),
});
type Check = z.infer<typeof Check>;
type ReadyResponse = z.infer<typeof ReadyResponse>;

export interface ReadinessDeps {
  pool: Pool;
  temporal: Client;
  namespace: string;
  taskQueue: string;
  /** How long /ready waits for the probe workflow before calling the worker absent. */
  probeTimeoutMs: number;
}

async function timed(fn: () => Promise<unknown>): Promise<Check> {
  const started = performance.now();
  try {
    await fn();
    return { ok: true, ms: round(performance.now() - started) };
  } catch (err) {
    return { ok: false, ms: round(performance.now() - started), error: (err as Error).message.split('\n')[0] };
  }
}
const round = (ms: number) => Math.round(ms * 100) / 100;

async function probeRoundTrip(deps: ReadinessDeps): Promise<void> {
  const probeId = randomUUID();
  const handle = await deps.temporal.workflow.start(readinessProbe, {
    taskQueue: deps.taskQueue,
    workflowId: workflowIds.readinessProbe(probeId),
    args: [{ probeId }],
    // If no worker ever picks it up, the server discards it; we do not leave probes behind.
    workflowExecutionTimeout: '1 minute',
    // Served by a worker sharing this connection when there is one (all-in-one process).
    requestEagerStart: true,
    typedSearchAttributes: [{ key: WorkflowKindKey, value: 'readinessProbe' }],
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), deps.probeTimeoutMs);
  });
  try {
    const result = await Promise.race([handle.result(), timeout]);
    if (result.probeId !== probeId || result.writes < 1) throw new Error('probe returned an unexpected result');
  } catch (err) {
    if ((err as Error).message !== 'timeout') throw err;
    await handle.terminate('readiness probe timed out').catch(() => undefined);
    const pollers = await deps.temporal.workflowService
      .describeTaskQueue({ namespace: deps.namespace, taskQueue: { name: deps.taskQueue }, taskQueueType: 1 })
      .then((r) => r.pollers?.length ?? 0)
      .catch(() => undefined);
    throw new Error(
      pollers === 0
        ? `no worker is polling task queue '${deps.taskQueue}' (probe timed out after ${deps.probeTimeoutMs} ms)`
        : `probe workflow did not complete within ${deps.probeTimeoutMs} ms`,
    );
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsyncZod<ReadinessDeps> = async (app, deps) => {
  // One deep check in flight per process: concurrent /ready calls share it, so the endpoint
  // cannot be used to flood Temporal with probe workflows.
  let inFlight: Promise<ReadyResponse> | undefined;
  const check = async (): Promise<ReadyResponse> => {
    const [postgres, temporal, worker] = await Promise.all([
      timed(() => deps.pool.query('select 1')),
      timed(() => deps.temporal.workflowService.describeNamespace({ namespace: deps.namespace })),
      timed(() => probeRoundTrip(deps)),
    ]);
    const ok = postgres.ok && temporal.ok && worker.ok;
    return { status: ok ? 'ready' : 'unavailable', checks: { postgres, temporal, worker } };
  };

  app.get(
    '/health',
    {
      config: { rateLimit: false },
      schema: {
        summary: 'Liveness: the process is up',
        tags: ['ops'],
        response: { 200: z.object({ status: z.literal('ok'), uptimeS: z.number() }) },
      },
    },
    async () => ({ status: 'ok' as const, uptimeS: Math.round(process.uptime()) }),
  );

  app.get(
    '/ready',
    {
      config: { rateLimit: false },
      schema: {
        summary: 'Readiness: Postgres, the Temporal namespace and a probe workflow round trip',
        description: 'Each part reports ok and its latency in ms. 503 if any part fails, naming it.',
        tags: ['ops'],
        response: { 200: ReadyResponse, 503: ReadyResponse },
      },
    },
    async (_req, reply) => {
      inFlight ??= check().finally(() => {
        inFlight = undefined;
      });
      const result = await inFlight;
      return reply.code(result.status === 'ready' ? 200 : 503).send(result);
    },
  );
};
