import { createHmac, createPrivateKey } from 'node:crypto';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { withTenant, type Pool } from '../../lib/db.js';
import type { Logger } from '../../lib/logger.js';
import { guardedFetch, metadataUrlRefusal, type MetadataFetchPolicy } from './clientMetadata.js';
import { parseAccountId, postgresAdapter } from './store.js';

/**
 * The authorization server for /mcp: panva's oidc-provider (OpenID-certified, OAuth 2.1 shaped:
 * code + PKCE S256 only, RFC 8707 resource indicators, RFC 9207 `iss`, RFC 7591 registration,
 * Client ID Metadata Documents, rotating refresh tokens with replay detection), configured here
 * and stored in Postgres (./store.ts). Its issuer is the public URL; its endpoints live under
 * /oauth/ (api/oauth/routes.ts mounts them), the consent page is ours (./consent.ts).
 */

/** Our scopes, as API keys and roles know them (api/apiKeys.ts). */
export const OAUTH_SCOPES = ['read', 'act', 'admin'] as const;

export const OAUTH_TTL = {
  accessTokenSec: 3_600,
  refreshTokenSec: 30 * 24 * 3_600,
  grantSec: 180 * 24 * 3_600,
  codeSec: 60,
  interactionSec: 15 * 60,
  sessionSec: 15 * 60,
} as const;

export const OAUTH_ROUTES = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  registration: '/oauth/register',
  revocation: '/oauth/revoke',
  jwks: '/oauth/jwks',
  end_session: '/oauth/logout',
  userinfo: '/oauth/userinfo',
  introspection: '/oauth/introspect',
  pushed_authorization_request: '/oauth/par',
  code_verification: '/oauth/device',
  device_authorization: '/oauth/device/auth',
  backchannel_authentication: '/oauth/backchannel',
  challenge: '/oauth/challenge',
  credential: '/oauth/credential',
} as const;

export interface OAuthUrls {
  /** The public base URL (SWITCHBOARD_PUBLIC_URL, else the API's own address); also the issuer. */
  issuer: string;
  /** The protected resource: tokens' audience must be exactly this. */
  resource: string;
  /** RFC 9728 metadata of the resource. */
  resourceMetadata: string;
}

export function oauthUrls(base: string): OAuthUrls {
  const issuer = base.replace(/\/+$/, '');
  const origin = new URL(issuer);
  const path = origin.pathname.replace(/\/+$/, '');
  return {
    issuer,
    resource: `${issuer}/mcp`,
    resourceMetadata: `${origin.origin}/.well-known/oauth-protected-resource${path}/mcp`,
  };
}

/** A key of its own for each use, derived from the master key (every replica derives the same). */
export function derivedKey(masterKey: Buffer, use: string): Buffer {
  return createHmac('sha256', masterKey).update(`switchboard oauth ${use} v1`).digest();
}

/** The signing key (ID tokens, if a client asks `openid`): Ed25519 from a derived seed. */
function signingJwk(masterKey: Buffer) {
  const seed = derivedKey(masterKey, 'signing');
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const jwk = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
  return { ...jwk, kid: createHmac('sha256', seed).update('kid').digest('base64url').slice(0, 16), use: 'sig' };
}

const POLICY_HOOK = 'x_switchboard_policy';
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Redirect URIs (OAuth 2.1 §2.3.1, RFC 8252): https anywhere (Claude's
 * https://claude.ai/api/mcp/auth_callback and https://claude.com/api/mcp/auth_callback), plain http
 * only on a loopback host. A client whose redirect URIs are all loopback http is a native app
 * (desktop, CLI), whatever it declared: its redirect may then use any port at request time.
 */
function redirectPolicy(_ctx: unknown, key: string, _value: unknown, metadata: Record<string, unknown>) {
  if (key !== POLICY_HOOK) return;
  delete metadata[POLICY_HOOK];
  const uris = Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris.map(String) : [];
  const loopback = (u: URL) => u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname);
  let parsed: URL[];
  try {
    parsed = uris.map((u) => new URL(u));
  } catch {
    throw new errors.InvalidRedirectUri('redirect_uris must be absolute URLs');
  }
  for (const u of parsed)
    if (u.protocol === 'http:' && !loopback(u))
      throw new errors.InvalidRedirectUri(`redirect URI ${u.href}: http is allowed on loopback hosts only; use https`);
  if (parsed.length && parsed.every(loopback)) metadata.application_type = 'native';
}

