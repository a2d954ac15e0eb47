/**
 * `npm run bench -- mcp`: `crm_search_contacts` over MCP (Streamable HTTP) at 1 and 50 concurrent
 * clients over 100,000 cached contacts, next to the same search through REST (`GET /v1/contacts`)
 * in the same run. The MCP requests are exactly what the SDK's client sends (captured from a real
 * `Client.callTool`), replayed by the load generator in its own process. `name_search_p95_ms_100k`:
 * the full-name search query itself at one client. BENCH_MCP_ONLY=names measures only that
 * (bench/results/mcp-names.json).
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Platform } from '../runtime/platform.js';
import { runLoad, type LoadJob } from './lib/loadgen.js';
import { benchConfig, benchDataDir, createTenant, removeDataDir, startBenchPlatform } from './lib/platform.js';
import { percentile, report } from './report.js';
import { ContactSearch, searchContacts } from '../api/services/contacts.js';
import { withTenant } from '../lib/db.js';

const CONTACTS = 100_000;
const TENANT = 'bench-mcp';
const FIRST = [
  'Ann',
  'Bob',
  'Cara',
  'Dan',
  'Eve',
  'Fay',
  'Gus',
  'Hal',
  'Ida',
  'Jon',
  'Kim',
  'Lea',
  'Max',
  'Nia',
  'Oto',
  'Pia',
  'Quin',
  'Rae',
  'Sam',
  'Tia',
];
const LAST = [
  'Archer',
  'Baker',
  'Carter',
  'Dalton',
  'Ellis',
  'Foster',
  'Garcia',
  'Hughes',
  'Irwin',
  'Jensen',
  'Keller',
  'Lopez',
  'Moreno',
  'Nguyen',
  'Ortiz',
  'Patel',
  'Quinn',
  'Reyes',
  'Silva',
  'Turner',
];

/** 100,000 contacts written straight into the cache (as the sync would leave them): names, emails, phones, tags. */
async function seed(p: Platform): Promise<void> {
  await p.pool.query(
    `insert into contacts (tenant_id, id, location_id, first_name, last_name, name, email, phone, tags, source, date_added, date_updated)
     select $1, 'ct_' || i, 'loc_bench', f, l, f || ' ' || l || ' ' || i, lower(f) || '.' || lower(l) || i || '@example.com',
            '+1555' || lpad(i::text, 7, '0'), case when i % 7 = 0 then array['hot'] else '{}'::text[] end,
            (array['referral', 'google ads', 'facebook ads'])[1 + i % 3], now() - (i || ' minutes')::interval, now() - (i || ' seconds')::interval
       from generate_series(1, $2) as i,
            lateral (select ($3::text[])[1 + i % 20] as f, ($4::text[])[1 + (i / 20) % 20] as l) n`,
    [TENANT, CONTACTS, FIRST, LAST],
  );
  // Settled, as autovacuum leaves a cache after a sync (index-only scans read no heap page).
  await p.pool.query('vacuum analyze contacts, search_terms');
}

