import type { GhlTokenSource } from '../../providers/ghl/client.js';
import type { ProviderConfig, ProviderName } from '../../lib/config.js';
import { createAnthropicClient, type LlmClient, type LlmClientOptions } from '../../providers/anthropic.js';
import { readCredential } from '../credentials.js';
import { consume, DEFAULT_QUOTA_LIMITS, ensureRemaining, type QuotaLimits } from '../quotas.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { refreshGhlAccessToken, REFRESH_AHEAD_MS, type GhlOAuthConfig } from './ghlOAuth.js';
import {
  NotConnectedError,
  readConnection,
  recordedPlatformTenant,
  type Connection,
  type ConnectedProvider,
} from './store.js';

/**
 * The one resolver from a tenant id to the provider account it acts through. Every provider call
 * in activities and the API starts here; nothing else reads a provider key from the environment.
 * The environment's keys serve exactly one tenant (`platformTenant`: a self-hosted single business,
 * or the demo tenant on the keyless sandbox); any other tenant uses its own connection or gets
 * NotConnectedError.
 */

export interface ProviderAccessDeps {
  pool: Pool;
  masterKey: Buffer;
  providers: Record<ProviderName, ProviderConfig>;
  platformTenant: string | undefined;
  ghlOAuth: GhlOAuthConfig | undefined;
  /** How long a resolved connection is reused in this process (default 10 s). */
  cacheMs?: number;
  /** Each tenant's quota limits unless the platform admin set others (default: domain/quotas.ts). */
  quotas?: QuotaLimits;
}

export type AccessVia = 'platform' | 'oauth' | 'private_token' | 'api_key';

export interface GhlAccess {
  mode: ProviderConfig['mode'];
  baseUrl: string;
  locationId: string;
  via: AccessVia;
  token: GhlTokenSource;
}

export interface KeyAccess {
  mode: ProviderConfig['mode'];
  baseUrl: string;
  apiKey: string;
  via: AccessVia;
  /** The provider account the key belongs to (Vapi org), when known. */
  accountId: string | null;
}

export interface SendgridAccess extends KeyAccess {
  /** The verified sender the key may send as; null for the platform key (any configured sender). */
  sender: { email: string; name: string | null } | null;
  /** Verifies the account's Event Webhook (the tenant's own); null: the platform's key applies. */
  eventWebhookPublicKey: string | null;
}

export type ProviderAccess = ReturnType<typeof createProviderAccess>;

