import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive } from '../runtime/processes.js';
import type { ReadinessProbeResult } from '../workflows/readinessProbe.contract.js';
import { embeddedEnv, embeddedPids, runEntry, waitForOutput, type StartedProcess } from './support/process.js';
import { tearDown } from './support/teardown.js';

const { EventType } = temporal.api.enums.v1;

describe('durability across a hard crash', () => {
  let dataDir: string;
  const running: StartedProcess[] = [];
  afterAll(() => tearDown({ processes: running, dataDir }));

  it('a probe waiting on a timer completes exactly once after the worker and the dev server are SIGKILLed and restarted', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-crash-'));
    const env = await embeddedEnv(dataDir);
    const first = runEntry('runtime/start.ts', env);
    running.push(first);
    await waitForOutput(first, /Switchboard is up/);

    const address = `127.0.0.1:${env.TEMPORAL_DEV_PORT}`;
    let connection = await Connection.connect({ address });
    let client = new Client({ connection });
    const workflowId = `probe:crash-${Date.now()}`;
    await client.workflow.start('readinessProbe', {
      taskQueue: 'switchboard',
      workflowId,
      args: [{ probeId: workflowId, waitMs: 4000 }],
    });
    const handle = client.workflow.getHandle(workflowId);
    for (let i = 0; ; i++) {
      const { events } = await handle.fetchHistory();
      if (events?.some((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED)) break;
      if (i > 100) throw new Error('the probe never started its timer');
      await new Promise((r) => setTimeout(r, 100));
    }
    await connection.close();

    // Crash: the process running worker + API, and the Temporal server, without any chance to clean up.
    const { temporal: temporalPid } = await embeddedPids(dataDir);
    first.child.kill('SIGKILL');
    process.kill(temporalPid, 'SIGKILL');
    await first.exited;
    for (let i = 0; isAlive(temporalPid) && i < 100; i++) await new Promise((r) => setTimeout(r, 50)); // until reaped
    expect(isAlive(temporalPid)).toBe(false);

    // Restart from the same data directory (the orphaned embedded Postgres is taken over).
    const second = runEntry('runtime/start.ts', env);
    running.push(second);
    await waitForOutput(second, /Switchboard is up/);
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    const result = (await client.workflow.getHandle(workflowId).result()) as ReadinessProbeResult;
    expect(result.probeId).toBe(workflowId);
    expect(result.writes).toBe(1);

    const runs: string[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(wf.runId);
    expect(runs).toHaveLength(1);
    const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
    expect(events?.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)).toHaveLength(1);
    await connection.close();

    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });
});
