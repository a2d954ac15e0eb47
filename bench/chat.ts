/**
 * `npm run bench -- chat`: 50 concurrent conversations with a persona agent, against the sandbox's
 * Claude (streaming), on the embedded Postgres and Temporal dev server.
 * - turn overhead: p95 of a turn through the platform (POST with Accept: text/event-stream → the
 *   `reply` event) minus p95 of a direct streamed model call to the same sandbox at the same
 *   concurrency, measured in the same run;
 * - first delta: p95 from the POST to the first `delta` event.
 * `BENCH_CONVERSATIONS` (50) and `BENCH_TURNS` (3 per conversation) shorten or lengthen the run.
 */
import {
  benchConfig,
  benchDataDir,
  createTenant,
  removeDataDir,
  startBenchPlatform,
  startSandboxProcess,
} from './lib/platform.js';
import { percentile, report } from './report.js';
import { cpuMs, cpuShare, cpuSnapshot } from './lib/cpu.js';
import { writeFile } from 'node:fs/promises';
import inspector from 'node:inspector';
import os from 'node:os';

import type { Client } from '@temporalio/client';
import { workflowIds } from '../lib/ids.js';

const TENANT = 'bench-chat';
const CONVERSATIONS = Number(process.env.BENCH_CONVERSATIONS ?? 50);
const TURNS = Number(process.env.BENCH_TURNS ?? 3);

/** One SSE turn: time to the first delta and to the reply. */
async function sseTurn(
  url: string,
  key: string,
  text: string,
): Promise<{ first: number; total: number; conversationId: string }> {
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ text }),
  });
  if (!res.ok || !res.body) throw new Error(`${url} → ${res.status}: ${await res.text()}`);
  let first = Number.NaN;
  let buffer = '';
  let conversationId = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    if (Number.isNaN(first) && buffer.includes('event: delta')) first = performance.now() - started;
    conversationId ||= /"conversationId":"([^"]+)"/.exec(buffer)?.[1] ?? '';
    if (buffer.includes('event: reply') || buffer.includes('event: error')) break;
  }
  if (buffer.includes('event: error')) throw new Error(`turn failed: ${buffer.slice(buffer.indexOf('event: error'))}`);
  return { first, total: performance.now() - started, conversationId };
}

/** The same kind of model call, straight to the sandbox (streamed, read to the end). */
async function directCall(sandbox: string, text: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${sandbox}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'bench', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'claude-sonnet-5-5',
      max_tokens: 2048,
      stream: true,
      system: "You are Operator, one of this business's front-office agents.",
      messages: [{ role: 'user', content: text }],
    }),
  });
  await res.text();
  return performance.now() - started;
}

/** One conversation's workflow history: each event's offset from the first, to see where a turn's time goes. */
async function traceTurns(temporal: Client, conversationId: string): Promise<void> {
  const history = await temporal.workflow.getHandle(workflowIds.conversation(TENANT, conversationId)).fetchHistory();
  const t0 = Number(history.events?.[0]?.eventTime?.seconds ?? 0) * 1000;
  let prev = 0;
  for (const e of history.events ?? []) {
    const at = Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6 - t0;
    const type = String(e.eventType);
    const name =
      e.activityTaskScheduledEventAttributes?.activityType?.name ?? e.markerRecordedEventAttributes?.markerName ?? '';
    console.log(`${at.toFixed(1).padStart(9)} ms  +${(at - prev).toFixed(1).padStart(7)}  ${type} ${name}`);
    prev = at;
  }
}

/** A V8 CPU profile of this process (API and worker) from now until `stop(file)`. */
async function startProfile(): Promise<{ stop(file: string): Promise<string> }> {
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      session.disconnect();
      await writeFile(file, JSON.stringify(profile));
      return file;
    },
  };
}

async function inParallel<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => fn(i)));
}

