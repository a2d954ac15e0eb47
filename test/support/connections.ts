import { expect } from 'vitest';
import { call } from './platform.js';
import type { Sandbox } from './sandbox.js';

/**
 * A tenant connects its own provider accounts as a user does: the sandbox first issues the
 * credential (a GHL Private Integration Token bound to the location, a SendGrid key bound to its
 * sender), then the tenant's admin key hands it to our API, which checks it live.
 */

export async function connectGhl(
  sandbox: Sandbox,
  baseUrl: string,
  key: string,
  tenantId: string,
  locationId: string,
): Promise<string> {
  const token = `pit-${tenantId}-${locationId}`;
  await sandbox.control('POST', '/ghl/tokens', { token, locationId });
  const res = await call(baseUrl, 'PUT', '/v1/connections/ghl', {
    key,
    body: { token, locationId, syncEveryMinutes: 1440 },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return token;
}

/** The sandbox's default Vapi org (asst_demo, pn_demo) for any key it has not registered elsewhere. */
export async function connectVapi(baseUrl: string, key: string, apiKey = 'test-vapi-key'): Promise<void> {
  const res = await call(baseUrl, 'PUT', '/v1/connections/vapi', { key, body: { apiKey } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

export async function connectSendgrid(
  sandbox: Sandbox,
  baseUrl: string,
  key: string,
  tenantId: string,
  senderEmail = 'desk@clinic.example',
): Promise<void> {
  const apiKey = `SG.test-${tenantId}-key`;
  await sandbox.control('POST', '/sendgrid/keys', { apiKey, senders: [{ email: senderEmail, name: 'Front Desk' }] });
  const res = await call(baseUrl, 'PUT', '/v1/connections/sendgrid', { key, body: { apiKey, senderEmail } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}
