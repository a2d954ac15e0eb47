/**
 * `npm run bench -- voice`: how fast the webhooks answer a live call, through the whole path (API,
 * Postgres, Temporal, worker, sandbox GHL over HTTP), at 10 concurrent calls:
 * - Vapi `assistant-request` for a known caller (cached contact) and for unknown callers (each a
 *   live GHL duplicate search); target p95 ≤ 300 ms (Vapi's hard limit is 7.5 s);
 * - a `tool-calls` message (`lookup_caller`) on a call in progress (an update on its workflow) and
 *   as the first message of a new call (update-with-start);
 * - in the same run, the bare `GET /health` route of the same API as the floor.
 */
import { runLoad } from './lib/loadgen.js';
import {
  api,
  benchConfig,
  benchDataDir,
  createTenant,
  removeDataDir,
  startBenchPlatform,
  startSandboxProcess,
} from './lib/platform.js';
import { percentile, report, round } from './report.js';

const TENANT = 'bench-voice';
const SECRET = 'bench-vapi-secret-0123456789';
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);

export default async function voiceBench(): Promise<void> {
  const dataDir = await benchDataDir('voice');
  const sandbox = await startSandboxProcess();
  const sb = sandbox.url;
  const config = await benchConfig(dataDir, {
    // One business on the platform's keys (the sandbox's accounts).
    SWITCHBOARD_PLATFORM_TENANT: TENANT,
    GHL_API_TOKEN: 'bench-token',
    GHL_BASE_URL: `${sb}/ghl`,
    VAPI_API_KEY: 'bench-vapi',
    VAPI_BASE_URL: `${sb}/vapi`,
    ANTHROPIC_API_KEY: 'bench-anthropic',
    ANTHROPIC_BASE_URL: `${sb}/anthropic`,
    GHL_RATE_LIMIT_BURST: '0',
  });
  await fetch(`${sb}/__sandbox/ghl/limits`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ burst: 1_000_000 }),
  });
  const platform = await startBenchPlatform(config);
  try {
    const base = platform.apiUrl!;
    const key = await createTenant(base, TENANT, ['read', 'act', 'admin']);
    await api(base, 'PUT', '/v1/crm/connection', key, { locationId: 'loc_demo', syncEveryMinutes: 1440 });
    await api(base, 'PUT', `/v1/admin/tenants/${TENANT}/credentials/vapi`, key, {
      secret: SECRET,
      authMode: 'x-vapi-secret',
    });
    // Calls that never end (no report, nothing at the provider) give up quickly instead of lingering.
    await api(base, 'PUT', '/v1/voice/settings', key, {
      vapi: { assistantId: 'asst_demo', phoneNumberId: 'pn_demo' },
      calendarId: 'cal_demo',
      reportGraceSeconds: 5,
    });

    const url = `${base}/webhooks/vapi/${TENANT}`;
    const headers = { 'x-vapi-secret': SECRET };
    let n = 0;
    const message = (type: string, phone: string, extra: Record<string, unknown> = {}, callId = `bench-${type}-${n}`) =>
      JSON.stringify({
        message: {
          type,
          timestamp: Date.now() + n++,
          call: { id: callId, type: 'inboundPhoneCall', customer: { number: phone } },
          ...extra,
        },
      });
    const lookup = (i: number) => ({
      toolCallList: [{ id: `tc-${i}`, type: 'function', function: { name: 'lookup_caller', arguments: '{}' } }],
    });
    const known = Array.from({ length: REQUESTS }, () => message('assistant-request', '+15555550100'));
    const unknown = Array.from({ length: REQUESTS }, (_, i) =>
      message('assistant-request', `+1555${String(7_000_000 + i).padStart(7, '0')}`),
    );
    const toolsNewCall = Array.from({ length: REQUESTS }, (_, i) => message('tool-calls', '+15555550100', lookup(i)));
    // Calls already in progress (the usual case: assistant-request and status-update came first).
    const live = Array.from({ length: REQUESTS }, (_, i) => `bench-live-${i}`);
    const liveStarts = live.map((id) => message('status-update', '+15555550100', { status: 'in-progress' }, id));
    const toolsLive = live.map((id, i) => message('tool-calls', '+15555550100', lookup(i), id));

    // Warm-up (caches the demo caller, JITs the paths), then each measurement.
    await runLoad({ urls: [url], headers, concurrency: CONCURRENCY, requests: 100, bodies: known.slice(0, 100) });
    await runLoad({ urls: [`${base}/health`], headers: {}, concurrency: CONCURRENCY, requests: 200 });
    const health = await runLoad({
      urls: [`${base}/health`],
      headers: {},
      concurrency: CONCURRENCY,
      requests: REQUESTS,
    });
    // Tool calls first: every measured request leaves a live call workflow behind, and the later runs share the worker with them.
    await runLoad({ urls: [url], headers, concurrency: CONCURRENCY, requests: REQUESTS, bodies: liveStarts });
    await new Promise((r) => setTimeout(r, 2000));
    const toolRun = await runLoad({
      urls: [url],
      headers,
      concurrency: CONCURRENCY,
      requests: REQUESTS,
      bodies: toolsLive,
    });
    const toolNewRun = await runLoad({
      urls: [url],
      headers,
      concurrency: CONCURRENCY,
      requests: REQUESTS,
      bodies: toolsNewCall,
    });
    const knownRun = await runLoad({
      urls: [url],
      headers,
      concurrency: CONCURRENCY,
      requests: REQUESTS,
      bodies: known,
    });
    const unknownRun = await runLoad({
      urls: [url],
      headers,
      concurrency: CONCURRENCY,
      requests: REQUESTS,
      bodies: unknown,
    });
    for (const [name, r] of Object.entries({ health, knownRun, unknownRun, toolRun, toolNewRun }))
      if (r.errors) throw new Error(`${name}: ${r.errors} failed requests`);

    const p = (xs: number[], q: number) => round(percentile(xs, q), 1);
    await report(
      'voice',
      {
        concurrency: CONCURRENCY,
        requests_each: REQUESTS,
        assistant_request_p50_ms: p(knownRun.latenciesMs, 50),
        assistant_request_p95_ms: p(knownRun.latenciesMs, 95),
        assistant_request_unknown_p50_ms: p(unknownRun.latenciesMs, 50),
        assistant_request_unknown_p95_ms: p(unknownRun.latenciesMs, 95),
        tool_call_p50_ms: p(toolRun.latenciesMs, 50),
        tool_call_p95_ms: p(toolRun.latenciesMs, 95),
        tool_call_new_call_p50_ms: p(toolNewRun.latenciesMs, 50),
        tool_call_new_call_p95_ms: p(toolNewRun.latenciesMs, 95),
        health_p50_ms: p(health.latenciesMs, 50),
        health_p95_ms: p(health.latenciesMs, 95),
      },
      {
        assistant_request_p95_ms: 'known caller (cached contact); answer + workflow start (not awaited)',
        assistant_request_unknown_p95_ms: 'unknown caller: cache miss then a live GHL duplicate search each time',
        tool_call_p95_ms: 'tool-calls on a call in progress: workflow update, lookup_caller (local activity), answer',
        tool_call_new_call_p95_ms: 'tool-calls as the first message of a call: update-with-start',
        health_p95_ms: 'bare GET /health on the same API, the floor',
      },
    );
  } finally {
    await platform.stop();
    await sandbox.stop();
    await removeDataDir(dataDir);
  }
}
