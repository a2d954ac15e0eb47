/**
 * `npm run bench -- campaign`: 10,000 leads through email → wait(0) → email (research, two drafts and
 * two sends each, against the sandbox's instant providers), on the embedded Postgres and Temporal dev
 * server; and, in the same run, a baseline campaign of 10,000 empty child workflows fed with the
 * same concurrency and batches. Figures: wall time, leads/s, the worker process's peak RSS, the
 * baseline's wall time and the ratio.
 */
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { runCommand } from '../test/support/process.js';
import type { baselineCampaign } from './lib/campaignBaseline.js';
import {
  api,
  benchConfig,
  benchDataDir,
  createTenant,
  removeDataDir,
  startBenchPlatform,
  startSandboxProcess,
} from './lib/platform.js';
import { report } from './report.js';

const LEADS = Number(process.env.BENCH_LEADS ?? 10_000);
const MAX_ACTIVE = Number(process.env.BENCH_MAX_ACTIVE ?? 500);
const TENANT = 'bench';
const STALL_S = 120;

export default async function benchCampaign(): Promise<void> {
  const dataDir = await benchDataDir('campaign');
  const sandbox = await startSandboxProcess();
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
  // Providers "live" at the sandbox process (its own CPU and memory); the in-process one is idle.
  const platformConfig = await benchConfig(dataDir, {
    // One business on the platform's keys (the sandbox's accounts).
    SWITCHBOARD_PLATFORM_TENANT: TENANT,
    ANTHROPIC_API_KEY: 'bench-key',
    ANTHROPIC_BASE_URL: `${sandbox.url}/anthropic`,
    SENDGRID_API_KEY: 'SG.bench-key',
    SENDGRID_BASE_URL: `${sandbox.url}/sendgrid`,
    GHL_API_TOKEN: 'bench-token',
    GHL_BASE_URL: `${sandbox.url}/ghl`,
    LOG_LEVEL: 'warn',
    // The tenant's daily quotas (1,000 emails by default) would defer the sends to tomorrow.
    QUOTA_EMAILS_PER_DAY: String(10 * LEADS),
    QUOTA_CLAUDE_TOKENS_PER_DAY: '1000000000',
    // A lead's workflow task holds its slot while its local activities run: room for the leads in flight.
    WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: String(process.env.BENCH_WFT ?? 150),
    WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: String(process.env.BENCH_LA ?? 150),
    WORKER_MAX_CACHED_WORKFLOWS: String(process.env.BENCH_CACHE ?? 1000),
    DATABASE_POOL_SIZE: '40',
  });
  // The workflow bundle is built (webpack) in a separate process and cached in the data directory,
  // so the worker's RSS is the worker's, not the bundler's.
  const bundler = runCommand(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { loadWorkflowBundle } from './workers/worker.ts'; import { createLogger } from './lib/logger.ts'; await loadWorkflowBundle(${JSON.stringify(dataDir)}, createLogger('warn', { pretty: false }));`,
    ],
    {},
  );
  if ((await bundler.exited) !== 0) throw new Error(`bundling failed: ${bundler.output()}`);
  const platform = await startBenchPlatform(platformConfig);
  try {
    const base = platform.apiUrl!;
    const key = await createTenant(base, TENANT, ['read', 'act', 'admin']);
    const { id } = await api<{ id: string }>(base, 'POST', '/v1/campaigns', key, {
      name: 'Bench',
      goal: 'Book a demo',
      sender: {
        email: 'desk@bench.example',
        name: 'Bench',
        replyTo: 'replies@inbound.bench.example',
        postalAddress: '1 Bench Street, Springfield, IL 62701, USA',
      },
      policy: {
        sendWindow: { startHour: 0, endHour: 24, days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
        maxActiveLeads: MAX_ACTIVE,
        caps: { tenantPerDay: 1_000_000, senderPerHour: 1_000_000 },
      },
      sequence: [
        { type: 'email', prompt: 'Offer a demo' },
        { type: 'wait', days: 0 },
        { type: 'email', prompt: 'Follow up on the demo offer' },
      ],
    });
    for (let i = 0; i < LEADS; i += 5000) {
      const leads = Array.from({ length: Math.min(5000, LEADS - i) }, (_, j) => ({
        email: `lead${i + j}@bench.example`,
        firstName: `Lead${i + j}`,
        company: `Company ${(i + j) % 97}`,
      }));
      await api(base, 'POST', `/v1/campaigns/${id}/leads`, key, { leads });
    }

    // Our campaign.
    peakRss = process.memoryUsage().rss;
    const started = performance.now();
    await api(base, 'POST', `/v1/campaigns/${id}/start`, key);
    const parent = platform.temporal!.workflow.getHandle(`campaign:${TENANT}:${id}`);
    // Leads in flight as the parent counts them, every 2 s; a campaign where no lead finishes for
    // STALL_S is reported as stuck instead of waiting for ever.
    const inFlight: number[] = [];
    let finished = -1;
    let movedAt = Date.now();
    let stalled: (err: Error) => void = () => undefined;
    const stall = new Promise<never>((_, reject) => (stalled = reject));
    const watcher = setInterval(() => {
      void parent
        .query<{ active: number; finished: number }>('progress')
        .then((p) => {
          inFlight.push(p.active);
          if (p.finished !== finished) [finished, movedAt] = [p.finished, Date.now()];
          else if (Date.now() - movedAt > STALL_S * 1000)
            stalled(new Error(`no lead finished for ${STALL_S} s (${p.finished} done, ${p.active} in flight)`));
        })
        .catch(() => undefined);
    }, 2_000);
    const result = (await Promise.race([parent.result(), stall]).finally(() => clearInterval(watcher))) as {
      finished: number;
      outcomes: Record<string, number>;
    };
    const wall = (performance.now() - started) / 1000;
    await printParentFigures(platform.temporal!, parent.workflowId, inFlight);
    const workerPeakRss = peakRss;
    const progress = await api<{ emails: { sent: number } }>(base, 'GET', `/v1/campaigns/${id}`, key);
    if (result.outcomes.exhausted !== LEADS || progress.emails.sent !== 2 * LEADS)
      throw new Error(`campaign ended ${JSON.stringify(result)}, ${progress.emails.sent} emails`);
    const mem = process.memoryUsage();
    console.log(
      `campaign: ${LEADS} leads, ${progress.emails.sent} emails in ${wall.toFixed(1)} s; now rss ${(mem.rss / 2 ** 20).toFixed(0)} MB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)}/${(mem.heapTotal / 2 ** 20).toFixed(0)} MB, external ${(mem.external / 2 ** 20).toFixed(0)} MB`,
    );

    // Baseline: 10,000 empty children, same concurrency and batch, on the same server and connection.
    const taskQueue = 'bench-baseline';
    const worker = await Worker.create({
      connection: platform.worker!.worker.options.connection!,
      taskQueue,
      workflowsPath: fileURLToPath(new URL('./lib/campaignBaseline.ts', import.meta.url)),
      reuseV8Context: true,
      maxConcurrentWorkflowTaskExecutions: platformConfig.worker.maxConcurrentWorkflowTasks,
      maxCachedWorkflows: platformConfig.worker.maxCachedWorkflows,
    });
    const baselineWall = await worker.runUntil(async () => {
      const t0 = performance.now();
      await platform.temporal!.workflow.execute<typeof baselineCampaign>('baselineCampaign', {
        taskQueue,
        workflowId: `baseline:${Date.now()}`,
        args: [{ runId: String(Date.now()), total: LEADS, maxActive: MAX_ACTIVE, batch: 500 }],
      });
      return (performance.now() - t0) / 1000;
    });
    console.log(`baseline: ${LEADS} empty children in ${baselineWall.toFixed(1)} s`);

    await report(
      'campaign',
      {
        wall_s_10k: wall * (10_000 / LEADS),
        leads_per_s: LEADS / wall,
        worker_peak_rss_mb: workerPeakRss / 1024 / 1024,
        baseline_wall_s_10k: baselineWall * (10_000 / LEADS),
        ratio_to_baseline: wall / baselineWall,
      },
      {
        wall_s_10k: `${LEADS} leads × (research + 2 drafts + 2 sends), target ≤ 300 s`,
        leads_per_s: 'leads finished per second',
        worker_peak_rss_mb: 'API + worker process (embedded Postgres and Temporal are child processes), target ≤ 1024',
        baseline_wall_s_10k: 'same concurrency and batches, empty children',
        ratio_to_baseline: 'target ≤ 1.5',
      },
    );
  } finally {
    clearInterval(sampler);
    await platform.stop();
    await sandbox.stop();
    await removeDataDir(dataDir);
  }
}

/**
 * What the parent `campaign` workflow did, from its histories (every run of the continue-as-new
 * chain): workflow tasks, their latency (scheduled → completed), events, signals and child events per task.
 */
async function printParentFigures(client: Client, workflowId: string, inFlight: number[]): Promise<void> {
  const runs: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push(w.runId);
  let events = 0;
  let tasks = 0;
  let signals = 0;
  let childEvents = 0;
  const latencies: number[] = [];
  for (const runId of runs) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const scheduledAt = new Map<string, number>();
    for (const e of history.events ?? []) {
      events++;
      const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.round((e.eventTime?.nanos ?? 0) / 1e6);
      if (e.workflowTaskScheduledEventAttributes) scheduledAt.set(String(e.eventId), at);
      if (e.workflowTaskCompletedEventAttributes) {
        tasks++;
        const from = scheduledAt.get(String(e.workflowTaskCompletedEventAttributes.scheduledEventId));
        if (from !== undefined) latencies.push(at - from);
      }
      if (e.workflowExecutionSignaledEventAttributes) signals++;
      if (
        e.childWorkflowExecutionStartedEventAttributes ||
        e.childWorkflowExecutionCompletedEventAttributes ||
        e.startChildWorkflowExecutionInitiatedEventAttributes
      )
        childEvents++;
    }
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  console.log(
    `parent: ${runs.length} runs, ${events} events, ${tasks} workflow tasks (latency p50 ${q(50)} ms, p95 ${q(95)} ms), ` +
      `${signals} signals (${(signals / Math.max(1, tasks)).toFixed(2)} per task), ${childEvents} child events; ` +
      `leads in flight: mean ${avg(inFlight).toFixed(0)}, max ${Math.max(0, ...inFlight)}`,
  );
}
