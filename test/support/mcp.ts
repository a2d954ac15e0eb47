import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { expect } from 'vitest';
import { call, TEST_ADMIN_KEY } from './platform.js';

/** A tenant with one key per scope set, created through the admin API like an operator does. */
export async function createTenantWithKeys<S extends Record<string, string[]>>(
  baseUrl: string,
  tenantId: string,
  keys: S,
): Promise<Record<keyof S, string>> {
  const created = await call(baseUrl, 'POST', '/v1/admin/tenants', {
    key: TEST_ADMIN_KEY,
    body: { id: tenantId, name: tenantId },
  });
  expect(created.status).toBe(201);
  const out = {} as Record<keyof S, string>;
  for (const [name, scopes] of Object.entries(keys)) {
    const res = await call(baseUrl, 'POST', `/v1/admin/tenants/${tenantId}/keys`, {
      key: TEST_ADMIN_KEY,
      body: { name, scopes },
    });
    expect(res.status).toBe(201);
    out[name as keyof S] = res.body.key as string;
  }
  return out;
}

/**
 * A real SDK client over Streamable HTTP. `era`: 'legacy' speaks the 2025 handshake (initialize),
 * 'modern' pins 2026-07-28 (per-request envelope, no handshake).
 */
export async function connectHttp(baseUrl: string, key: string, era: 'legacy' | 'modern' = 'legacy'): Promise<Client> {
  const client = new Client(
    { name: 'switchboard-test', version: '1.0.0' },
    era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
  );
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  return client;
}

/** What a form-capable client is shown in an elicitation. */
export interface ElicitationShown {
  message: string;
  requestedSchema?: { properties?: Record<string, { default?: unknown }> };
}
export type ElicitationAnswer =
  { action: 'accept'; content: Record<string, string | number | boolean | string[]> } | { action: 'decline' };

/**
 * A 2026-07-28 client that can show forms (`elicitation`): the SDK answers each input_required
 * round with `answer` and retries the call, as a person's client would.
 */
export async function connectFormClient(
  baseUrl: string,
  key: string,
  answer: (shown: ElicitationShown) => ElicitationAnswer,
): Promise<Client> {
  const client = new Client(
    { name: 'switchboard-test-forms', version: '1.0.0' },
    { capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  client.setRequestHandler('elicitation/create', async (req) => answer(req.params as ElicitationShown));
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${key}` } },
    }),
  );
  return client;
}

/** The JSON a tool answered with (its structuredContent), or the error text when it failed. */
export function structured<T = any>(result: unknown): T {
  const r = result as { structuredContent?: T; isError?: boolean; content?: { text?: string }[] };
  if (r.isError) throw new Error(`tool failed: ${r.content?.[0]?.text}`);
  return r.structuredContent as T;
}

export function errorText(result: unknown): string {
  const r = result as { isError?: boolean; content?: { text?: string }[] };
  expect(r.isError, JSON.stringify(result)).toBe(true);
  return r.content?.[0]?.text ?? '';
}
