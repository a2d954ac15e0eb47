import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { Widget, WIDGET_ID_PATTERN, WidgetId, WidgetSettings, WebOrigin } from '../../domain/widgets.js';
import { tenantOf } from '../auth.js';
import type { PgNotifications } from '../notifications.js';
import { streamChatTurn, wantsEventStream } from '../chatTurnStream.js';
import { ErrorBody } from '../http/errors.js';
import { runTurn } from '../services/agents.js';
import {
  embedSnippet,
  LeadGate,
  saveWidget,
  visitorReply,
  VisitorMessage,
  VisitorReply,
  VisitorSession,
  WidgetGate,
  widgetOf,
  WidgetPublicConfig,
  type PublicRequest,
  type WidgetDeps,
} from '../services/widgets.js';
import { CONSOLE_DIST } from './console.js';

/**
 * The embeddable website chat over HTTP. Owners: `GET/PUT /v1/widget` (admin). The public side,
 * all unauthenticated and checked by `WidgetGate` (api/services/widgets.ts):
 * - `GET /widget/<id>.js`: the loader a tenant's page includes; it only adds our iframe.
 * - `GET /widget/<id>/frame?origin=`: the chat itself (console/widget.html), framed only by the
 *   widget's allowed origins (`frame-ancestors`), so no page CSS or script reaches in or out.
 * - `POST /widget/<id>/config`, `…/leads` (the gate: a token), `…/messages` (the chat, SSE or JSON).
 */

const tags = ['widget'];
const Params = z.object({ id: WidgetId });
const LoaderParams = z.object({
  file: z.string().regex(/^wg_[a-z0-9]{16}\.js$/, 'expected <widget id>.js'),
});
const ORIGIN_HEADER = 'x-widget-origin';
const TOKEN_HEADER = 'x-widget-token';
/** Public bodies are small: a name, an email, one message. */
const PUBLIC_BODY_LIMIT = 8 * 1024;
const publicErrors = [403, 404, 409];
const pageHeaders = {
  type: 'object',
  properties: {
    [ORIGIN_HEADER]: {
      type: 'string',
      pattern: '^https?://[^/?#]+$',
      description: 'the page the widget runs on (its exact origin)',
    },
  },
  required: [ORIGIN_HEADER],
};

export const WidgetView = Widget.extend({ snippet: z.string() });

export interface WidgetRouteDeps extends WidgetDeps {
  notifier: PgNotifications;
  publicUrl?: string;
  /** Where the built console (and its widget page) is; default console/dist. */
  distDir?: string;
}

