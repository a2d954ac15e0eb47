/**
 * `npm run bench -- sandbox`: the provider sandbox's own figures.
 * - seed_100k_s: `POST /__sandbox/ghl/seed` of 100,000 contacts, wall time.
 * - ghl_search_p95_ms: `POST /ghl/contacts/search` over those 100,000 contacts (filters, sort,
 *   free text, searchAfter paging), client-side latency p95 after one warm-up per sort order.
 * Env: BENCH_DURATION_S (5), BENCH_CONNECTIONS (50), BENCH_LOADGEN=node (skip wrk).
 * - simple_rps: `GET /ghl/contacts/{id}` (auth, Version, rate limiter, request log: the full GHL
 *   path) on the demo state, driven over loopback keep-alive by a separate process (wrk when
 *   installed, else a Node load generator), next to a bare Fastify hello route measured the same
 *   way in the same run; measured again once 100k contacts are in memory (more GC work).
 */
import { spawn } from 'node:child_process';
import Fastify from 'fastify';
import { startSandbox } from '../sandbox/server.js';
import { haveWrk } from './lib/loadgen.js';
import { percentile, report, round } from './report.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const GHL_HEADERS = { authorization: 'Bearer bench', version: '2021-07-28' };

interface LoadResult {
  rps: number;
  requests: number;
  non2xx: number;
  tool: string;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))));
  });
}

