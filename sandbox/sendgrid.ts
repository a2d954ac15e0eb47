import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { issueLines, ProviderHttpError, sleep, type ProviderModule, type SandboxContext } from './context.js';
import { isSuccess, post, type DeliveryResult } from './delivery.js';
import { deriveSeed, IdFactory, Rng } from './random.js';

/**
 * SendGrid: `POST /v3/mail/send` (202 + `X-Message-Id`), every email stored; replies delivered to
 * our Inbound Parse URL as multipart form data; events delivered to our Event Webhook as a JSON
 * array signed with ECDSA P-256 (`X-Twilio-Email-Event-Webhook-Signature` over timestamp + body),
 * duplicates on demand.
 */

const Email = z.object({ email: z.string(), name: z.string().optional() });
const Personalization = z
  .object({
    to: z.array(Email).optional(),
    cc: z.array(Email).optional(),
    bcc: z.array(Email).optional(),
    subject: z.string().optional(),
    custom_args: z.record(z.string(), z.string()).optional(),
    dynamic_template_data: z.record(z.string(), z.unknown()).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    send_at: z.number().optional(),
  })
  .loose();
const MailBody = z
  .object({
    personalizations: z.array(Personalization).optional(),
    from: Email.partial().optional(),
    reply_to: Email.optional(),
    subject: z.string().optional(),
    content: z.array(z.object({ type: z.string(), value: z.string() })).optional(),
    template_id: z.string().optional(),
    custom_args: z.record(z.string(), z.string()).optional(),
    categories: z.array(z.string()).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    send_at: z.number().optional(),
    attachments: z.array(z.record(z.string(), z.unknown())).optional(),
  })
  .loose();
type MailBody = z.infer<typeof MailBody>;

const EMAIL_RE = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
export const eventTypes = [
  'processed',
  'dropped',
  'delivered',
  'deferred',
  'bounce',
  'open',
  'click',
  'spamreport',
  'unsubscribe',
  'group_unsubscribe',
  'group_resubscribe',
] as const;

const ConfigBody = z.object({
  eventWebhookUrl: z.string().url().nullable().optional(),
  inboundParseUrl: z.string().url().nullable().optional(),
  /** Events sent automatically after every send (per recipient). */
  autoEvents: z.array(z.enum(eventTypes)).optional(),
});
const EventsBody = z.object({
  messageId: z.string().min(1),
  event: z.enum(eventTypes),
  /** One recipient of the message; default all. */
  email: z.string().optional(),
  /** Extra deliveries of the same batch (same sg_event_id), like SendGrid's at-least-once delivery. */
  duplicates: z.number().int().min(0).max(20).default(0),
  reason: z.string().optional(),
  url: z.string().optional(),
});
const Sender = z.object({ email: z.string().regex(EMAIL_RE, 'not an email address'), name: z.string().optional() });
const KeyBody = z.object({
  apiKey: z.string().min(1),
  senders: z.array(Sender),
  /** What `GET /v3/scopes` lists for the key; without `mail.send` every send is refused (default: full access). */
  scopes: z.array(z.string().min(1)).optional(),
});
const ReplyBody = z.object({
  messageId: z.string().min(1),
  text: z.string().min(1),
  html: z.string().optional(),
  /** Default: the first recipient of the original message. */
  from: z.string().optional(),
});

export interface StoredEmail {
  messageId: string;
  receivedAt: string;
  from: { email: string; name?: string };
  replyTo?: { email: string; name?: string };
  subject: string | undefined;
  personalizations: z.infer<typeof Personalization>[];
  content: { type: string; value: string }[];
  templateId?: string;
  customArgs?: Record<string, string>;
  categories?: string[];
  headers?: Record<string, string>;
}

/** A key registered through the control API: it may send only from its verified senders. */
interface RegisteredKey {
  senders: { id: number; email: string; name: string }[];
  scopes: string[];
}

