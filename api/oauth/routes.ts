import { createHmac } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import type { ProviderConfig, ProviderName } from '../../lib/config.js';
import { withTenant, type Pool } from '../../lib/db.js';
import type { Logger } from '../../lib/logger.js';
import { sameKey, type Scope, type TenantPrincipal } from '../apiKeys.js';
import { findSession, readCookie, ROLE_SCOPES, SESSION_COOKIE, setSessionCookies, type Role } from '../sessions.js';
import { AuthRefused, createLimits, Email, signIn, type UserDeps } from '../services/users.js';
import { ServiceError } from '../services/errors.js';
import { DEFAULT_METADATA_POLICY, type MetadataFetchPolicy } from './clientMetadata.js';
import { consentCsp, consentPage, messagePage, signInPage, type ClientView } from './consent.js';
import { createProvider, derivedKey, OAUTH_ROUTES, OAUTH_SCOPES, oauthUrls, type OAuthUrls } from './provider.js';
import { accountIdOf, findLiveAccessToken, nameGrantClient } from './store.js';

/**
 * OAuth 2.1 for /mcp, mounted on the API: the RFC 9728 / RFC 8414 metadata, the authorization
 * server's endpoints under /oauth/ (oidc-provider, handed the raw request), and our sign-in and
 * consent pages at /oauth/interaction/:uid. `McpOAuth` is what /mcp asks: is this bearer a live
 * token for us, and what does a 401 / 403 say.
 */

export interface OAuthSettings {
  pool: Pool;
  masterKey: Buffer;
  log: Logger;
  /** The public base URL, read when the first OAuth request arrives (the API's port may be chosen at listen). */
  baseUrl: () => string;
  /** Test only (set in code, never from env): loopback client metadata hosts and a test CA. */
  metadataPolicy?: Partial<MetadataFetchPolicy>;
  access: ProviderAccess;
  providers: Record<ProviderName, ProviderConfig>;
}

export interface McpOAuth {
  urls(): OAuthUrls;
  /** `WWW-Authenticate` for a 401 (no or bad token) or a 403 (insufficient scope). */
  challenge(opts?: { error?: 'invalid_token' | 'insufficient_scope'; scopes?: readonly string[] }): string;
  /** The principal of a live access token whose audience is our /mcp; undefined otherwise. */
  verify(token: string): Promise<TenantPrincipal | undefined>;
}

/**
 * The authorization server's opaque access tokens are 43 base64url characters (32 random bytes);
 * API keys are `sb_` + 43, so the two never look alike.
 */
