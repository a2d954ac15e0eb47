import { createHash } from 'node:crypto';
import type { ProviderConfig, ProviderName } from '../../lib/config.js';
import { readCredential } from '../credentials.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { bindCrmLocation } from './ghlOAuth.js';
import type { ProviderAccess } from './providerAccess.js';
import { deleteConnection, listConnections, saveConnectionOn, type ConnectedProvider } from './store.js';
import { CredentialRejected, verifyAnthropicKey, verifyGhlLocation, verifySendgrid, verifyVapiKey } from './verify.js';

/**
 * Connecting a tenant's own accounts: each credential is checked live against the provider, bound
 * to the account the provider says it covers, sealed and stored; the resolver forgets what it knew.
 */

export interface ConnectDeps {
  pool: Pool;
  masterKey: Buffer;
  providers: Record<ProviderName, ProviderConfig>;
  access: ProviderAccess;
}

const fingerprint = (tenantId: string, secret: string) =>
  createHash('sha256').update(`${tenantId}\u0000${secret}`).digest('hex').slice(0, 16);

/**
 * GoHighLevel by Private Integration Token (`token` given), or — for the platform tenant only — by
 * the environment's token. Either way the location must answer to that token.
 */
export async function connectGhlByToken(
  deps: ConnectDeps,
  tenantId: string,
  input: { token?: string; locationId: string },
): Promise<{ locationId: string; name: string | null }> {
  const { baseUrl } = deps.providers.ghl;
  if (!input.token) {
    if (!deps.access.isPlatformTenant(tenantId)) {
      throw new CredentialRejected(
        'body.token',
        "required: this tenant's own Private Integration Token (or use POST /v1/connections/ghl/authorize)",
      );
    }
    const location = await verifyGhlLocation(baseUrl, deps.providers.ghl.apiKey, input.locationId, 'GHL_API_TOKEN');
    await withTenant(deps.pool, tenantId, (c) => bindCrmLocation(c, tenantId, location.id));
    deps.access.forget(tenantId, 'ghl');
    return { locationId: location.id, name: location.name };
  }
  const location = await verifyGhlLocation(baseUrl, input.token, input.locationId);
  await withTenant(deps.pool, tenantId, async (c) => {
    await saveConnectionOn(c, deps.masterKey, tenantId, {
      provider: 'ghl',
      method: 'private_token',
      accountId: location.id,
      accountName: location.name,
      secret: { token: input.token! },
    });
    await bindCrmLocation(c, tenantId, location.id);
  });
  deps.access.forget(tenantId, 'ghl');
  return { locationId: location.id, name: location.name };
}

export async function connectVapi(
  deps: ConnectDeps,
  tenantId: string,
  input: { apiKey: string },
): Promise<{ orgId: string }> {
  const { orgId } = await verifyVapiKey(deps.providers.vapi.baseUrl, input.apiKey, fingerprint(tenantId, input.apiKey));
  await withTenant(deps.pool, tenantId, (c) =>
    saveConnectionOn(c, deps.masterKey, tenantId, {
      provider: 'vapi',
      method: 'api_key',
      accountId: orgId,
      secret: { token: input.apiKey },
    }),
  );
  deps.access.forget(tenantId, 'vapi');
  return { orgId };
}

export async function connectSendgrid(
  deps: ConnectDeps,
  tenantId: string,
  input: { apiKey: string; senderEmail: string; eventWebhookPublicKey?: string },
): Promise<{ sender: string }> {
  const { name } = await verifySendgrid(deps.providers.sendgrid.baseUrl, input.apiKey, input.senderEmail);
  await withTenant(deps.pool, tenantId, (c) =>
    saveConnectionOn(c, deps.masterKey, tenantId, {
      provider: 'sendgrid',
      method: 'api_key',
      accountId: input.senderEmail.toLowerCase(),
      accountName: name,
      scopes: ['mail.send'],
      secret: { token: input.apiKey },
      settings: {
        ...(name ? { senderName: name } : {}),
        ...(input.eventWebhookPublicKey ? { eventWebhookPublicKey: input.eventWebhookPublicKey } : {}),
      },
    }),
  );
  deps.access.forget(tenantId, 'sendgrid');
  return { sender: input.senderEmail.toLowerCase() };
}

export async function connectAnthropic(deps: ConnectDeps, tenantId: string, input: { apiKey: string }): Promise<void> {
  await verifyAnthropicKey(deps.providers.anthropic.baseUrl, input.apiKey);
  await withTenant(deps.pool, tenantId, (c) =>
    saveConnectionOn(c, deps.masterKey, tenantId, {
      provider: 'anthropic',
      method: 'api_key',
      accountId: `key:${fingerprint(tenantId, input.apiKey)}`,
      secret: { token: input.apiKey },
    }),
  );
  deps.access.forget(tenantId, 'anthropic');
}

export async function disconnect(deps: ConnectDeps, tenantId: string, provider: ConnectedProvider): Promise<boolean> {
  const removed = await deleteConnection(deps.pool, tenantId, provider);
  deps.access.forget(tenantId, provider);
  return removed;
}

export type ConnectionState = 'connected' | 'broken' | 'missing';

export interface ConnectionStatus {
  provider: ProviderName;
  state: ConnectionState;
  mode: ProviderConfig['mode'];
  /** How it is connected: the tenant's own account, or the platform's keys (single-business install). */
  via: 'oauth' | 'private_token' | 'api_key' | 'platform' | null;
  account: string | null;
  accountName: string | null;
  scopes: string[];
  secretHint: string | null;
  expiresAt: string | null;
  lastError: string | null;
  updatedAt: string | null;
}

/** Per provider: connected, broken or missing, with what it is bound to (never a secret). */
export async function connectionStatuses(deps: ConnectDeps, tenantId: string): Promise<ConnectionStatus[]> {
  const rows = await listConnections(deps.pool, deps.masterKey, tenantId);
  const platform = deps.access.isPlatformTenant(tenantId);
  const crm = await withTenant(deps.pool, tenantId, (c) =>
    c.query<{ location_id: string }>('select location_id from crm_connections where tenant_id = $1', [tenantId]),
  );
  const retell = await readCredential(deps.pool, deps.masterKey, tenantId, 'retell');
  const empty = {
    account: null,
    accountName: null,
    scopes: [],
    secretHint: null,
    expiresAt: null,
    lastError: null,
    updatedAt: null,
  };
  const names: ProviderName[] = ['ghl', 'vapi', 'retell', 'sendgrid', 'anthropic'];
  return names.map((provider): ConnectionStatus => {
    const mode = deps.providers[provider].mode;
    const row = rows.find((r) => r.provider === provider);
    if (row) {
      return {
        provider,
        state: row.status,
        mode,
        via: row.method,
        account: row.accountId,
        accountName: row.accountName,
        scopes: row.scopes,
        secretHint: row.secretHint,
        expiresAt: row.expiresAt?.toISOString() ?? null,
        lastError: row.lastError,
        updatedAt: row.updatedAt.toISOString(),
      };
    }
    if (provider === 'retell' && retell) return { provider, state: 'connected', mode, via: 'api_key', ...empty };
    if (provider === 'ghl' && platform && crm.rows[0]) {
      return { provider, state: 'connected', mode, via: 'platform', ...empty, account: crm.rows[0].location_id };
    }
    // Claude falls back to the platform's key for everyone; the others only for the platform tenant.
    if (provider === 'anthropic' || (platform && provider !== 'ghl'))
      return { provider, state: 'connected', mode, via: 'platform', ...empty };
    return { provider, state: 'missing', mode, via: null, ...empty };
  });
}
