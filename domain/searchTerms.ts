import type { PoolClient } from '../lib/db.js';

/**
 * Index-backed search under row-level security (sql/024_search_terms.sql). The tenant role may
 * use only leakproof operators in an index scan, so searches find their candidates in
 * `search_terms` — one row per (tenant, corpus, term, row), kept by triggers — with `=`, `= any`
 * and prefix ranges (`>=` / `<`) on its primary key, and rank just those. The contacts search and
 * the knowledge search both come through here.
 */

export type Corpus = 'contacts' | 'knowledge' | 'knowledge_titles';

/** Terms are stored in byte order: every term starting with `prefix` lies in [prefix, prefix + U+10FFFF). */
const prefixEnd = (prefix: string) => `${prefix}\u{10FFFF}`;

/** The documents holding one term of a group: any of these exact terms, or a term starting with `prefix`. */
export type TermGroup = { anyOf: string[] } | { prefix: string };

/**
 * SQL for the ids (`doc_id`) of the corpus's documents holding a term of every group — each group
 * one btree range or `= any` on the primary key. `tenantParam` is the statement's tenant
 * placeholder (`$1`); the groups' values are appended to `params`.
 */
export function docsHolding(corpus: Corpus, tenantParam: string, groups: TermGroup[], params: unknown[]): string {
  if (!groups.length) throw new Error('docsHolding: no term group');
  params.push(corpus);
  const corpusParam = `$${params.length}`;
  return groups
    .map((g) => {
      const scope = `select doc_id from search_terms where tenant_id = ${tenantParam} and corpus = ${corpusParam}`;
      if ('anyOf' in g) {
        params.push(g.anyOf);
        return `${scope} and term = any($${params.length}::text[])`;
      }
      params.push(g.prefix, prefixEnd(g.prefix));
      return `${scope} and term >= $${params.length - 1} and term < $${params.length}`;
    })
    .join('\nintersect\n');
}

/**
 * A query's words as the `contacts` and `knowledge_titles` corpora hold them (lexemes of the
 * 'simple' configuration), each with how many term rows start with it, counted up to `cap`: which
 * word narrows a search most.
 */
export async function prefixCounts(
  c: PoolClient,
  tenantId: string,
  corpus: 'contacts' | 'knowledge_titles',
  query: string,
  cap: number,
): Promise<Map<string, number>> {
  const { rows } = await c.query<{ words: string[] }>(
    // The search's statements cost index scans as on SSDs (the default prices a few thousand
    // primary-key lookups above reading the whole table).
    `select tsvector_to_array(to_tsvector('simple', $1)) as words, set_config('random_page_cost', '1.1', true)`,
    [query],
  );
  const words = rows[0]?.words ?? [];
  if (!words.length) return new Map();
  // Each word's range as its own parameters: planned with the actual values, each count is an
  // index-only scan that stops at `cap`.
  const params: unknown[] = [tenantId, corpus, cap];
  const counts = words.map((w) => {
    params.push(w, prefixEnd(w));
    return `(select count(*) from (select 1 from search_terms where tenant_id = $1 and corpus = $2
               and term >= $${params.length - 1} and term < $${params.length} limit $3) x)::int`;
  });
  const n = (await c.query<{ n: number[] }>(`select array[${counts.join(', ')}] as n`, params)).rows[0]!.n;
  return new Map(words.map((w, i) => [w, n[i]!]));
}

/** A tsquery (text) a candidate row must match: every group, exact terms or the prefix. */
export function groupsQuery(groups: TermGroup[]): string {
  // Quoted lexemes: a quote or backslash inside is doubled.
  const lexeme = (t: string) => `'${t.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return groups
    .map((g) => ('anyOf' in g ? `(${g.anyOf.map(lexeme).join(' | ')})` : `${lexeme(g.prefix)}:*`))
    .join(' & ');
}

/** Distinct terms visited per probe prefix at most: a typo lookup stays a few hundred index probes. */
const PROBE_TERMS = 400;

/**
 * The corpus's words a typo may stand for: terms within a small edit distance (one edit up to 5
 * letters, two above; a swap of neighbours is one edit). Found by walking the distinct terms under
 * a few two-letter prefixes of the typo — as typed, and with its first or second letter dropped
 * or the two swapped — one index probe per distinct term, so a typo in the first two letters
 * that is not one of those is not corrected.
 */
export async function similarTerms(c: PoolClient, tenantId: string, corpus: Corpus, typo: string): Promise<string[]> {
  const chars = [...typo];
  if (chars.length < 3) return [];
  const [a, b, c2] = chars as [string, string, string];
  const probes = [...new Set([a + b, a + c2, b + a, b + c2])];
  const { rows } = await c.query<{ term: string }>(
    `with recursive probe as (select * from unnest($3::text[], $4::text[]) as p(lo, hi)),
     walk(hi, term, n) as (
       select p.hi, (select s.term from search_terms s
                      where s.tenant_id = $1 and s.corpus = $2 and s.term >= p.lo collate "C" and s.term < p.hi collate "C"
                      order by s.term limit 1), 1
         from probe p
       union all
       select w.hi, (select s.term from search_terms s
                      where s.tenant_id = $1 and s.corpus = $2 and s.term > w.term and s.term < w.hi collate "C"
                      order by s.term limit 1), w.n + 1
         from walk w where w.term is not null and w.n < $5
     )
     select distinct term from walk where term is not null`,
    [tenantId, corpus, probes, probes.map(prefixEnd), PROBE_TERMS],
  );
  const allowed = chars.length <= 5 ? 1 : 2;
  return rows.map((r) => r.term).filter((t) => t !== typo && editDistance(typo, t, allowed) <= allowed);
}

/** Optimal string alignment distance (insert, delete, substitute, swap neighbours), cut off above `max`. */
export function editDistance(a: string, b: string, max: number): number {
  const x = [...a];
  const y = [...b];
  if (Math.abs(x.length - y.length) > max) return max + 1;
  let before = new Array<number>(y.length + 1).fill(0);
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > max) return max + 1;
    before = prev;
    prev = row;
  }
  return prev[y.length]!;
}
