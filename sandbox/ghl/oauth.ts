import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { issueLines } from '../context.js';
import { deriveSeed, IdFactory, Rng } from '../random.js';
import { findLocation, listLocations, SANDBOX_COMPANY_ID, SANDBOX_USER_ID } from './locations.js';
import type { GhlStore } from './store.js';

/**
 * GoHighLevel Marketplace OAuth 2.0: the location chooser (consent page), the one-time codes it
 * hands out, and `POST /oauth/token` with rotating refresh tokens. Access tokens are bound to one
 * location through the shared `tokens` map, so the API routes answer 403 elsewhere.
 */

/** Routes (with the `/ghl` prefix) that need no Bearer token or Version header. */
export const OAUTH_ROUTES: ReadonlySet<string> = new Set(['/ghl/oauth/chooselocation', '/ghl/oauth/token']);

export const DEFAULT_CLIENT = { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' } as const;
export const DEFAULT_ACCESS_TOKEN_TTL_S = 86_399;
export const DEFAULT_CODE_TTL_S = 600;
const MAX_GRANT_LOG = 10_000;
const ACCESS_TOKEN_PREFIX = 'sandbox-at-';
const REFRESH_TOKEN_PREFIX = 'sandbox-rt-';

interface CodeGrant {
  clientId: string;
  redirectUri: string;
  locationId: string;
  scope: string;
  expiresAtMs: number;
  used: boolean;
}

interface RefreshGrant {
  clientId: string;
  locationId: string;
  scope: string;
  state: 'live' | 'used' | 'revoked';
}

interface AccessGrant {
  clientId: string;
  locationId: string;
  expiresAtMs: number;
  revoked: boolean;
}

/** One call of the token endpoint, as `GET /__sandbox/ghl/oauth/grants` lists it. */
export interface GrantRecord {
  grantType: string | null;
  clientId: string | null;
  locationId: string | null;
  ok: boolean;
  error?: string;
  errorDescription?: string;
  at: string;
}

export interface RevokeCounts {
  refreshTokens: number;
  accessTokens: number;
}

export interface TokenAnswer {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
  userType: 'Location';
  locationId: string;
  companyId: string;
  userId: string;
}

/** An OAuth error answer (RFC 6749 §5.2 shape, which GHL's token endpoint uses). */
class OAuthError extends Error {
  constructor(
    readonly status: 400 | 401,
    readonly code: string,
    readonly description: string,
  ) {
    super(description);
  }
}

export class GhlOAuth {
  private ids: IdFactory;
  private readonly clients = new Map<string, string>();
  private readonly codes = new Map<string, CodeGrant>();
  private readonly refreshTokens = new Map<string, RefreshGrant>();
  private readonly accessTokens = new Map<string, AccessGrant>();
  private grantLog: GrantRecord[] = [];
  accessTokenTtlS = DEFAULT_ACCESS_TOKEN_TTL_S;
  codeTtlS = DEFAULT_CODE_TTL_S;

  constructor(
    seed: number,
    /** The GHL module's location-scoped tokens: every access token is registered there. */
    private readonly tokens: Map<string, string>,
  ) {
    this.ids = new IdFactory(new Rng(deriveSeed(seed, 'ghl-oauth')));
    this.clients.set(DEFAULT_CLIENT.clientId, DEFAULT_CLIENT.clientSecret);
  }

  /** Drops every client but the default one, every code and token, the grant log and the config. */
  reset(seed: number): void {
    this.ids = new IdFactory(new Rng(deriveSeed(seed, 'ghl-oauth')));
    this.clients.clear();
    this.clients.set(DEFAULT_CLIENT.clientId, DEFAULT_CLIENT.clientSecret);
    this.codes.clear();
    this.refreshTokens.clear();
    this.accessTokens.clear();
    this.grantLog = [];
    this.accessTokenTtlS = DEFAULT_ACCESS_TOKEN_TTL_S;
    this.codeTtlS = DEFAULT_CODE_TTL_S;
  }

  hasClient(clientId: string): boolean {
    return this.clients.has(clientId);
  }

  registerClient(clientId: string, clientSecret: string): void {
    this.clients.set(clientId, clientSecret);
  }

  /**
   * True for an access token this module issued that has expired or been revoked (→ 401), and for
   * one in its format it does not know: issued before a reset, it must not pass as an any-location token.
   */
  isDead(token: string, nowMs = Date.now()): boolean {
    const grant = this.accessTokens.get(token);
    if (!grant) return token.startsWith(ACCESS_TOKEN_PREFIX);
    return grant.revoked || nowMs >= grant.expiresAtMs;
  }

  issueCode(clientId: string, redirectUri: string, locationId: string, scope: string): string {
    const code = this.ids.hex(40);
    const expiresAtMs = Date.now() + this.codeTtlS * 1000;
    this.codes.set(code, { clientId, redirectUri, locationId, scope, expiresAtMs, used: false });
    return code;
  }

  /** Expires an access token now; false if this module never issued it. */
  expire(accessToken: string): boolean {
    const grant = this.accessTokens.get(accessToken);
    if (!grant) return false;
    grant.expiresAtMs = Date.now();
    return true;
  }

  /** Revokes one refresh token, or every token of a location; undefined if the refresh token is unknown. */
  revoke(input: { refreshToken?: string; locationId?: string }): RevokeCounts | undefined {
    let refreshTokens = 0;
    let accessTokens = 0;
    if (input.refreshToken !== undefined) {
      const grant = this.refreshTokens.get(input.refreshToken);
      if (!grant) return undefined;
      if (grant.state === 'live') refreshTokens++;
      grant.state = 'revoked';
    }
    if (input.locationId !== undefined) {
      for (const grant of this.refreshTokens.values()) {
        if (grant.locationId !== input.locationId || grant.state === 'revoked') continue;
        if (grant.state === 'live') refreshTokens++;
        grant.state = 'revoked';
      }
      for (const grant of this.accessTokens.values()) {
        if (grant.locationId !== input.locationId || grant.revoked) continue;
        grant.revoked = true;
        accessTokens++;
      }
    }
    return { refreshTokens, accessTokens };
  }

  grants(): readonly GrantRecord[] {
    return this.grantLog;
  }

  /** The token endpoint's logic: answers a token pair or throws an OAuthError; every call is logged. */
  exchange(body: z.infer<typeof TokenBody>): TokenAnswer {
    const record: GrantRecord = {
      grantType: body.grant_type ?? null,
      clientId: body.client_id ?? null,
      locationId: null,
      ok: false,
      at: new Date().toISOString(),
    };
    this.grantLog.push(record);
    if (this.grantLog.length > MAX_GRANT_LOG) this.grantLog.shift();
    try {
      const answer = this.grant(body, record);
      record.ok = true;
      return answer;
    } catch (err) {
      if (err instanceof OAuthError) Object.assign(record, { error: err.code, errorDescription: err.description });
      throw err;
    }
  }

  /** Logs a token call that did not get as far as `exchange` (an unreadable body). */
  logRejected(err: OAuthError): void {
    this.grantLog.push({
      grantType: null,
      clientId: null,
      locationId: null,
      ok: false,
      error: err.code,
      errorDescription: err.description,
      at: new Date().toISOString(),
    });
    if (this.grantLog.length > MAX_GRANT_LOG) this.grantLog.shift();
  }

  private grant(body: z.infer<typeof TokenBody>, record: GrantRecord): TokenAnswer {
    const grantType = body.grant_type;
    if (!grantType) throw new OAuthError(400, 'invalid_request', 'grant_type is required');
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      throw new OAuthError(400, 'unsupported_grant_type', `grant_type ${grantType} is not supported`);
    }
    // RFC 6749 §5.2: missing or wrong client credentials are invalid_client (401).
    if (!body.client_id || body.client_secret === undefined) {
      throw new OAuthError(401, 'invalid_client', 'client_id and client_secret are required');
    }
    const secret = this.clients.get(body.client_id);
    if (secret === undefined) throw new OAuthError(401, 'invalid_client', 'Unknown client_id');
    if (secret !== body.client_secret) throw new OAuthError(401, 'invalid_client', 'Invalid client_secret');
    if (body.user_type !== undefined && body.user_type !== 'Location' && body.user_type !== 'Company') {
      throw new OAuthError(400, 'invalid_request', 'user_type must be Location or Company');
    }
    if (body.user_type === 'Company') {
      // Consent in the sandbox is always for one location: there are no agency-level grants.
      throw new OAuthError(400, 'invalid_request', 'The sandbox grants Location tokens only (user_type Company)');
    }

    if (grantType === 'authorization_code') {
      if (!body.code) throw new OAuthError(400, 'invalid_request', 'code is required');
      const code = this.codes.get(body.code);
      if (!code) throw new OAuthError(400, 'invalid_grant', 'Invalid authorization code');
      record.locationId = code.locationId;
      if (code.used) throw new OAuthError(400, 'invalid_grant', 'Authorization code has already been used');
      if (Date.now() >= code.expiresAtMs) throw new OAuthError(400, 'invalid_grant', 'Authorization code has expired');
      if (code.clientId !== body.client_id) {
        throw new OAuthError(400, 'invalid_grant', 'Authorization code was issued to another client');
      }
      if (body.redirect_uri !== undefined && body.redirect_uri !== code.redirectUri) {
        throw new OAuthError(400, 'invalid_grant', 'redirect_uri does not match the one used to get the code');
      }
      code.used = true;
      return this.issue(code.clientId, code.locationId, code.scope);
    }

    if (!body.refresh_token) throw new OAuthError(400, 'invalid_request', 'refresh_token is required');
    const refresh = this.refreshTokens.get(body.refresh_token);
    if (!refresh) throw new OAuthError(400, 'invalid_grant', 'Invalid refresh token');
    record.locationId = refresh.locationId;
    if (refresh.state === 'used') {
      throw new OAuthError(400, 'invalid_grant', 'Refresh token has already been used (refresh tokens rotate)');
    }
    if (refresh.state === 'revoked') throw new OAuthError(400, 'invalid_grant', 'Refresh token has been revoked');
    if (refresh.clientId !== body.client_id) {
      throw new OAuthError(400, 'invalid_grant', 'Refresh token was issued to another client');
    }
    refresh.state = 'used';
    return this.issue(refresh.clientId, refresh.locationId, refresh.scope);
  }

  private issue(clientId: string, locationId: string, scope: string): TokenAnswer {
    const accessToken = `${ACCESS_TOKEN_PREFIX}${this.ids.alnum(40)}`;
    const refreshToken = `${REFRESH_TOKEN_PREFIX}${this.ids.alnum(40)}`;
    const expiresIn = this.accessTokenTtlS;
    const expiresAtMs = Date.now() + expiresIn * 1000;
    this.accessTokens.set(accessToken, { clientId, locationId, expiresAtMs, revoked: false });
    this.refreshTokens.set(refreshToken, { clientId, locationId, scope, state: 'live' });
    this.tokens.set(accessToken, locationId);
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: expiresIn,
      refresh_token: refreshToken,
      scope,
      userType: 'Location',
      locationId,
      companyId: SANDBOX_COMPANY_ID,
      userId: SANDBOX_USER_ID,
    };
  }
}

