import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectVapi } from './support/connections.js';
import { createTenantWithKeys } from './support/mcp.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { sandboxProviders, VAPI_SECRET } from './support/voice.js';

/**
 * Issue 19, Vapi provisioning: with the tenant's own Vapi key, `POST /v1/voice/provision` points its
 * numbers at our webhook (URL and the secret the webhook checks) and creates its assistant with our
 * tool definitions; a second run changes nothing at Vapi; a call to the number then reaches us.
 */

const TENANT = 'provision-a';
const VAPI_KEY = 'vapi-key-provision-a';
const NUMBER = { id: 'pn_provision_a', number: '+15555550133' };

describe('Vapi provisioning', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  const vapi = async (path: string) => {
    const res = await fetch(`${sandbox.url}/vapi${path}`, { headers: { authorization: `Bearer ${VAPI_KEY}` } });
    expect(res.status, path).toBe(200);
    return (await res.json()) as any;
  };
  const provision = () => call(tp.baseUrl, 'POST', '/v1/voice/provision', { key });

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: sandboxProviders(sandbox) });
    ({ key } = await createTenantWithKeys(tp.baseUrl, TENANT, { key: ['read', 'act', 'admin'] }));
    // The tenant's own Vapi org, with one number and no assistant yet.
    await sandbox.control('POST', '/vapi/orgs', { orgId: 'org_provision_a', apiKey: VAPI_KEY, phoneNumbers: [NUMBER] });
  }, 180_000);
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('refuses without a Vapi connection or a webhook credential it can hand Vapi (409), changing nothing', async () => {
    expect((await provision()).status).toBe(409);
    await connectVapi(tp.baseUrl, key, VAPI_KEY);
    const noCredential = await provision();
    expect(noCredential.status).toBe(409);
    expect(noCredential.body.message).toMatch(/Vapi webhook credential/);
    await call(tp.baseUrl, 'PUT', `/v1/admin/tenants/${TENANT}/credentials/vapi`, {
      key,
      body: { secret: VAPI_SECRET, authMode: 'hmac' },
    });
    expect((await provision()).status).toBe(409);
    expect((await vapi('/assistant')).length).toBe(0);
    expect((await vapi(`/phone-number/${NUMBER.id}`)).server).toBeUndefined();
  });

  it('points the numbers at our webhook and creates the assistant with our tools; twice gives the same configuration', async () => {
    await call(tp.baseUrl, 'PUT', `/v1/admin/tenants/${TENANT}/credentials/vapi`, {
      key,
      body: { secret: VAPI_SECRET, authMode: 'x-vapi-secret' },
    });
    const settings = await call(tp.baseUrl, 'PUT', '/v1/voice/settings', {
      key,
      body: { greeting: 'Hello from the clinic!', tools: ['lookup_caller', 'find_appointments', 'transfer_to_human'] },
    });
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);

    const first = await provision();
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const serverUrl = `${tp.baseUrl}/webhooks/vapi/${TENANT}`;
    expect(first.body).toMatchObject({
      serverUrl,
      assistant: { created: true },
      phoneNumbers: [{ id: NUMBER.id, number: NUMBER.number, updated: true }],
      unchanged: false,
    });
    const assistantId = first.body.assistant.id as string;
    const snapshot = async () => ({
      assistants: await vapi('/assistant'),
      assistant: await vapi(`/assistant/${assistantId}`),
      number: await vapi(`/phone-number/${NUMBER.id}`),
    });
    const afterOne = await snapshot();
    expect(afterOne.assistant).toMatchObject({
      firstMessage: 'Hello from the clinic!',
      server: { url: serverUrl, secret: VAPI_SECRET },
      metadata: { switchboardTenant: TENANT },
    });
    expect(afterOne.assistant.model.tools.map((t: any) => t.function.name)).toEqual([
      'lookup_caller',
      'find_appointments',
      'transfer_to_human',
    ]);
    expect(afterOne.assistant.model.tools[0].server).toEqual({ url: serverUrl, secret: VAPI_SECRET });
    expect(afterOne.assistant.serverMessages).toContain('transfer-destination-request');
    expect(afterOne.number.server).toEqual({ url: serverUrl, secret: VAPI_SECRET });
    expect(afterOne.number.assistantId).toBeUndefined();
    expect((await call(tp.baseUrl, 'GET', '/v1/voice/settings', { key })).body.vapi.assistantId).toBe(assistantId);

    const second = await provision();
    expect(second.body).toMatchObject({
      assistant: { id: assistantId, created: false, updated: false },
      phoneNumbers: [{ id: NUMBER.id, updated: false }],
      unchanged: true,
    });
    expect(await snapshot()).toEqual(afterOne);

    // Changed settings: the next run updates the assistant in place (no second one).
    const current = (await call(tp.baseUrl, 'GET', '/v1/voice/settings', { key })).body;
    await call(tp.baseUrl, 'PUT', '/v1/voice/settings', { key, body: { ...current, greeting: 'Hi again!' } });
    const third = await provision();
    expect(third.body).toMatchObject({ assistant: { id: assistantId, updated: true }, unchanged: false });
    expect((await vapi('/assistant')).length).toBe(1);
    expect((await vapi(`/assistant/${assistantId}`)).firstMessage).toBe('Hi again!');
  });

  it('a call to the provisioned number reaches our webhook with the secret and is answered with the assistant', async () => {
    const sim = await sandbox.control('POST', '/vapi/calls', {
      direction: 'inbound',
      from: '+15555550188',
      to: NUMBER.number,
      wait: true,
      script: { steps: [{ user: 'Hi!' }, { tool: 'transfer_to_human', arguments: {} }, { user: 'Bye.' }] },
    });
    expect(sim.serverUrl).toBe(`${tp.baseUrl}/webhooks/vapi/${TENANT}`);
    expect(sim.credentialType).toBe('x-vapi-secret');
    const asked = sim.deliveries.find((d: { type: string }) => d.type === 'assistant-request');
    expect(asked.response.status).toBe(200);
    expect(asked.response.body.assistantId).toBe(
      (await call(tp.baseUrl, 'GET', '/v1/voice/settings', { key })).body.vapi.assistantId,
    );
    expect(sim.deliveries.every((d: { response?: { status: number } }) => d.response?.status === 200)).toBe(true);
  });
});