export const widgetRoutes: FastifyPluginAsyncZod<WidgetRouteDeps> = async (app, deps) => {
  const gate = new WidgetGate(deps);
  const dist = deps.distDir ?? CONSOLE_DIST;
  const selfOrigin = (req: FastifyRequest) =>
    deps.publicUrl ? new URL(deps.publicUrl).origin : `${req.protocol}://${req.host}`;
  const headerOf = (req: FastifyRequest, name: string) => {
    const v = req.headers[name];
    return typeof v === 'string' && v ? v : undefined;
  };
  /** An origin-shaped header value, or undefined (a malformed one matches no allowed origin). */
  const originOf = (v: string | undefined) => {
    if (v === undefined) return undefined;
    const parsed = WebOrigin.safeParse(v);
    return parsed.success ? parsed.data : `invalid:${v}`;
  };
  const publicRequest = (req: FastifyRequest, widgetId: string, pageOrigin: string | undefined): PublicRequest => ({
    widgetId,
    pageOrigin: originOf(pageOrigin),
    origin: originOf(headerOf(req, 'origin')),
    selfOrigin: selfOrigin(req),
    ip: req.ip,
  });

  /** Counted before anything is parsed, so malformed and refused requests spend the budget too. */
  const counted =
    (lead = false) =>
    async (req: FastifyRequest) => {
      const p = req.params as { id?: string; file?: string };
      const id = p.id ?? p.file?.replace(/\.js$/, '') ?? '';
      // An id that cannot be a widget's is refused by validation next, without a lookup: nothing to count.
      if (WIDGET_ID_PATTERN.test(id)) gate.count(id, req.ip, { lead });
    };
  // --- the owner's settings ---------------------------------------------------------------------
  const view = (req: FastifyRequest, w: Widget) => ({ ...w, snippet: embedSnippet(selfOrigin(req), w.id) });
  app.get(
    '/v1/widget',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'The tenant’s website chat widget: settings and the script tag to embed (null before it is set up)',
        tags,
        response: { 200: z.object({ widget: WidgetView.nullable() }) },
      },
    },
    async (req) => {
      const w = await widgetOf(deps.pool, tenantOf(req).tenantId);
      return { widget: w ? view(req, w) : null };
    },
  );
  app.put(
    '/v1/widget',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Set up the website chat widget: on or off, the persona, the exact origins allowed, the greeting',
        tags,
        body: WidgetSettings,
        response: { 200: WidgetView, 400: ErrorBody },
      },
    },
    async (req) => view(req, await saveWidget(deps.pool, tenantOf(req).tenantId, req.body)),
  );

  // --- the public side --------------------------------------------------------------------------
  app.get(
    '/widget/:file',
    {
      // Loaded by other sites' pages: cross-origin resource, no frame guard needed (it is a script).
      helmet: { crossOriginResourcePolicy: { policy: 'cross-origin' } },
      onRequest: counted(),
      config: {
        openapi: {
          errors: publicErrors,
          responses: { 200: { description: 'the loader script', types: ['text/javascript'] } },
        },
      },
      schema: { summary: 'The widget’s loader script (the embed snippet’s src)', tags, params: LoaderParams },
    },
    async (req, reply) => {
      const widgetId = req.params.file.slice(0, -'.js'.length);
      // A classic script sends no Origin; its Referer (an origin at least, by default) names the page.
      const referer = headerOf(req, 'referer');
      let page: string | undefined;
      try {
        page = referer ? new URL(referer).origin : undefined;
      } catch {
        page = `invalid:${referer}`;
      }
      await gate.admit(publicRequest(req, widgetId, page), { pageRequired: false });
      return reply
        .type('text/javascript; charset=utf-8')
        .header('cache-control', 'public, max-age=300')
        .send(loaderScript(selfOrigin(req), widgetId));
    },
  );

  app.get(
    '/widget/:id/frame',
    {
      helmet: { frameguard: false },
      onRequest: counted(),
      config: {
        openapi: {
          errors: [...publicErrors, 503],
          responses: { 200: { description: 'the chat page, framed by the widget’s page', types: ['text/html'] } },
        },
      },
      schema: {
        summary: 'The chat page the loader frames (only the widget’s allowed origins may frame it)',
        tags,
        params: Params,
        querystring: z.object({ origin: z.string().max(200).describe('the page the widget runs on') }),
      },
    },
    async (req, reply) => {
      const widget = await gate.admit(publicRequest(req, req.params.id, req.query.origin), { pageRequired: true });
      const file = path.join(dist, 'widget.html');
      if (!existsSync(file))
        return reply.code(503).type('text/plain; charset=utf-8').send('The console (and its widget) is not built.\n');
      return reply
        .header('content-security-policy', frameCsp(widget.allowedOrigins))
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .type('text/html; charset=utf-8')
        .send(await readFile(file));
    },
  );

  const publicPost = { bodyLimit: PUBLIC_BODY_LIMIT, onRequest: counted() };
  app.post(
    '/widget/:id/config',
    {
      ...publicPost,
      config: { openapi: { errors: publicErrors, headers: pageHeaders } },
      schema: {
        summary: 'What the chat page shows before the gate: the persona, the greeting, the consent wording',
        tags,
        params: Params,
        response: { 200: WidgetPublicConfig },
      },
    },
    async (req) => {
      const widget = await gate.admit(publicRequest(req, req.params.id, headerOf(req, ORIGIN_HEADER)), {
        pageRequired: true,
      });
      return gate.config(widget);
    },
  );

  app.post(
    '/widget/:id/leads',
    {
      ...publicPost,
      onRequest: counted(true),
      config: { openapi: { errors: publicErrors, headers: pageHeaders } },
      schema: {
        summary: 'The lead gate: name, email and consent; the contact is saved and the chat token issued',
        tags,
        params: Params,
        body: LeadGate,
        response: { 201: VisitorSession },
      },
    },
    async (req, reply) => {
      const r = publicRequest(req, req.params.id, headerOf(req, ORIGIN_HEADER));
      const widget = await gate.admit(r, { pageRequired: true });
      return reply.code(201).send(await gate.openLead(widget, r.pageOrigin!, req.body));
    },
  );

  app.post(
    '/widget/:id/messages',
    {
      ...publicPost,
      config: {
        openapi: {
          errors: publicErrors,
          headers: {
            ...pageHeaders,
            properties: {
              ...pageHeaders.properties,
              [TOKEN_HEADER]: { type: 'string', description: 'the token the lead gate issued' },
            },
            required: [ORIGIN_HEADER, TOKEN_HEADER],
          },
          responses: {
            200: {
              description: 'the reply (JSON), or streamed (Accept: text/event-stream)',
              types: ['application/json', 'text/event-stream'],
            },
          },
        },
      },
      schema: {
        summary: 'A visitor’s message; the reply as JSON, or streamed as SSE (Accept: text/event-stream)',
        tags,
        params: Params,
        body: VisitorMessage,
      },
    },
    async (req, reply) => {
      const r = publicRequest(req, req.params.id, headerOf(req, ORIGIN_HEADER));
      const widget = await gate.admit(r, { pageRequired: true });
      const turn = await gate.visitorTurn(widget, r.pageOrigin!, headerOf(req, TOKEN_HEADER), req.body);
      if (wantsEventStream(req))
        return streamChatTurn(
          { pool: deps.pool, notifier: deps.notifier, chat: deps.chat },
          req,
          reply,
          turn,
          visitorReply,
        );
      return VisitorReply.parse(visitorReply(await runTurn(deps.chat, turn)));
    },
  );
};