export default async function chatBench(): Promise<void> {
  const dataDir = await benchDataDir('chat');
  const sandbox = await startSandboxProcess();
  const config = await benchConfig(dataDir, {
    SWITCHBOARD_PLATFORM_TENANT: TENANT,
    ANTHROPIC_API_KEY: 'bench-anthropic',
    ANTHROPIC_BASE_URL: `${sandbox.url}/anthropic`,
    QUOTA_CLAUDE_TOKENS_PER_DAY: '1000000000',
    ...(process.env.DATABASE_POOL_SIZE ? { DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE } : {}),
  });
  const platform = await startBenchPlatform(config);
  try {
    const base = platform.apiUrl!;
    const key = await createTenant(base, TENANT, ['read', 'act', 'admin']);
    const text = (i: number, t: number) => `Hello, this is conversation ${i}, turn ${t}. How are things going today?`;

    // Warm up: workflow bundle, connections, the sandbox.
    await inParallel(5, (i) => sseTurn(`${base}/v1/agents/operator/conversations`, key, text(i, 0)));
    for (let i = 0; i < 20; i++) await directCall(sandbox.url, text(i, 0));

    const direct: number[] = [];
    for (let t = 0; t < TURNS; t++)
      direct.push(...(await inParallel(CONVERSATIONS, (i) => directCall(sandbox.url, text(i, t)))));

    const firsts: number[] = [];
    const totals: number[] = [];
    const conversationIds: string[] = [];
    const profiler = process.env.BENCH_PROFILE ? await startProfile() : undefined;
    const cpuBefore = await cpuSnapshot();
    const samples: string[] = [];
    const sampler = process.env.BENCH_SAMPLE
      ? setInterval(() => {
          const pool = platform.pool;
          void pool
            .query<{ w: string; n: number }>(
              `select coalesce(wait_event_type || ':' || wait_event, state) as w, count(*)::int as n from pg_stat_activity
                where backend_type = 'client backend' and state <> 'idle' group by 1 order by 2 desc`,
            )
            .then((r) =>
              samples.push(
                `pool total ${pool.totalCount} idle ${pool.idleCount} waiting ${pool.waitingCount} | ${r.rows.map((x) => `${x.w}=${x.n}`).join(' ')}`,
              ),
            );
        }, 200)
      : undefined;
    const started = performance.now();
    await inParallel(CONVERSATIONS, async (i) => {
      let conversationId = '';
      for (let t = 0; t < TURNS; t++) {
        const url = conversationId
          ? `${base}/v1/conversations/${conversationId}/messages`
          : `${base}/v1/agents/operator/conversations`;
        const r = await sseTurn(url, key, text(i, t));
        if (!conversationId) conversationIds.push(r.conversationId);
        conversationId ||= r.conversationId;
        firsts.push(r.first);
        totals.push(r.total);
      }
    });
    const wall = performance.now() - started;
    if (sampler) clearInterval(sampler);
    if (profiler)
      console.log(`CPU profile of this process during the turns: ${await profiler.stop(process.env.BENCH_PROFILE!)}`);
    for (const line of samples) console.log(line);
    const cpuAfter = await cpuSnapshot();
    const cpu = `${cpuShare(cpuBefore, cpuAfter, wall / 1000)}; ${(cpuMs(cpuBefore, cpuAfter) / totals.length).toFixed(0)} ms CPU a turn`;
    console.log(
      `CPU during the turns (share of one core): ${cpu}; load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    if (process.env.BENCH_TRACE) await traceTurns(platform.temporal!, conversationIds[0]!);
    const overhead = percentile(totals, 95) - percentile(direct, 95);
    console.log(
      `${totals.length} turns in ${(wall / 1000).toFixed(1)} s; turn p50 ${percentile(totals, 50).toFixed(0)} ms, p95 ${percentile(totals, 95).toFixed(0)} ms; direct model call p50 ${percentile(direct, 50).toFixed(0)} ms, p95 ${percentile(direct, 95).toFixed(0)} ms`,
    );
    await report(
      'chat',
      { turn_overhead_p95_ms_c50: overhead, first_delta_p95_ms_c50: percentile(firsts, 95) },
      {
        turn_overhead_p95_ms_c50: `turn p95 ${percentile(totals, 95).toFixed(0)} ms − direct call p95 ${percentile(direct, 95).toFixed(0)} ms, ${CONVERSATIONS} concurrent; target ≤ 60 ms`,
        first_delta_p95_ms_c50: `POST → first SSE delta; target ≤ 150 ms`,
      },
    );
  } finally {
    await platform.stop();
    await sandbox.stop();
    await removeDataDir(dataDir);
  }
}