/** What a full-access key's `GET /v3/scopes` lists (a subset of SendGrid's, the ones near what we use). */
const FULL_ACCESS_SCOPES = [
  'mail.send',
  'mail.batch.create',
  'mail.batch.read',
  'sender_verification_eligible',
  'templates.read',
  'suppression.read',
  'stats.read',
  'user.webhooks.event.settings.read',
  'user.webhooks.event.settings.update',
  'user.webhooks.parse.settings.read',
  'user.webhooks.parse.settings.update',
];
const SENDER_MISMATCH =
  'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.';

/** The key in `Authorization: Bearer <key>` (or the credential of a Basic header). */
function apiKeyOf(authorization: string | undefined): string {
  return authorization ? authorization.slice(authorization.indexOf(' ') + 1).trim() : '';
}

interface OutboundDelivery {
  kind: 'event-webhook' | 'inbound-parse';
  url: string;
  at: string;
  attempt: number;
  status: number | undefined;
  ms: number;
  error?: string;
  request: unknown;
}

function sgError(status: number, message: string, field: string | null = null) {
  return { errors: [{ message, field, help: null }] };
}
function invalid(errors: { message: string; field: string | null }[]): never {
  throw new ProviderHttpError(400, { errors: errors.map((e) => ({ ...e, help: null })) });
}

function validate(b: MailBody): void {
  const errors: { message: string; field: string | null }[] = [];
  if (!b.personalizations?.length)
    errors.push({
      message: 'The personalizations field is required and must have at least one personalization.',
      field: 'personalizations',
    });
  b.personalizations?.forEach((p, i) => {
    if (!p.to?.length) {
      errors.push({
        message:
          'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
        field: `personalizations.${i}.to`,
      });
    }
    for (const kind of ['to', 'cc', 'bcc'] as const) {
      p[kind]?.forEach((e, j) => {
        if (!EMAIL_RE.test(e.email))
          errors.push({
            message: 'Does not contain a valid address.',
            field: `personalizations.${i}.${kind}.${j}.email`,
          });
      });
    }
  });
  if (!b.from?.email) {
    errors.push({
      message:
        'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.',
      field: 'from',
    });
  } else if (!EMAIL_RE.test(b.from.email))
    errors.push({ message: 'The from email does not contain a valid address.', field: 'from.email' });
  if (!b.template_id && !b.subject && !(b.personalizations ?? []).every((p) => p.subject)) {
    errors.push({
      message:
        'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
      field: 'subject',
    });
  }
  if (!b.template_id && !b.content?.length) {
    errors.push({
      message:
        'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
      field: 'content',
    });
  }
  b.content?.forEach((c, i) => {
    if (!c.value)
      errors.push({
        message: 'The content value must be a string at least one character in length.',
        field: `content.${i}.value`,
      });
  });
  if (errors.length) invalid(errors);
}