/** The chat page's policy: our scripts, styles and API only; framed by the widget's own origins only. */
function frameCsp(allowedOrigins: string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${allowedOrigins.length ? allowedOrigins.join(' ') : "'none'"}`,
  ].join('; ');
}

/**
 * The loader: an iframe of our chat page, fixed in the page's corner, resized when the chat inside
 * opens or closes (a message from our frame only). Nothing else touches the page.
 */
function loaderScript(base: string, widgetId: string): string {
  return `/* Switchboard website chat */
(function () {
  'use strict';
  var BASE = ${JSON.stringify(base)};
  var ID = ${JSON.stringify(widgetId)};
  var KEY = '__switchboardWidget_' + ID;
  if (window[KEY]) return;
  window[KEY] = true;
  var frame = document.createElement('iframe');
  frame.src = BASE + '/widget/' + ID + '/frame?origin=' + encodeURIComponent(window.location.origin);
  frame.title = 'Chat with us';
  frame.setAttribute('data-switchboard-widget', ID);
  var s = frame.style;
  var closed = function () { s.width = '80px'; s.height = '80px'; };
  s.position = 'fixed'; s.right = '12px'; s.bottom = '12px'; s.border = '0'; s.margin = '0'; s.padding = '0';
  s.background = 'transparent'; s.colorScheme = 'normal'; s.zIndex = '2147483000'; s.maxWidth = 'none';
  closed();
  window.addEventListener('message', function (e) {
    if (e.origin !== BASE || e.source !== frame.contentWindow) return;
    var d = e.data;
    if (!d || d.type !== 'switchboard:widget') return;
    if (d.open) { s.width = 'min(400px, calc(100vw - 24px))'; s.height = 'min(620px, calc(100vh - 24px))'; }
    else closed();
  });
  var add = function () { document.body.appendChild(frame); };
  if (document.body) add(); else document.addEventListener('DOMContentLoaded', add);
})();
`;
}
