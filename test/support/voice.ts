import { expect } from 'vitest';
import { call, TEST_ADMIN_KEY } from './platform.js';
import { connectGhl, connectVapi } from './connections.js';
import type { Sandbox } from './sandbox.js';

export const VAPI_SECRET = 'vapi-webhook-secret-0123456789';
export const RETELL_KEY = 'retell-api-key-0123456789abcdef';

/** Env that points every provider of a test platform at the sandbox. */
export function sandboxProviders(sandbox: Sandbox): Record<string, string> {
  return {
    GHL_API_TOKEN: 'test-ghl-token',
    GHL_BASE_URL: `${sandbox.url}/ghl`,
    VAPI_API_KEY: 'test-vapi-key',
    VAPI_BASE_URL: `${sandbox.url}/vapi`,
    RETELL_API_KEY: RETELL_KEY,
    RETELL_BASE_URL: `${sandbox.url}/retell`,
    ANTHROPIC_API_KEY: 'test-anthropic-key',
    ANTHROPIC_BASE_URL: `${sandbox.url}/anthropic`,
  };
}

/**
 * A tenant wired for calls: its own GHL (the sandbox's demo location) and Vapi connections, Vapi and Retell credentials,
 * voice settings (demo calendar, open all week, quick retries and reconciliation for tests).
 */
export async function setUpVoiceTenant(
  sandbox: Sandbox,
  baseUrl: string,
  tenantId: string,
  settings: Record<string, unknown> = {},
): Promise<string> {
  expect(
    (await call(baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: tenantId, name: tenantId } }))
      .status,
  ).toBe(201);
  const key = (
    await call(baseUrl, 'POST', `/v1/admin/tenants/${tenantId}/keys`, {
      key: TEST_ADMIN_KEY,
      body: { name: 't', scopes: ['read', 'act', 'admin'] },
    })
  ).body.key as string;
  // The tenant's own accounts: a token of the demo location, a key of the sandbox's default Vapi org.
  await connectGhl(sandbox, baseUrl, key, tenantId, 'loc_demo');
  await connectVapi(baseUrl, key);
  expect(
    (
      await call(baseUrl, 'PUT', `/v1/admin/tenants/${tenantId}/credentials/vapi`, {
        key,
        body: { secret: VAPI_SECRET, authMode: 'x-vapi-secret' },
      })
    ).status,
  ).toBe(200);
  expect(
    (
      await call(baseUrl, 'PUT', `/v1/admin/tenants/${tenantId}/credentials/retell`, {
        key,
        body: { secret: RETELL_KEY },
      })
    ).status,
  ).toBe(200);
  const put = await call(baseUrl, 'PUT', '/v1/voice/settings', {
    key,
    body: {
      vapi: { assistantId: 'asst_demo', phoneNumberId: 'pn_demo' },
      retell: { agentId: 'agent_demo', fromNumber: '+15555550124' },
      calendarId: 'cal_demo',
      transferNumber: '+15555550199',
      callingHours: { start: '00:00', end: '24:00', days: [1, 2, 3, 4, 5, 6, 7] },
      retry: { maxAttempts: 3, spacingSeconds: 1 },
      reportGraceSeconds: 3,
      ...settings,
    },
  });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
  return key;
}

/** Free slots of the demo calendar over the next days, straight from the sandbox's GHL. */
export async function demoFreeSlots(sandbox: Sandbox): Promise<string[]> {
  const from = Date.now() + 86_400_000;
  const res = await fetch(
    `${sandbox.url}/ghl/calendars/cal_demo/free-slots?startDate=${from}&endDate=${from + 7 * 86_400_000}`,
    {
      headers: { authorization: 'Bearer test-ghl-token', version: '2021-04-15' },
    },
  );
  const days = (await res.json()) as Record<string, { slots?: string[] }>;
  return Object.entries(days)
    .filter(([k]) => /^\d{4}-\d{2}-\d{2}$/.test(k))
    .flatMap(([, v]) => v.slots ?? []);
}

/** Polls GET /v1/calls/:id until `done` holds (or fails with the last answer). */
export async function waitForCall(
  baseUrl: string,
  key: string,
  id: string,
  done: (call: any) => boolean,
  timeoutMs = 60_000,
): Promise<any> {
  const until = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < until) {
    const res = await call(baseUrl, 'GET', `/v1/calls/${encodeURIComponent(id)}`, { key });
    last = res.body;
    if (res.status === 200 && done(res.body)) return res.body;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`call ${id} did not get there in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** Polls the sandbox's simulated call until `count` of its tool calls have been answered (200). */
export async function waitForToolAnswers(sandbox: Sandbox, simCallId: string, count: number): Promise<void> {
  for (let i = 0; ; i++) {
    const sim = await sandbox.control<{ deliveries: { type: string; response?: { status: number } }[] }>(
      'GET',
      `/vapi/calls/${simCallId}`,
    );
    if (sim.deliveries.filter((d) => d.type === 'tool-calls' && d.response?.status === 200).length >= count) return;
    if (i > 400) throw new Error(`call ${simCallId}: ${count} tool call(s) were never answered`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
