/**
 * `npm run bench -- voice`: a live call's tool calls through the whole path (API, Postgres, Temporal,
 * worker, sandbox GHL over HTTP), measured side by side in one run:
 * - closed loop at 1, 50 and 200 concurrent calls: each client is one live call (a workflow started
 *   by its `status-update`) asking `lookup_caller` again and again, one tool call at a time;
 * - the same tool run inline, without Temporal, behind a bare route of this process (the baseline):
 *   the tool and its tool-call row, nothing else;
 * - open loop: 200 live calls, each asking a tool call every 3 s on average (exponential gaps,
 *   seeded), for 60 s; answers are timed whatever the backlog;
 * - what Temporal does per tool call, counted from a live call's real history;
 * - Vapi `assistant-request` for unknown callers (each a live GHL search) with GHL answering at
 *   once and in 2 s (the lookup is time-boxed: the caller is answered as unknown).
 *
 * Quick runs (a shared machine): BENCH_VOICE_LEVELS=1,10,20 (the three closed-loop levels standing
 * for c1 / c50 / c200), BENCH_OPEN_LOOP_CALLS, BENCH_OPEN_LOOP_S, BENCH_VOICE_TOOL_CALLS (per call).
 * Anything but the issue's levels writes bench/results/voice-quick.json, so voice.json always means them.
 * Configurations: BENCH_VOICE_SPLIT=1 runs the worker in a process of its own; WORKER_* and
 * DATABASE_POOL_SIZE pass through to the platform. BENCH_PROFILE=1 writes a CPU profile of this
 * process (API, and the worker unless split) during the mid level's live phase
 * (bench/results/voice-live-mid.cpuprofile).
 */
import os from 'node:os';
import Fastify from 'fastify';
import protos from '@temporalio/proto';
import { answerToolCall } from '../activities/voice/tools.js';
import { defaultBudget, GhlBudget } from '../providers/ghl/budget.js';
import { runLoad, SEND_TIME, type LoadResult } from './lib/loadgen.js';
import {
  api,
  benchDataDir,
  benchEnv,
  createTenant,
  removeDataDir,
  startBenchPlatform,
  startSandboxProcess,
  startWorkerProcess,
} from './lib/platform.js';
import { parseConfig } from '../lib/config.js';
import { workflowIds } from '../lib/ids.js';
import { stopOnExit } from './lib/cleanup.js';
import { cpuShare, cpuSnapshot, profiled } from './lib/cpu.js';
import { percentile, report, round } from './report.js';

const TENANT = 'bench-voice';
const SECRET = 'bench-vapi-secret-0123456789';
const STILL_WORKING = 'Still working on that';
const ISSUE_LEVELS = [1, 50, 200];
const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const LEVELS = (process.env.BENCH_VOICE_LEVELS ?? ISSUE_LEVELS.join(',')).split(',').map(Number);
if (LEVELS.length !== 3 || LEVELS.some((n) => !Number.isInteger(n) || n < 1))
  throw new Error('BENCH_VOICE_LEVELS: three concurrency levels, e.g. 1,50,200');
const TOOL_CALLS_PER_CALL = num('BENCH_VOICE_TOOL_CALLS', 5);
const MIN_REQUESTS = num('BENCH_VOICE_MIN_REQUESTS', 200);
const OPEN_CALLS = num('BENCH_OPEN_LOOP_CALLS', 200);
const OPEN_SECONDS = num('BENCH_OPEN_LOOP_S', 60);
const OPEN_MEAN_GAP_S = num('BENCH_OPEN_LOOP_MEAN_S', 3);
const SEED = num('BENCH_SEED', 17);
const GHL_SLOW_MS = 2000;
const SPLIT = process.env.BENCH_VOICE_SPLIT === '1';
const HISTORY_TOOL_CALLS = 10;

