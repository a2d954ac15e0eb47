import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { pino } from 'pino';
import { registerControl } from './control.js';
import {
  ProviderHttpError,
  providerNames,
  sleep,
  type ProviderModule,
  type ProviderName,
  type SandboxContext,
} from './context.js';
import { FaultTable } from './faults.js';
import { createAnthropic } from './anthropic/index.js';
import { createGhl } from './ghl/index.js';
import { createRetell } from './retell.js';
import { createSendgrid } from './sendgrid.js';
import { createVapi } from './vapi.js';
import { deriveSeed, Rng } from './random.js';
import { RequestLog } from './requestLog.js';

/**
 * The provider sandbox: one Fastify server speaking GoHighLevel, Vapi, Retell, Anthropic and
 * SendGrid under `/ghl`, `/vapi`, `/retell`, `/anthropic`, `/sendgrid`, plus the control API
 * under `/__sandbox`. Stand-alone: imports nothing of the app.
 */

export interface StartSandboxOptions {
  port?: number;
  host?: string;
  seed?: number;
  logLevel?: string;
}

export interface RunningSandbox {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_SEED = 42;
const MAX_LOGGED_BODY = 16 * 1024;

/** Fixed ids of the demo tenant's sandbox accounts. */
export const DEMO_IDS = {
  ghlLocationId: 'loc_demo',
  ghlCalendarId: 'cal_demo',
  ghlPipelineId: 'pipe_demo',
  ghlContactId: 'ct_demo',
  vapiAssistantId: 'asst_demo',
  vapiPhoneNumberId: 'pn_demo',
  retellAgentId: 'agent_demo',
} as const;

interface RequestState {
  provider: ProviderName | undefined;
  started: number;
  fault: string | undefined;
}

const providerSet = new Set<string>(providerNames);

function providerOf(url: string): ProviderName | undefined {
  const end = url.indexOf('/', 1);
  const first = url.slice(1, end < 0 ? undefined : end).split('?')[0]!;
  return providerSet.has(first) ? (first as ProviderName) : undefined;
}

export async function startSandbox(opts: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const logger = pino({ name: 'sandbox', level: opts.logLevel ?? 'info' });
  const shutdown = new AbortController();
  let seed = opts.seed ?? DEFAULT_SEED;
  let baseUrl = '';
  const ctx: SandboxContext = { logger, shutdown: shutdown.signal, seed: () => seed, baseUrl: () => baseUrl };

  const modules: ProviderModule[] = [
    createGhl(ctx),
    createVapi(ctx),
    createRetell(ctx),
    createAnthropic(ctx),
    createSendgrid(ctx),
  ];
  const byName = new Map(modules.map((m) => [m.name, m]));
  const log = new RequestLog();
  const faults = new FaultTable();
  let faultRng = new Rng(deriveSeed(seed, 'faults'));
  const startedAt = new Date().toISOString();

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // The request log (`/__sandbox/requests`) records every request; per-request log lines would only cost throughput.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (a pino child costs an allocation on every request); handlers log with context themselves.
    childLoggerFactory: (parent) => parent,
    bodyLimit: 25 * 1024 * 1024,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
  });
  const states = new WeakMap<FastifyRequest, RequestState>();

  // Callback-style hooks, no per-request promises or date formatting: these run on every request
  // and the sandbox must not be the bottleneck of anyone's benchmark.
  app.addHook('onRequest', (req, reply, done) => {
    const provider = providerOf(req.url);
    const state: RequestState = { provider, started: performance.now(), fault: undefined };
    states.set(req, state);
    if (!provider || faults.size === 0) return done();
    const prefixLength = provider.length + 1;
    const path = req.url.slice(prefixLength).split('?')[0] || '/';
    const route = (req.routeOptions.url ?? '').slice(prefixLength) || path;
    const fault = faults.match(provider, req.method, path, route, faultRng);
    if (!fault) return done();
    state.fault = fault.id;
    const apply = () => {
      if (fault.reset) {
        log.add({
          atMs: Date.now(),
          provider,
          method: req.method,
          url: req.url,
          route,
          status: 0,
          ms: Math.round(performance.now() - state.started),
          query: undefined,
          body: undefined,
          fault: fault.id,
        });
        states.delete(req);
        req.raw.socket.destroy();
        return;
      }
      if (!fault.status) return done();
      const module = byName.get(provider)!;
      reply
        .status(fault.status)
        .headers(module.faultHeaders?.(fault.status) ?? {})
        .send(module.errorBody(fault.status, fault.message ?? `Injected fault ${fault.id}`));
    };
    if (fault.latencyMs) void sleep(fault.latencyMs, shutdown.signal).then(apply);
    else apply();
  });

  app.addHook('onResponse', (req, reply, done) => {
    const state = states.get(req);
    if (state) {
      const prefixLength = state.provider ? state.provider.length + 1 : 0;
      const query = req.query as Record<string, unknown> | undefined;
      log.add({
        atMs: Date.now(),
        provider: state.provider ?? 'control',
        method: req.method,
        url: req.url,
        route: (req.routeOptions.url ?? '').slice(prefixLength),
        status: reply.statusCode,
        ms: Math.round((performance.now() - state.started) * 100) / 100,
        query: query && Object.keys(query).length ? query : undefined,
        // Large bodies (transcripts, long prompts) are not kept: 20,000 of them would fill the heap.
        body:
          Number(req.headers['content-length'] ?? 0) > MAX_LOGGED_BODY
            ? { omitted: `${req.headers['content-length']} bytes` }
            : req.body,
        fault: state.fault,
      });
    }
    done();
  });

  app.setErrorHandler((err: FastifyError | ProviderHttpError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof ProviderHttpError) return reply.status(err.status).headers(err.headers).send(err.body);
    const provider = providerOf(req.url);
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) logger.error({ err, url: req.url }, 'sandbox handler failed');
    const message = status >= 500 ? 'Internal server error' : err.message;
    if (!provider) return reply.status(status).send({ error: message });
    return reply.status(status).send(byName.get(provider)!.errorBody(status, message));
  });

  app.setNotFoundHandler((req, reply) => {
    const provider = providerOf(req.url);
    const message = `Cannot ${req.method} ${req.url.split('?')[0]}`;
    if (!provider) return reply.status(404).send({ error: message });
    return reply.status(404).send(byName.get(provider)!.errorBody(404, message));
  });

  for (const module of modules) {
    await app.register(async (scope) => module.routes(scope), { prefix: `/${module.name}` });
    if (module.control)
      await app.register(async (scope) => module.control!(scope), { prefix: `/__sandbox/${module.name}` });
  }
  registerControl(app, {
    demoIds: DEMO_IDS,
    baseUrl: () => baseUrl,
    modules,
    log,
    faults,
    startedAt,
    seed: () => seed,
    reset(newSeed) {
      if (newSeed !== undefined) seed = newSeed;
      for (const m of modules) m.reset(seed);
      log.clear();
      faults.clear();
      faultRng = new Rng(deriveSeed(seed, 'faults'));
    },
  });

  const host = opts.host ?? '127.0.0.1';
  await app.listen({ port: opts.port ?? 3100, host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 3100);
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  baseUrl = `http://${urlHost}:${port}`;
  return {
    url: baseUrl,
    port,
    async close() {
      shutdown.abort();
      await app.close();
    },
  };
}
