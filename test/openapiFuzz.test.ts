import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateTemporalCli } from '../runtime/temporal.js';
import { createTenant, inboundParseUrl } from './support/campaign.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

const execFileAsync = promisify(execFile);
const TENANT = 'fuzz';
const LOCATION = 'loc_fuzz';
const CONFIG = fileURLToPath(new URL('./fuzz/schemathesis.toml', import.meta.url));
/** Generated cases per operation and phase: bounded so the three runs fit in about two minutes. */
const EXAMPLES = process.env.FUZZ_EXAMPLES ?? '2';
const SEED = process.env.FUZZ_SEED ?? '20';
/** Tables whose rows record refused requests by design (the audit trail of refused tool calls). */
const LOGS = new Set(['audit_log']);

interface FuzzRun {
  exitCode: number;
  output: string;
  operations: number;
  cases: number;
  failures: number;
}

/**
 * Schemathesis (pinned in .ci/run) against /docs/json with every check on: no 5xx, every status and
 * content type documented, every response in its schema, schema-valid input accepted, invalid
 * input refused, 405 with Allow for undeclared methods, auth not ignored. Three runs: without
 * credentials, with a tenant key sending only invalid input (no tenant table may change: nothing
 * refused writes anything), and with the key sending valid input. Then the webhooks get what a
 * fuzzer cannot sign: malformed, oversized, wrongly signed and replayed bodies.
 */
