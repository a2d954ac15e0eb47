import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { issueLines, type ProviderModule, type SandboxContext } from '../context.js';
import { ghlError } from './errors.js';
import { DEMO } from './model.js';
import { defaultLimits, RateLimiter } from './rateLimit.js';
import { GhlOAuth, registerOauthControl, registerOauthRoutes } from './oauth.js';
import { registerGhlRoutes } from './routes.js';
import { GhlStore } from './store.js';
import { GhlWebhooks, SubscriptionInput } from './webhooks.js';

export { DEMO as GHL_DEMO } from './model.js';

const SeedBody = z.object({
  locationId: z.string().min(1).default(DEMO.locationId),
  contacts: z.number().int().min(1).max(1_000_000),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
});
const LimitsBody = z.object({
  burst: z.number().int().min(1).optional(),
  intervalMs: z.number().int().min(1).optional(),
  daily: z.number().int().min(1).optional(),
});
const TokenBody = z.object({ token: z.string().min(1), locationId: z.string().min(1) });
const CalendarBody = z.object({
  id: z.string().min(1),
  locationId: z.string().min(1),
  name: z.string().default('Calendar'),
  timezone: z.string().default('America/New_York'),
  slotDurationMinutes: z.number().int().min(5).max(480).default(30),
  slotIntervalMinutes: z.number().int().min(5).max(480).default(30),
  openDays: z.array(z.number().int().min(1).max(7)).default([1, 2, 3, 4, 5]),
  openHour: z.number().int().min(0).max(23).default(9),
  closeHour: z.number().int().min(1).max(24).default(17),
});
const RedeliverBody = z.object({ webhookIds: z.array(z.string().min(1)).min(1).max(1000) });
/** `seed` makes the delays replayable (the chaos run passes one derived from its own seed). */
const JitterBody = z.object({ maxMs: z.number().int().min(0).max(60_000), seed: z.number().int().optional() });
const InboundBody = z.object({
  contactId: z.string().min(1),
  body: z.string().min(1),
  type: z.enum(['SMS', 'Email', 'WhatsApp']).default('SMS'),
});
const ListQuery = z.object({
  locationId: z.string().optional(),
  contactId: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
const collections = ['contacts', 'notes', 'tasks', 'appointments', 'messages', 'opportunities', 'enrollments'] as const;

export function createGhl(ctx: SandboxContext): ProviderModule & { store(): GhlStore; webhooks: GhlWebhooks } {
  let store = new GhlStore(ctx.seed());
  const limiter = new RateLimiter();
  const webhooks = new GhlWebhooks(() => store.ids, ctx.shutdown);
  const tokens = new Map<string, string>();
  const oauth = new GhlOAuth(ctx.seed(), tokens);

  function listCollection(
    name: (typeof collections)[number],
    q: z.infer<typeof ListQuery>,
  ): { items: unknown[]; total: number } {
    const byLoc = <T extends { locationId: string; contactId?: string }>(items: Iterable<T>) =>
      [...items].filter(
        (x) => (!q.locationId || x.locationId === q.locationId) && (!q.contactId || x.contactId === q.contactId),
      );
    const contactLoc = (contactId: string) => store.getContact(contactId)?.contact.locationId ?? '';
    let all: unknown[];
    switch (name) {
      case 'contacts': {
        if (q.contactId) {
          const c = store.getContact(q.contactId)?.contact;
          all = c && (!q.locationId || c.locationId === q.locationId) ? [c] : [];
          break;
        }
        const locs = q.locationId
          ? [store.locations.get(q.locationId)].filter((l) => l !== undefined)
          : [...store.locations.values()];
        const total = locs.reduce((n, l) => n + l.size, 0);
        const items: unknown[] = [];
        let skipped = 0;
        outer: for (const l of locs) {
          for (const row of l.byId.values()) {
            if (skipped++ < q.offset) continue;
            if (items.length >= q.limit) break outer;
            items.push(row.contact);
          }
        }
        return { items, total };
      }
      case 'notes':
        all = byLoc([...store.notes.values()].flat().map((n) => ({ ...n, locationId: contactLoc(n.contactId) })));
        break;
      case 'tasks':
        all = byLoc([...store.tasks.values()].flat().map((t) => ({ ...t, locationId: contactLoc(t.contactId) })));
        break;
      case 'appointments':
        all = byLoc(store.appointments.values()).map(({ startMs: _s, endMs: _e, ...a }) => a);
        break;
      case 'messages':
        all = byLoc(store.messages);
        break;
      case 'opportunities':
        all = byLoc(store.opportunities.values());
        break;
      case 'enrollments':
        all = byLoc(store.enrollments);
        break;
    }
    return { items: all.slice(q.offset, q.offset + q.limit), total: all.length };
  }

  return {
    name: 'ghl',
    store: () => store,
    webhooks,
    errorBody: (status, message) => ghlError(status, message),
    faultHeaders: (status): Record<string, string> =>
      status === 429
        ? {
            'x-ratelimit-max': String(limiter.limits.burst),
            'x-ratelimit-remaining': '0',
            'x-ratelimit-interval-milliseconds': String(limiter.limits.intervalMs),
            'x-ratelimit-limit-daily': String(limiter.limits.daily),
            'x-ratelimit-daily-remaining': String(limiter.limits.daily),
          }
        : {},
    async routes(app: FastifyInstance) {
      const isTokenDead = (token: string) => oauth.isDead(token);
      registerGhlRoutes(app, { store: () => store, limiter, webhooks, tokens, isTokenDead });
      // A child scope: form-body parsing and OAuth-shaped errors stay out of the API routes.
      await app.register(async (scope) => registerOauthRoutes(scope, { oauth: () => oauth, store: () => store }));
    },
    control(app: FastifyInstance) {
      app.post('/seed', async (req, reply) => {
        const body = SeedBody.safeParse(req.body ?? {});
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        const started = performance.now();
        const result = store.seedContacts(body.data.locationId, body.data.contacts, body.data.seed ?? ctx.seed());
        return { ...result, locationId: body.data.locationId, ms: Math.round(performance.now() - started) };
      });

      for (const name of collections) {
        app.get(`/${name}`, async (req, reply) => {
          const q = ListQuery.safeParse(req.query);
          if (!q.success) return reply.status(400).send({ error: 'invalid query', issues: issueLines(q.error.issues) });
          const { items, total } = listCollection(name, q.data);
          return { [name]: items, total };
        });
      }

      // Live appointments that overlap on one calendar: empty unless something booked a taken slot.
      app.get('/double-bookings', async () => ({ doubleBookings: store.doubleBookings() }));

      app.post('/limits', async (req, reply) => {
        const body = LimitsBody.safeParse(req.body ?? {});
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        limiter.limits = {
          ...limiter.limits,
          ...Object.fromEntries(Object.entries(body.data).filter(([, v]) => v !== undefined)),
        };
        return { limits: limiter.limits, defaults: defaultLimits };
      });

      app.post('/config', async (req, reply) => {
        const body = z.object({ searchLagMs: z.number().int().min(0).max(600_000) }).safeParse(req.body);
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        store.setSearchLag(body.data.searchLagMs);
        return { searchLagMs: store.getSearchLag() };
      });

      app.post('/tokens', async (req, reply) => {
        const body = TokenBody.safeParse(req.body);
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        tokens.set(body.data.token, body.data.locationId);
        return reply.status(201).send({ ok: true });
      });

      app.post('/calendars', async (req, reply) => {
        const body = CalendarBody.safeParse(req.body);
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: body.data.timezone });
        } catch {
          return reply.status(400).send({ error: `timezone: unknown time zone ${body.data.timezone}` });
        }
        store.calendars.set(body.data.id, body.data);
        return reply.status(201).send({ calendar: body.data });
      });

      app.post('/inbound-message', async (req, reply) => {
        const body = InboundBody.safeParse(req.body);
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        const contact = store.getContact(body.data.contactId)?.contact;
        if (!contact) return reply.status(404).send({ error: 'contact not found' });
        const now = new Date().toISOString();
        const { message: msg, conversation: conv } = store.recordMessage(
          contact,
          {
            type: body.data.type,
            direction: 'inbound',
            body: body.data.body,
            html: null,
            subject: null,
            emailTo: null,
            fromNumber: contact.phone,
            toNumber: null,
          },
          now,
        );
        webhooks.emit('InboundMessage', contact.locationId, {
          attachments: [],
          body: msg.body,
          contactId: contact.id,
          contentType: 'text/plain',
          conversationId: conv.id,
          dateAdded: now,
          direction: 'inbound',
          messageType: body.data.type,
          messageId: msg.id,
          status: 'delivered',
        });
        return reply.status(201).send({ message: msg });
      });

      registerOauthControl(app, () => oauth);

      app.get('/webhook-keys', async () => {
        const keys = webhooks.publicKeys();
        return {
          'x-wh-signature': { algorithm: 'RSA-SHA256', publicKey: keys.rsa },
          'x-ghl-signature': { algorithm: 'Ed25519', publicKey: keys.ed25519 },
        };
      });
      app.get('/webhooks', async () => ({ subscriptions: webhooks.list(), deliveries: webhooks.deliveries }));
      app.post('/webhooks', async (req, reply) => {
        const body = SubscriptionInput.safeParse(req.body);
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        webhooks.publicKeys(); // make the keys now, not on the first event
        return reply.status(201).send({ subscription: webhooks.subscribe(body.data) });
      });
      app.delete('/webhooks', async () => {
        webhooks.clear();
        return { ok: true };
      });
      app.post('/webhooks/redeliver', async (req, reply) => {
        const body = RedeliverBody.safeParse(req.body);
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        return { redelivered: await webhooks.redeliver(body.data.webhookIds) };
      });
      app.post('/webhooks/jitter', async (req, reply) => {
        const body = JitterBody.safeParse(req.body);
        if (!body.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(body.error.issues) });
        webhooks.setJitter(body.data.maxMs, body.data.seed);
        return { maxMs: webhooks.jitterMs };
      });
    },
    reset(seed: number) {
      store = new GhlStore(seed);
      limiter.reset();
      webhooks.clear();
      webhooks.setJitter(0);
      tokens.clear();
      oauth.reset(seed);
    },
    counts: () => ({
      ...store.counts(),
      webhookDeliveries: webhooks.deliveries.length,
      oauthTokenCalls: oauth.grants().length,
    }),
  };
}
