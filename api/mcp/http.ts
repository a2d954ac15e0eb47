import { markAuth } from '../http/openapi.js';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { hostHeaderValidation, originValidation } from '@modelcontextprotocol/fastify';
import {
  createMcpHandler,
  isLegacyRequest,
  legacyStatelessFallback,
  PROTOCOL_VERSION_META_KEY,
  WebStandardStreamableHTTPServerTransport,
  type AuthInfo,
  type McpServerFactory,
} from '@modelcontextprotocol/server';
import { recordAudit } from '../../domain/audit.js';
import type { TenantPrincipal } from '../apiKeys.js';
import { fail } from '../http/errors.js';
import { isAccessTokenShaped, type McpOAuth } from '../oauth/routes.js';
import { allTools } from './tools/index.js';
import { CONFORMANCE_STREAMING_TOOLS } from './conformance.js';
import { createToolServer, refusedCallAudit } from './server.js';
import { tenantAgentPrompts } from './context.js';
import type { ToolDeps } from './tool.js';

/**
 * `/mcp`: MCP over Streamable HTTP, stateless, for both protocol generations the SDK serves —
 * 2026-07-28 (per-request envelope) and 2025-era clients (initialize handshake, answered without a
 * session: any replica can serve any request). Authenticated with the REST API keys; the key's
 * tenant and scopes decide which tools exist for the request.
 */
export interface McpRouteOptions {
  deps: ToolDeps;
  /** Host header names accepted (`*`: any); protects local servers against DNS rebinding. */
  allowedHosts: string[];
  /** Origin hostnames accepted from browsers; requests without Origin pass. */
  allowedOrigins: string[];
  /** Largest request body, the API's own limit (Fastify answers 413 above it). */
  bodyLimitBytes: number;
  /** The conformance suite's fixtures beside the tenant's tools (test only; see api/mcp/conformance.ts). */
  conformanceProfile?: boolean;
  /** OAuth 2.1 (api/oauth/): bearer access tokens beside API keys, and the 401/403 challenges that point at it. */
  oauth?: McpOAuth;
}

/** Headers that describe the Node connection, not the MCP request. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'expect']);

/**
 * The principal rides to the per-request server factory as the SDK's pass-through `authInfo`, with
 * the name of the one tool a single `tools/call` needs.
 */
function authInfoOf(p: TenantPrincipal, token: string, onlyTool: string | undefined, agentPrompts: boolean): AuthInfo {
  return {
    token,
    clientId: p.keyId,
    scopes: p.scopes,
    extra: {
      tenantId: p.tenantId,
      ...(onlyTool ? { onlyTool } : {}),
      ...(agentPrompts ? { agentPrompts } : {}),
      ...(p.userId ? { userId: p.userId } : {}),
      ...(p.oauthClientId ? { oauthClientId: p.oauthClientId } : {}),
    },
  };
}
function principalOf(info: AuthInfo | undefined): TenantPrincipal {
  const tenantId = info?.extra?.tenantId;
  if (!info || typeof tenantId !== 'string')
    throw new Error('MCP request reached the server factory without an authenticated key');
  const { userId, oauthClientId } = info.extra ?? {};
  return {
    kind: 'tenant',
    keyId: info.clientId,
    tenantId,
    scopes: info.scopes as TenantPrincipal['scopes'],
    ...(typeof userId === 'string' ? { userId } : {}),
    ...(typeof oauthClientId === 'string' ? { oauthClientId } : {}),
  };
}

/** The tool a `tools/call` names that the principal's scopes do not cover, with the scope it needs. */
function missingScope(principal: TenantPrincipal, body: unknown): string | undefined {
  for (const m of Array.isArray(body) ? body : [body]) {
    const call = m as { method?: unknown; params?: { name?: unknown } } | null;
    if (call?.method !== 'tools/call' || typeof call.params?.name !== 'string') continue;
    const tool = allTools.find((t) => t.name === call.params!.name);
    if (tool && !principal.scopes.includes(tool.scope)) return tool.scope;
  }
  return undefined;
}

function toWebRequest(req: FastifyRequest, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  // Host was validated; the body was parsed (and size-limited) by Fastify and is passed separately.
  return new Request(`http://${req.headers.host ?? 'localhost'}${req.url}`, { method: req.method, headers, signal });
}