export const isAccessTokenShaped = (token: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(token);

export function createMcpOAuth(s: OAuthSettings): McpOAuth & { provider(): Provider } {
  let urls: OAuthUrls | undefined;
  let provider: Provider | undefined;
  const urlsNow = () => (urls ??= oauthUrls(s.baseUrl()));
  return {
    urls: urlsNow,
    provider: () =>
      (provider ??= createProvider({
        pool: s.pool,
        masterKey: s.masterKey,
        log: s.log,
        urls: urlsNow(),
        metadataPolicy: { ...DEFAULT_METADATA_POLICY, ...s.metadataPolicy },
      })),
    challenge(opts = {}) {
      const scopes = opts.scopes ?? OAUTH_SCOPES;
      return [
        `Bearer realm="switchboard"`,
        `resource_metadata="${urlsNow().resourceMetadata}"`,
        `scope="${scopes.join(' ')}"`,
        ...(opts.error ? [`error="${opts.error}"`] : []),
      ].join(', ');
    },
    async verify(token) {
      const live = await findLiveAccessToken(s.pool, token);
      // RFC 8707: a token issued for any other resource is no token here.
      if (!live || !live.audience.includes(urlsNow().resource)) return undefined;
      const scopes = OAUTH_SCOPES.filter((sc) => live.scopes.includes(sc) && live.roleScopes.includes(sc));
      return {
        kind: 'tenant',
        keyId: `oauth:${live.grantId}`,
        tenantId: live.tenantId,
        scopes: scopes as Scope[],
        userId: live.userId,
        oauthClientId: live.clientId,
      };
    },
  };
}

const LoginForm = z.object({
  csrf: z.string().max(200),
  email: z.string().max(320),
  password: z.string().min(1).max(256),
  tenantId: z.string().max(100).optional(),
});
const ConsentForm = z.object({ csrf: z.string().max(200), decision: z.enum(['allow', 'deny']) });

export const oauthRoutes: FastifyPluginAsync<{
  oauth: ReturnType<typeof createMcpOAuth>;
  settings: OAuthSettings;
}> = async (app, { oauth, settings }) => {
  const { pool } = settings;
  const csrfKey = derivedKey(settings.masterKey, 'consent-csrf');
  const csrfOf = (uid: string) => createHmac('sha256', csrfKey).update(uid).digest('base64url');
  const userDeps: UserDeps = {
    pool,
    access: settings.access,
    providers: settings.providers,
    log: settings.log.child({ component: 'oauth' }),
    limits: createLimits(),
  };

  // ── Metadata ───────────────────────────────────────────────────────────────────────────────
  const resourceMetadata = () => ({
    resource: oauth.urls().resource,
    authorization_servers: [oauth.urls().issuer],
    scopes_supported: [...OAUTH_SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: 'Switchboard',
    resource_documentation: `${oauth.urls().issuer}/docs`,
  });
  for (const url of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp'])
    app.get(url, { schema: { hide: true } }, async (_req, reply) =>
      reply.header('cache-control', 'public, max-age=300').send(resourceMetadata()),
    );

  // ── The authorization server's own endpoints (raw request, its own body parsing) ───────────
  await app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    const handOver = (rewrite?: string) => async (req: FastifyRequest, reply: FastifyReply) => {
      const callback = oauth.provider().callback();
      reply.hijack();
      // The library derives its endpoints' URLs from the request: make that the public URL
      // whatever Host or proxy headers arrived (the issuer is fixed; see provider.ts `proxy`).
      const issuer = new URL(oauth.urls().issuer);
      req.raw.headers.host = issuer.host;
      req.raw.headers['x-forwarded-proto'] = issuer.protocol.slice(0, -1);
      delete req.raw.headers['x-forwarded-host'];
      if (rewrite)
        req.raw.url = rewrite + (req.raw.url?.includes('?') ? req.raw.url.slice(req.raw.url.indexOf('?')) : '');
      // A client that names no scope asks for the default: all of ours, narrowed by the user's role at consent.
      const asked = new URL(req.raw.url ?? '/', 'http://x');
      if (asked.pathname === OAUTH_ROUTES.authorization && req.method === 'GET' && !asked.searchParams.get('scope')) {
        asked.searchParams.set('scope', OAUTH_SCOPES.join(' '));
        req.raw.url = asked.pathname + asked.search;
      }
      callback(req.raw, reply.raw);
    };
    const methods = ['GET', 'POST', 'OPTIONS', 'DELETE', 'PUT'] as const;
    const paths = [
      OAUTH_ROUTES.authorization,
      `${OAUTH_ROUTES.authorization}/*`,
      OAUTH_ROUTES.token,
      OAUTH_ROUTES.registration,
      `${OAUTH_ROUTES.registration}/*`,
      OAUTH_ROUTES.revocation,
      OAUTH_ROUTES.jwks,
      '/.well-known/openid-configuration',
    ];
    for (const url of paths) raw.route({ method: [...methods], url, schema: { hide: true }, handler: handOver() });
    // RFC 8414 at its own well-known name: the same document the library serves for OpenID discovery.
    for (const url of ['/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/*'])
      raw.route({
        method: ['GET', 'OPTIONS'],
        url,
        schema: { hide: true },
        handler: handOver('/.well-known/openid-configuration'),
      });
  });

  // ── Sign-in and consent ────────────────────────────────────────────────────────────────────
  await app.register(async (pages) => {
    pages.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 16_384 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    const cookies = () => ({ secure: oauth.urls().issuer.startsWith('https:') });
    const html = (reply: FastifyReply, status: number, body: string, formTargets: string[] = []) =>
      reply
        .code(status)
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('content-security-policy', consentCsp(formTargets))
        .header('x-frame-options', 'DENY')
        .send(body);
    const expired = (reply: FastifyReply) =>
      html(
        reply,
        400,
        messagePage('This sign-in has expired', 'Go back to the application that sent you here and connect again.'),
      );
    const sameOrigin = (req: FastifyRequest) => {
      const origin = req.headers.origin;
      if (!origin) return true;
      return origin === new URL(oauth.urls().issuer).origin;
    };
    const csrfOk = (uid: string, sent: string) => sameKey(Buffer.from(sent), Buffer.from(csrfOf(uid)));

    /** The pending authorization request, its client and who is signed in (by the session cookie). */
    const load = async (req: FastifyRequest, reply: FastifyReply, uid: string) => {
      const provider = oauth.provider();
      const details = await provider.interactionDetails(req.raw, reply.raw).catch(() => undefined);
      if (!details || details.uid !== uid) return undefined;
      const clientId = String(details.params.client_id ?? '');
      const client = await provider.Client.find(clientId).catch(() => undefined);
      if (!client) return undefined;
      const redirectUri = String(details.params.redirect_uri ?? '');
      let redirectOrigin = '';
      try {
        redirectOrigin = new URL(redirectUri).origin;
      } catch {
        /* the library validated it; nothing to show */
      }
      const view: ClientView = {
        name: client.clientName || clientId,
        clientId,
        redirectHost: redirectOrigin || redirectUri,
        metadataDocument: /^https?:\/\//.test(clientId),
      };
      const token = readCookie(req, SESSION_COOKIE);
      const session = token ? await findSession(pool, token) : undefined;
      const me = session
        ? (
            await withTenant(pool, session.tenantId, (c) =>
              c.query<{ email: string; role: Role; name: string }>(
                `select u.email, u.role, t.name from users u join tenants t on t.id = u.tenant_id where u.id = $1`,
                [session.userId],
              ),
            )
          ).rows[0]
        : undefined;
      const requested = String(details.params.scope ?? '')
        .split(' ')
        .filter(Boolean);
      return { provider, details, client, view, session: me ? session : undefined, me, requested, redirectOrigin };
    };

    const showConsent = async (
      reply: FastifyReply,
      uid: string,
      ctx: NonNullable<Awaited<ReturnType<typeof load>>>,
    ) => {
      const s = ctx.session!;
      const me = ctx.me!;
      const { granted, withheld } = scopesFor(ctx.requested, me.role);
      return html(
        reply,
        200,
        consentPage({
          action: `/oauth/interaction/${uid}/confirm`,
          csrf: csrfOf(uid),
          client: ctx.view,
          tenant: { id: s.tenantId, name: me.name },
          user: { email: me.email, role: me.role },
          granted,
          withheld,
        }),
        [ctx.redirectOrigin],
      );
    };

    const Uid = z.object({ uid: z.string().regex(/^[\w-]{8,64}$/) });

    pages.get<{ Params: { uid: string } }>(
      '/oauth/interaction/:uid',
      { schema: { hide: true, params: Uid } },
      async (req, reply) => {
        const ctx = await load(req, reply, req.params.uid);
        if (!ctx) return expired(reply);
        if (!ctx.session)
          return html(
            reply,
            200,
            signInPage({
              action: `/oauth/interaction/${req.params.uid}/login`,
              csrf: csrfOf(req.params.uid),
              client: ctx.view,
            }),
          );
        return showConsent(reply, req.params.uid, ctx);
      },
    );

    pages.post<{ Params: { uid: string } }>(
      '/oauth/interaction/:uid/login',
      { schema: { hide: true, params: Uid } },
      async (req, reply) => {
        const { uid } = req.params;
        const form = LoginForm.safeParse(req.body);
        if (!sameOrigin(req) || !form.success || !csrfOk(uid, form.data.csrf))
          return html(reply, 403, messagePage('Refused', 'This form was not sent from the sign-in page.'));
        const ctx = await load(req, reply, uid);
        if (!ctx) return expired(reply);
        const again = (status: number, error: string) =>
          html(
            reply,
            status,
            signInPage({
              action: `/oauth/interaction/${uid}/login`,
              csrf: csrfOf(uid),
              client: ctx.view,
              error,
              email: form.data.email,
            }),
          );
        const email = Email.safeParse(form.data.email);
        if (!email.success) return again(400, 'That is not an email address.');
        const tenantId = form.data.tenantId?.trim() || undefined;
        try {
          const signed = await signIn(userDeps, { email: email.data, password: form.data.password, tenantId }, req.ip);
          setSessionCookies(reply, signed.session.token, cookies());
          return reply.redirect(`/oauth/interaction/${uid}`, 303);
        } catch (err) {
          if (err instanceof AuthRefused) {
            if (err.retryAfterSec) void reply.header('retry-after', String(err.retryAfterSec));
            return again(err.status, err.message);
          }
          if (err instanceof ServiceError) return again(err.status, err.message);
          throw err;
        }
      },
    );

    pages.post<{ Params: { uid: string } }>(
      '/oauth/interaction/:uid/confirm',
      { schema: { hide: true, params: Uid } },
      async (req, reply) => {
        const { uid } = req.params;
        const form = ConsentForm.safeParse(req.body);
        if (!sameOrigin(req) || !form.success || !csrfOk(uid, form.data.csrf))
          return html(reply, 403, messagePage('Refused', 'This form was not sent from the consent page.'));
        const ctx = await load(req, reply, uid);
        if (!ctx) return expired(reply);
        if (!ctx.session) return reply.redirect(`/oauth/interaction/${uid}`, 303);
        const { provider, details, session, me } = ctx;
        if (!me) return reply.redirect(`/oauth/interaction/${uid}`, 303);
        const finish = async (result: Parameters<Provider['interactionResult']>[2]) =>
          reply.redirect(
            await provider.interactionResult(req.raw, reply.raw, result, { mergeWithLastSubmission: false }),
            303,
          );
        if (form.data.decision === 'deny') {
          userDeps.log.info(
            { tenantId: session.tenantId, userId: session.userId, clientId: ctx.view.clientId },
            'oauth consent denied',
          );
          return finish({ error: 'access_denied', error_description: 'the user denied access' });
        }
        const { granted } = scopesFor(ctx.requested, me.role);
        if (!granted.length)
          return finish({
            error: 'access_denied',
            error_description: 'the user’s role allows none of the requested scopes',
          });
        const accountId = accountIdOf(session.tenantId, session.userId);
        let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
        if (grant && grant.accountId !== accountId) grant = undefined;
        grant ??= new provider.Grant({ accountId, clientId: ctx.view.clientId });
        // read/act/admin are also listed as the provider's own scopes (so its metadata names them):
        // granted (and refused) there too, or the request would count as unanswered.
        const oidc = ctx.requested.filter((sc) => sc === 'openid' || sc === 'offline_access');
        grant.addOIDCScope([...oidc, ...granted].join(' '));
        const resources = [details.params.resource ?? oauth.urls().resource].flat().map(String);
        // Scopes the role does not allow are recorded as refused, so the request counts as answered.
        const refused = ctx.requested.filter(
          (sc) => (OAUTH_SCOPES as readonly string[]).includes(sc) && !(granted as string[]).includes(sc),
        );
        for (const resource of resources) {
          grant.addResourceScope(resource, granted.join(' '));
          if (refused.length) grant.rejectResourceScope(resource, refused.join(' '));
        }
        if (refused.length) grant.rejectOIDCScope(refused.join(' '));
        const grantId = await grant.save();
        await nameGrantClient(pool, session.tenantId, grantId, ctx.view.name);
        userDeps.log.info(
          { tenantId: session.tenantId, userId: session.userId, clientId: ctx.view.clientId, scopes: granted },
          'oauth consent given',
        );
        return finish({ login: { accountId }, consent: { grantId } });
      },
    );
  });
};

/** What a user of `role` can grant of the requested scopes (all the role allows when none are named). */
export function scopesFor(requested: readonly string[], role: Role): { granted: Scope[]; withheld: string[] } {
  const allowed = ROLE_SCOPES[role];
  const ours = requested.filter((s): s is Scope => (OAUTH_SCOPES as readonly string[]).includes(s));
  const asked = ours.length ? ours : allowed;
  return {
    granted: OAUTH_SCOPES.filter((s) => asked.includes(s) && allowed.includes(s)),
    withheld: ours.filter((s) => !allowed.includes(s)),
  };
}
