import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { issueLines, providerNames, type ProviderModule } from './context.js';
import { FaultInput, type FaultTable } from './faults.js';
import type { RequestLog } from './requestLog.js';

export interface ControlDeps {
  demoIds: Record<string, string>;
  baseUrl(): string;
  modules: readonly ProviderModule[];
  log: RequestLog;
  faults: FaultTable;
  seed(): number;
  reset(seed?: number): void;
  startedAt: string;
}

const ResetBody = z
  .object({
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional(),
  })
  .nullish();
const RequestsQuery = z.object({
  provider: z.enum(providerNames).optional(),
  /** A sequence number from a previous answer (exclusive), or a time (epoch ms or ISO) (inclusive). */
  since: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(20_000).default(1000),
});

/** Control API shared by all providers: reset, state, request log, faults. */
export function registerControl(app: FastifyInstance, deps: ControlDeps): void {
  app.get('/__sandbox/health', async () => ({ ok: true }));

  // A map for people poking at the sandbox with curl; sandbox/README.md has the details.
  app.get('/__sandbox', async () => ({
    sandbox: 'Switchboard provider sandbox (simulated providers, not the real services)',
    seed: deps.seed(),
    providers: Object.fromEntries(deps.modules.map((m) => [m.name, `${deps.baseUrl()}/${m.name}`])),
    demoIds: deps.demoIds,
    control: [
      'GET /__sandbox/state',
      'POST /__sandbox/reset {seed?}',
      'GET /__sandbox/requests?provider&since&limit',
      'GET|POST|DELETE /__sandbox/faults',
      'POST /__sandbox/ghl/seed {locationId, contacts, seed?}',
      'GET /__sandbox/ghl/{contacts|notes|tasks|appointments|messages|opportunities}?locationId&contactId',
      'POST /__sandbox/ghl/{limits|config|tokens|calendars|inbound-message|webhooks}, GET /__sandbox/ghl/webhook-keys',
      'POST /__sandbox/{vapi|retell}/calls, GET /__sandbox/{vapi|retell}/calls/{id}, POST /__sandbox/{vapi|retell}/config',
      'GET /__sandbox/sendgrid/emails, POST /__sandbox/sendgrid/{reply|events|config}, GET /__sandbox/sendgrid/webhook-key',
    ],
  }));

  app.post('/__sandbox/reset', async (req, reply) => {
    const body = ResetBody.safeParse(req.body);
    if (!body.success) return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
    deps.reset(body.data?.seed);
    return { ok: true, seed: deps.seed() };
  });

  app.get('/__sandbox/state', async () => ({
    seed: deps.seed(),
    startedAt: deps.startedAt,
    requests: deps.log.total,
    faults: deps.faults.size,
    ...Object.fromEntries(deps.modules.map((m) => [m.name, m.counts()])),
  }));

  app.get('/__sandbox/requests', async (req, reply) => {
    const q = RequestsQuery.safeParse(req.query);
    if (!q.success) return reply.status(400).send({ error: 'invalid query', issues: issueLines(q.error.issues) });
    const since = parseSince(q.data.since);
    if (since === null)
      return reply.status(400).send({ error: 'since: expected a sequence number, epoch ms or ISO time' });
    const requests = deps.log.list({ provider: q.data.provider, ...since, limit: q.data.limit });
    return { requests, lastSeq: requests.at(-1)?.seq ?? q.data.since ?? null };
  });

  app.get('/__sandbox/faults', async () => ({ faults: deps.faults.list() }));
  app.post('/__sandbox/faults', async (req, reply) => {
    const input = FaultInput.safeParse(req.body);
    if (!input.success)
      return reply.status(400).send({ error: 'invalid fault', issues: issueLines(input.error.issues) });
    if (input.data.status === undefined && input.data.latencyMs === undefined && !input.data.reset) {
      return reply.status(400).send({ error: 'a fault needs a status, a latencyMs, a reset, or a combination' });
    }
    return reply.status(201).send({ fault: deps.faults.add(input.data) });
  });
  app.delete('/__sandbox/faults', async () => {
    deps.faults.clear();
    return { ok: true };
  });
}

function parseSince(raw: string | undefined): { sinceSeq?: number; sinceMs?: number } | null {
  if (raw === undefined || raw === '') return {};
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    // Epoch milliseconds are 13 digits; sequence numbers will never get there.
    return n >= 1e12 ? { sinceMs: n } : { sinceSeq: n };
  }
  const ms = Date.parse(raw);
  return Number.isNaN(ms) ? null : { sinceMs: ms };
}
