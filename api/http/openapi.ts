import fp from 'fastify-plugin';
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { SESSION_COOKIE, CSRF_HEADER } from '../sessions.js';
import { fail } from './errors.js';

/**
 * The OpenAPI document tells the truth about every route, including routes added later, from one
 * place: security from the route's auth preHandler (`requireScope` / `requireTenantKey` mark
 * theirs), the error statuses the platform answers for every route of a kind (validation 400,
 * auth 401/403, unknown id 404, limits 413/414/415, rate limit 429) with the shared error body,
 * 204s without content, and path parameters within the router's limit. A route states only what is
 * its own (its schemas, its own statuses, `config.openapi` for bodies it parses itself).
 */

/** Set on auth preHandlers so the document knows the route needs a key (or a session). */
export const AUTH_MARK = Symbol('switchboard.auth');
export function markAuth<T extends object>(handler: T): T {
  return Object.assign(handler, { [AUTH_MARK]: true });
}

/** What a route may add to its document entry beyond its zod schemas. */
export interface RouteDoc {
  /** The body as documented when the route parses it itself (webhooks: raw bytes for signatures). */
  requestBody?: { contentType: string; schema?: Record<string, unknown> };
  /** Request headers the route requires but checks itself (JSON Schema of an object). */
  headers?: Record<string, unknown>;
  /** Statuses the route answers besides the shared ones, with the shared error body. */
  errors?: number[];
  /** The route only answers 405 (a method kept for a protocol's sake): not listed in `Allow`. */
  refusesMethod?: true;
  /**
   * Answers a route without response schemas documents: status → description (any JSON), or with
   * its content types (`text/html` pages; an error status there may also be our JSON error body).
   */
  responses?: Record<number, string | { description: string; types: string[] }>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    openapi?: RouteDoc;
  }
}

/** Longest path parameter the router passes on (raw, percent-encoded); longer answers 414. */
export const MAX_PARAM_LENGTH = 4096;
/** Documented limit of path parameters whose schema sets none (12 encoded bytes per character at most). */
const DEFAULT_PARAM_MAX = 300;

export const securitySchemes = {
  bearer: { type: 'http', scheme: 'bearer', description: 'A tenant API key (or the platform admin key)' },
  apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'The same key in a header' },
  session: {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
    description: `A signed-in user's session cookie; unsafe methods also need the ${CSRF_HEADER} header`,
  },
} as const;

const KEY_OR_SESSION = [{ bearer: [] }, { apiKey: [] }, { session: [] }];

const ERROR_SCHEMA = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
  required: ['statusCode', 'error', 'message'],
};

const REASONS: Record<number, string> = {
  400: 'Bad request: the message names the field',
  401: 'Missing, invalid or revoked credentials',
  403: 'The credentials may not do this',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Body too large',
  414: 'A path parameter is too long',
  415: 'Unsupported content type',
  429: 'Rate limited (see Retry-After)',
  431: 'Request line or headers too large',
};

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const hasAuthMark = (h: unknown) => typeof h === 'function' && AUTH_MARK in h;

/** `@fastify/swagger`'s transform: the zod schemas to JSON Schema, then the shared parts of the entry. */
export const documentRoute: SwaggerTransform = (input) => {
  const out = jsonSchemaTransform(input as Parameters<typeof jsonSchemaTransform>[0]) as {
    schema: Record<string, unknown> & { hide?: boolean };
    url: string;
  };
  if (out.schema?.hide) return out;
  const { route } = input;
  const schema: Record<string, unknown> = { ...out.schema };
  const doc = route.config?.openapi ?? {};
  const methods = [route.method].flat().map((m) => m.toUpperCase());
  const preHandlers = [route.preHandler ?? []].flat();
  const authenticated = preHandlers.some(hasAuthMark);
  const hasParams = /[:*]/.test(input.url);

  schema.security = authenticated ? KEY_OR_SESSION : [];
  if (doc.headers) schema.headers = doc.headers;
  if (doc.requestBody) {
    schema.body = { content: { [doc.requestBody.contentType]: { schema: doc.requestBody.schema ?? {} } } };
  }

  const responses: Record<string, unknown> = { ...((schema.response as Record<string, unknown>) ?? {}) };
  for (const [code, r] of Object.entries(doc.responses ?? {})) {
    if (typeof r === 'string') {
      responses[code] ??= { description: r };
      continue;
    }
    if (!r.types.length) {
      responses[code] ??= { type: 'null', description: r.description }; // no content
      continue;
    }
    const content: Record<string, unknown> = {};
    // JSON bodies and event-stream events (JSON data) are left open; pages and other text are strings.
    for (const type of r.types)
      content[type] = { schema: type === 'application/json' || type === 'text/event-stream' ? {} : { type: 'string' } };
    // Validation and auth errors come from the shared handler, in JSON, whatever the route serves.
    if (Number(code) >= 400) content['application/json'] ??= { schema: ERROR_SCHEMA };
    responses[code] ??= { description: r.description, content };
  }
  // What fastify-swagger says of a route without response schemas, kept beside the errors added below.
  if (!Object.keys(responses).length) responses[200] = { description: 'Default Response' };
  for (const [code, r] of Object.entries(responses)) {
    // No content: fastify-swagger leaves out `content` for a null schema.
    if (code === '204') responses[code] = { type: 'null', description: (r as { description?: string }).description };
  }
  const statuses = new Set<number>(doc.errors ?? []);
  statuses.add(400); // unknown or malformed query, params or body; a refusal naming the field
  if (route.config?.rateLimit !== false) statuses.add(429);
  if (authenticated) [401, 403].forEach((s) => statuses.add(s));
  if (hasParams) [404, 414].forEach((s) => statuses.add(s));
  if (methods.some((m) => BODY_METHODS.has(m))) [413, 415].forEach((s) => statuses.add(s));
  // A query string past Node's header limit is refused before routing (431, its own short body).
  if (schema.querystring) statuses.add(431);
  for (const status of statuses) {
    responses[status] ??= { description: REASONS[status] ?? 'Error', ...ERROR_SCHEMA };
  }
  schema.response = responses;

  if (hasParams) schema.params = boundParams(schema.params as JsonObject | undefined, input.url);
  // Path parameters stay without the NUL pattern: no client can send one there but as %00 (still refused).
  for (const part of ['body', 'querystring'] as const) if (schema[part]) patternsOverFormats(schema[part]);
  if (schema.params) emailPatternOnly(schema.params);
  return { schema, url: out.url };
};