/** What the SDK client sends for one tools/call, captured from a real call: headers and body. */
async function captureToolCall(
  mcpUrl: string,
  key: string,
  era: 'legacy' | 'modern',
): Promise<{ headers: Record<string, string>; body: Record<string, unknown> }> {
  let captured: { headers: Record<string, string>; body: Record<string, unknown> } | undefined;
  const fetchSpy = async (url: string | URL, init?: RequestInit) => {
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    if (body?.method === 'tools/call')
      captured = { headers: Object.fromEntries(new Headers(init?.headers).entries()), body };
    return fetch(url, init);
  };
  const client = new Client(
    { name: 'bench', version: '1.0.0' },
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      fetch: fetchSpy,
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  const result = await client.callTool({ name: 'crm_search_contacts', arguments: { phone: '+15550000001' } });
  await client.close();
  if (!captured || result.isError)
    throw new Error(`could not capture a tools/call (${JSON.stringify(result).slice(0, 300)})`);
  return captured;
}

export default async function benchMcp(): Promise<void> {
  const dataDir = await benchDataDir('mcp');
  const config = await benchConfig(dataDir);
  let platform: Platform | undefined;
  try {
    platform = await startBenchPlatform(config);
    const api = platform.apiUrl!;
    const key = await createTenant(api, TENANT, ['read']);
    await seed(platform);

    // The searches: 2,000 different contacts by phone, written the way people type them (the
    // caller-ID style lookup an agent does most); names as an extra, one client only.
    const ids = Array.from({ length: 2000 }, (_, i) => 1 + ((i * 7919) % CONTACTS));
    const byPhone = ids.map((n) => ({
      phone: `(555) ${String(n).padStart(7, '0').slice(0, 3)}-${String(n).padStart(7, '0').slice(3)}`,
    }));
    const byName = ids.map((n) => ({ q: `${FIRST[n % 20]} ${LAST[Math.floor(n / 20) % 20]} ${n}` }));
    const restJob =
      (searches: Record<string, string>[]) =>
      (concurrency: number, requests: number): LoadJob => ({
        urls: searches.map((s) => `${api}/v1/contacts?${new URLSearchParams({ ...s, limit: '10' })}`),
        headers: { authorization: `Bearer ${key}` },
        concurrency,
        requests,
      });
    const mcpJob = async (era: 'legacy' | 'modern', searches: Record<string, string>[]) => {
      const template = await captureToolCall(`${api}/mcp`, key, era);
      const bodies = searches.map((s, i) =>
        JSON.stringify({
          ...template.body,
          id: i + 1,
          params: { ...(template.body.params as object), arguments: { ...s, limit: 10 } },
        }),
      );
      return (concurrency: number, requests: number): LoadJob => ({
        urls: [`${api}/mcp`],
        headers: template.headers,
        concurrency,
        requests,
        bodies,
      });
    };
    // The name search itself (service layer, one client, no HTTP): the query the issue targets.
    const nameQuery = async () => {
      const ms: number[] = [];
      for (const s of byName.slice(0, 200)) {
        const t = performance.now();
        await withTenant(platform!.pool, TENANT, (c) =>
          searchContacts(c, TENANT, ContactSearch.parse({ ...s, limit: 10 })),
        );
        ms.push(performance.now() - t);
      }
      return percentile(ms, 95);
    };
    await nameQuery();
    const nameSearchP95 = await nameQuery();
    if (process.env.BENCH_MCP_ONLY === 'names') {
      await report('mcp-names', { name_search_p95_ms_100k: nameSearchP95 });
      return;
    }
    const rest = restJob(byPhone);
    const legacy = await mcpJob('legacy', byPhone);
    const modern = await mcpJob('modern', byPhone);

    // Warm-up (JIT, pool, plans). Then each figure in ROUNDS alternating rounds, REST and MCP side by
    // side, so a change in machine load during the run hits both alike.
    for (const job of [rest(50, 500), legacy(50, 500), modern(50, 500)]) await runLoad(job);
    const ROUNDS = 5;
    const measure = async (jobs: Record<'rest' | 'mcp' | 'modern', LoadJob>) => {
      const samples = { rest: [] as number[], mcp: [] as number[], modern: [] as number[] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of ['rest', 'mcp', 'modern'] as const) {
          const r = await runLoad(jobs[name]);
          if (r.errors) throw new Error(`${name}: ${r.errors} failed requests`);
          samples[name].push(...r.latenciesMs);
        }
      }
      const stats = (xs: number[]) => ({ p50: percentile(xs, 50), p95: percentile(xs, 95) });
      return { rest: stats(samples.rest), mcp: stats(samples.mcp), modern: stats(samples.modern) };
    };
    const run = async (job: LoadJob) => {
      const r = await runLoad(job);
      if (r.errors) throw new Error(`${r.errors} failed requests`);
      return { p50: percentile(r.latenciesMs, 50), p95: percentile(r.latenciesMs, 95) };
    };
    const c1 = await measure({ rest: rest(1, 200), mcp: legacy(1, 200), modern: modern(1, 200) });
    const c50 = await measure({ rest: rest(50, 1000), mcp: legacy(50, 1000), modern: modern(50, 1000) });
    const [rest1, mcp1, modern1, rest50, mcp50, modern50] = [c1.rest, c1.mcp, c1.modern, c50.rest, c50.mcp, c50.modern];
    // Names: full text + trigram similarity over 100,000 names, best match first — one client.
    const restName1 = await run(restJob(byName)(1, 200));
    const mcpName1 = await run((await mcpJob('legacy', byName))(1, 200));

    await report(
      'mcp',
      {
        mcp_search_p50_ms_c1: mcp1.p50,
        mcp_search_p95_ms_c1: mcp1.p95,
        mcp_search_p50_ms_c50: mcp50.p50,
        mcp_search_p95_ms_c50: mcp50.p95,
        rest_search_p50_ms_c1: rest1.p50,
        rest_search_p95_ms_c1: rest1.p95,
        rest_search_p50_ms_c50: rest50.p50,
        rest_search_p95_ms_c50: rest50.p95,
        mcp_over_rest_ratio: mcp50.p95 / rest50.p95,
        mcp_modern_search_p95_ms_c1: modern1.p95,
        mcp_modern_search_p95_ms_c50: modern50.p95,
        mcp_modern_over_rest_ratio: modern50.p95 / rest50.p95,
        mcp_name_search_p95_ms_c1: mcpName1.p95,
        name_search_p95_ms_100k: nameSearchP95,
        rest_name_search_p95_ms_c1: restName1.p95,
      },
      {
        mcp_search_p95_ms_c1:
          'crm_search_contacts {phone} (any format in, E.164 match), one client, 2025-06-18 era (what most clients speak)',
        mcp_search_p95_ms_c50: '50 concurrent clients (target <= 15)',
        rest_search_p95_ms_c50: 'GET /v1/contacts?phone= — the same query and audit row, same run',
        mcp_over_rest_ratio: 'p95 at 50 clients, MCP / REST (target <= 1.2)',
        mcp_modern_search_p95_ms_c50: 'the same over the 2026-07-28 era (per-request envelope)',
        mcp_name_search_p95_ms_c1:
          'crm_search_contacts {q: "<first> <last> <n>"}: full text + trigram ranking, one client',
      },
    );
  } finally {
    await platform?.stop();
    await removeDataDir(dataDir);
  }
}
