import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';

export const providerNames = ['ghl', 'vapi', 'retell', 'anthropic', 'sendgrid'] as const;
export type ProviderName = (typeof providerNames)[number];

/** What every provider module shares: the seed, a logger, and a signal that fires on shutdown. */
export interface SandboxContext {
  readonly logger: Logger;
  /** Aborted when the server closes: pending simulated calls and sleeps stop. */
  readonly shutdown: AbortSignal;
  /** Current seed (changes on `POST /__sandbox/reset {seed}`). */
  seed(): number;
  /** `http://host:port` of the running sandbox (for URLs it hands out, e.g. recordings). */
  baseUrl(): string;
}

/** One simulated provider: its API under `/<name>`, its control routes under `/__sandbox/<name>`. */
export interface ProviderModule {
  readonly name: ProviderName;
  /** The provider's own error body for a status and message (used for faults, 404s, bad JSON). */
  errorBody(status: number, message: string): unknown;
  /** Extra headers a fault of this status carries (e.g. GHL's rate-limit headers on 429). */
  faultHeaders?(status: number): Record<string, string>;
  routes(app: FastifyInstance): Promise<void> | void;
  control?(app: FastifyInstance): Promise<void> | void;
  /** Drops all state and rebuilds the demo fixtures from the seed. */
  reset(seed: number): void;
  counts(): Record<string, number>;
}

/** A provider-shaped error response thrown from a handler; the server sends it as is. */
export class ProviderHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(
      typeof body === 'object' && body && 'message' in body
        ? String((body as { message: unknown }).message)
        : `HTTP ${status}`,
    );
  }
}

/** Resolves after `ms`, or at once when the sandbox shuts down. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Sends a provider-shaped error. */
export function sendError(
  reply: FastifyReply,
  provider: ProviderModule,
  status: number,
  message: string,
): FastifyReply {
  return reply.status(status).send(provider.errorBody(status, message));
}

/** zod issue list → "field: problem" lines, the way most providers phrase validation errors. */
export function issueLines(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string[] {
  return issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message));
}
