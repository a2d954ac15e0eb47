import { expect } from 'vitest';
import { call, TEST_ADMIN_KEY, type TestPlatform } from './platform.js';
import { connectSendgrid } from './connections.js';
import type { Sandbox } from './sandbox.js';

/** Helpers shared by the campaign tests. */

export interface SandboxEmail {
  messageId: string;
  receivedAt: string;
  subject: string;
  personalizations: { to: { email: string }[] }[];
  replyTo?: { email: string };
  content: { type: string; value: string }[];
  customArgs?: Record<string, string>;
}

export async function createTenant(baseUrl: string, tenantId: string): Promise<string> {
  expect(
    (await call(baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id: tenantId, name: tenantId } }))
      .status,
  ).toBe(201);
  return (
    await call(baseUrl, 'POST', `/v1/admin/tenants/${tenantId}/keys`, {
      key: TEST_ADMIN_KEY,
      body: { name: 't', scopes: ['read', 'act', 'admin'] },
    })
  ).body.key;
}

/**
 * Connects the tenant's own SendGrid key (its verified sender: desk@clinic.example) and points the
 * sandbox's SendGrid webhooks (events and Inbound Parse) at this tenant's endpoints.
 */
export async function wireSendgrid(sandbox: Sandbox, baseUrl: string, tenantId: string, key: string): Promise<void> {
  await connectSendgrid(sandbox, baseUrl, key, tenantId);
  await sandbox.control('POST', '/sendgrid/config', {
    eventWebhookUrl: `${baseUrl}/webhooks/sendgrid/events/${tenantId}`,
    inboundParseUrl: await inboundParseUrl(baseUrl, key),
    autoEvents: ['processed', 'delivered'],
  });
}

/** The tenant's Inbound Parse URL, secret included, as its admin is shown it. */
export async function inboundParseUrl(baseUrl: string, key: string): Promise<string> {
  const res = await call(baseUrl, 'GET', '/v1/connections/sendgrid/inbound-parse', { key });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.url as string;
}

/** A sender with the postal address every email campaign must show. */
export const POSTAL_ADDRESS = '1 Harbour Street, Springfield, IL 62701, USA';

export async function sandboxEmails(sandbox: Sandbox, to?: string): Promise<SandboxEmail[]> {
  const q = to ? `?to=${encodeURIComponent(to)}&limit=10000` : '?limit=10000';
  return (await sandbox.control<{ emails: SandboxEmail[] }>('GET', `/sendgrid/emails${q}`)).emails;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export const allWeek = { startHour: 0, endHour: 24, days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] };

export async function campaignStatus(tp: TestPlatform, key: string, id: string) {
  return (await call(tp.baseUrl, 'GET', `/v1/campaigns/${id}`, { key })).body;
}
