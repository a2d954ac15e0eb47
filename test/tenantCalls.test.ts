import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { connectGhl, connectVapi } from './support/connections.js';
import { createTenantWithKeys } from './support/mcp.js';
import { call, startTestPlatform, startWorkerProcess, type TestPlatform } from './support/platform.js';
import type { StartedProcess } from './support/process.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { tearDown } from './support/teardown.js';
import { waitForCall } from './support/voice.js';

/**
 * Outbound calls on each tenant's own Vapi account: the same idempotency key in two tenants is two
 * calls, each under its tenant; and a worker killed after Vapi accepted a call, on an account busy
 * with hundreds of others, finds that call instead of dialling again.
 */

const SECRET = 'vapi-webhook-secret-tenant-calls';
const tenants = {
  'calls-e': { org: 'org_calls_e', apiKey: 'vapi-key-calls-e-0123', assistant: 'asst_calls_e', number: 'pn_calls_e' },
  'calls-f': { org: 'org_calls_f', apiKey: 'vapi-key-calls-f-0123', assistant: 'asst_calls_f', number: 'pn_calls_f' },
} as const;
type TenantId = keyof typeof tenants;

describe('outbound calls on each tenant’s own Vapi account', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let env: Record<string, string>;
  const keys = {} as Record<TenantId, string>;
  const workers: StartedProcess[] = [];

  const vapi = async (tenant: TenantId, path: string) => {
    const res = await fetch(`${sandbox.url}/vapi${path}`, {
      headers: { authorization: `Bearer ${tenants[tenant].apiKey}` },
    });
    return (await res.json()) as { id: string; metadata?: Record<string, string> }[];
  };
  const startWorker = async () => {
    const w = await startWorkerProcess(tp, env);
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    env = {
      PROVIDERS_MODE: 'live',
      GHL_BASE_URL: `${sandbox.url}/ghl`,
      VAPI_BASE_URL: `${sandbox.url}/vapi`,
      RETELL_BASE_URL: `${sandbox.url}/retell`,
      SENDGRID_BASE_URL: `${sandbox.url}/sendgrid`,
      ANTHROPIC_API_KEY: 'test-anthropic-key',
      ANTHROPIC_BASE_URL: `${sandbox.url}/anthropic`,
    };
    // The API here; the worker in a child process a test can kill.
    tp = await startTestPlatform({ roles: ['api'], env });
    await startWorker();
    let n = 0;
    for (const [tenant, t] of Object.entries(tenants) as [TenantId, (typeof tenants)[TenantId]][]) {
      n++;
      await sandbox.control('POST', '/vapi/orgs', {
        orgId: t.org,
        apiKey: t.apiKey,
        assistants: [t.assistant],
        phoneNumbers: [{ id: t.number, number: `+1555555013${n}` }],
      });
      await sandbox.control('POST', '/vapi/config', {
        orgId: t.org,
        serverUrl: `${tp.baseUrl}/webhooks/vapi/${tenant}`,
        credential: { type: 'x-vapi-secret', secret: SECRET },
      });
      await sandbox.control('POST', '/ghl/seed', { locationId: `loc_${tenant}`, contacts: 3, seed: n });
      keys[tenant] = (await createTenantWithKeys(tp.baseUrl, tenant, { all: ['read', 'act', 'admin'] })).all;
      await connectGhl(sandbox, tp.baseUrl, keys[tenant], tenant, `loc_${tenant}`);
      await connectVapi(tp.baseUrl, keys[tenant], t.apiKey);
      const cred = await call(tp.baseUrl, 'PUT', `/v1/admin/tenants/${tenant}/credentials/vapi`, {
        key: keys[tenant],
        body: { secret: SECRET, authMode: 'x-vapi-secret' },
      });
      expect(cred.status).toBe(200);
      const settings = await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
        key: keys[tenant],
        body: {
          vapi: { assistantId: t.assistant, phoneNumberId: t.number },
          callingHours: { start: '00:00', end: '24:00', days: [1, 2, 3, 4, 5, 6, 7] },
          retry: { maxAttempts: 1, spacingSeconds: 1 },
          reportGraceSeconds: 3,
        },
      });
      expect(settings.status, JSON.stringify(settings.body)).toBe(200);
    }
  });
  afterAll(() => tearDown({ processes: workers, platform: tp, sandbox }));

  it('refuses another tenant’s assistant in voice settings and on a call, naming the field', async () => {
    const settings = await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
      key: keys['calls-f'],
      body: { vapi: { assistantId: tenants['calls-e'].assistant, phoneNumberId: tenants['calls-f'].number } },
    });
    expect(settings.status).toBe(400);
    expect(settings.body.message).toBe("body.vapi.assistantId: 'asst_calls_e' is not on this tenant's Vapi account");
    const placed = await call(tp.baseUrl, 'POST', '/v1/calls', {
      key: keys['calls-f'],
      body: { to: '+15555550170', purpose: 'x', assistant: tenants['calls-e'].assistant },
    });
    expect(placed.status).toBe(400);
    expect(placed.body.message).toContain("body.assistant: 'asst_calls_e' is not on this tenant's Vapi account");
    expect(await vapi('calls-f', '/call?limit=10')).toEqual([]);
  });

  it('the same idempotency key in two tenants at the same moment: two provider calls, each transcript under its own tenant', async () => {
    const body = { to: '+15555550177', purpose: 'a check-in call', idempotencyKey: 'same-key-1' };
    const [e, f] = await Promise.all(
      (['calls-e', 'calls-f'] as const).map((t) => call(tp.baseUrl, 'POST', '/v1/calls', { key: keys[t], body })),
    );
    expect(e!.status, JSON.stringify(e!.body)).toBe(202);
    expect(f!.status).toBe(202);
    expect(e!.body.workflowId).toBe('call:calls-e:vapi:out-same-key-1');
    expect(f!.body.workflowId).toBe('call:calls-f:vapi:out-same-key-1');
    const doneE = await waitForCall(
      tp.baseUrl,
      keys['calls-e'],
      e!.body.workflowId,
      (c) => c.status === 'completed',
      120_000,
    );
    const doneF = await waitForCall(
      tp.baseUrl,
      keys['calls-f'],
      f!.body.workflowId,
      (c) => c.status === 'completed',
      120_000,
    );
    expect(doneE.providerCallIds).toHaveLength(1);
    expect(doneF.providerCallIds).toHaveLength(1);
    expect(doneE.providerCallIds[0]).not.toBe(doneF.providerCallIds[0]);
    expect(doneE.transcript.length).toBeGreaterThan(0);
    expect(doneF.transcript.length).toBeGreaterThan(0);
    // Each account holds only its own call, tagged with its tenant.
    const callsE = await vapi('calls-e', '/call?limit=100');
    expect(callsE.map((c) => c.id)).toEqual([doneE.providerCallIds[0]]);
    expect(callsE[0]!.metadata).toMatchObject({ switchboardTenant: 'calls-e' });
    expect((await vapi('calls-f', '/call?limit=100')).map((c) => c.id)).toEqual([doneF.providerCallIds[0]]);
    // And neither tenant's rows can see the other's call.
    const seen = await withTenant(tp.platform.pool, 'calls-f', (c) =>
      c.query('select 1 from call_utterances where workflow_id = $1', [e!.body.workflowId]),
    );
    expect(seen.rowCount).toBe(0);
  });

  it('a worker killed after Vapi accepted the call, on a busy account: the retry finds it, no second dial', async () => {
    const t = tenants['calls-e'];
    // Vapi takes the call at once but answers slowly: the worker dies in between.
    await sandbox.control('POST', '/vapi/config', { orgId: t.org, answerDelayMs: 4000 });
    const placed = await call(tp.baseUrl, 'POST', '/v1/calls', {
      key: keys['calls-e'],
      body: { to: '+15555550178', purpose: 'crash check', idempotencyKey: 'crash-key-1' },
    });
    expect(placed.status).toBe(202);
    const mine = (c: { metadata?: Record<string, string> }) => c.metadata?.switchboardAttempt?.includes('crash-key-1');
    let accepted: string | undefined;
    for (let i = 0; !accepted; i++) {
      if (i > 400) throw new Error('Vapi never received the call');
      accepted = (await vapi('calls-e', '/call?limit=20')).find(mine)?.id;
      if (!accepted) await new Promise((r) => setTimeout(r, 25));
    }
    const worker = workers.at(-1)!;
    worker.child.kill('SIGKILL');
    await worker.exited;
    await sandbox.control('POST', '/vapi/config', { orgId: t.org, answerDelayMs: 0 });
    // Meanwhile the account gets busy: the accepted call is no longer among the latest hundred.
    await new Promise((r) => setTimeout(r, 15_000));
    await sandbox.control('POST', `/vapi/orgs/${t.org}/calls/bulk`, { count: 3000 });
    expect((await vapi('calls-e', '/call?limit=100')).some((c) => c.id === accepted)).toBe(false);

    await startWorker();
    const done = await waitForCall(
      tp.baseUrl,
      keys['calls-e'],
      placed.body.workflowId,
      (c) => c.status === 'completed',
      150_000,
    );
    expect(done.providerCallIds).toEqual([accepted]);
    // Every call on the account, page by page: exactly one carries this request's reference.
    const ours: string[] = [];
    for (let before: string | undefined, page = 0; page < 20; page++) {
      const list = (await vapi(
        'calls-e',
        `/call?limit=1000${before ? `&createdAtLt=${encodeURIComponent(before)}` : ''}`,
      )) as {
        id: string;
        createdAt: string;
        metadata?: Record<string, string>;
      }[];
      ours.push(...list.filter(mine).map((c) => c.id));
      if (list.length < 1000) break;
      before = list.at(-1)!.createdAt;
    }
    expect(ours).toEqual([accepted]);
  });
});