/**
 * Whether a 2025-era POST needs an SSE answer: it wants progress notifications, or it calls a tool
 * that sends notifications while it runs.
 */
function wantsStream(body: unknown, streamingTools: ReadonlySet<string>): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => {
    const p = (m as { params?: { name?: unknown; _meta?: { progressToken?: unknown } } } | null)?.params;
    return p?._meta?.progressToken !== undefined || (typeof p?.name === 'string' && streamingTools.has(p.name));
  });
}

export const mcpRoutes: FastifyPluginAsync<McpRouteOptions> = async (app, opts) => {
  const factory: McpServerFactory = async (ctx) => {
    const onlyTool = ctx.authInfo?.extra?.onlyTool;
    const principal = principalOf(ctx.authInfo);
    // The tenant's agents are read only for the requests that list or get prompts.
    const agents = ctx.authInfo?.extra?.agentPrompts ? await tenantAgentPrompts(opts.deps, principal) : undefined;
    return createToolServer(
      principal,
      opts.deps,
      { transport: 'http', era: ctx.era },
      {
        ...(typeof onlyTool === 'string' ? { onlyTool } : {}),
        ...(agents ? { agents } : {}),
        conformanceProfile: opts.conformanceProfile === true,
      },
    );
  };
  const streamingTools: ReadonlySet<string> = opts.conformanceProfile ? CONFORMANCE_STREAMING_TOOLS : new Set();
  const onerror = (err: Error) => app.log.debug({ err: err.message }, 'mcp request rejected');
  // 2026-07-28 traffic: the SDK's per-request entry (JSON unless the tool streams progress).
  const modern = createMcpHandler(factory, { legacy: 'reject', maxRequestBodySize: opts.bodyLimitBytes, onerror });
  app.addHook('onClose', async () => modern.close());
  // 2025-era traffic, stateless: the SDK's fallback (an SSE answer) when the call asks for progress,
  // else the same transport answering plain JSON — cheaper, and what most calls need.
  const legacyStream = legacyStatelessFallback(factory, onerror, { maxRequestBodySize: opts.bodyLimitBytes });
  const legacyJson = async (request: Request, authInfo: AuthInfo, parsedBody: unknown): Promise<Response> => {
    if (request.method !== 'POST') return legacyStream(request, { authInfo });
    const server = await factory({ era: 'legacy', authInfo, requestInfo: request });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await server.connect(transport);
    try {
      return await transport.handleRequest(request, { authInfo, parsedBody });
    } finally {
      void transport.close().catch(() => undefined);
      void server.close().catch(() => undefined);
    }
  };
  const handle = async (request: Request, authInfo: AuthInfo, parsedBody: unknown): Promise<Response> => {
    if (!(await isLegacyRequest(request, parsedBody, { maxRequestBodySize: opts.bodyLimitBytes })))
      return modern.fetch(request, { authInfo, parsedBody });
    return wantsStream(parsedBody, streamingTools)
      ? legacyStream(request, { authInfo, parsedBody })
      : legacyJson(request, authInfo, parsedBody);
  };

  const guards: onRequestHookHandler[] = [];
  if (!opts.allowedHosts.includes('*')) guards.push(hostHeaderValidation(opts.allowedHosts) as onRequestHookHandler);
  if (!opts.allowedOrigins.includes('*')) guards.push(originValidation(opts.allowedOrigins) as onRequestHookHandler);

  const serve = async (req: FastifyRequest, reply: FastifyReply) => {
    const principal = req.principal as TenantPrincipal;
    const token = (req.headers.authorization?.replace(/^Bearer\s+/i, '') ?? req.headers['x-api-key']) as string;
    const oauth = opts.oauth;
    const era = (req.body as { params?: { _meta?: Record<string, unknown> } } | null)?.params?._meta?.[
      PROTOCOL_VERSION_META_KEY
    ]
      ? 'modern'
      : 'legacy';
    // Step-up (MCP authorization): an OAuth token without the scope a called tool needs is told
    // which scopes to ask for. API keys keep their answer ("not found") — a key cannot be re-consented.
    const needed = principal.oauthClientId && oauth ? missingScope(principal, req.body) : undefined;
    if (needed && oauth) {
      for (const message of Array.isArray(req.body) ? req.body : [req.body]) {
        const refused = refusedCallAudit(principal, message, { transport: 'http', era });
        if (refused) await recordAudit(opts.deps.pool, refused);
      }
      void reply.header(
        'WWW-Authenticate',
        oauth.challenge({ error: 'insufficient_scope', scopes: [...new Set([...principal.scopes, needed])] }),
      );
      return fail(reply, 403, `this access token lacks the '${needed}' scope; authorize again with it`);
    }
    // Aborted when the client goes away mid-answer (e.g. closes an SSE stream), so the call is cancelled.
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    // A call to a tool outside the key's scopes is answered "not found" by the SDK; it is audited here.
    for (const message of Array.isArray(req.body) ? req.body : [req.body]) {
      const refused = refusedCallAudit(principal, message, { transport: 'http', era });
      if (refused) await recordAudit(opts.deps.pool, refused);
    }
    const call = req.body as { method?: unknown; params?: { name?: unknown } } | null;
    const onlyTool =
      call?.method === 'tools/call' && typeof call.params?.name === 'string' ? call.params.name : undefined;
    const agentPrompts = (Array.isArray(req.body) ? req.body : [req.body]).some((m) =>
      String((m as { method?: unknown } | null)?.method).startsWith('prompts/'),
    );
    return reply.send(
      await handle(toWebRequest(req, abort.signal), authInfoOf(principal, token, onlyTool, agentPrompts), req.body),
    );
  };

  const keyAuth = app.requireTenantKey();
  /** Dual auth: an OAuth access token (checked against Postgres on every request), else an API key as before. */
  const authenticate = markAuth(async (req: FastifyRequest, reply: FastifyReply) => {
    const oauth = opts.oauth;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (oauth && bearer && isAccessTokenShaped(bearer)) {
      const principal = await oauth.verify(bearer);
      if (!principal) return fail(reply, 401, 'invalid, expired or revoked access token');
      req.principal = principal;
      app.rememberVerifiedBucket(bearer, principal.keyId);
      return;
    }
    return keyAuth(req, reply);
  });
  // Every 401 from /mcp points the client at the authorization server (RFC 9728 §5.1).
  const challenge = async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (reply.statusCode === 401 && opts.oauth) {
      const presented = !!req.headers.authorization || !!req.headers['x-api-key'];
      void reply.header('WWW-Authenticate', opts.oauth.challenge(presented ? { error: 'invalid_token' } : {}));
    }
    return payload;
  };

  app.route({
    method: 'POST',
    url: '/mcp',
    onRequest: guards,
    onSend: challenge,
    preHandler: authenticate,
    schema: {
      summary: 'MCP Streamable HTTP: JSON-RPC messages (stateless; 2025-06-18 … 2026-07-28)',
      tags: ['mcp'],
    },
    config: {
      openapi: {
        requestBody: {
          contentType: 'application/json',
          schema: {
            type: 'object',
            properties: {
              jsonrpc: { type: 'string', enum: ['2.0'] },
              method: { type: 'string', minLength: 1, maxLength: 200 },
              id: { oneOf: [{ type: 'string', maxLength: 200 }, { type: 'integer' }] },
              params: { type: 'object' },
            },
            required: ['jsonrpc', 'method'],
            additionalProperties: false,
          },
        },
        // The transport's own check: 406 unless the client takes both JSON and an event stream.
        headers: {
          type: 'object',
          properties: { accept: { type: 'string', enum: ['application/json, text/event-stream'] } },
          required: ['accept'],
        },
        responses: {
          200: {
            description: 'the JSON-RPC answer, or an event stream of it',
            types: ['application/json', 'text/event-stream'],
          },
          202: { description: 'a notification or response accepted', types: [] },
          400: { description: 'not a valid JSON-RPC message (a JSON-RPC error)', types: ['application/json'] },
          406: { description: 'Accept lacks JSON or the event stream (a JSON-RPC error)', types: ['application/json'] },
          415: { description: 'not JSON (a JSON-RPC error)', types: ['application/json'] },
        },
      },
    },
    handler: serve,
  });
  // No sessions, so no SSE stream to open (GET) or session to end (DELETE): 405, as the transport
  // allows, whoever asks; not in the OpenAPI document, where POST is the only method of /mcp.
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/mcp',
      onRequest: guards,
      schema: { hide: true },
      config: { openapi: { refusesMethod: true } },
      handler: async (_req, reply) =>
        reply
          .code(405)
          .header('allow', 'POST')
          .send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }),
    });
  }
};