// --- HTTP ---------------------------------------------------------------------------------------

const optionalText = z.string().optional();
const TokenBody = z.object({
  client_id: optionalText,
  client_secret: optionalText,
  grant_type: optionalText,
  code: optionalText,
  refresh_token: optionalText,
  user_type: optionalText,
  redirect_uri: optionalText,
});
const AuthorizeQuery = z.object({
  response_type: optionalText,
  client_id: optionalText,
  redirect_uri: optionalText,
  scope: optionalText,
  state: optionalText,
});
const DecisionBody = AuthorizeQuery.omit({ response_type: true }).extend({
  location_id: optionalText,
  decision: optionalText,
});

export interface OAuthRouteDeps {
  oauth(): GhlOAuth;
  store(): GhlStore;
}

/** An absolute http(s) URL without a fragment (RFC 6749 §3.1.2). */
function validRedirect(raw: string | undefined): URL | undefined {
  if (!raw) return undefined;
  try {
    const url = new URL(raw);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.hash ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Problems with the client and redirect_uri; with these the sandbox must not redirect anywhere. */
function clientProblems(oauth: GhlOAuth, clientId: string | undefined, redirectUri: string | undefined): string[] {
  const problems: string[] = [];
  if (!clientId) problems.push('client_id is missing.');
  else if (!oauth.hasClient(clientId)) problems.push(`Unknown client_id "${clientId}".`);
  if (!redirectUri) problems.push('redirect_uri is missing.');
  else if (!validRedirect(redirectUri)) problems.push(`redirect_uri "${redirectUri}" is not an absolute http(s) URL.`);
  return problems;
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
.note{color:#666;font-size:.9rem}ul.locations{list-style:none;padding:0}
ul.locations li{display:flex;justify-content:space-between;align-items:center;border:1px solid #ddd;
border-radius:6px;padding:.6rem .8rem;margin:.4rem 0}form{margin:0}button{padding:.4rem 1rem}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
<p class="note">GoHighLevel sandbox: a simulation, not the real service.</p>
${body}
</body></html>
`;
}

function sendHtml(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .status(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
    .send(html);
}

function problemPage(reply: FastifyReply, problems: string[]): FastifyReply {
  const items = problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('\n');
  const title = 'Invalid authorization request';
  return sendHtml(reply, 400, page(title, `<h1>${title}</h1>\n<ul class="problems">\n${items}\n</ul>`));
}

function hidden(fields: Record<string, string | undefined>): string {
  return Object.entries(fields)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
}

interface ConsentRequest {
  clientId: string;
  redirectUri: string;
  scope: string;
  state: string | undefined;
}

const FORM = '<form method="post" action="/ghl/oauth/chooselocation">';

function consentPage(q: ConsentRequest, locations: { id: string; name: string }[]): string {
  const app = escapeHtml(q.clientId);
  const scopes = q.scope.split(/\s+/).filter(Boolean);
  const scopeList = scopes.length
    ? `<ul class="scopes">\n${scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('\n')}\n</ul>`
    : '<p>No scopes requested.</p>';
  const common = { client_id: q.clientId, redirect_uri: q.redirectUri, scope: q.scope, state: q.state };
  const rows = locations
    .map(
      (l) =>
        `<li><span><strong>${escapeHtml(l.name)}</strong> <code>${escapeHtml(l.id)}</code></span>` +
        `${FORM}${hidden({ ...common, location_id: l.id, decision: 'allow' })}` +
        `<button type="submit">Allow</button></form></li>`,
    )
    .join('\n');
  return page(
    `Choose a location for ${q.clientId}`,
    `<h1>Connect <span class="app">${app}</span></h1>
<p>The app <strong>${app}</strong> asks for access to one of your locations with these scopes:</p>
${scopeList}
<h2>Choose a location</h2>
<ul class="locations">
${rows}
</ul>
${FORM}${hidden({ ...common, decision: 'deny' })}<button type="submit">Deny</button></form>`,
  );
}

function oauthErrorBody(err: OAuthError): { error: string; error_description: string } {
  return { error: err.code, error_description: err.description };
}

/** `GET|POST /oauth/chooselocation` and `POST /oauth/token`, in their own scope (form bodies, own errors). */
export async function registerOauthRoutes(app: FastifyInstance, deps: OAuthRouteDeps): Promise<void> {
  // GHL's token endpoint takes form bodies; only this scope parses them, the API keeps answering 415.
  const formOptions = { parseAs: 'string', bodyLimit: 64 * 1024 } as const;
  app.addContentTypeParser('application/x-www-form-urlencoded', formOptions, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });

  // Unreadable bodies (bad JSON, unknown content type) get the shape each endpoint's caller expects.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err, url: req.url }, 'sandbox GHL OAuth handler failed');
    const message = status >= 500 ? 'Internal server error' : err.message;
    if (req.routeOptions.url === '/ghl/oauth/token') {
      if (status >= 500) return reply.status(500).send({ error: 'server_error', error_description: message });
      const error = new OAuthError(400, 'invalid_request', message);
      deps.oauth().logRejected(error);
      return reply.status(400).send(oauthErrorBody(error));
    }
    if (status >= 500) return sendHtml(reply, 500, page('Error', `<h1>${escapeHtml(message)}</h1>`));
    return problemPage(reply, [message]);
  });

  app.get('/oauth/chooselocation', async (req, reply) => {
    const parsed = AuthorizeQuery.safeParse(req.query ?? {});
    if (!parsed.success) return problemPage(reply, issueLines(parsed.error.issues));
    const q = parsed.data;
    const problems = clientProblems(deps.oauth(), q.client_id, q.redirect_uri);
    if (q.response_type !== 'code') problems.push(`response_type must be "code" (got "${q.response_type ?? ''}").`);
    if (problems.length) return problemPage(reply, problems);
    const html = consentPage(
      { clientId: q.client_id!, redirectUri: q.redirect_uri!, scope: q.scope ?? '', state: q.state },
      listLocations(deps.store()),
    );
    return sendHtml(reply, 200, html);
  });

  app.post('/oauth/chooselocation', async (req, reply) => {
    const parsed = DecisionBody.safeParse(req.body ?? {});
    if (!parsed.success) return problemPage(reply, issueLines(parsed.error.issues));
    const b = parsed.data;
    const oauth = deps.oauth();
    const problems = clientProblems(oauth, b.client_id, b.redirect_uri);
    if (b.decision !== 'allow' && b.decision !== 'deny') problems.push('decision must be "allow" or "deny".');
    if (b.decision === 'allow' && !b.location_id) problems.push('location_id is missing.');
    else if (b.decision === 'allow' && !findLocation(deps.store(), b.location_id!)) {
      problems.push(`Unknown location "${b.location_id}".`);
    }
    if (problems.length) return problemPage(reply, problems);
    const target = validRedirect(b.redirect_uri)!;
    if (b.decision === 'deny') {
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('error_description', 'The user denied access');
    } else {
      target.searchParams.set('code', oauth.issueCode(b.client_id!, b.redirect_uri!, b.location_id!, b.scope ?? ''));
    }
    if (b.state !== undefined) target.searchParams.set('state', b.state);
    return reply.header('cache-control', 'no-store').redirect(target.toString(), 302);
  });

  app.post('/oauth/token', async (req, reply) => {
    const oauth = deps.oauth();
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    const parsed = TokenBody.safeParse(req.body ?? {});
    try {
      if (!parsed.success) throw new OAuthError(400, 'invalid_request', issueLines(parsed.error.issues).join('; '));
      return oauth.exchange(parsed.data);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      if (!parsed.success) oauth.logRejected(err);
      return reply.status(err.status).send(oauthErrorBody(err));
    }
  });
}

const ClientBody = z.object({ clientId: z.string().min(1), clientSecret: z.string().min(1) });
const ConfigBody = z.object({
  accessTokenTtlS: z
    .number()
    .int()
    .min(1)
    .max(10 * 365 * 86_400)
    .optional(),
  codeTtlS: z.number().int().min(1).max(86_400).optional(),
});
const ExpireBody = z.object({ accessToken: z.string().min(1) });
const RevokeBody = z
  .object({ refreshToken: z.string().min(1).optional(), locationId: z.string().min(1).optional() })
  .refine((b) => b.refreshToken !== undefined || b.locationId !== undefined, 'refreshToken or locationId is required');

/** Control routes under `/__sandbox/ghl/oauth`. */
export function registerOauthControl(app: FastifyInstance, oauth: () => GhlOAuth): void {
  const invalid = (reply: FastifyReply, issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>) =>
    reply.status(400).send({ error: 'invalid body', issues: issueLines(issues) });

  app.post('/oauth/clients', async (req, reply) => {
    const body = ClientBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error.issues);
    oauth().registerClient(body.data.clientId, body.data.clientSecret);
    return reply.status(201).send({ clientId: body.data.clientId });
  });

  app.post('/oauth/config', async (req, reply) => {
    const body = ConfigBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error.issues);
    const o = oauth();
    if (body.data.accessTokenTtlS !== undefined) o.accessTokenTtlS = body.data.accessTokenTtlS;
    if (body.data.codeTtlS !== undefined) o.codeTtlS = body.data.codeTtlS;
    return { accessTokenTtlS: o.accessTokenTtlS, codeTtlS: o.codeTtlS };
  });

  app.post('/oauth/expire', async (req, reply) => {
    const body = ExpireBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error.issues);
    if (!oauth().expire(body.data.accessToken)) return reply.status(404).send({ error: 'unknown access token' });
    return { ok: true };
  });

  app.post('/oauth/revoke', async (req, reply) => {
    const body = RevokeBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error.issues);
    const revoked = oauth().revoke(body.data);
    if (!revoked) return reply.status(404).send({ error: 'unknown refresh token' });
    return { revoked };
  });

  app.get('/oauth/grants', async () => ({ grants: oauth().grants() }));
}