export function createSendgrid(ctx: SandboxContext): ProviderModule {
  let ids = new IdFactory(new Rng(deriveSeed(ctx.seed(), 'sendgrid')));
  let emails = new Map<string, StoredEmail>();
  let deliveries: OutboundDelivery[] = [];
  let config: z.infer<typeof ConfigBody> = {};
  let eventCount = 0;
  let apiKeys = new Map<string, RegisteredKey>();
  let senderIds = 0;
  let keys: { privateKey: KeyObject; publicKey: KeyObject } | undefined;
  const pending = new Set<Promise<unknown>>();

  const keyPair = () => (keys ??= generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
  /** As shown in SendGrid's settings: base64 of the DER SubjectPublicKeyInfo. */
  const publicKeyBase64 = () => keyPair().publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

  function track<T>(p: Promise<T>): Promise<T> {
    pending.add(p);
    void p.finally(() => pending.delete(p));
    return p;
  }

  function record(kind: OutboundDelivery['kind'], url: string, attempt: number, request: unknown, r: DeliveryResult) {
    deliveries.push({
      kind,
      url,
      at: new Date().toISOString(),
      attempt,
      status: r.status,
      ms: r.ms,
      ...(r.error ? { error: r.error } : {}),
      request,
    });
    if (deliveries.length > 5000) deliveries.shift();
  }

  function buildEvents(
    email: StoredEmail,
    event: (typeof eventTypes)[number],
    only?: string,
    extra: { reason?: string; url?: string } = {},
  ) {
    const now = Math.floor(Date.now() / 1000);
    return email.personalizations.flatMap((p, pi) =>
      (p.to ?? [])
        .filter((to) => !only || to.email.toLowerCase() === only.toLowerCase())
        .map((to) => ({
          email: to.email,
          timestamp: now,
          event,
          sg_event_id: ids.alnum(22),
          sg_message_id: `${email.messageId}.filterdrecv-sandbox-${pi}.0`,
          'smtp-id': `<${email.messageId}@sandbox.sendgrid.net>`,
          ...(email.categories ? { category: email.categories } : {}),
          ...(event === 'bounce'
            ? {
                reason: extra.reason ?? '550 5.1.1 The email account that you tried to reach does not exist.',
                status: '5.1.1',
                type: 'bounce',
              }
            : {}),
          ...(event === 'dropped' ? { reason: extra.reason ?? 'Bounced Address' } : {}),
          ...(event === 'deferred' ? { response: extra.reason ?? '400 try again later', attempt: '1' } : {}),
          ...(event === 'click' ? { url: extra.url ?? 'https://example.com/' } : {}),
          ...(event === 'open' || event === 'click' ? { useragent: 'Mozilla/5.0 (sandbox)', ip: '192.0.2.1' } : {}),
          ...(event === 'delivered' ? { response: '250 OK' } : {}),
          // custom_args come back flattened into each event; personalization values win.
          ...email.customArgs,
          ...p.custom_args,
        })),
    );
  }

  /** Signed JSON array to the event webhook; delivered `1 + duplicates` times; 5xx/timeouts retried (briefly). */
  async function deliverEvents(batch: Record<string, unknown>[], duplicates: number): Promise<OutboundDelivery[]> {
    const url = config.eventWebhookUrl;
    if (!url || batch.length === 0) return [];
    const body = JSON.stringify(batch);
    const out: OutboundDelivery[] = [];
    for (let copy = 0; copy <= duplicates; copy++) {
      for (let attempt = 1; attempt <= 4; attempt++) {
        const timestamp = String(Math.floor(Date.now() / 1000));
        const signature = sign('sha256', Buffer.from(timestamp + body), keyPair().privateKey).toString('base64');
        const r = await post(
          url,
          body,
          {
            'content-type': 'application/json',
            'user-agent': 'SendGrid Event API (sandbox)',
            'x-twilio-email-event-webhook-signature': signature,
            'x-twilio-email-event-webhook-timestamp': timestamp,
          },
          { timeoutMs: 10_000, shutdown: ctx.shutdown },
        );
        record('event-webhook', url, attempt, batch, r);
        out.push(deliveries.at(-1)!);
        eventCount += batch.length;
        if (isSuccess(r) || (r.status !== undefined && r.status < 500)) break;
        await sleep(100 * 2 ** attempt, ctx.shutdown);
      }
    }
    return out;
  }

  /** A reply from the recipient, posted like Inbound Parse: multipart with from, to, subject, text, html, headers, envelope. */
  async function deliverReply(email: StoredEmail, input: z.infer<typeof ReplyBody>): Promise<OutboundDelivery[]> {
    const url = config.inboundParseUrl;
    if (!url) return [];
    const replier = input.from ?? email.personalizations[0]?.to?.[0]?.email ?? 'customer@example.com';
    const to = (email.replyTo ?? email.from).email;
    const subject = `Re: ${email.subject ?? email.personalizations[0]?.subject ?? ''}`.trim();
    const replyId = `<${ids.alnum(16)}@mail.example.com>`;
    const original = `<${email.messageId}@sandbox.sendgrid.net>`;
    const headers = [
      `Received: by mx.sendgrid.net with SMTP id ${ids.alnum(10)}`,
      `From: ${replier}`,
      `To: ${to}`,
      `Subject: ${subject}`,
      `Date: ${new Date().toUTCString()}`,
      `Message-ID: ${replyId}`,
      `In-Reply-To: ${original}`,
      `References: ${original}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="sandbox"',
    ].join('\n');
    const fields: Record<string, string> = {
      headers,
      dkim: '{@example.com : pass}',
      to,
      from: replier,
      subject,
      text: input.text,
      html:
        input.html ?? `<p>${input.text.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!)}</p>`,
      sender_ip: '192.0.2.10',
      envelope: JSON.stringify({ to: [to], from: replier }),
      attachments: '0',
      charsets: JSON.stringify({ to: 'UTF-8', from: 'UTF-8', subject: 'UTF-8', text: 'UTF-8', html: 'UTF-8' }),
      SPF: 'pass',
      spam_score: '0.1',
    };
    const out: OutboundDelivery[] = [];
    // 5xx is retried (SendGrid keeps trying for 72 h; the sandbox a few times), 4xx drops the message.
    for (let attempt = 1; attempt <= 4; attempt++) {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      const r = await post(
        url,
        form,
        { 'user-agent': 'Sendlib/1.0 (sandbox inbound parse)' },
        { timeoutMs: 30_000, shutdown: ctx.shutdown },
      );
      record('inbound-parse', url, attempt, fields, r);
      out.push(deliveries.at(-1)!);
      if (isSuccess(r) || (r.status !== undefined && r.status < 500)) break;
      await sleep(100 * 2 ** attempt, ctx.shutdown);
    }
    return out;
  }

  return {
    name: 'sendgrid',
    errorBody: (status, message) => sgError(status, message),
    routes(app: FastifyInstance) {
      app.addHook('preHandler', async (req) => {
        const auth = req.headers.authorization;
        if (!auth || !/^(Bearer|Basic) \S+/.test(auth)) {
          throw new ProviderHttpError(
            401,
            sgError(401, 'The provided authorization grant is invalid, expired, or revoked'),
          );
        }
      });
      app.post('/v3/mail/send', async (req, reply) => {
        const parsed = MailBody.safeParse(req.body ?? {});
        if (!parsed.success)
          invalid(
            parsed.error.issues.map((i) => ({ message: i.message, field: i.path.map(String).join('.') || null })),
          );
        const b = parsed.data!;
        validate(b);
        // Registered keys are held to their verified senders, like a real account; other keys send as anyone.
        const registered = apiKeys.get(apiKeyOf(req.headers.authorization));
        if (registered && !registered.scopes.includes('mail.send')) {
          throw new ProviderHttpError(403, sgError(403, 'access forbidden'));
        }
        const fromEmail = b.from!.email!.toLowerCase();
        if (registered && !registered.senders.some((s) => s.email.toLowerCase() === fromEmail)) {
          throw new ProviderHttpError(403, sgError(403, SENDER_MISMATCH, 'from'));
        }
        const messageId = ids.alnum(22);
        const email: StoredEmail = {
          messageId,
          receivedAt: new Date().toISOString(),
          from: { email: b.from!.email!, ...(b.from?.name ? { name: b.from.name } : {}) },
          ...(b.reply_to ? { replyTo: b.reply_to } : {}),
          subject: b.subject,
          personalizations: b.personalizations!,
          content: b.content ?? [],
          ...(b.template_id ? { templateId: b.template_id } : {}),
          ...(b.custom_args ? { customArgs: b.custom_args } : {}),
          ...(b.categories ? { categories: b.categories } : {}),
          ...(b.headers ? { headers: b.headers } : {}),
        };
        emails.set(messageId, email);
        const auto = config.autoEvents ?? ['processed', 'delivered'];
        if (config.eventWebhookUrl && auto.length) {
          void track(
            deliverEvents(
              auto.flatMap((e) => buildEvents(email, e)),
              0,
            ),
          );
        }
        return reply.status(202).header('x-message-id', messageId).send();
      });

      app.get('/v3/verified_senders', async (req) => {
        const registered = apiKeys.get(apiKeyOf(req.headers.authorization));
        const results = (registered?.senders ?? []).map((s) => ({
          id: s.id,
          nickname: s.name || s.email,
          from_email: s.email,
          from_name: s.name,
          reply_to: s.email,
          reply_to_name: s.name,
          verified: true,
          locked: false,
        }));
        return { results };
      });

      // How an app checks a pasted key: any accepted key answers, listing what it may do.
      app.get('/v3/scopes', async (req) => ({
        scopes: apiKeys.get(apiKeyOf(req.headers.authorization))?.scopes ?? FULL_ACCESS_SCOPES,
      }));
    },
    control(app: FastifyInstance) {
      app.post('/keys', async (req, reply) => {
        const parsed = KeyBody.safeParse(req.body);
        if (!parsed.success) {
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
        }
        const senders = parsed.data.senders.map((s) => ({ id: ++senderIds, email: s.email, name: s.name ?? '' }));
        const key: RegisteredKey = { senders, scopes: parsed.data.scopes ?? FULL_ACCESS_SCOPES };
        apiKeys.set(parsed.data.apiKey, key);
        return reply.status(201).send({ apiKey: parsed.data.apiKey, ...key });
      });
      app.get('/emails', async (req) => {
        const q = z
          .object({ to: z.string().optional(), limit: z.coerce.number().int().min(1).max(10_000).default(100) })
          .safeParse(req.query);
        const to = q.success ? q.data.to?.toLowerCase() : undefined;
        const all = [...emails.values()].filter(
          (e) => !to || e.personalizations.some((p) => p.to?.some((x) => x.email.toLowerCase() === to)),
        );
        return { emails: all.slice(-(q.success ? q.data.limit : 100)), total: all.length };
      });
      app.get('/emails/:messageId', async (req, reply) => {
        const email = emails.get((req.params as { messageId: string }).messageId);
        return email ? { email } : reply.status(404).send({ error: 'no such message' });
      });
      app.post('/config', async (req, reply) => {
        const parsed = ConfigBody.safeParse(req.body);
        if (!parsed.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
        config = { ...config, ...Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) };
        keyPair();
        return { config };
      });
      app.get('/webhook-key', async () => ({
        algorithm: 'ECDSA P-256 / SHA-256 over timestamp + raw body, base64 DER signature',
        publicKey: publicKeyBase64(),
        publicKeyPem: keyPair().publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      }));
      app.post('/events', async (req, reply) => {
        const parsed = EventsBody.safeParse(req.body);
        if (!parsed.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
        const b = parsed.data;
        const email = emails.get(b.messageId);
        if (!email) return reply.status(404).send({ error: 'no such message' });
        if (!config.eventWebhookUrl)
          return reply
            .status(409)
            .send({ error: 'no event webhook configured: POST /__sandbox/sendgrid/config {eventWebhookUrl}' });
        const batch = buildEvents(email, b.event, b.email, { reason: b.reason, url: b.url });
        if (!batch.length) return reply.status(404).send({ error: 'no such recipient' });
        const sent = await track(deliverEvents(batch, b.duplicates));
        return { events: batch, deliveries: sent };
      });
      app.post('/reply', async (req, reply) => {
        const parsed = ReplyBody.safeParse(req.body);
        if (!parsed.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
        const email = emails.get(parsed.data.messageId);
        if (!email) return reply.status(404).send({ error: 'no such message' });
        if (!config.inboundParseUrl)
          return reply
            .status(409)
            .send({ error: 'no inbound parse URL configured: POST /__sandbox/sendgrid/config {inboundParseUrl}' });
        return { deliveries: await track(deliverReply(email, parsed.data)) };
      });
      app.get('/deliveries', async () => {
        await Promise.all([...pending]);
        return { deliveries };
      });
    },
    reset(seed: number) {
      ids = new IdFactory(new Rng(deriveSeed(seed, 'sendgrid')));
      emails = new Map();
      deliveries = [];
      config = {};
      eventCount = 0;
      apiKeys = new Map();
      senderIds = 0;
    },
    counts: () => ({
      emails: emails.size,
      eventsDelivered: eventCount,
      deliveries: deliveries.length,
      apiKeys: apiKeys.size,
    }),
  };
}