/** A small seeded generator (mulberry32): the open loop's arrivals are the same every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EventType = protos.temporal.api.enums.v1.EventType;

export default async function voiceBench(): Promise<void> {
  const dataDir = await benchDataDir('voice');
  const sandbox = await startSandboxProcess();
  const sb = sandbox.url;
  const tuning = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => /^(WORKER_|DATABASE_POOL_SIZE$)/.test(e[0]) && e[1] !== undefined,
    ),
  );
  const env = await benchEnv(dataDir, {
    // One business on the platform's keys (the sandbox's accounts).
    SWITCHBOARD_PLATFORM_TENANT: TENANT,
    GHL_API_TOKEN: 'bench-token',
    GHL_BASE_URL: `${sb}/ghl`,
    VAPI_API_KEY: 'bench-vapi',
    VAPI_BASE_URL: `${sb}/vapi`,
    ANTHROPIC_API_KEY: 'bench-anthropic',
    ANTHROPIC_BASE_URL: `${sb}/anthropic`,
    GHL_RATE_LIMIT_BURST: '0',
    ...tuning,
  });
  const config = parseConfig(env);
  const sandboxControl = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sb}/__sandbox${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`sandbox ${method} ${path} → ${res.status}`);
  };
  await sandboxControl('POST', '/ghl/limits', { burst: 1_000_000 });
  const platform = await startBenchPlatform(config, SPLIT ? ['api'] : ['api', 'worker']);
  const worker = SPLIT ? await startWorkerProcess(env, platform) : undefined;
  try {
    const base = platform.apiUrl!;
    const key = await createTenant(base, TENANT, ['read', 'act', 'admin']);
    await api(base, 'PUT', '/v1/crm/connection', key, { locationId: 'loc_demo', syncEveryMinutes: 1440 });
    await api(base, 'PUT', `/v1/admin/tenants/${TENANT}/credentials/vapi`, key, {
      secret: SECRET,
      authMode: 'x-vapi-secret',
    });
    // Calls stay live for the whole run (no report comes; nothing asks the provider meanwhile).
    await api(base, 'PUT', '/v1/voice/settings', key, {
      vapi: { assistantId: 'asst_demo', phoneNumberId: 'pn_demo' },
      calendarId: 'cal_demo',
      reportGraceSeconds: 86_400,
    });

    const url = `${base}/webhooks/vapi/${TENANT}`;
    const headers = { 'x-vapi-secret': SECRET };
    const message = (type: string, callId: string, phone: string, extra: Record<string, unknown> = {}) =>
      `{"message":${JSON.stringify({
        type,
        timestamp: '@',
        call: { id: callId, type: 'inboundPhoneCall', customer: { number: phone } },
        ...extra,
      }).replace('"@"', SEND_TIME)}}`;
    const KNOWN = '+15555550100';
    const toolCall = (callId: string, n: number) =>
      message('tool-calls', callId, KNOWN, {
        toolCallList: [
          { id: `tc-${callId}-${n}`, type: 'function', function: { name: 'lookup_caller', arguments: '{}' } },
        ],
      });
    /** Who held the CPU in each measured phase (share of one core; the machine has os.cpus().length). */
    const cpu: Record<string, string> = {};
    const load = async (name: string, job: Parameters<typeof runLoad>[0]): Promise<LoadResult> => {
      const before = await cpuSnapshot();
      const t = performance.now();
      const r = await runLoad({ match: STILL_WORKING, ...job });
      cpu[name] = cpuShare(before, await cpuSnapshot(), (performance.now() - t) / 1000);
      if (r.errors) throw new Error(`${name}: ${r.errors} failed requests`);
      return r;
    };
    /** `n` live calls (their workflows started, as Vapi's status-update does), `prefix`-0 … */
    const liveCalls = async (prefix: string, n: number) => {
      const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
      await load(`${prefix} starts`, {
        urls: [url],
        headers,
        concurrency: Math.min(n, 20),
        requests: n,
        bodies: ids.map((id) => message('status-update', id, KNOWN, { status: 'in-progress' })),
      });
      return ids;
    };

    // --- What Temporal does for one tool call on a live call, from its real history ---------------
    const [probe] = await liveCalls('history', 1);
    const handle = platform.temporal!.workflow.getHandle(workflowIds.voiceCall(TENANT, 'vapi', probe!));
    const settled = async () => {
      // The workflow is idle once its history stops growing (it waits on a long timer).
      let last = -1;
      for (;;) {
        const events = (await handle.fetchHistory()).events ?? [];
        if (events.length === last) return events;
        last = events.length;
        await new Promise((r) => setTimeout(r, 700));
      }
    };
    const before = await settled();
    for (let i = 0; i < HISTORY_TOOL_CALLS; i++)
      await load('history tool call', {
        urls: [url],
        headers,
        concurrency: 1,
        requests: 1,
        bodies: [toolCall(probe!, i)],
      });
    const after = await settled();
    const added = after.slice(before.length);
    const count = (t: number) => added.filter((e) => e.eventType === t).length / HISTORY_TOOL_CALLS;
    const perToolCall = {
      workflowTasks: count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
      events: added.length / HISTORY_TOOL_CALLS,
      activities: count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
      localActivities: count(EventType.EVENT_TYPE_MARKER_RECORDED),
    };
    console.log('per tool call (from a live call history):', perToolCall);
    console.log(
      'event types of one tool call:',
      added
        .slice(0, added.length / HISTORY_TOOL_CALLS)
        .map((e) => EventType[e.eventType ?? 0]?.replace('EVENT_TYPE_', '')),
    );

    // --- The baseline: the same tool, inline, behind a bare route of this process -----------------
    const deps = {
      pool: platform.pool,
      access: platform.access,
      ghlBudget: new GhlBudget(platform.pool, { ...defaultBudget, burst: config.ghlRateLimitBurst }),
    };
    const inline = Fastify();
    inline.post('/inline/:callId', async (req) => {
      const { callId } = req.params as { callId: string };
      const body = req.body as { message: { toolCallList: { id: string; function: { name: string } }[] } };
      const results = await Promise.all(
        body.message.toolCallList.map(async (c) => {
          const a = await answerToolCall(
            deps,
            {
              tenantId: TENANT,
              workflowId: workflowIds.voiceCall(TENANT, 'vapi', `inline-${callId}`),
              toolCallId: c.id,
              name: c.function.name,
              args: {},
              customerPhone: KNOWN,
              contactId: null,
              transferNumber: null,
              at: Date.now(),
              maxAttempts: 1,
            },
            { attempt: 1, startedAtMs: Date.now() },
          );
          return { toolCallId: c.id, name: c.function.name, ...a };
        }),
      );
      return { results };
    });
    const inlineBase = await inline.listen({ host: '127.0.0.1', port: 0 });
    const stopInline = stopOnExit('inline route', () => inline.close());

    // --- Closed loop ------------------------------------------------------------------------------
    /** `c` live calls, each asking one tool call after the other (TOOL_CALLS_PER_CALL each, ≥ MIN_REQUESTS in all). */
    const closedLoop = async (c: number, tag: string, target: (callId: string) => string) => {
      const each = Math.max(TOOL_CALLS_PER_CALL, Math.ceil(MIN_REQUESTS / c));
      const ids =
        tag === 'inline'
          ? Array.from({ length: c }, (_, i) => `${tag}-c${c}-${i}`)
          : await liveCalls(`${tag}-c${c}`, c);
      const perClient = ids.map((id) => Array.from({ length: each }, (_, n) => toolCall(id, n)));
      return load(`${tag} c${c}`, { urls: ids.map(target), headers, concurrency: c, requests: c * each, perClient });
    };
    const viaTemporal = () => url;
    // Warm-up (JIT, the caller's contact cached, connections open).
    await closedLoop(Math.min(10, LEVELS[1]!), 'warm', viaTemporal);
    await closedLoop(Math.min(10, LEVELS[1]!), 'inline', (id) => `${inlineBase}/inline/${id}`);
    const [c1, cMid, cHigh] = LEVELS as [number, number, number];
    // Per client its own URL list entry: the loadgen posts client k's bodies to urls[k].
    const closed1 = await closedLoop(c1, 'live', viaTemporal);
    const inlineMid = await closedLoop(cMid, 'inline', (id) => `${inlineBase}/inline/${id}`);
    const closedMid = await profiled('voice-live-mid', () => closedLoop(cMid, 'live', viaTemporal));
    const highStarted = performance.now();
    const closedHigh = await closedLoop(cHigh, 'live', viaTemporal);
    const highSeconds = (performance.now() - highStarted) / 1000;

    // --- Open loop: OPEN_CALLS live calls, exponential gaps per call, for OPEN_SECONDS ------------
    const openIds = await liveCalls('open', OPEN_CALLS);
    const random = rng(SEED);
    const schedule: { atMs: number; body: string }[] = [];
    for (const id of openIds) {
      let t = -Math.log(1 - random()) * OPEN_MEAN_GAP_S * 1000;
      for (let n = 0; t < OPEN_SECONDS * 1000; n++) {
        schedule.push({ atMs: t, body: toolCall(id, n) });
        t += -Math.log(1 - random()) * OPEN_MEAN_GAP_S * 1000;
      }
    }
    schedule.sort((a, b) => a.atMs - b.atMs);
    const open = await load('open loop', {
      urls: [url],
      headers,
      concurrency: OPEN_CALLS,
      requests: schedule.length,
      schedule,
    });

    // --- assistant-request: unknown callers, GHL at once and GHL in 2 s ---------------------------
    let caller = 7_000_000;
    const assistantRequests = (n: number) =>
      Array.from({ length: n }, () => {
        const phone = `+1555${String(caller++).padStart(7, '0')}`;
        return message('assistant-request', `ar-${phone}`, phone);
      });
    const arJob = (n: number) => ({
      urls: [url],
      headers,
      concurrency: cMid,
      requests: n,
      bodies: assistantRequests(n),
    });
    const arRequests = Math.max(MIN_REQUESTS, cMid * 4);
    const ghl0 = await load('assistant-request ghl0', arJob(arRequests));
    await sandboxControl('POST', '/faults', { provider: 'ghl', route: '*', latencyMs: GHL_SLOW_MS });
    const ghl2000 = await load('assistant-request ghl2000', arJob(arRequests));
    await sandboxControl('DELETE', '/faults');

    await stopInline();
    const p = (r: LoadResult, q: number) => round(percentile(r.latenciesMs, q), 1);
    const lv = (n: number) => `c${n}`;
    console.log(
      `levels ${LEVELS.join('/')} (keys c1/c50/c200 stand for ${LEVELS.map(lv).join('/')}); open loop ${OPEN_CALLS} calls × ${OPEN_SECONDS} s = ${schedule.length} tool calls, generator lag max ${round(open.maxLagMs, 1)} ms; worker ${SPLIT ? 'apart' : 'in the API process'}`,
    );
    console.log(
      'extra:',
      JSON.stringify({
        tool_call_p50_ms_cMid: p(closedMid, 50),
        inline_p50_ms_cMid: p(inlineMid, 50),
        tool_call_p50_ms_cHigh: p(closedHigh, 50),
        tool_call_p99_ms_cHigh: p(closedHigh, 99),
        open_loop_p50_ms: p(open, 50),
        deadlines_missed_open: open.matched,
        deadlines_missed_cMid: closedMid.matched,
        tool_calls_per_s_cHigh_incl_call_starts: round(closedHigh.latenciesMs.length / highSeconds, 1),
        activities_per_tool_call: perToolCall.activities,
        local_activities_per_tool_call: perToolCall.localActivities,
      }),
    );
    for (const name of [`inline c${cMid}`, `live c${cMid}`, `live c${cHigh}`, 'open loop'])
      console.log(`cpu ${name}: ${cpu[name]}`);
    console.log(
      `load average at the end: ${os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    const standard = LEVELS.every((n, i) => n === ISSUE_LEVELS[i]) && OPEN_CALLS === 200 && OPEN_SECONDS === 60;
    const inlineP95 = percentile(inlineMid.latenciesMs, 95);
    await report(
      standard ? 'voice' : 'voice-quick',
      {
        tool_call_p50_ms_c1: p(closed1, 50),
        tool_call_p95_ms_c50: p(closedMid, 95),
        tool_call_p99_ms_c50: p(closedMid, 99),
        tool_call_p95_ms_c200: p(closedHigh, 95),
        inline_p95_ms_c50: p(inlineMid, 95),
        overhead_ratio_c50: round(percentile(closedMid.latenciesMs, 95) / inlineP95, 2),
        deadlines_missed_c200: closedHigh.matched,
        open_loop_p95_ms_200calls: p(open, 95),
        open_loop_p99_ms_200calls: p(open, 99),
        workflow_tasks_per_tool_call: perToolCall.workflowTasks,
        history_events_per_tool_call: perToolCall.events,
        assistant_request_p95_ms_ghl0: p(ghl0, 95),
        assistant_request_p95_ms_ghl2000: p(ghl2000, 95),
      },
      {
        tool_call_p50_ms_c1: `one live call, lookup_caller through the webhook: signal, local activity, answer read from its row (c${c1})`,
        tool_call_p95_ms_c50: `closed loop, c${cMid} live calls; target ≤ 100`,
        tool_call_p95_ms_c200: `closed loop, c${cHigh} live calls`,
        inline_p95_ms_c50: `the same tool and row write inline, no Temporal (c${cMid})`,
        overhead_ratio_c50: 'tool_call_p95 / inline_p95 at the mid level; target ≤ 2',
        deadlines_missed_c200: `answers "still working" at c${cHigh}; target 0`,
        open_loop_p95_ms_200calls: `${OPEN_CALLS} calls, a tool call every ${OPEN_MEAN_GAP_S} s on average, ${OPEN_SECONDS} s; target ≤ 150`,
        workflow_tasks_per_tool_call: 'from a live call history; target 1',
        assistant_request_p95_ms_ghl2000: `unknown callers, GHL answering in ${GHL_SLOW_MS} ms; target ≤ 300`,
      },
    );
  } finally {
    await worker?.stop();
    await platform.stop();
    await sandbox.stop();
    await removeDataDir(dataDir);
  }
}
