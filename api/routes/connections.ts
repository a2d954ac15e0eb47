import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { OAuthCallbackError } from '../../domain/connections/ghlOAuth.js';
import { tenantOf } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import {
  ApiKeyField,
  authorizeGhl,
  completeGhlOAuth,
  connectAnthropicKey,
  connectGhl,
  connectSendgridAccount,
  connectVapiAccount,
  ConnectionStatus,
  disconnectProvider,
  GhlTokenConnect,
  listConnections,
  SendgridConnect,
  type ConnectionDeps,
} from '../services/connections.js';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The page a person sees in the browser after GHL's consent screen. */
const page = (title: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
  `<meta name="viewport" content="width=device-width, initial-scale=1"></head>` +
  `<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem">` +
  `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;

/** Only a path on this server: the callback never redirects a browser anywhere else. */
const ReturnTo = z
  .string()
  .max(500)
  .regex(/^\/(?![/\\])[^\s]*$/, 'a path on this server, starting with a single /');

/** The tenant's own provider accounts (api/services/connections.ts) and GHL's OAuth callback. */
export const connectionRoutes: FastifyPluginAsyncZod<ConnectionDeps> = async (app, deps) => {
  app.get(
    '/v1/connections',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary:
          'Per provider: connected, broken or missing; live or sandbox; what it is bound to; token expiry; last error',
        tags: ['connections'],
        response: { 200: z.object({ connections: z.array(ConnectionStatus) }) },
      },
    },
    async (req) => ({ connections: await listConnections(deps, tenantOf(req).tenantId) }),
  );

  app.post(
    '/v1/connections/ghl/authorize',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "Start connecting GoHighLevel by OAuth: the URL to send the tenant's user to (valid 10 minutes)",
        tags: ['connections'],
        body: z.strictObject({ returnTo: ReturnTo.optional() }).default({}),
        response: { 200: z.object({ url: z.string(), expiresAt: z.string() }), 409: ErrorBody },
      },
    },
    async (req) => authorizeGhl(deps, tenantOf(req).tenantId, req.body.returnTo),
  );

  app.get(
    '/oauth/ghl/callback',
    {
      config: {
        openapi: {
          responses: {
            200: { description: 'connected', types: ['text/html'] },
            302: 'back to returnTo',
            400: { description: 'not connected: the page says why', types: ['text/html'] },
          },
          errors: [409], // GoHighLevel OAuth not configured on this server
        },
      },
      schema: {
        summary: 'Where GoHighLevel sends the browser back after consent (state names the tenant, once)',
        tags: ['connections'],
        querystring: z.object({
          code: z.string().min(1).max(2000).optional(),
          state: z.string().min(1).max(200).optional(),
          error: z.string().max(200).optional(),
          error_description: z.string().max(1000).optional(),
        }),
      },
    },
    async (req, reply) => {
      const { code, state, error } = req.query;
      void reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
      if (error) return reply.code(400).send(page('GoHighLevel was not connected', `GoHighLevel answered: ${error}.`));
      if (!code || !state)
        return reply.code(400).send(page('GoHighLevel was not connected', 'The link is missing its code or state.'));
      try {
        const done = await completeGhlOAuth(deps, { code, state });
        if (done.returnTo) {
          const to = `${done.returnTo}${done.returnTo.includes('?') ? '&' : '?'}connected=ghl&location=${encodeURIComponent(done.locationId)}`;
          return reply.redirect(to, 302);
        }
        return reply.send(
          page('GoHighLevel connected', `Location ${done.locationId} is connected. You can close this window.`),
        );
      } catch (err) {
        if (err instanceof OAuthCallbackError)
          return reply.code(400).send(page('GoHighLevel was not connected', err.message));
        const message = (err as Error).message;
        if (/connected to another tenant/.test(message))
          return reply.code(409).send(page('GoHighLevel was not connected', message));
        throw err;
      }
    },
  );

  app.put(
    '/v1/connections/ghl',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Connect GoHighLevel with a Private Integration Token (checked live: it must cover the location)',
        tags: ['connections'],
        body: GhlTokenConnect,
        response: { 200: ConnectionStatus, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => connectGhl(deps, tenantOf(req).tenantId, req.body),
  );

  app.put(
    '/v1/connections/vapi',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "Connect the tenant's own Vapi account (private API key, checked live)",
        tags: ['connections'],
        body: z.strictObject({ apiKey: ApiKeyField }),
        response: { 200: ConnectionStatus, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => connectVapiAccount(deps, tenantOf(req).tenantId, req.body),
  );

  app.put(
    '/v1/connections/sendgrid',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "Connect the tenant's SendGrid key and its verified sender (checked live)",
        tags: ['connections'],
        body: SendgridConnect,
        response: { 200: ConnectionStatus, 400: ErrorBody },
      },
    },
    async (req) => connectSendgridAccount(deps, tenantOf(req).tenantId, req.body),
  );

  app.put(
    '/v1/connections/anthropic',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "Use the tenant's own Anthropic key for Claude (default: the platform's)",
        tags: ['connections'],
        body: z.strictObject({ apiKey: ApiKeyField }),
        response: { 200: ConnectionStatus, 400: ErrorBody },
      },
    },
    async (req) => connectAnthropicKey(deps, tenantOf(req).tenantId, req.body),
  );

  app.delete(
    '/v1/connections/:provider',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Disconnect (GoHighLevel: the sync schedule pauses; calls still answer, CRM tools say why)',
        tags: ['connections'],
        params: z.object({ provider: z.string().min(1).max(40) }),
        response: { 204: z.null(), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      await disconnectProvider(deps, tenantOf(req).tenantId, req.params.provider);
      return reply.code(204).send(null);
    },
  );
};
