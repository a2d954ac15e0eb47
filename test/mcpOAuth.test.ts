import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { auth, Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createTenantWithKeys, structured } from './support/mcp.js';
import { addUser, Browser, TestOAuthClient } from './support/oauth.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';

/**
 * OAuth 2.1 for /mcp driven the way Claude's connector does it, with the official SDK client's
 * OAuth support: discovery (RFC 9728 → RFC 8414), a Client ID Metadata Document (served here over
 * https on loopback, which only the test-only policy allows) or Dynamic Client Registration,
 * sign-in and consent in a "browser" over HTTP, code + PKCE, tools/call, refresh with rotation,
 * revocation by an owner. Plus the refusals: other resource, other tenant, expired grant, a
 * metadata URL on a private address, deny, and a viewer's step-up.
 */

const TLS = {
  cert: readFileSync('test/fixtures/oauth/cimd-test.crt', 'utf8'),
  key: readFileSync('test/fixtures/oauth/cimd-test.key', 'utf8'),
};
const PASSWORD = 'correct horse battery staple';
const VERIFIER = 'a-pkce-code-verifier-of-the-test-long-enough-0123456789';
const A = 'oauth-a';
const B = 'oauth-b';
/** Claude's own callback: the flow ends at a redirect there (the browser never fetches it). */
const CLAUDE_CALLBACK = 'https://claude.ai/api/mcp/auth_callback';

interface MetadataHost {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/** An https server on loopback that publishes client metadata documents and records every request. */
async function metadataHost(docs: (base: string) => Record<string, object>): Promise<MetadataHost> {
  const requests: string[] = [];
  let base = '';
  const server = https.createServer(TLS, (req, res) => {
    requests.push(req.url ?? '');
    const doc = docs(base)[req.url ?? ''];
    res.writeHead(doc ? 200 : 404, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end(JSON.stringify(doc ?? { error: 'not found' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

function claudeLikeDocument(clientId: string, name: string, redirect = CLAUDE_CALLBACK) {
  return {
    client_id: clientId,
    client_name: name,
    client_uri: 'https://claude.ai',
    redirect_uris: [redirect],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}

describe('OAuth 2.1 for /mcp', () => {
  let tp: TestPlatform;
  let host: MetadataHost;
  let keysA: { admin: string };
  let keysB: { admin: string };
  const users: Record<string, string> = {};
  const mcpUrl = () => new URL(`${tp.baseUrl}/mcp`);

  beforeAll(async () => {
    host = await metadataHost((base) => ({
      '/claude.json': claudeLikeDocument(`${base}/claude.json`, 'Claude (test)'),
      '/desktop.json': claudeLikeDocument(`${base}/desktop.json`, 'Desktop (test)', 'http://127.0.0.1:33418/callback'),
    }));
    tp = await startTestPlatform({
      roles: ['api'],
      oauthMetadataPolicy: { allowLoopback: true, ca: TLS.cert },
    });
    keysA = await createTenantWithKeys(tp.baseUrl, A, { admin: ['read', 'act', 'admin'] });
    keysB = await createTenantWithKeys(tp.baseUrl, B, { admin: ['read', 'act', 'admin'] });
    users.ownerA = await addUser(tp.adminPool, A, 'owner@a.example', 'owner', PASSWORD);
    users.viewerA = await addUser(tp.adminPool, A, 'viewer@a.example', 'viewer', PASSWORD);
    users.ownerB = await addUser(tp.adminPool, B, 'owner@b.example', 'owner', PASSWORD);
  }, 120_000);
  afterAll(async () => {
    await tp?.stop();
    await host?.close();
  });

  /** The SDK's flow: connect → 401 → authorize in the browser → finishAuth → connect again. */
  async function connectWithOAuth(provider: TestOAuthClient): Promise<Client> {
    const first = new Client({ name: 'oauth-test', version: '1.0.0' });
    await expect(
      first.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider })),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    const cb = provider.callback!;
    expect(cb.searchParams.get('error'), cb.href).toBeNull();
    const transport = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider });
    await transport.finishAuth(cb.searchParams);
    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider }));
    return client;
  }

  const mcpPost = (token: string, body: object) =>
    fetch(mcpUrl(), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, ...body }),
    });
  const recallCall = { method: 'tools/call', params: { name: 'recall', arguments: { query: '' } } };