/** Path parameters: only the email rule below (the pattern, not `format: email`). */
function emailPatternOnly(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(emailPatternOnly);
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.format === 'email' && typeof o.pattern === 'string') delete o.format;
  Object.values(o).forEach(emailPatternOnly);
}

/**
 * String rules the document states for every input: zod states an email check twice, as `format:
 * email` and as the pattern it really applies, and the two disagree at the edges (a domain label
 * ending in a dash), so the pattern alone is documented; and no string may hold a NUL character
 * (Postgres text cannot store one; requestRules below answers 400 for it).
 */
function patternsOverFormats(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(patternsOverFormats);
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.format === 'email' && typeof o.pattern === 'string') delete o.format;
  if (o.type === 'string' && o.pattern === undefined && o.enum === undefined && o.format === undefined)
    o.pattern = NO_NUL;
  Object.values(o).forEach(patternsOverFormats);
}
const NO_NUL = '^[^\\x00]*$';

/** The first string holding a NUL character, as `part.path`; undefined when there is none. */
export function nulAt(value: unknown, where: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? where : undefined;
  if (!value || typeof value !== 'object' || Buffer.isBuffer(value)) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const found = nulAt(v, `${where}.${k}`);
    if (found) return found;
  }
  return undefined;
}

type JsonObject = { type?: string; properties?: Record<string, Record<string, unknown>>; required?: string[] };

/** Every path parameter documented, as a string within the router's limit. */
function boundParams(params: JsonObject | undefined, url: string): JsonObject {
  const names = [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  const properties: Record<string, Record<string, unknown>> = { ...(params?.properties ?? {}) };
  for (const name of names) {
    const p: Record<string, unknown> = { type: 'string', ...(properties[name] ?? {}) };
    const max = typeof p.maxLength === 'number' ? p.maxLength : DEFAULT_PARAM_MAX;
    properties[name] = { ...p, minLength: typeof p.minLength === 'number' ? p.minLength : 1, maxLength: max };
  }
  return { ...params, type: 'object', properties, required: [...new Set([...(params?.required ?? []), ...names])] };
}

/**
 * Rules for every request, so every route keeps what the document says: 405 with `Allow` for a
 * method a known path does not serve (instead of 404), answered before the body is read or anything
 * is authenticated (paths are matched against every registered route); and no NUL in any input.
 */
export const requestRules = fp(
  async (app) => {
    const routes: { pattern: RegExp; methods: Set<string> }[] = [];
    app.addHook('onRoute', (route) => {
      if (route.config?.openapi?.refusesMethod) return;
      const pattern = patternOf(route.url);
      let entry = routes.find((r) => r.pattern.source === pattern.source);
      if (!entry) routes.push((entry = { pattern, methods: new Set() }));
      for (const m of [route.method].flat()) entry.methods.add(m.toUpperCase());
    });
    // No input string may hold a NUL: refused naming the field, before any handler stores it.
    app.addHook('preValidation', async (req: FastifyRequest, reply: FastifyReply) => {
      const at = nulAt(req.params, 'params') ?? nulAt(req.query, 'querystring') ?? nulAt(req.body, 'body');
      if (at) return fail(reply, 400, `${at}: NUL characters are not allowed`);
    });
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      if (!req.is404) return;
      const path = req.url.split('?')[0]!;
      const allowed = new Set<string>();
      for (const r of routes) if (r.pattern.test(path)) r.methods.forEach((m) => allowed.add(m));
      if (!allowed.size || allowed.has(req.method)) return;
      void reply.header('allow', [...allowed].sort().join(', '));
      return fail(reply, 405, `${req.method} is not allowed on ${path}; allowed: ${[...allowed].sort().join(', ')}`);
    });
  },
  { name: 'switchboard-request-rules' },
);

/** A Fastify route URL (`/a/:id/b`, `/files/*`) as a regular expression over a request path. */
function patternOf(url: string): RegExp {
  const parts = url.split('/').map((seg) => {
    if (seg === '*') return '.*';
    if (seg.startsWith(':')) return '[^/]+';
    return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('/')}/?$`);
}