async function wrk(url: string, headers: Record<string, string>, seconds = DURATION_S): Promise<LoadResult> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const out = await run('wrk', [...args, url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  return { rps, requests, non2xx, tool: 'wrk' };
}

/**
 * Fallback load generator (child process): raw keep-alive sockets, one request in flight per
 * connection like wrk, responses framed by Content-Length — far lighter than node:http, so the
 * figure says more about the server than about the client.
 */
const NODE_LOADGEN = `
const net = require('node:net');
const [url, headersJson, connections, seconds] = process.argv.slice(1);
const u = new URL(url);
const headers = JSON.parse(headersJson);
const request = Buffer.from('GET ' + u.pathname + u.search + ' HTTP/1.1\\r\\nHost: ' + u.host + '\\r\\n' +
  Object.entries(headers).map(([k, v]) => k + ': ' + v + '\\r\\n').join('') + '\\r\\n');
const until = Date.now() + Number(seconds) * 1000;
let requests = 0, non2xx = 0, open = 0;
const started = Date.now();
function finish() {
  if (--open > 0) return;
  const elapsed = (Date.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ rps: requests / elapsed, requests, non2xx }));
  process.exit(0);
}
for (let i = 0; i < Number(connections); i++) {
  open++;
  const socket = net.connect(Number(u.port), u.hostname, () => socket.write(request));
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const headEnd = buf.indexOf('\\r\\n\\r\\n');
      if (headEnd < 0) return;
      const head = buf.subarray(0, headEnd).toString('latin1');
      const m = /content-length: *(\\d+)/i.exec(head);
      const total = headEnd + 4 + (m ? Number(m[1]) : 0);
      if (buf.length < total) return;
      requests++;
      const status = Number(head.slice(9, 12));
      if (status < 200 || status >= 300) non2xx++;
      buf = buf.subarray(total);
      if (Date.now() >= until) { socket.end(); return; }
      socket.write(request);
    }
  });
  socket.on('close', finish);
  socket.on('error', () => {});
}
`;

async function nodeLoad(url: string, headers: Record<string, string>, seconds = DURATION_S): Promise<LoadResult> {
  const out = await run(process.execPath, [
    '-e',
    NODE_LOADGEN,
    url,
    JSON.stringify(headers),
    String(CONNECTIONS),
    String(seconds),
  ]);
  const r = JSON.parse(out) as { rps: number; requests: number; non2xx: number };
  return { ...r, tool: 'node raw-socket keep-alive load generator' };
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${url} → ${res.status} ${await res.text()}`);
  return res.json();
}

export default async function sandboxBench(): Promise<void> {
  const forceNode = process.env.BENCH_LOADGEN === 'node';
  const useWrk = !forceNode && haveWrk();
  if (!useWrk) {
    console.log(
      `${forceNode ? 'BENCH_LOADGEN=node' : 'wrk is not installed (apt-get install -y wrk)'}: using the Node raw-socket load generator, which shares the CPUs with the server — figures are a lower bound.`,
    );
  }
  const drive = useWrk ? wrk : nodeLoad;
  // Each target gets a 2 s warm-up first (JIT, connection pools): cold figures are half the warm ones.
  const load = async (url: string, headers: Record<string, string>) => {
    await drive(url, headers, 2);
    return drive(url, headers);
  };

  const sb = await startSandbox({ port: 0, logLevel: 'warn', seed: 1 });
  try {
    // --- throughput (demo state, then again with 100k contacts in memory) ---------------------
    await postJson(`${sb.url}/__sandbox/ghl/limits`, { burst: 1_000_000_000, daily: 1_000_000_000 });
    const simple = await load(`${sb.url}/ghl/contacts/ct_demo`, GHL_HEADERS);
    const health = await load(`${sb.url}/__sandbox/health`, {});

    const bare = Fastify({ logger: false });
    bare.get('/hello', async () => ({ ok: true }));
    await bare.listen({ port: 0, host: '127.0.0.1' });
    const address = bare.server.address();
    const barePort = typeof address === 'object' && address ? address.port : 0;
    const baseline = await load(`http://127.0.0.1:${barePort}/hello`, {});
    await bare.close();

    // --- seeding ---------------------------------------------------------------------------
    const t0 = performance.now();
    await postJson(`${sb.url}/__sandbox/ghl/seed`, { locationId: 'loc_bench', contacts: 100_000, seed: 1 });
    const seedSeconds = (performance.now() - t0) / 1000;

    // --- search ------------------------------------------------------------------------------
    const since = new Date(Date.now() - 60 * 86_400_000).toISOString();
    const shapes: Record<string, unknown>[] = [
      { pageLimit: 100 },
      { pageLimit: 100, filters: [{ field: 'tags', operator: 'eq', value: 'vip' }] },
      {
        pageLimit: 100,
        filters: [{ field: 'dateUpdated', operator: 'range', value: { gte: since } }],
        sort: [{ field: 'dateUpdated', direction: 'asc' }],
      },
      { pageLimit: 100, query: 'garcia' },
      {
        pageLimit: 100,
        sort: [{ field: 'lastNameLowerCase', direction: 'asc' }],
        filters: [
          {
            group: 'OR',
            filters: [
              { field: 'source', operator: 'eq', value: 'referral' },
              { field: 'tags', operator: 'eq', value: 'hot' },
            ],
          },
        ],
      },
      { pageLimit: 500, page: 5 },
    ];
    const search = (body: Record<string, unknown>) =>
      postJson(`${sb.url}/ghl/contacts/search`, { locationId: 'loc_bench', ...body }, GHL_HEADERS) as Promise<{
        contacts: { searchAfter: unknown[] }[];
      }>;
    const coldStart = performance.now();
    for (const s of shapes) await search(s); // builds each sort order's index once
    const coldMs = performance.now() - coldStart;
    const samples: number[] = [];
    for (let round_ = 0; round_ < 20; round_++) {
      for (const s of shapes) {
        const t = performance.now();
        await search(s);
        samples.push(performance.now() - t);
      }
      // One deep searchAfter walk step per round.
      const first = await search({ pageLimit: 100 });
      const t = performance.now();
      await search({ pageLimit: 100, searchAfter: first.contacts.at(-1)!.searchAfter });
      samples.push(performance.now() - t);
    }
    const p95 = percentile(samples, 95);
    const p50 = percentile(samples, 50);

    const loaded = await load(`${sb.url}/ghl/contacts/ct_demo`, GHL_HEADERS);

    console.table([
      {
        target: 'bare Fastify GET /hello (baseline)',
        rps: round(baseline.rps, 0),
        requests: baseline.requests,
        non2xx: baseline.non2xx,
      },
      {
        target: 'sandbox GET /__sandbox/health',
        rps: round(health.rps, 0),
        requests: health.requests,
        non2xx: health.non2xx,
      },
      {
        target: 'sandbox GET /ghl/contacts/{id}',
        rps: round(simple.rps, 0),
        requests: simple.requests,
        non2xx: simple.non2xx,
      },
      {
        target: 'same, with 100k contacts loaded',
        rps: round(loaded.rps, 0),
        requests: loaded.requests,
        non2xx: loaded.non2xx,
      },
    ]);
    console.log(
      `load: ${simple.tool}, ${CONNECTIONS} keep-alive connections, ${DURATION_S} s each after a 2 s warm-up, loopback; search: ${samples.length} samples, p50 ${round(p50)} ms, first pass of ${shapes.length} shapes ${round(coldMs)} ms`,
    );

    await report(
      'sandbox',
      { ghl_search_p95_ms: p95, seed_100k_s: seedSeconds, simple_rps: simple.rps },
      {
        ghl_search_p95_ms: `100k contacts, 7 query shapes incl. filters/sort/query/searchAfter; p50 ${round(p50)} ms`,
        seed_100k_s: 'POST /__sandbox/ghl/seed, 100,000 contacts',
        simple_rps: `GET /ghl/contacts/{id} via ${simple.tool}; bare Fastify ${round(baseline.rps, 0)} rps (${round((simple.rps / baseline.rps) * 100, 0)} %); with 100k contacts ${round(loaded.rps, 0)}; target ≥ 5,000`,
      },
    );
  } finally {
    await sb.close();
  }
}
