import type {
  OAuthClientMetadata,
  OAuthClientProvider,
  OAuthDiscoveryState,
  StoredOAuthClientInformation,
  StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import { expect } from 'vitest';
import { hashPassword } from '../../api/users/passwords.js';
import { newUserId } from '../../api/sessions.js';
import type pg from 'pg';

/** A tenant user written straight into the database (the invite flow is users.test.ts's business). */
export async function addUser(
  adminPool: pg.Pool,
  tenantId: string,
  email: string,
  role: 'owner' | 'operator' | 'viewer',
  password: string,
): Promise<string> {
  const id = newUserId('usr');
  await adminPool.query('insert into users (id, tenant_id, email, password_hash, role) values ($1, $2, $3, $4, $5)', [
    id,
    tenantId,
    email,
    await hashPassword(password),
    role,
  ]);
  return id;
}

/**
 * What a person's browser does during the authorization flow, over real HTTP: follows our
 * redirects with a cookie jar, fills the sign-in form (when no session cookie is there yet) and
 * answers the consent page. Stops at the first redirect that leaves our origin (the client's
 * redirect URI, never fetched) and returns it.
 */
export class Browser {
  readonly cookies = new Map<string, string>();
  /** The HTML of every page shown, last one last. */
  readonly pages: { url: string; status: number; html: string; csp: string | null }[] = [];

  constructor(readonly origin: string) {}

  private remember(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const dead = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (dead || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: {
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded', origin: this.origin } : {}),
      },
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
    });
    this.remember(res);
    return res;
  }

  /** Follows redirects within our origin; returns the last response and where it was fetched. */
  async follow(start: Response, from: string): Promise<{ res: Response; url: string; leftTo?: string }> {
    let res = start;
    let url = from;
    for (let hops = 0; res.status >= 300 && res.status < 400; hops++) {
      expect(hops, 'too many redirects').toBeLessThan(20);
      const next = new URL(res.headers.get('location')!, url).href;
      if (new URL(next).origin !== this.origin) return { res, url, leftTo: next };
      url = next;
      res = await this.request(url);
    }
    return { res, url };
  }

  private async page(res: Response, url: string) {
    const html = await res.text();
    this.pages.push({ url, status: res.status, html, csp: res.headers.get('content-security-policy') });
    return html;
  }

  /**
   * Runs an authorization URL to its end. `signIn` is used when the page asks for it; `decision`
   * answers the consent page. Returns the redirect out of our origin (with code or error), or
   * throws with the last page when the flow stopped on one.
   */
  async authorize(
    authorizationUrl: string,
    opts: { signIn?: { email: string; password: string; tenantId?: string }; decision: 'allow' | 'deny' },
  ): Promise<URL> {
    let { res, url, leftTo } = await this.follow(await this.request(authorizationUrl), authorizationUrl);
    for (let step = 0; !leftTo; step++) {
      if (step >= 6)
        throw new Error(`the flow did not end: ${this.pages.map((p) => `${p.status} ${p.url}`).join(' → ')}`);
      const html = await this.page(res, url);
      const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
      if (!action || !csrf) throw new Error(`the flow stopped on a page (${res.status}): ${html.slice(0, 600)}`);
      const target = new URL(action.replaceAll('&#47;', '/'), url).href;
      let form: Record<string, string>;
      if (action.endsWith('/login')) {
        if (!opts.signIn) throw new Error('asked to sign in, and no credentials were given');
        form = { csrf, email: opts.signIn.email, password: opts.signIn.password, tenantId: opts.signIn.tenantId ?? '' };
      } else form = { csrf, decision: opts.decision };
      ({ res, url, leftTo } = await this.follow(await this.request(target, { method: 'POST', form }), target));
    }
    return new URL(leftTo);
  }
}

/**
 * The SDK's OAuth client provider as a connector would implement it, in memory, with the browser
 * steps done by `Browser`. `metadataUrl` set: the client identifies itself by its Client ID
 * Metadata Document; unset: it registers (DCR).
 */
export class TestOAuthClient implements OAuthClientProvider {
  info?: StoredOAuthClientInformation;
  saved?: StoredOAuthTokens;
  verifier = '';
  discovery?: OAuthDiscoveryState;
  /** Where the last authorization ended (the redirect URI with code / error / iss). */
  callback?: URL;
  authorizations = 0;

  constructor(
    readonly browser: Browser,
    readonly opts: {
      redirectUrl: string;
      metadataUrl?: string;
      name?: string;
      signIn?: { email: string; password: string; tenantId?: string };
      decision?: 'allow' | 'deny';
    },
  ) {}

  get redirectUrl() {
    return this.opts.redirectUrl;
  }
  get clientMetadataUrl() {
    return this.opts.metadataUrl;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.opts.name ?? 'Test connector',
      redirect_uris: [this.opts.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: StoredOAuthClientInformation) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: StoredOAuthTokens) {
    this.saved = tokens;
  }
  async redirectToAuthorization(url: URL) {
    this.authorizations++;
    this.callback = await this.browser.authorize(url.href, {
      signIn: this.opts.signIn,
      decision: this.opts.decision ?? 'allow',
    });
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  discoveryState() {
    return this.discovery;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state;
  }
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (scope === 'all' || scope === 'client') this.info = undefined;
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}