  it('publishes protected-resource and authorization-server metadata; a 401 points at them', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const prm = await call(tp.baseUrl, 'GET', path);
      expect(prm.status).toBe(200);
      expect(prm.body).toMatchObject({
        resource: `${tp.baseUrl}/mcp`,
        authorization_servers: [tp.baseUrl],
        scopes_supported: ['read', 'act', 'admin'],
      });
    }
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const as = await call(tp.baseUrl, 'GET', path);
      expect(as.status).toBe(200);
      expect(as.body).toMatchObject({
        issuer: tp.baseUrl,
        authorization_endpoint: `${tp.baseUrl}/oauth/authorize`,
        token_endpoint: `${tp.baseUrl}/oauth/token`,
        registration_endpoint: `${tp.baseUrl}/oauth/register`,
        client_id_metadata_document_supported: true,
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        response_types_supported: ['code'],
      });
      expect(as.body.grant_types_supported).toEqual(['authorization_code', 'refresh_token']);
      // Only what is served is advertised: no PAR endpoint, no DPoP.
      expect(as.body.pushed_authorization_request_endpoint).toBeUndefined();
      expect(as.body.dpop_signing_alg_values_supported).toBeUndefined();
      expect(as.body.token_endpoint_auth_methods_supported).toEqual([
        'none',
        'client_secret_basic',
        'client_secret_post',
      ]);
    }
    const res = await fetch(mcpUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="switchboard", resource_metadata="${tp.baseUrl}/.well-known/oauth-protected-resource/mcp", scope="read act admin"`,
    );
    const bad = await mcpPost('x'.repeat(43), recallCall); // shaped like our access tokens, unknown
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
    // API keys work on /mcp exactly as before (dual auth).
    const byKey = await mcpPost(keysA.admin, recallCall);
    expect(byKey.status).toBe(200);
  });

  it('CIMD: discovery → metadata document → sign-in and consent → token → tools/call → refresh rotates → replay refused', async () => {
    const browser = new Browser(new URL(tp.baseUrl).origin);
    const provider = new TestOAuthClient(browser, {
      redirectUrl: CLAUDE_CALLBACK,
      metadataUrl: `${host.url}/claude.json`,
      signIn: { email: 'owner@a.example', password: PASSWORD },
    });
    const client = await connectWithOAuth(provider);
    // The SDK used the URL as client_id (no registration), and the server fetched the document.
    expect(provider.info?.client_id).toBe(`${host.url}/claude.json`);
    expect(host.requests).toContain('/claude.json');
    // The sign-in page, then the consent page: who asks, for what, on which tenant.
    const consent = browser.pages.at(-1)!;
    expect(consent.html).toContain('Claude (test)');
    expect(consent.html).toContain(`${host.url}/claude.json`);
    expect(consent.html).toContain('https://claude.ai');
    expect(consent.html).toContain(A);
    expect(consent.html).toContain('owner@a.example');
    expect(consent.csp).toMatch(/default-src 'none'/);
    expect(consent.csp).toMatch(/form-action 'self' https:\/\/claude\.ai/);
    expect(consent.csp).not.toMatch(/script-src|unsafe-inline/);
    // RFC 9207: the authorization response names the issuer.
    expect(provider.callback!.searchParams.get('iss')).toBe(tp.baseUrl);
    expect(provider.saved?.refresh_token).toBeTruthy();
    expect(provider.saved?.scope?.split(' ').sort()).toEqual(['act', 'admin', 'read']);

    const remembered = structured(
      await client.callTool({ name: 'remember', arguments: { content: 'prefers mornings', idempotencyKey: 'oa-1' } }),
    );
    expect(remembered.created).toBe(true);
    const { rows: audit } = await tp.adminPool.query(
      `select tenant_id, params from audit_log where tool = 'remember' order by id desc limit 1`,
    );
    expect(audit[0].tenant_id).toBe(A);
    expect(audit[0].params).toMatchObject({ userId: users.ownerA, clientId: `${host.url}/claude.json` });
    expect(audit[0].params.keyId).toMatch(/^oauth:/);
    await client.close();

    // Refresh: a new access token and a new refresh token; the old refresh token no longer works.
    const before = provider.saved!;
    expect(await auth(provider, { serverUrl: mcpUrl() })).toBe('AUTHORIZED');
    const after = provider.saved!;
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.refresh_token).toBeTruthy();
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect((await mcpPost(after.access_token, recallCall)).status).toBe(200);
    const replay = await fetch(`${tp.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: before.refresh_token!,
        client_id: `${host.url}/claude.json`,
      }).toString(),
    });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
    // A replayed refresh token means it leaked: the whole grant goes, the fresh tokens with it.
    expect((await mcpPost(after.access_token, recallCall)).status).toBe(401);
  });

  it('DCR fallback: registers, reuses the sign-in session; an owner lists and revokes it → 401 at once', async () => {
    const browser = new Browser(new URL(tp.baseUrl).origin);
    // Sign in first (as the console would), so the flow reuses the session cookie: no password asked.
    const signedIn = await fetch(`${tp.baseUrl}/v1/auth/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'owner@a.example', password: PASSWORD }),
    });
    expect(signedIn.status).toBe(200);
    for (const c of signedIn.headers.getSetCookie()) {
      const [pair] = c.split(';');
      browser.cookies.set(pair!.split('=')[0]!, pair!.slice(pair!.indexOf('=') + 1));
    }
    const provider = new TestOAuthClient(browser, {
      redirectUrl: 'http://127.0.0.1:45999/callback',
      name: 'CLI (dcr)',
    });
    const client = await connectWithOAuth(provider);
    expect(provider.info?.client_id).toBeTruthy();
    expect(provider.info?.client_id).not.toMatch(/^https?:/);
    expect(browser.pages.some((p) => p.html.includes('name="password"'))).toBe(false);
    expect(structured(await client.callTool({ name: 'recall', arguments: { query: '' } })).source).toBe('memory');
    const token = provider.saved!.access_token;

    // RFC 8252: a loopback redirect may use any port at request time.
    const otherPort = new TestOAuthClient(browser, { redirectUrl: 'http://127.0.0.1:51234/callback' });
    otherPort.info = provider.info;
    await expect(
      new Client({ name: 't', version: '1' }).connect(
        new StreamableHTTPClientTransport(mcpUrl(), { authProvider: otherPort }),
      ),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    expect(otherPort.callback?.searchParams.get('code')).toBeTruthy();

    const listed = await call(tp.baseUrl, 'GET', '/v1/oauth/clients', { key: keysA.admin });
    expect(listed.status).toBe(200);
    const entry = listed.body.clients.find((c: { clientId: string }) => c.clientId === provider.info!.client_id);
    expect(entry).toMatchObject({ clientName: 'CLI (dcr)' });
    expect(entry.users[0]).toMatchObject({ userId: users.ownerA, email: 'owner@a.example' });
    // Another tenant sees none of it and cannot revoke it.
    const fromB = await call(tp.baseUrl, 'GET', '/v1/oauth/clients', { key: keysB.admin });
    expect(fromB.body.clients).toEqual([]);
    const revokeFromB = await call(
      tp.baseUrl,
      'DELETE',
      `/v1/oauth/clients/${encodeURIComponent(provider.info!.client_id)}`,
      { key: keysB.admin },
    );
    expect(revokeFromB.status).toBe(404);
    expect((await mcpPost(token, recallCall)).status).toBe(200);

    // A second API replica on the same database (same public URL, as behind a load balancer).
    const replica = await startTestPlatform({
      roles: ['api'],
      databaseUrl: tp.platform.databaseUrl,
      adminUrl: tp.config.database.url,
      env: { SWITCHBOARD_PUBLIC_URL: tp.baseUrl },
    });
    onTestFinished(() => replica.stop());
    const onReplica = (t: string) =>
      fetch(`${replica.baseUrl}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${t}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-11-25',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, ...recallCall }),
      });
    expect((await onReplica(token)).status).toBe(200);

    const revoked = await call(
      tp.baseUrl,
      'DELETE',
      `/v1/oauth/clients/${encodeURIComponent(provider.info!.client_id)}`,
      { key: keysA.admin },
    );
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.body.revokedGrants).toBeGreaterThanOrEqual(1);
    const after = await mcpPost(token, recallCall);
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toContain('resource_metadata=');
    // …and on the other replica, at once: no replica keeps a token cache that outlives revocation.
    expect((await onReplica(token)).status).toBe(401);
    await client.close().catch(() => undefined);
  });

  it("registration accepts Claude's callbacks and loopback redirects on any port; plain http elsewhere is refused", async () => {
    const register = (body: object) => call(tp.baseUrl, 'POST', '/oauth/register', { body });
    const claude = await register({
      client_name: 'Claude',
      redirect_uris: ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'],
      token_endpoint_auth_method: 'none',
    });
    expect(claude.status, JSON.stringify(claude.body)).toBe(201);
    const plainHttp = await register({
      redirect_uris: ['http://evil.example/callback'],
      token_endpoint_auth_method: 'none',
    });
    expect(plainHttp.status).toBe(400);
    expect(plainHttp.body.error).toBe('invalid_redirect_uri');
    // A CLI that registers a localhost callback without saying it is native still gets port-agnostic loopback.
    const cli = await register({
      client_name: 'CLI',
      redirect_uris: ['http://localhost:8765/callback'],
      token_endpoint_auth_method: 'none',
    });
    expect(cli.status, JSON.stringify(cli.body)).toBe(201);
    expect(cli.body.application_type).toBe('native');
    const browser = new Browser(new URL(tp.baseUrl).origin);
    const url = new URL(`${tp.baseUrl}/oauth/authorize`);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: cli.body.client_id,
      redirect_uri: 'http://localhost:40123/callback',
      code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'),
      code_challenge_method: 'S256',
      scope: 'read',
      resource: `${tp.baseUrl}/mcp`,
      state: 'st',
    }).toString();
    const back = await browser.authorize(url.href, {
      signIn: { email: 'owner@a.example', password: PASSWORD },
      decision: 'allow',
    });
    expect(back.origin).toBe('http://localhost:40123');
    expect(back.searchParams.get('code')).toBeTruthy();
    expect(back.searchParams.get('state')).toBe('st');
    // The code is redeemed once, even by two requests at the same moment.
    const redeem = () =>
      fetch(`${tp.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: back.searchParams.get('code')!,
          redirect_uri: 'http://localhost:40123/callback',
          code_verifier: VERIFIER,
          client_id: cli.body.client_id,
          resource: `${tp.baseUrl}/mcp`,
        }).toString(),
      });
    const statuses = (await Promise.all([redeem(), redeem()])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 400]);
    // PKCE is required: a request without a code challenge is refused.
    url.searchParams.delete('code_challenge');
    url.searchParams.delete('code_challenge_method');
    const noPkce = await browser.follow(await browser.request(url.href), url.href);
    expect(new URL(noPkce.leftTo!).searchParams.get('error')).toBe('invalid_request');
  });

  /** A live token of `email` through the CIMD client (fresh browser, password sign-in). */
  async function tokenFor(email: string, doc = 'desktop.json', tenantId?: string) {
    const provider = new TestOAuthClient(new Browser(new URL(tp.baseUrl).origin), {
      redirectUrl: doc === 'desktop.json' ? 'http://127.0.0.1:33418/callback' : CLAUDE_CALLBACK,
      metadataUrl: `${host.url}/${doc}`,
      signIn: { email, password: PASSWORD, tenantId },
    });
    (await connectWithOAuth(provider)).close().catch(() => undefined);
    return provider.saved!.access_token;
  }

  it('refuses a token for another resource, a token moved to another tenant, and an expired grant', async () => {
    // Asking for a token for another resource fails at the authorization endpoint (invalid_target)…
    const browser = new Browser(new URL(tp.baseUrl).origin);
    const authorize = new URL(`${tp.baseUrl}/oauth/authorize`);
    authorize.search = new URLSearchParams({
      response_type: 'code',
      client_id: `${host.url}/claude.json`,
      redirect_uri: CLAUDE_CALLBACK,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      scope: 'read',
      resource: 'https://elsewhere.example/mcp',
      state: 's1',
    }).toString();
    const elsewhere = await browser.follow(await browser.request(authorize.href), authorize.href);
    expect(new URL(elsewhere.leftTo!).searchParams.get('error')).toBe('invalid_target');
    // …and a token whose audience is another resource is refused by /mcp.
    const token = await tokenFor('owner@a.example');
    expect((await mcpPost(token, recallCall)).status).toBe(200);
    // Only the token's hash is stored (the row key); found here the way the server finds it.
    const { rows } = await tp.adminPool.query(
      `select id_hash, payload, grant_id from oauth_store where model = 'AccessToken' and id_hash = $1`,
      [createHash('sha256').update(token).digest('base64url')],
    );
    const stored = rows[0];
    expect(JSON.stringify(stored.payload)).not.toContain(token); // only the hash of the token is a key
    await tp.adminPool.query(
      `update oauth_store set payload = jsonb_set(payload, '{aud}', '"https://elsewhere.example/mcp"') where id_hash = $1`,
      [stored.id_hash],
    );
    expect((await mcpPost(token, recallCall)).status).toBe(401);
    await tp.adminPool.query(
      `update oauth_store set payload = jsonb_set(payload, '{aud}', to_jsonb($2::text)) where id_hash = $1`,
      [stored.id_hash, `${tp.baseUrl}/mcp`],
    );
    expect((await mcpPost(token, recallCall)).status).toBe(200);

    // Tenant A's token carries A: moved to tenant B (or B's user) it is no token at all.
    await tp.adminPool.query(`update oauth_store set tenant_id = $2, user_id = $3 where id_hash = $1`, [
      stored.id_hash,
      B,
      users.ownerB,
    ]);
    expect((await mcpPost(token, recallCall)).status).toBe(401);
    await tp.adminPool.query(`update oauth_store set tenant_id = $2, user_id = $3 where id_hash = $1`, [
      stored.id_hash,
      A,
      users.ownerA,
    ]);
    // What A's token reads is A's: B's memories never show.
    const tokenB = await tokenFor('owner@b.example');
    const memB = await mcpPost(tokenB, {
      method: 'tools/call',
      params: { name: 'remember', arguments: { content: 'B only secret' } },
    });
    expect(memB.status).toBe(200);
    const readA = await (await mcpPost(token, recallCall)).text();
    expect(readA).not.toContain('B only secret');
    expect(readA).toContain('prefers mornings');

    // An expired grant: its tokens stop.
    await tp.adminPool.query(
      `update oauth_store set expires_at = now() - interval '1 second' where model = 'Grant' and grant_id = $1`,
      [stored.grant_id],
    );
    expect((await mcpPost(token, recallCall)).status).toBe(401);
  });

  it('deny on the consent page → access_denied at the redirect URI', async () => {
    const provider = new TestOAuthClient(new Browser(new URL(tp.baseUrl).origin), {
      redirectUrl: CLAUDE_CALLBACK,
      metadataUrl: `${host.url}/claude.json`,
      signIn: { email: 'owner@a.example', password: PASSWORD },
      decision: 'deny',
    });
    await expect(
      new Client({ name: 't', version: '1' }).connect(
        new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider }),
      ),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    expect(provider.callback!.origin + provider.callback!.pathname).toBe(CLAUDE_CALLBACK);
    expect(provider.callback!.searchParams.get('error')).toBe('access_denied');
    expect(provider.callback!.searchParams.get('code')).toBeNull();
    expect(provider.callback!.searchParams.get('iss')).toBe(tp.baseUrl);
  });

  it('a viewer gets read only: an act tool answers 403 insufficient_scope naming the scope to ask for', async () => {
    const browser = new Browser(new URL(tp.baseUrl).origin);
    const provider = new TestOAuthClient(browser, {
      redirectUrl: CLAUDE_CALLBACK,
      metadataUrl: `${host.url}/claude.json`,
      signIn: { email: 'viewer@a.example', password: PASSWORD },
    });
    const client = await connectWithOAuth(provider);
    expect(browser.pages.at(-1)!.html).toMatch(/does not allow: act, admin/);
    expect(provider.saved?.scope).toBe('read');
    const tools = (await client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain('recall');
    expect(tools).not.toContain('remember');
    await client.close();
    const res = await mcpPost(provider.saved!.access_token, {
      method: 'tools/call',
      params: { name: 'remember', arguments: { content: 'x' } },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="switchboard", resource_metadata="${tp.baseUrl}/.well-known/oauth-protected-resource/mcp", scope="read act", error="insufficient_scope"`,
    );
    const { rows } = await tp.adminPool.query(
      `select params, error from audit_log where tool = 'remember' and status = 'error' order by id desc limit 1`,
    );
    expect(rows[0].params).toMatchObject({ userId: users.viewerA });
    expect(rows[0].error).toMatch(/access token lacks the 'act' scope/);
  });

  it('with the test-only setting off, a metadata URL on a loopback or private address is refused unfetched', async () => {
    const strict = await startTestPlatform({ roles: ['api'] });
    const seen = host.requests.length;
    try {
      for (const clientId of [
        `${host.url}/claude.json`,
        `https://localhost:${new URL(host.url).port}/claude.json`,
        'https://10.0.0.1/client.json',
        'https://[::1]/client.json',
      ]) {
        const browser = new Browser(new URL(strict.baseUrl).origin);
        const url = new URL(`${strict.baseUrl}/oauth/authorize`);
        url.search = new URLSearchParams({
          response_type: 'code',
          client_id: clientId,
          redirect_uri: CLAUDE_CALLBACK,
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
          scope: 'read',
          state: 's',
        }).toString();
        const res = await browser.request(url.href);
        // No trusted client, so no redirect to the (unverified) redirect_uri: an error page.
        expect(res.status, clientId).toBe(400);
        expect(await res.text()).toMatch(/invalid_client/);
      }
      expect(host.requests.length).toBe(seen);
    } finally {
      await strict.stop();
    }
  });
});
