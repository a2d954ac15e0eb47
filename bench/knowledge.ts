/**
 * `npm run bench -- knowledge`: retrieval quality and speed of the knowledge engine.
 * - recall@5 and MRR of 100 questions over the benchmark corpus (bench/lib/knowledgeCorpus.ts,
 *   408 nodes in 8 categories), each question naming a subject and an aspect in other words;
 * - search p95 (one tenant transaction per search, as the API runs it) with the tenant's knowledge
 *   filled to 10,000 nodes by meeting notes that mention the same subjects.
 * Postgres: `BENCH_DATABASE_URL` (a server where a scratch database may be created), else an
 * embedded one (the platform's, no roles started).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { asSystem, createPool, withTenant, type Pool } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { migrate } from '../runtime/migrate.js';
import { startPlatform } from '../runtime/platform.js';
import { putNode, searchNodes, SearchQuery } from '../domain/knowledge/nodes.js';
import { benchConfig, benchDataDir, removeDataDir } from './lib/platform.js';
import { buildCorpus, fillerNodes, type CorpusNode } from './lib/knowledgeCorpus.js';
import { percentile, report } from './report.js';

const TENANT = 'bench-knowledge';

async function database(): Promise<{ pool: Pool; stop(): Promise<void> }> {
  const log = createLogger('warn', { pretty: false });
  const server = process.env.BENCH_DATABASE_URL;
  if (server) {
    const name = `sbbench_kn_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(server);
    url.pathname = `/${name}`;
    const pool = createPool(url.toString(), 4);
    await migrate(pool, log);
    return {
      pool,
      async stop() {
        await pool.end();
        const c = new pg.Client({ connectionString: server });
        await c.connect();
        await c.query(`drop database if exists ${name} with (force)`);
        await c.end();
      },
    };
  }
  const dataDir = await benchDataDir('knowledge');
  const platform = await startPlatform(await benchConfig(dataDir), log, { roles: [], embed: true });
  return {
    pool: platform.pool,
    async stop() {
      await platform.stop();
      await removeDataDir(dataDir);
    },
  };
}

async function load(pool: Pool, nodes: CorpusNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i += 500) {
    await withTenant(pool, TENANT, async (c) => {
      for (const n of nodes.slice(i, i + 500)) {
        await putNode(c, TENANT, { ...n, metadata: {} }, { upsert: true });
      }
    });
  }
  // Settled, as autovacuum leaves it after an import (index-only scans read no heap page).
  await pool.query('vacuum analyze knowledge_nodes, search_terms');
}

async function quality(pool: Pool, questions: { query: string; answers: string[] }[]) {
  let hits = 0;
  let rr = 0;
  const misses: string[] = [];
  for (const q of questions) {
    const found = await withTenant(pool, TENANT, (c) =>
      searchNodes(c, TENANT, SearchQuery.parse({ query: q.query, limit: 5 })),
    );
    const rank = found.findIndex((h) => q.answers.includes(h.path));
    if (rank >= 0) {
      hits++;
      rr += 1 / (rank + 1);
    } else misses.push(`${q.query} → ${found[0]?.path ?? '(nothing)'} (wanted ${q.answers[0]})`);
  }
  return { recall: hits / questions.length, mrr: rr / questions.length, misses };
}

export default async function run(): Promise<void> {
  const { nodes, questions } = buildCorpus();
  const db = await database();
  try {
    await asSystem(db.pool, (c) =>
      c.query(`insert into tenants (id, name) values ($1, $1) on conflict do nothing`, [TENANT]),
    );
    await load(db.pool, nodes);
    const base = await quality(db.pool, questions);
    console.log(`corpus: ${nodes.length} nodes, ${questions.length} questions`);
    for (const m of base.misses.slice(0, 10)) console.log(`  miss: ${m}`);

    await load(db.pool, fillerNodes(nodes, 10_000));
    const { rows } = await db.pool.query<{ n: string }>('select count(*) as n from knowledge_nodes');
    const at10k = await quality(db.pool, questions);
    const samples: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const q of questions) {
        const started = performance.now();
        await withTenant(db.pool, TENANT, (c) =>
          searchNodes(c, TENANT, SearchQuery.parse({ query: q.query, limit: 5 })),
        );
        if (round > 0) samples.push(performance.now() - started);
      }
    }
    console.log(
      `at ${rows[0]!.n} nodes: recall@5 ${at10k.recall.toFixed(2)}, MRR ${at10k.mrr.toFixed(3)}, p50 ${percentile(samples, 50).toFixed(1)} ms`,
    );
    await report(
      'knowledge',
      {
        recall_at_5: base.recall,
        mrr: base.mrr,
        search_p95_ms_10k: percentile(samples, 95),
      },
      {
        recall_at_5: `${questions.length} questions over ${nodes.length} nodes (at 10k: ${at10k.recall.toFixed(2)}); target ≥ 0.9`,
        mrr: `at 10k: ${at10k.mrr.toFixed(3)}`,
        search_p95_ms_10k: `${samples.length} searches, each its own tenant transaction; target ≤ 20 ms`,
      },
    );
  } finally {
    await db.stop();
  }
}
