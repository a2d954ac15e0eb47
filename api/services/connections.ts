import { z } from 'zod';
import {
  connectAnthropic,
  connectGhlByToken,
  connectionStatuses,
  connectSendgrid,
  connectVapi,
  disconnect,
} from '../../domain/connections/connect.js';
import { beginGhlAuthorization, completeGhlAuthorization } from '../../domain/connections/ghlOAuth.js';
import { ConnectedProvider } from '../../domain/connections/store.js';
import { pauseSyncSchedule } from '../crmSchedules.js';
import { applySyncSettings, type CrmSyncDeps } from './crmSync.js';
import { conflict, notFound } from './errors.js';

/**
 * A tenant's own provider accounts: connect (each credential checked live and bound to the account
 * the provider says it covers), list what is connected, disconnect. REST and the console share it.
 */

export const ConnectionStatus = z.object({
  provider: z.enum(['ghl', 'vapi', 'retell', 'sendgrid', 'anthropic']),
  state: z.enum(['connected', 'broken', 'missing']),
  mode: z.enum(['live', 'sandbox']),
  via: z
    .enum(['oauth', 'private_token', 'api_key', 'platform'])
    .nullable()
    .describe("platform: the install's own keys"),
  account: z.string().nullable().describe('GHL location, Vapi org or SendGrid sender the credential is bound to'),
  accountName: z.string().nullable(),
  scopes: z.array(z.string()),
  secretHint: z.string().nullable().describe('last characters of the secret, never the secret'),
  expiresAt: z.string().nullable().describe('when the OAuth access token expires (refreshed ahead of it)'),
  lastError: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
export type ConnectionStatus = z.infer<typeof ConnectionStatus>;

// Keys travel in HTTP headers to the provider: visible ASCII only (anything else could not be sent).
export const ApiKeyField = z
  .string()
  .trim()
  .min(8)
  .max(512)
  .regex(/^[\x21-\x7e]+$/, 'visible ASCII characters only (no spaces)');
export const GhlTokenConnect = z.strictObject({
  token: ApiKeyField.optional().describe('a Private Integration Token of the location (pit-…)'),
  locationId: z.string().trim().min(1).max(100),
  syncEveryMinutes: z.number().int().min(1).max(1440).optional(),
});
export const SendgridConnect = z.strictObject({
  apiKey: ApiKeyField,
  senderEmail: z.email().max(254).describe('a verified sender of this key; campaigns send as it'),
  eventWebhookPublicKey: z.string().trim().min(40).max(4000).optional().describe('verifies its Event Webhook'),
});

export type ConnectionDeps = CrmSyncDeps;

const status = async (deps: ConnectionDeps, tenantId: string, provider: ConnectionStatus['provider']) =>
  (await connectionStatuses(deps.connect, tenantId)).find((s) => s.provider === provider)!;

export function listConnections(deps: ConnectionDeps, tenantId: string): Promise<ConnectionStatus[]> {
  return connectionStatuses(deps.connect, tenantId);
}

/** The URL to send the tenant's user to; GHL sends them back to /oauth/ghl/callback. */
export async function authorizeGhl(
  deps: ConnectionDeps,
  tenantId: string,
  returnTo?: string,
): Promise<{ url: string; expiresAt: string }> {
  const oauth = deps.connect.access.ghlOAuth;
  if (!oauth) {
    throw conflict(
      'GoHighLevel OAuth is not configured on this server (GHL_OAUTH_CLIENT_ID, GHL_OAUTH_CLIENT_SECRET): connect with a Private Integration Token instead (PUT /v1/connections/ghl)',
    );
  }
  const begun = await beginGhlAuthorization(deps.pool, oauth, tenantId, returnTo);
  return { url: begun.url, expiresAt: begun.expiresAt.toISOString() };
}

/** GHL sent the browser back: the state names the tenant, the token names the location. */
export async function completeGhlOAuth(
  deps: ConnectionDeps,
  input: { state: string; code: string },
): Promise<{ tenantId: string; locationId: string; returnTo: string | null }> {
  const oauth = deps.connect.access.ghlOAuth;
  if (!oauth) throw conflict('GoHighLevel OAuth is not configured on this server');
  const done = await completeGhlAuthorization(deps.pool, deps.connect.masterKey, oauth, input);
  deps.connect.access.forget(done.tenantId, 'ghl');
  await applySyncSettings(deps, done.tenantId);
  return done;
}

export async function connectGhl(
  deps: ConnectionDeps,
  tenantId: string,
  input: z.infer<typeof GhlTokenConnect>,
): Promise<ConnectionStatus> {
  await connectGhlByToken(deps.connect, tenantId, input);
  await applySyncSettings(deps, tenantId, input.syncEveryMinutes);
  return status(deps, tenantId, 'ghl');
}

export async function connectVapiAccount(deps: ConnectionDeps, tenantId: string, input: { apiKey: string }) {
  await connectVapi(deps.connect, tenantId, input);
  return status(deps, tenantId, 'vapi');
}

export async function connectSendgridAccount(
  deps: ConnectionDeps,
  tenantId: string,
  input: z.infer<typeof SendgridConnect>,
) {
  await connectSendgrid(deps.connect, tenantId, input);
  return status(deps, tenantId, 'sendgrid');
}

export async function connectAnthropicKey(deps: ConnectionDeps, tenantId: string, input: { apiKey: string }) {
  await connectAnthropic(deps.connect, tenantId, input);
  return status(deps, tenantId, 'anthropic');
}

/** Forgets the tenant's account; GHL's sync schedule pauses (calls still answer, CRM tools say why). */
export async function disconnectProvider(deps: ConnectionDeps, tenantId: string, provider: string): Promise<void> {
  const parsed = ConnectedProvider.safeParse(provider);
  if (!parsed.success)
    throw notFound(`no connection kind '${provider}' (one of ${ConnectedProvider.options.join(', ')})`);
  const removed = await disconnect(deps.connect, tenantId, parsed.data);
  if (!removed) throw notFound(`this tenant has no ${parsed.data} connection of its own`);
  if (parsed.data === 'ghl') await pauseSyncSchedule(deps.temporal, tenantId, 'GoHighLevel disconnected');
}