export interface ProviderSettings {
  pool: Pool;
  masterKey: Buffer;
  log: Logger;
  urls: OAuthUrls;
  metadataPolicy: MetadataFetchPolicy;
}

export function createProvider(s: ProviderSettings): Provider {
  const { pool, urls, log } = s;
  const audience = urls.resource;
  const configuration: Configuration = {
    adapter: postgresAdapter(pool),
    clients: [],
    async findAccount(_ctx, sub) {
      const account = parseAccountId(sub);
      if (!account) return undefined;
      const { rows } = await withTenant(pool, account.tenantId, (c) =>
        c.query('select 1 from users where id = $1', [account.userId]),
      ).catch(() => ({ rows: [] }));
      if (!rows.length) return undefined;
      return { accountId: sub, claims: () => ({ sub }) };
    },
    claims: { openid: ['sub'] },
    scopes: ['openid', 'offline_access', ...OAUTH_SCOPES],
    responseTypes: ['code'],
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    pkce: { required: () => true },
    cookies: {
      keys: [derivedKey(s.masterKey, 'cookies').toString('base64url')],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    jwks: { keys: [signingJwk(s.masterKey) as never] },
    enabledJWA: { idTokenSigningAlgValues: ['EdDSA'] },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'EdDSA',
    },
    routes: OAUTH_ROUTES,
    // Runs on every client (registered or from a metadata document) before the library validates it.
    extraClientMetadata: { properties: [POLICY_HOOK], validator: redirectPolicy },
    interactions: { url: (_ctx, interaction) => `/oauth/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      // Not served (and so not advertised): /mcp checks bearer tokens only, and clients use plain redirects.
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      // RFC 7591: the fallback for clients without a metadata document. Open, as MCP expects.
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // One resource: /mcp. A client that names none gets it; any other is invalid_target.
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== audience)
            throw new errors.InvalidTarget(`this server issues tokens for ${audience} only`);
          return {
            scope: OAUTH_SCOPES.join(' '),
            audience,
            accessTokenTTL: OAUTH_TTL.accessTokenSec,
            accessTokenFormat: 'opaque',
          };
        },
      },
      clientIdMetadataDocument: {
        enabled: true,
        ack: 'draft-02',
        // Checked before anything is sent: scheme and every resolved address (./clientMetadata.ts).
        async allowFetch(_ctx: KoaContextWithOIDC, clientId: string) {
          const refusal = await metadataUrlRefusal(clientId, s.metadataPolicy);
          if (refusal) log.info({ clientId, refusal }, 'client metadata document not fetched');
          return !refusal;
        },
        cacheDuration: { min: 60, max: 3_600 },
      } as never,
    },
    fetch: guardedFetch(s.metadataPolicy) as never,
    fetchResponseBodyLimits: {
      'client_id metadata document': s.metadataPolicy.maxBytes,
      jwks_uri: s.metadataPolicy.maxBytes,
      sector_identifier_uri: s.metadataPolicy.maxBytes,
    } as never,
    ttl: {
      AccessToken: OAUTH_TTL.accessTokenSec,
      AuthorizationCode: OAUTH_TTL.codeSec,
      RefreshToken: OAUTH_TTL.refreshTokenSec,
      Grant: OAUTH_TTL.grantSec,
      Interaction: OAUTH_TTL.interactionSec,
      Session: OAUTH_TTL.sessionSec,
      IdToken: OAUTH_TTL.accessTokenSec,
    },
    // Tokens live with their grant (revocable by the owner), not with the provider's short session.
    expiresWithSession: () => false,
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Every refresh returns a new refresh token; presenting a used one revokes the whole grant.
    rotateRefreshToken: () => true,
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.set('content-security-policy', "default-src 'none'; base-uri 'none'; frame-ancestors 'none'");
      const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
      ctx.body = `<!doctype html><meta charset="utf-8"><title>Sign-in failed</title><h1>Sign-in failed</h1><p>${esc(out.error)}: ${esc(out.error_description)}</p><p>Start again from the app that sent you here.</p>`;
    },
  };
  const provider = new Provider(urls.issuer, configuration);
  // Host and X-Forwarded-Proto are set from the issuer before each request reaches it (routes.ts).
  provider.proxy = true;
  provider.on('server_error', (_ctx, err) => log.error({ err }, 'oauth server error'));
  provider.on('grant.error', (_ctx, err) => log.info({ err: err.message }, 'oauth grant refused'));
  return provider;
}