export function createProviderAccess(deps: ProviderAccessDeps) {
  const cacheMs = deps.cacheMs ?? 10_000;
  const cache = new Map<string, { at: number; value: Promise<Connection | undefined> }>();
  const isPlatform = (tenantId: string) => deps.platformTenant !== undefined && tenantId === deps.platformTenant;

  function connection(tenantId: string, provider: ConnectedProvider): Promise<Connection | undefined> {
    const key = `${tenantId}\u0000${provider}`;
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < cacheMs) return hit.value;
    const value = readConnection(deps.pool, deps.masterKey, tenantId, provider);
    cache.set(key, { at: Date.now(), value });
    value.catch(() => cache.delete(key));
    return value;
  }
  const forget = (tenantId: string, provider?: ConnectedProvider) => {
    for (const key of cache.keys()) {
      if (key.startsWith(`${tenantId}\u0000`) && (!provider || key.endsWith(`\u0000${provider}`))) cache.delete(key);
    }
  };

  async function connected(tenantId: string, provider: ConnectedProvider): Promise<Connection> {
    const conn = await connection(tenantId, provider);
    if (!conn) throw new NotConnectedError(provider, 'missing');
    if (conn.status === 'broken') throw new NotConnectedError(provider, 'broken', conn.lastError ?? undefined);
    return conn;
  }

  async function platformLocation(tenantId: string): Promise<string> {
    const { rows } = await withTenant(deps.pool, tenantId, (c) =>
      c.query<{ location_id: string }>('select location_id from crm_connections where tenant_id = $1', [tenantId]),
    );
    if (!rows[0]) throw new NotConnectedError('ghl', 'missing');
    return rows[0].location_id;
  }

  async function renewGhl(tenantId: string, rejected?: string): Promise<string> {
    if (!deps.ghlOAuth) throw new NotConnectedError('ghl', 'broken', 'GoHighLevel OAuth is not configured here');
    try {
      return await refreshGhlAccessToken(deps.pool, deps.masterKey, deps.ghlOAuth, tenantId, rejected);
    } finally {
      forget(tenantId, 'ghl');
    }
  }

  const llms = new Map<string, { apiKey: string; llm: LlmClient }>();

  const quotaDefaults = deps.quotas ?? DEFAULT_QUOTA_LIMITS;
  const access = {
    isPlatformTenant: isPlatform,
    /** The platform's quota limits, for `consume` (domain/quotas.ts) wherever a paid action happens. */
    quotaDefaults,
    /** The GoHighLevel Marketplace app tenants connect through; undefined: private tokens only. */
    ghlOAuth: deps.ghlOAuth,
    /** Whether a provider is the live service or the local sandbox (the same for every tenant). */
    mode: (provider: ProviderName): ProviderConfig['mode'] => deps.providers[provider].mode,
    /** Drops what this process remembers of the tenant's connections (after a change). */
    forget,

    async ghl(tenantId: string): Promise<GhlAccess> {
      const { mode, baseUrl } = deps.providers.ghl;
      const conn = await connection(tenantId, 'ghl');
      if (!conn && isPlatform(tenantId)) {
        const apiKey = deps.providers.ghl.apiKey;
        const token: GhlTokenSource = { current: async () => apiKey, renewAfterRejected: async () => apiKey };
        return { mode, baseUrl, locationId: await platformLocation(tenantId), via: 'platform', token };
      }
      const c = await connected(tenantId, 'ghl');
      const token: GhlTokenSource =
        c.method === 'oauth'
          ? {
              async current() {
                const now = await connected(tenantId, 'ghl');
                const dying = now.expiresAt !== null && now.expiresAt.getTime() - Date.now() < REFRESH_AHEAD_MS;
                return dying ? renewGhl(tenantId) : now.secret.token;
              },
              renewAfterRejected: (rejected) => renewGhl(tenantId, rejected),
            }
          : {
              current: async () => (await connected(tenantId, 'ghl')).secret.token,
              renewAfterRejected: (rejected) => renewGhl(tenantId, rejected),
            };
      return { mode, baseUrl, locationId: c.accountId, via: c.method, token };
    },

    async vapi(tenantId: string): Promise<KeyAccess> {
      const { mode, baseUrl, apiKey } = deps.providers.vapi;
      const conn = await connection(tenantId, 'vapi');
      if (!conn && isPlatform(tenantId)) return { mode, baseUrl, apiKey, via: 'platform', accountId: null };
      const c = await connected(tenantId, 'vapi');
      return { mode, baseUrl, apiKey: c.secret.token, via: 'api_key', accountId: c.accountId };
    },

    async sendgrid(tenantId: string): Promise<SendgridAccess> {
      const { mode, baseUrl, apiKey } = deps.providers.sendgrid;
      const conn = await connection(tenantId, 'sendgrid');
      if (!conn && isPlatform(tenantId)) {
        return { mode, baseUrl, apiKey, via: 'platform', accountId: null, sender: null, eventWebhookPublicKey: null };
      }
      const c = await connected(tenantId, 'sendgrid');
      const name = typeof c.settings.senderName === 'string' ? c.settings.senderName : null;
      return {
        mode,
        baseUrl,
        apiKey: c.secret.token,
        via: 'api_key',
        accountId: c.accountId,
        sender: { email: c.accountId, name },
        eventWebhookPublicKey:
          typeof c.settings.eventWebhookPublicKey === 'string' ? c.settings.eventWebhookPublicKey : null,
      };
    },

    /** Claude: the tenant's own key when it set one, else the platform's (models are a platform service). */
    async anthropic(tenantId: string): Promise<KeyAccess> {
      const { mode, baseUrl, apiKey } = deps.providers.anthropic;
      const conn = await connection(tenantId, 'anthropic');
      if (conn?.status === 'connected') {
        return { mode, baseUrl, apiKey: conn.secret.token, via: 'api_key', accountId: null };
      }
      return { mode, baseUrl, apiKey, via: 'platform', accountId: null };
    },

    /** Retell: the tenant's API key (admin credentials API), the platform's only for its tenant. */
    async retell(tenantId: string): Promise<KeyAccess> {
      const { mode, baseUrl, apiKey } = deps.providers.retell;
      const cred = await readCredential(deps.pool, deps.masterKey, tenantId, 'retell');
      if (cred) return { mode, baseUrl, apiKey: cred.secret, via: 'api_key', accountId: null };
      if (isPlatform(tenantId)) return { mode, baseUrl, apiKey, via: 'platform', accountId: null };
      throw new NotConnectedError('retell', 'missing');
    },

    /** A Claude client on the tenant's key (or the platform's), reused while the key stays the same. */
    async llm(
      tenantId: string,
      opts: LlmClientOptions = {},
      /** The caller already checked the daily tokens in its own transaction (ensureRemaining). */
      checked: { quotaChecked?: boolean } = {},
    ): Promise<LlmClient> {
      // Tokens are known only from the answer: a tenant past its daily tokens gets no client; the
      // tokens of each answer are counted as it arrives (meter below).
      if (!checked.quotaChecked) await ensureRemaining(deps.pool, tenantId, 'claude_tokens_per_day', quotaDefaults);
      const key = await access.anthropic(tenantId);
      const memo = `${tenantId}\u0000${opts.model ?? ''}\u0000${opts.maxRetries ?? ''}\u0000${opts.timeoutMs ?? ''}`;
      const hit = llms.get(memo);
      if (hit && hit.apiKey === key.apiKey) return hit.llm;
      const llm = createAnthropicClient(key, opts, async (tokens) => {
        await consume(deps.pool, tenantId, 'claude_tokens_per_day', tokens, { defaults: quotaDefaults, record: true });
      });
      llms.set(memo, { apiKey: key.apiKey, llm });
      return llm;
    },
  };
  return access;
}

/**
 * The platform tenant: configured, else the one an upgrade recorded (an install with one tenant
 * keeps its platform keys), else the demo tenant when every provider is the keyless sandbox.
 */
export async function resolvePlatformTenant(
  pool: Pool,
  config: { platformTenant: string | undefined; providers: Record<ProviderName, ProviderConfig> },
  demoTenant: string,
): Promise<string | undefined> {
  if (config.platformTenant) return config.platformTenant;
  const recorded = await recordedPlatformTenant(pool);
  if (recorded) return recorded;
  return Object.values(config.providers).every((p) => p.mode === 'sandbox') ? demoTenant : undefined;
}