describe('OpenAPI document vs behaviour (schemathesis)', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let schemathesis: string;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  /** Rows per tenant table for the fuzzed tenant (as the superuser: every table, past RLS). */
  const rowCounts = async (): Promise<Record<string, number>> => {
    const { rows: tables } = await tp.adminPool.query<{ table_name: string }>(
      `select table_name from information_schema.columns
        where table_schema = 'public' and column_name = 'tenant_id' order by table_name`,
    );
    const counts: Record<string, number> = {};
    for (const { table_name } of tables) {
      if (LOGS.has(table_name)) continue;
      const { rows } = await tp.adminPool.query<{ n: string }>(
        `select count(*)::text as n from "${table_name}" where tenant_id = $1`,
        [TENANT],
      );
      counts[table_name] = Number(rows[0]!.n);
    }
    return counts;
  };

  const fuzz = async (args: string[]): Promise<FuzzRun> => {
    const argv = [
      '--config-file',
      CONFIG,
      'run',
      `${tp.baseUrl}/docs/json`,
      '--checks',
      'all',
      // The Allow of a 405 lists every method served on the path, also by a parametric route (DELETE
      // /v1/connections/{provider} on /v1/connections/vapi, PATCH /v1/users/{id} on /v1/users/invites),
      // which a comparison per path template cannot see. That a 405 carries Allow is still checked.
      '--exclude-checks',
      'allow_header_conformance',
      '--max-examples',
      EXAMPLES,
      '--seed',
      SEED,
      // One worker: hypothesis' lambda descriptions are not thread-safe on CPython 3.11 (AST errors).
      '--workers',
      '1',
      '--no-shrink',
      // An operation whose inputs cannot be made invalid (or valid) in some way is not an API failure.
      '--suppress-health-check',
      'filter_too_much,too_slow',
      '--request-timeout',
      '30',
      ...args,
    ];
    const done = await execFileAsync(schemathesis, argv, {
      // Its crash cache (.schemathesis/) goes to the run's data directory, not the checkout.
      cwd: tp.dataDir,
      timeout: 240_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: '1', COLUMNS: '200' },
    }).then(
      (r) => ({ exitCode: 0, output: r.stdout + r.stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({
        exitCode: typeof err.code === 'number' ? err.code : -1,
        output: `${err.stdout ?? ''}${err.stderr ?? ''}`,
      }),
    );
    const num = (re: RegExp) => Number(re.exec(done.output)?.[1] ?? 0);
    const run: FuzzRun = {
      ...done,
      operations: num(/Tested:\s+(\d+)/),
      cases: num(/(\d+) generated/),
      failures: num(/found (\d+) unique failures/),
    };
    const what = args.filter((a) => !a.startsWith('Authorization') && a !== '-H' && a !== '--exclude-name');
    const auth = args.some((a) => a.startsWith('Authorization')) ? 'tenant key' : 'no credentials';
    console.log(
      `schemathesis (${auth}) ${what.filter((a) => !a.includes(' /')).join(' ')}: ${run.operations} operations, ${run.cases} cases, ${run.failures} failures`,
    );
    return run;
  };
  /** Operations with no parameters and no body: nothing to make invalid, so none in the negative run. */
  const withoutInputs = async (): Promise<string[]> => {
    const doc = (await (await fetch(`${tp.baseUrl}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: unknown[]; requestBody?: unknown }>>;
    };
    return Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => !op.parameters?.length && !op.requestBody)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
  };
  const expectClean = (run: FuzzRun) => {
    // The failure report names each operation and check, the request (as curl) and the answer.
    const report = /={3,} (?:FAILURES|ERRORS) ={3,}[\s\S]*/.exec(run.output)?.[0] ?? run.output;
    expect(run.exitCode, report.slice(0, 60_000)).toBe(0);
    expect(run.operations).toBeGreaterThan(50);
    expect(run.cases).toBeGreaterThan(100);
  };

  beforeAll(async () => {
    const found = await locateTemporalCli(process.env.SCHEMATHESIS_PATH, 'schemathesis', { probe: false });
    if (!found) throw new Error('schemathesis not found: pip install schemathesis==4.32.5 (as .ci/run does)');
    schemathesis = found.path;
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({
      env: {
        // The fuzzer's pace, not a rate limit, is what is measured here.
        API_RATE_LIMIT_PER_MINUTE: '1000000',
        SANDBOX_PORT: new URL(sandbox.url).port,
        GHL_BASE_URL: `${sandbox.url}/ghl`,
        GHL_WEBHOOK_PUBLIC_KEY: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    });
    key = await createTenant(tp.baseUrl, TENANT);
    await tp.adminPool.query(
      `insert into crm_connections (tenant_id, location_id, sync_every_minutes) values ($1, $2, 1440)`,
      [TENANT, LOCATION],
    );
  }, 180_000);
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('holds without credentials, and with a tenant key for invalid input (nothing written) and valid input', async () => {
    const before = await rowCounts();
    // Without credentials every route but the open ones answers 401 whatever the input: fuzzing suffices.
    expectClean(await fuzz(['--phases', 'fuzzing']));
    const excluded = (await withoutInputs()).flatMap((name) => ['--exclude-name', name]);
    expectClean(
      await fuzz([
        ...excluded,
        '--phases',
        'coverage,fuzzing',
        '--mode',
        'negative',
        '-H',
        `Authorization: Bearer ${key}`,
      ]),
    );
    // Every request of both runs was refused: not one row of the tenant changed.
    expect(await rowCounts()).toEqual(before);
    // The live-call stream never ends by design (each valid request would wait out the request
    // timeout); test/callStream.test.ts covers it.
    expectClean(
      await fuzz([
        '--exclude-name',
        'GET /v1/calls/stream',
        '--phases',
        'coverage,fuzzing',
        '--mode',
        'positive',
        '-H',
        `Authorization: Bearer ${key}`,
      ]),
    );
  }, 600_000);

  describe('webhooks: malformed, oversized, wrongly signed and replayed bodies get a 4xx, never a 5xx', () => {
    const post = async (path: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      const res = await fetch(`${tp.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      return { status: res.status, body: await res.text() };
    };
    const JSON_HOOKS = [
      '/webhooks/ghl',
      `/webhooks/vapi/${TENANT}`,
      `/webhooks/retell/${TENANT}`,
      `/webhooks/retell/${TENANT}/inbound`,
      `/webhooks/retell/${TENANT}/functions/book`,
      `/webhooks/sendgrid/events/${TENANT}`,
    ];

    it('malformed, oversized and wrongly signed', async () => {
      const before = await rowCounts();
      const big = Buffer.alloc(1024 * 1024 + 10, 'a');
      for (const path of JSON_HOOKS) {
        for (const [what, body, headers] of [
          ['malformed JSON', '{"type": "ContactCreate", ', {}],
          ['not an object', '[1, 2, 3]', {}],
          ['empty', '', {}],
          [
            'wrong signature',
            JSON.stringify({ type: 'ContactCreate', locationId: LOCATION }),
            { 'x-wh-signature': 'AAAA', 'x-vapi-secret': 'nope', 'x-retell-signature': 'v=1,d=00' },
          ],
          ['not JSON at all', 'hello', { 'content-type': 'text/plain' }],
        ] as const) {
          const res = await post(path, body, headers);
          expect(res.status, `${what} → ${path}: ${res.body}`).toBeGreaterThanOrEqual(400);
          expect(res.status, `${what} → ${path}: ${res.body}`).toBeLessThan(500);
        }
        expect((await post(path, big)).status, `oversized → ${path}`).toBe(413);
      }
      const inbound = new URL(await inboundParseUrl(tp.baseUrl, key)).pathname;
      const wrongSecret = inbound.replace(/\/[^/]+$/, '/not-the-secret');
      const form = new FormData();
      form.append('from', 'someone@example.com');
      form.append('text', 'hello');
      expect((await fetch(`${tp.baseUrl}${wrongSecret}`, { method: 'POST', body: form })).status).toBe(401);
      expect((await post(inbound, 'not multipart', { 'content-type': 'text/plain' })).status).toBe(400);
      expect((await post(inbound, '--x\r\nbroken', { 'content-type': 'multipart/form-data; boundary=x' })).status).toBe(
        400,
      );
      const huge = new FormData();
      huge.append('from', 'someone@example.com');
      huge.append('text', 'x'.repeat(2 * 1024 * 1024 + 10));
      expect((await fetch(`${tp.baseUrl}${inbound}`, { method: 'POST', body: huge })).status).toBe(413);
      // Fetching the Inbound Parse URL created its secret; nothing else was written.
      const after = await rowCounts();
      expect({ ...after, inbound_parse_secrets: before.inbound_parse_secrets }).toEqual(before);
    });

    it('replayed: the same signed GHL event twice is applied once; a stale one is refused', async () => {
      const contacts = async () =>
        Number(
          (await tp.adminPool.query('select count(*) from contacts where tenant_id = $1', [TENANT])).rows[0]!.count,
        );
      const before = await contacts();
      const event = {
        type: 'ContactCreate',
        locationId: LOCATION,
        webhookId: 'wh_fuzz_replay',
        timestamp: new Date().toISOString(),
        id: 'c_fuzz_replay',
        firstName: 'Replay',
        tags: [],
        customFields: [],
      };
      const body = JSON.stringify(event);
      const signature = sign('sha256', Buffer.from(body), rsa.privateKey).toString('base64');
      for (let i = 0; i < 3; i++) {
        const res = await post('/webhooks/ghl', body, { 'x-wh-signature': signature });
        expect(res.status, res.body).toBe(200);
      }
      expect(await contacts()).toBe(before + 1);
      const stale = JSON.stringify({ ...event, webhookId: 'wh_fuzz_stale', timestamp: '2020-01-01T00:00:00Z' });
      const staleSig = sign('sha256', Buffer.from(stale), rsa.privateKey).toString('base64');
      expect((await post('/webhooks/ghl', stale, { 'x-wh-signature': staleSig })).status).toBe(401);
    });

    it('replayed: the same Inbound Parse message twice is stored once', async () => {
      const inbound = await inboundParseUrl(tp.baseUrl, key);
      const stored = async () =>
        Number(
          (await tp.adminPool.query('select count(*) from inbound_emails where tenant_id = $1', [TENANT])).rows[0]!
            .count,
        );
      const before = await stored();
      const deliver = () => {
        const form = new FormData();
        form.append('from', 'Someone <someone@example.com>');
        form.append('to', 'replies@inbound.example.com');
        form.append('subject', 'Re: hello');
        form.append('text', 'Thanks, tell me more.');
        form.append('headers', 'Message-ID: <fuzz-replay@example.com>\nFrom: someone@example.com\n');
        return fetch(inbound, { method: 'POST', body: form }).then(async (r) => ({
          status: r.status,
          body: await r.text(),
        }));
      };
      const first = await deliver();
      expect(first.status, first.body).toBe(200);
      const again = await deliver();
      expect(again.status, again.body).toBe(200);
      expect(JSON.parse(again.body)).toMatchObject({ duplicate: true });
      expect(await stored()).toBe(before + 1);
    });
  });
});
