import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { isAlive } from '../runtime/processes.js';
import { startDevServer, type DevServer } from '../runtime/temporal.js';
import { loadWorkflowBundle } from '../workers/worker.js';
import { startTestPlatform, startWorkerProcess, type TestPlatform } from './support/platform.js';
import { freePort } from './support/ports.js';
import type { StartedProcess } from './support/process.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { tearDown } from './support/teardown.js';
import {
  demoFreeSlots,
  sandboxProviders,
  setUpVoiceTenant,
  VAPI_SECRET,
  waitForCall,
  waitForToolAnswers,
} from './support/voice.js';

const { EventType } = temporal.api.enums.v1;
const TENANT = 'voice-temporal-restart';

/**
 * The Temporal server dies while a tool call is being answered: the Update that carries it is in a
 * speculative workflow task (held only in the server's memory), and the tool is still waiting on a
 * slow GoHighLevel. The server comes back from its data directory; the API's client sends the
 * Update again. Found by `npm run chaos`: the worker finished the lost task's tool under the next
 * task and the call stuck on a non-determinism failure.
 */
describe('voiceCall survives a Temporal server SIGKILL during a tool call', () => {
  let sandbox: Sandbox;
  let server: DevServer;
  let dataDir: string;
  let tp: TestPlatform;
  let key: string;
  const workers: StartedProcess[] = [];
  const log = createLogger('warn', { pretty: false });
  let temporalConfig: ReturnType<typeof parseConfig>['temporal'];

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-temporal-restart-'));
    // A server of its own: this file kills it.
    temporalConfig = parseConfig({
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
    }).temporal;
    server = await startDevServer({ config: temporalConfig, dataDir, log });
    tp = await startTestPlatform({
      roles: ['api'],
      env: { ...sandboxProviders(sandbox), TEMPORAL_ADDRESS: server.address },
    });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT);
    workers.push(await startWorkerProcess(tp, sandboxProviders(sandbox)));
  }, 180_000);
  afterAll(async () => {
    await tearDown({ processes: workers, platform: tp, sandbox });
    await server?.stop();
  });

  it('the booking is made once, the call completes, and no workflow task fails', async () => {
    const slot = (await demoFreeSlots(sandbox))[5]!;
    // GoHighLevel takes 6 s to book: the tool is still running when the server dies and when it is back.
    await sandbox.control('POST', '/faults', {
      provider: 'ghl',
      route: 'POST /calendars/events/appointments',
      latencyMs: 6000,
    });
    const { id } = await sandbox.control('POST', '/vapi/calls', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${TENANT}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      direction: 'inbound',
      from: '+15555550100',
      to: '+15555550123',
      script: {
        steps: [
          { user: 'I need an appointment.' },
          { tool: 'lookup_caller', arguments: {} },
          { user: 'Book the first free time, please.' },
          { tool: 'book_appointment', arguments: { startTime: slot } },
          { user: 'Thanks, goodbye.' },
        ],
      },
    });
    const workflowId = `call:${TENANT}:vapi:${id}`;

    // The first tool call answered, the booking goes out next; kill the server while it waits on GHL.
    await waitForToolAnswers(sandbox, id, 1);
    await new Promise((r) => setTimeout(r, 800));
    const pid = server.pid!;
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 20));
    await server.stop().catch(() => undefined); // its pid file
    // Down long enough for the call's 3 s report-grace timer to fire meanwhile: the new task carries it.
    await new Promise((r) => setTimeout(r, 2000));
    server = await startDevServer({ config: temporalConfig, dataDir, log });
    await sandbox.control('DELETE', '/faults');

    const done = await waitForCall(tp.baseUrl, key, workflowId, (c) => c.status === 'completed', 60_000).catch(
      (err: Error) => ({ status: err.message, contactId: undefined }),
    );

    const connection = await Connection.connect({ address: server.address });
    try {
      const history = await new Client({ connection }).workflow.getHandle(workflowId).fetchHistory();
      const events = history.events;
      const failures = (events ?? [])
        .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        .map((e) => e.workflowTaskFailedEventAttributes?.failure?.message);
      expect(failures).toEqual([]);
      expect(done.status).toBe('completed');
      // And a worker that starts over replays what was recorded.
      const bundle = await loadWorkflowBundle(tp.dataDir, createLogger('warn', { pretty: false }));
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, workflowId);
    } finally {
      await connection.close();
    }
    const { appointments } = await sandbox.control<{ appointments: { startTime: string }[] }>(
      'GET',
      `/ghl/appointments?locationId=loc_demo&contactId=${done.contactId}`,
    );
    expect(appointments.filter((a) => Date.parse(a.startTime) === Date.parse(slot))).toHaveLength(1);
    const sim = await sandbox.control('GET', `/vapi/calls/${id}`);
    expect(sim.problems).toEqual([]);
  });
});
