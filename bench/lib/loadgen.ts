/**
 * A closed-loop HTTP load generator in its own process, so the measured server does not share an
 * event loop with its clients. `runLoad()` spawns this file; run directly, it reads its job (JSON)
 * from stdin and prints the latencies (ms) as JSON. `runWrk()` does the same job with wrk
 * (a C load generator that leaves far more of a 2-core machine to the server) when installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const haveWrk = (): boolean => spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;

/** p50/p95/p99 in ms from wrk's own latency histogram, cycling through `job.urls` (same origin). */
export async function runWrk(
  job: Omit<LoadJob, 'requests'> & { seconds: number },
): Promise<{ p50: number; p95: number; p99: number; requests: number; errors: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wrk-'));
  try {
    const origin = new URL(job.urls[0]!).origin;
    const paths = job.urls.map((u) => {
      const x = new URL(u);
      return JSON.stringify(x.pathname + x.search);
    });
    const headers = Object.entries(job.headers)
      .map(([k, v]) => `[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
      .join(', ');
    const script = path.join(dir, 'job.lua');
    await writeFile(
      script,
      `
local paths = { ${paths.join(', ')} }
local headers = { ${headers} }
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %f %f %f %d %d\\n", latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests, e.connect + e.read + e.write + e.status + e.timeout))
end
`,
    );
    // Asynchronous: the measured server may live in this very process.
    const child = spawn('wrk', ['-t2', `-c${job.concurrency}`, `-d${job.seconds}s`, '-s', script, origin], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    await new Promise((resolve) => child.once('exit', resolve));
    const m = /WRK ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)/.exec(out);
    if (!m) throw new Error(`wrk gave no figures: ${out}`);
    return { p50: Number(m[1]), p95: Number(m[2]), p99: Number(m[3]), requests: Number(m[4]), errors: Number(m[5]) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface LoadJob {
  urls: string[];
  headers: Record<string, string>;
  concurrency: number;
  requests: number;
  /** POST these bodies (cycled, one per request) instead of GET. */
  bodies?: string[];
  /** One list of bodies per client, each posted in order by its own client (`concurrency` = their number). */
  perClient?: string[][];
  /** Open loop: each body posted at its time (ms from the start), whether or not earlier ones have answered. */
  schedule?: { atMs: number; body: string }[];
  /** Answers whose body contains this text are counted (`matched`), e.g. a deadline's fallback answer. */
  match?: string;
}

export interface LoadResult {
  latenciesMs: number[];
  errors: number;
  matched: number;
  /** Open loop: how late the generator itself sent its most late request (ms). */
  maxLagMs: number;
}

/** Bodies carry this placeholder where the send time goes (providers refuse stale timestamps). */
export const SEND_TIME = '"__SEND_TIME__"';

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin.end(JSON.stringify(job));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  return JSON.parse(out) as LoadResult;
}

async function main(job: LoadJob): Promise<void> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let matched = 0;
  let maxLagMs = 0;
  let sent = 0;
  const send = async (i: number, body: string | undefined) => {
    const url = job.urls[i % job.urls.length]!;
    const t = performance.now();
    try {
      const res = await fetch(
        url,
        body === undefined
          ? { headers: job.headers }
          : {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...job.headers },
              body: body.replaceAll(SEND_TIME, String(Date.now() + sent++)),
            },
      );
      const text = job.match ? await res.text() : (await res.arrayBuffer(), '');
      if (!res.ok) errors++;
      if (job.match && text.includes(job.match)) matched++;
    } catch {
      errors++;
    }
    latenciesMs.push(performance.now() - t);
  };
  if (job.schedule) {
    const start = performance.now();
    const pending: Promise<void>[] = [];
    for (const [i, { atMs, body }] of job.schedule.entries()) {
      const wait = start + atMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      maxLagMs = Math.max(maxLagMs, performance.now() - start - atMs);
      pending.push(send(i, body));
    }
    await Promise.all(pending);
  } else if (job.perClient) {
    await Promise.all(
      job.perClient.map(async (bodies, k) => {
        for (const body of bodies) await send(k, body);
      }),
    );
  } else {
    let next = 0;
    const worker = async () => {
      while (next < job.requests) {
        const i = next++;
        await send(i, job.bodies?.[i % job.bodies.length]);
      }
    };
    await Promise.all(Array.from({ length: job.concurrency }, worker));
  }
  process.stdout.write(JSON.stringify({ latenciesMs, errors, matched, maxLagMs } satisfies LoadResult));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  await main(JSON.parse(input) as LoadJob);
}
