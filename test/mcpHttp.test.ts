import http from 'node:http';
import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { connectGhl } from './support/connections.js';
import { connectHttp, createTenantWithKeys, errorText, structured } from './support/mcp.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

/**
 * /mcp over real HTTP with the SDK's own client, both protocol generations: auth, Host/Origin
 * checks, size and rate limits, scopes, tenant isolation, fuzzed arguments and the audit trail.
 */

const RATE_LIMIT = 400;

/** A raw request, so Host and Origin can be anything (fetch will not send a foreign Host). */
function rawPost(
  baseUrl: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const url = new URL(`${baseUrl}/mcp`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

describe('MCP over Streamable HTTP', () => {
  let tp: TestPlatform;
  let sandbox: Sandbox;
  let a: { all: string; read: string; act: string; limited: string; fuzz: string };
  let b: { all: string; admin: string };
  const clients: Client[] = [];
  const connect = async (key: string, era: 'legacy' | 'modern' = 'legacy') => {
    const client = await connectHttp(tp.baseUrl, key, era);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    await sandbox.control('POST', '/ghl/seed', { locationId: 'loc_b', contacts: 5, seed: 3 });
    tp = await startTestPlatform({
      env: {
        API_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
        TEMPORAL_UI_URL: 'http://temporal-ui.test:8233',
        GHL_BASE_URL: `${sandbox.url}/ghl`,
      },
    });
    a = await createTenantWithKeys(tp.baseUrl, 'mcp-a', {
      all: ['read', 'act'],
      read: ['read'],
      act: ['act'],
      limited: ['read'],
      // A second key with every tool: the fuzzing below spreads its calls over both, under the per-key limit.
      fuzz: ['read', 'act'],
    });
    b = await createTenantWithKeys(tp.baseUrl, 'mcp-b', { all: ['read', 'act'], admin: ['admin'] });
    // Cached contacts, written the way the sync writes them.
    await tp.adminPool.query(
      `insert into contacts (tenant_id, id, location_id, first_name, last_name, name, email, phone, tags, date_added, date_updated) values
        ('mcp-a', 'ca1', 'loc_a', 'Alice', 'Archer', 'Alice Archer', 'alice@a.example', '+15125550101', '{vip}', now() - interval '3 days', now() - interval '1 day'),
        ('mcp-a', 'ca2', 'loc_a', 'Alan', 'Smith', 'Alan Smith', 'alan@a.example', '+15125550102', '{}', now() - interval '2 days', now()),
        ('mcp-b', 'cb1', 'loc_b', 'Alice', 'Bravo', 'Alice Bravo', 'alice@b.example', '+15125550101', '{vip}', now(), now())`,
    );
    // B connects its own location (A connects none).
    await connectGhl(sandbox, tp.baseUrl, b.admin, 'mcp-b', 'loc_b');
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await tp?.stop();
    await sandbox?.close();
  });

  describe('transport and auth', () => {
    it('401 with a WWW-Authenticate challenge without a key or with a bad one; the admin key is not a tenant key', async () => {
      const none = await rawPost(tp.baseUrl, {}, initialize);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer realm="switchboard"/);
      const bad = await rawPost(tp.baseUrl, { authorization: 'Bearer sb_nope' }, initialize);
      expect(bad.status).toBe(401);
      expect(bad.headers['www-authenticate']).toContain('error="invalid_token"');
      expect((await rawPost(tp.baseUrl, { 'x-api-key': TEST_ADMIN_KEY }, initialize)).status).toBe(403);
      const ok = await rawPost(tp.baseUrl, { 'x-api-key': a.read }, initialize);
      expect(ok.status).toBe(200);
      expect(ok.body).toContain('"protocolVersion":"2025-06-18"');
    });

    it('refuses a foreign Host or Origin (DNS rebinding) and accepts loopback ones', async () => {
      const port = new URL(tp.baseUrl).port;
      const rebound = await rawPost(
        tp.baseUrl,
        { authorization: `Bearer ${a.read}`, host: `evil.example:${port}` },
        initialize,
      );
      expect(rebound.status).toBe(403);
      const foreignOrigin = await rawPost(
        tp.baseUrl,
        { authorization: `Bearer ${a.read}`, origin: 'https://evil.example' },
        initialize,
      );
      expect(foreignOrigin.status).toBe(403);
      const local = await rawPost(
        tp.baseUrl,
        { authorization: `Bearer ${a.read}`, host: `localhost:${port}`, origin: `http://localhost:${port}` },
        initialize,
      );
      expect(local.status).toBe(200);
    });

    it('answers 413 to a body over the limit and 405 to session operations (stateless server)', async () => {
      const huge = JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/list',
        params: { pad: 'x'.repeat(1_100_000) },
      });
      expect((await rawPost(tp.baseUrl, { authorization: `Bearer ${a.read}` }, huge)).status).toBe(413);
      const get = await call(tp.baseUrl, 'GET', '/mcp', { key: a.read, headers: { accept: 'text/event-stream' } });
      expect(get.status).toBe(405);
    });

    it('speaks both generations: a 2025 client (initialize handshake) and a 2026-07-28 client (per-request envelope)', async () => {
      for (const era of ['legacy', 'modern'] as const) {
        const client = await connect(a.read, era);
        const page = structured(await client.callTool({ name: 'crm_search_contacts', arguments: { q: 'alice' } }));
        expect(page.source).toBe('cache');
        expect(page.contacts.map((c: { id: string }) => c.id)).toEqual(['ca1']);
      }
    });

    it('lists tools with JSON Schemas, output schemas and annotations', async () => {
      const { tools } = await (await connect(a.all)).listTools();
      const byName = new Map(tools.map((t) => [t.name, t]));
      const search = byName.get('crm_search_contacts')!;
      expect(search.annotations).toMatchObject({ readOnlyHint: true });
      expect(search.inputSchema).toMatchObject({ type: 'object', additionalProperties: false });
      expect(Object.keys(search.inputSchema.properties ?? {})).toEqual(
        expect.arrayContaining(['q', 'phone', 'email', 'tag', 'limit', 'cursor']),
      );
      expect(search.outputSchema).toMatchObject({ type: 'object' });
      expect(byName.get('forget')!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
      expect(byName.get('crm_sync_now')!.annotations).toMatchObject({ readOnlyHint: false });
    });

    it('rate-limits per key: one key over its budget gets 429, another key is unaffected', async () => {
      // Until a key is verified once its requests draw on its IP's budget: verified first here.
      expect((await rawPost(tp.baseUrl, { authorization: `Bearer ${a.limited}` }, initialize)).status).toBe(200);
      const statuses: number[] = [];
      for (let i = 0; i < RATE_LIMIT + 5; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(50, RATE_LIMIT + 5 - i) }, () =>
            rawPost(tp.baseUrl, { authorization: `Bearer ${a.limited}` }, initialize),
          ),
        );
        statuses.push(...batch.map((r) => r.status));
      }
      expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(RATE_LIMIT);
      expect(statuses).toContain(429);
      expect((await rawPost(tp.baseUrl, { authorization: `Bearer ${a.read}` }, initialize)).status).toBe(200);
    });
  });

  describe('scopes and tenants', () => {
    it('a read key lists no tool that acts and cannot call one', async () => {
      const client = await connect(a.read);
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(
        expect.arrayContaining(['crm_search_contacts', 'recall', 'crm_sync_status', 'workflow_list']),
      );
      expect(names).not.toContain('remember');
      expect(names).not.toContain('crm_sync_now');
      const refused = await client.callTool({ name: 'remember', arguments: { content: 'sneaky' } }).then(
        (r) => errorText(r),
        (err: Error) => err.message,
      );
      expect(refused).toMatch(/remember/);
      const { rows } = await tp.adminPool.query(`select count(*)::int as n from memories where content = 'sneaky'`);
      expect(rows[0].n).toBe(0);
      // The attempt is on the audit trail.
      const audited = await withTenant(tp.platform.pool, 'mcp-a', (c) =>
        c.query(
          `select status, error from audit_log where tool = 'remember' and params->'args'->>'content' = 'sneaky'`,
        ),
      );
      expect(audited.rows).toEqual([{ status: 'error', error: "refused: this API key lacks the 'act' scope" }]);
      // An act-only key sees the act tools and none of the read ones.
      const actNames = (await (await connect(a.act)).listTools()).tools.map((t) => t.name);
      expect(actNames).toContain('remember');
      expect(actNames).not.toContain('crm_search_contacts');
    });

    it("tenant A's key never sees tenant B's contacts, memories or workflows", async () => {
      const clientA = await connect(a.all);
      const clientB = await connect(b.all, 'modern');
      structured(
        await clientB.callTool({
          name: 'remember',
          arguments: { content: 'B secret: alice prefers evenings', subject: '+15125550101' },
        }),
      );
      structured(
        await clientA.callTool({
          name: 'remember',
          arguments: { content: 'A note: alice prefers mornings', subject: '+15125550101' },
        }),
      );

      const byPhone = structured(
        await clientA.callTool({ name: 'crm_search_contacts', arguments: { phone: '(512) 555-0101' } }),
      );
      expect(byPhone.contacts.map((c: { id: string }) => c.id)).toEqual(['ca1']);
      expect(errorText(await clientA.callTool({ name: 'crm_get_contact', arguments: { contactId: 'cb1' } }))).toMatch(
        /no contact 'cb1'/,
      );
      const recalled = structured(await clientA.callTool({ name: 'recall', arguments: { query: 'alice prefers' } }));
      expect(recalled.items.map((m: { content: string }) => m.content)).toEqual(['A note: alice prefers mornings']);

      const started = structured(await clientB.callTool({ name: 'crm_sync_now', arguments: {} }));
      expect(started.workflowId).toBe('sync:mcp-b:ghl');
      expect(
        errorText(await clientA.callTool({ name: 'workflow_describe', arguments: { workflowId: started.workflowId } })),
      ).toMatch(/no workflow/);
      expect(structured(await clientA.callTool({ name: 'workflow_list', arguments: {} })).workflows).toEqual([]);
      expect(errorText(await clientA.callTool({ name: 'crm_sync_now', arguments: {} }))).toMatch(
        /connect GoHighLevel first/,
      );

      const described = structured(
        await clientB.callTool({ name: 'workflow_describe', arguments: { workflowId: started.workflowId } }),
      );
      expect(described).toMatchObject({
        workflowId: 'sync:mcp-b:ghl',
        runId: started.runId,
        kind: 'crmSync',
        source: 'live',
      });
      expect(described.uiUrl).toBe(
        `http://temporal-ui.test:8233/namespaces/default/workflows/${encodeURIComponent('sync:mcp-b:ghl')}/${started.runId}/history`,
      );
      // While it runs, its live state comes from the workflow's own query.
      if (described.status === 'RUNNING') expect(described.state?.state ?? described.stateError).toBeTruthy();
      await tp.platform.temporal!.workflow.getHandle(started.workflowId, started.runId).result();
      const listedB = structured(
        await clientB.callTool({ name: 'workflow_list', arguments: { kind: 'crmSync', status: 'Completed' } }),
      );
      expect(listedB.workflows).toMatchObject([
        { workflowId: 'sync:mcp-b:ghl', runId: started.runId, kind: 'crmSync', status: 'COMPLETED' },
      ]);
    });
  });

  describe('bad arguments', () => {
    /** Wrong-typed values for a JSON Schema property. */
    const wrongValues = (schema: { type?: string | string[]; enum?: unknown[] }): unknown[] => {
      const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
      if (schema.enum) return ['no-such-value', 7];
      switch (type) {
        case 'string':
          return [12345, { nested: true }, 'x'.repeat(100_000)];
        case 'number':
        case 'integer':
          return ['not-a-number', -1e12, 1.5e300];
        case 'boolean':
          return ['yes'];
        case 'array':
          return ['not-an-array', [{ deep: 'x'.repeat(100_000) }]];
        case 'object':
          return [5];
        default:
          return [[[]]];
      }
    };

    it('every tool answers wrong types, huge strings and unknown fields with isError naming the field, and writes nothing', async () => {
      const clients = [await connect(a.all, 'modern'), await connect(a.fuzz, 'modern')];
      const client = clients[0]!;
      const { tools } = await client.listTools();
      const before = await withTenant(tp.platform.pool, 'mcp-a', async (c) => ({
        memories: (await c.query('select count(*)::int as n from memories')).rows[0].n as number,
        contacts: (await c.query('select count(*)::int as n from contacts')).rows[0].n as number,
      }));
      let cases = 0;
      for (const [t, tool] of tools.entries()) {
        const props = (tool.inputSchema.properties ?? {}) as Record<string, { type?: string; enum?: unknown[] }>;
        const attempts: Record<string, unknown>[] = [{ zz_unknown_field: 1 }];
        for (const [field, schema] of Object.entries(props))
          for (const value of wrongValues(schema)) attempts.push({ [field]: value });
        for (const args of attempts) {
          const result = await clients[t % 2]!.callTool({ name: tool.name, arguments: args });
          const text = errorText(result);
          const field = Object.keys(args)[0]!;
          // The message names the field (or, for a tool whose required field is missing, that one).
          expect(text, `${tool.name} ${JSON.stringify(args).slice(0, 80)}`).toMatch(/^invalid arguments: /);
          expect(
            text.includes(field) || /: Invalid input: expected \w+, received undefined/.test(text),
            `${tool.name}: ${text}`,
          ).toBe(true);
          cases++;
        }
      }
      expect(cases).toBeGreaterThan(60);
      const after = await withTenant(tp.platform.pool, 'mcp-a', async (c) => ({
        memories: (await c.query('select count(*)::int as n from memories')).rows[0].n as number,
        contacts: (await c.query('select count(*)::int as n from contacts')).rows[0].n as number,
      }));
      expect(after).toEqual(before);
      const workflows = structured(await client.callTool({ name: 'workflow_list', arguments: {} }));
      expect(workflows.workflows).toEqual([]);
      // Each refused call is on the audit trail as an error.
      const { rows } = await withTenant(tp.platform.pool, 'mcp-a', (c) =>
        c.query(`select count(*)::int as n from audit_log where status = 'error' and error like 'invalid arguments:%'`),
      );
      expect(rows[0].n).toBeGreaterThanOrEqual(cases);
      // Huge arguments are kept as a bounded preview.
      const widest = await withTenant(tp.platform.pool, 'mcp-a', (c) =>
        c.query(`select max(length(params::text))::int as n from audit_log`),
      );
      expect(widest.rows[0].n).toBeLessThan(5000);
    });
  });

  it('audits every call: tool, tenant, key, arguments (secrets masked), duration, status, transport', async () => {
    const me = await call(tp.baseUrl, 'GET', '/v1/me', { key: a.all });
    const client = await connect(a.all);
    structured(
      await client.callTool({
        name: 'remember',
        arguments: { content: 'audit me', tags: ['x'], idempotencyKey: 'audit-1' },
      }),
    );
    errorText(await client.callTool({ name: 'crm_get_contact', arguments: { contactId: 'nope' } }));
    const { rows } = await withTenant(tp.platform.pool, 'mcp-a', (c) =>
      c.query(
        `select tool, status, source, duration_ms, params, error from audit_log where tool in ('remember', 'crm_get_contact') and params->>'keyId' = $1 order by id`,
        [me.body.keyId],
      ),
    );
    const remembered = rows.find((r) => r.tool === 'remember' && r.params.args.content === 'audit me');
    expect(remembered).toMatchObject({
      status: 'ok',
      source: 'cache',
      params: { via: 'mcp-http', era: 'legacy', args: { idempotencyKey: 'audit-1' } },
    });
    expect(remembered.duration_ms).toBeGreaterThanOrEqual(0);
    expect(rows.find((r) => r.tool === 'crm_get_contact' && r.params.args.contactId === 'nope')).toMatchObject({
      status: 'error',
      error: expect.stringMatching(/no contact 'nope'/),
    });
  });
});
