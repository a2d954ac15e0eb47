import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { hostHeaderValidation, originValidation } from '@modelcontextprotocol/fastify';
import { createMcpHandler, PROTOCOL_VERSION_META_KEY, type AuthInfo } from '@modelcontextprotocol/server';
import { recordAudit } from '../../lib/audit.js';
import type { TenantPrincipal } from '../apiKeys.js';
import { createToolServer, refusedCallAudit } from '../mcp/server.js';
import type { ToolDeps } from '../mcp/tool.js';

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
}

/** Headers that describe the Node connection, not the MCP request. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'expect']);

/** The principal rides to the per-request server factory as the SDK's pass-through `authInfo`. */
function authInfoOf(p: TenantPrincipal, token: string): AuthInfo {
  return { token, clientId: p.keyId, scopes: p.scopes, extra: { tenantId: p.tenantId } };
}
function principalOf(info: AuthInfo | undefined): TenantPrincipal {
  const tenantId = info?.extra?.tenantId;
  if (!info || typeof tenantId !== 'string') throw new Error('MCP request reached the server factory without an authenticated key');
  return { kind: 'tenant', keyId: info.clientId, tenantId, scopes: info.scopes as TenantPrincipal['scopes'] };
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

export const mcpRoutes: FastifyPluginAsync<McpRouteOptions> = async (app, opts) => {
  const handler = createMcpHandler(
    (ctx) => createToolServer(principalOf(ctx.authInfo), opts.deps, { transport: 'http', era: ctx.era }),
    {
      legacy: 'stateless',
      maxRequestBodySize: opts.bodyLimitBytes,
      onerror: (err) => app.log.debug({ err: err.message }, 'mcp request rejected'),
    },
  );
  app.addHook('onClose', async () => handler.close());

  const guards: onRequestHookHandler[] = [];
  if (!opts.allowedHosts.includes('*')) guards.push(hostHeaderValidation(opts.allowedHosts) as onRequestHookHandler);
  if (!opts.allowedOrigins.includes('*')) guards.push(originValidation(opts.allowedOrigins) as onRequestHookHandler);

  const serve = async (req: FastifyRequest, reply: FastifyReply) => {
    const principal = req.principal as TenantPrincipal;
    const token = (req.headers.authorization?.replace(/^Bearer\s+/i, '') ?? req.headers['x-api-key']) as string;
    // Aborted when the client goes away mid-answer (e.g. closes an SSE stream), so the call is cancelled.
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    // A call to a tool outside the key's scopes is answered "not found" by the SDK; it is audited here.
    const era = (req.body as { params?: { _meta?: Record<string, unknown> } } | null)?.params?._meta?.[PROTOCOL_VERSION_META_KEY] ? 'modern' : 'legacy';
    for (const message of Array.isArray(req.body) ? req.body : [req.body]) {
      const refused = refusedCallAudit(principal, message, { transport: 'http', era });
      if (refused) await recordAudit(opts.deps.pool, refused);
    }
    const res = await handler.fetch(toWebRequest(req, abort.signal), { authInfo: authInfoOf(principal, token), parsedBody: req.body });
    return reply.send(res);
  };

  for (const method of ['POST', 'GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/mcp',
      onRequest: guards,
      preHandler: app.requireTenantKey(),
      schema: {
        summary: method === 'POST' ? 'MCP Streamable HTTP: JSON-RPC messages (stateless; 2025-06-18 … 2026-07-28)' : 'MCP Streamable HTTP: no sessions, answers 405',
        tags: ['mcp'],
      },
      handler: serve,
    });
  }
};
