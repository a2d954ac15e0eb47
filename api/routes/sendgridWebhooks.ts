import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { appendEvents, type LeadRef } from '../../domain/campaigns/leadEvents.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { TenantId, workflowIds } from '../../lib/ids.js';
import { isOptOutText, suppress } from '../../domain/suppression.js';
import { replyReceivedSignal } from '../../workflows/leadOutreach.contract.js';
import { fail } from '../http/errors.js';
import { tenantOf } from '../auth.js';
import { loadCampaign } from '../../domain/campaigns/store.js';
import { newReplyText } from '../../domain/campaigns/prompts.js';
import { newInboundSecret, secretMatches, verifyUnsubscribeToken } from '../../domain/campaigns/unsubscribe.js';
import { decryptSecret, encryptSecret } from '../../lib/secrets.js';
import type { PoolClient } from '../../lib/db.js';

/** SendGrid re-signs every delivery; an older signature is a replay. */
const MAX_AGE_S = 10 * 60;

const SgEvent = z.looseObject({
  email: z.string().optional(),
  timestamp: z.number(),
  event: z.string().min(1),
  sg_event_id: z.string().min(1),
  sg_message_id: z.string().optional(),
  reason: z.string().optional(),
  url: z.string().optional(),
  sb_tenant: z.string().optional(),
  sb_campaign: z.string().optional(),
  sb_lead: z.string().optional(),
  sb_send_key: z.string().optional(),
});
const Inbound = z.object({
  from: z.string().min(1, 'from is required'),
  to: z.string().default(''),
  subject: z.string().default(''),
  text: z.string().default(''),
  html: z.string().default(''),
  headers: z.string().default(''),
  envelope: z.string().optional(),
  /** SendGrid's verdicts on the incoming message: `pass|fail|softfail|neutral|none`, and `{@domain : pass, ...}`. */
  SPF: z.string().max(100).optional(),
  dkim: z.string().max(2000).optional(),
});

/** Replies carry text, not attachments we use: far below SendGrid's 30 MB, so a flood costs little. */
const INBOUND_BODY_LIMIT = 2 * 1024 * 1024;

/** What became of a reply: acted on, or held for a person (and why). */
type Verdict = 'accepted' | 'unauthenticated' | 'sender-mismatch' | 'over-limit';

const domainOf = (email: string) => email.split('@')[1]?.toLowerCase() ?? '';
const aligned = (a: string, b: string) => Boolean(a) && (a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`));

/**
 * DMARC-style alignment on SendGrid's verdicts: a DKIM pass for the From domain, or an SPF pass
 * for an envelope sender in the From domain. Anything else may be forged.
 */
export function senderAuthenticated(
  from: string,
  spf: string | undefined,
  dkim: string | undefined,
  envelopeFrom: string,
): boolean {
  const fromDomain = domainOf(from);
  const dkimPass = [...(dkim ?? '').matchAll(/@([^\s:,{}]+)\s*:\s*(\w+)/g)].some(
    ([, d, result]) => result!.toLowerCase() === 'pass' && aligned(d!.toLowerCase(), fromDomain),
  );
  const spfPass = spf?.trim().toLowerCase() === 'pass' && aligned(domainOf(address(envelopeFrom)), fromDomain);
  return dkimPass || spfPass;
}

/** Suppresses every key of the lead (its email, phone, CRM contact); false when there is no such lead. */
async function suppressLead(c: PoolClient, ref: LeadRef, source: string): Promise<boolean> {
  const { rows } = await c.query<{ email: string | null; phone: string | null; contact_id: string | null }>(
    'select email, phone, contact_id from campaign_leads where tenant_id = $1 and campaign_id = $2 and id = $3',
    [ref.tenantId, ref.campaignId, ref.leadId],
  );
  const lead = rows[0];
  if (!lead) return false;
  await suppress(c, {
    tenantId: ref.tenantId,
    email: lead.email,
    phone: lead.phone,
    contactId: lead.contact_id,
    reason: 'unsubscribe',
    source,
  });
  return true;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
const page = (title: string, text: string, extra = '') =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
  `<meta name="viewport" content="width=device-width, initial-scale=1"></head>` +
  `<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem">` +
  `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>${extra}</body></html>`;

/** Inbound Parse is limited per tenant (the path names it), not per SendGrid IP, which all tenants share. */
const inboundRateKey = (req: FastifyRequest) => `sg-inbound:${(req.params as { tenantId?: string }).tenantId ?? ''}`;

/** `Name <a@b>` or `a@b` → `a@b`, lower-cased. */
const address = (raw: string) => (/<([^>]+)>/.exec(raw)?.[1] ?? raw).trim().toLowerCase();
const header = (raw: string, name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'im').exec(raw)?.[1]?.trim();
const stripHtml = (html: string) =>
  html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();

/** The SendGrid verification key as its settings page shows it (base64 DER SPKI) or as PEM. */
export function sendgridPublicKey(raw: string): KeyObject {
  return raw.includes('BEGIN PUBLIC KEY')
    ? createPublicKey(raw)
    : createPublicKey({ key: Buffer.from(raw, 'base64'), format: 'der', type: 'spki' });
}

/**
 * SendGrid's two webhooks, per tenant:
 * - `POST /webhooks/sendgrid/events/:tenantId`: the Event Webhook, ECDSA-verified, each `sg_event_id`
 *   applied once: bounces and spam reports suppress the address, opens and clicks join the lead's timeline.
 * - `POST /webhooks/sendgrid/inbound/:tenantId/:secret`: Inbound Parse (multipart), authenticated by the
 *   tenant's secret: a reply is routed by our own token, stored once (by its Message-ID) and signalled to
 *   its lead's workflow only when SPF/DKIM vouch for the sender and the sender is the lead; else held.
 * - `/u/:token`: one-click unsubscribe links (signed), and the admin routes that show the parse URL.
 */
export const sendgridWebhookRoutes: FastifyPluginAsync<{
  pool: Pool;
  temporal: Client;
  access: ProviderAccess;
  publicKey: string | undefined;
  masterKey: Buffer;
  /** Base of the URLs shown to tenants; default: the request's own host. */
  publicUrl?: string;
  /** Inbound Parse posts per tenant per minute. */
  inboundPerMinute?: number;
}> = async (app, { pool, temporal, access, publicKey, masterKey, publicUrl, inboundPerMinute = 300 }) => {
  const platformKey = publicKey ? sendgridPublicKey(publicKey) : undefined;
  /**
   * Events are signed by the tenant's own SendGrid account: its key verifies them. The platform's
   * key serves the platform tenant, and every tenant of the local sandbox (one signer for all).
   */
  const eventKeyOf = async (tenantId: string): Promise<KeyObject | undefined> => {
    const own = await access.sendgrid(tenantId).catch(() => undefined);
    if (own?.eventWebhookPublicKey) return sendgridPublicKey(own.eventWebhookPublicKey);
    return own?.via === 'platform' || access.mode('sendgrid') === 'sandbox' ? platformKey : undefined;
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(
    'multipart/form-data',
    { parseAs: 'buffer', bodyLimit: INBOUND_BODY_LIMIT },
    (_req, body, done) => done(null, body),
  );
  // Mail clients post `List-Unsubscribe=One-Click` form-encoded (RFC 8058); its content does not matter.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );

  const tenantExists = async (tenantId: string) =>
    TenantId.safeParse(tenantId).success &&
    Boolean(
      (await withTenant(pool, tenantId, (c) => c.query('select 1 from tenants where id = $1', [tenantId]))).rowCount,
    );

  app.post<{ Params: { tenantId: string } }>(
    '/webhooks/sendgrid/events/:tenantId',
    {
      config: {
        rateLimit: false,
        openapi: {
          requestBody: { contentType: 'application/json' },
          errors: [401, 404],
          responses: { 200: 'applied' },
        },
      },
      schema: { summary: 'SendGrid Event Webhook (signed)', tags: ['webhooks'] },
    },
    async (req, reply) => {
      const raw = req.body;
      if (!Buffer.isBuffer(raw)) return fail(reply, 400, 'expected application/json');
      const { tenantId } = req.params;
      if (!(await tenantExists(tenantId))) return fail(reply, 404, `no tenant ${tenantId}`);
      const key = await eventKeyOf(tenantId);
      if (!key) {
        req.log.error({ tenantId }, 'SendGrid event received but no verification key is configured for the tenant');
        return fail(
          reply,
          401,
          'event signatures cannot be checked: no SendGrid verification key for this tenant (PUT /v1/connections/sendgrid eventWebhookPublicKey)',
        );
      }
      const signature = req.headers['x-twilio-email-event-webhook-signature'];
      const timestamp = req.headers['x-twilio-email-event-webhook-timestamp'];
      if (typeof signature !== 'string' || typeof timestamp !== 'string')
        return fail(reply, 401, 'missing X-Twilio-Email-Event-Webhook-Signature or -Timestamp');
      if (!verify('sha256', Buffer.concat([Buffer.from(timestamp), raw]), key, Buffer.from(signature, 'base64')))
        return fail(reply, 401, 'invalid event webhook signature');
      if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > MAX_AGE_S)
        return fail(reply, 401, `stale event webhook: timestamp ${timestamp} is more than 10 minutes off`);

      let parsed: z.infer<typeof SgEvent>[];
      try {
        const result = z.array(SgEvent).safeParse(JSON.parse(raw.toString('utf8')));
        if (!result.success)
          return fail(reply, 400, result.error.issues.map((i) => `body.${i.path.join('.')}: ${i.message}`).join('; '));
        parsed = result.data;
      } catch {
        return fail(reply, 400, 'body is not valid JSON');
      }

      const counts = await withTenant(pool, tenantId, async (c) => {
        let applied = 0;
        let duplicates = 0;
        let otherTenant = 0;
        for (const e of parsed) {
          // Our sends name their tenant (custom arg sb_tenant): an event naming another one came to the
          // wrong URL (a shared SendGrid account, a misconfigured webhook) and must not touch this tenant.
          if (e.sb_tenant !== undefined && e.sb_tenant !== tenantId) {
            otherTenant++;
            continue;
          }
          const messageId = e.sg_message_id?.split('.')[0] ?? null;
          const inserted = await c.query(
            `insert into sendgrid_events (tenant_id, sg_event_id, event, email, message_id, campaign_id, lead_id, send_key, payload)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing`,
            [
              tenantId,
              e.sg_event_id,
              e.event,
              e.email?.toLowerCase() ?? null,
              messageId,
              e.sb_campaign ?? null,
              e.sb_lead ?? null,
              e.sb_send_key ?? null,
              e,
            ],
          );
          if (!inserted.rowCount) {
            duplicates++;
            continue;
          }
          applied++;
          const ref: LeadRef | undefined =
            e.sb_campaign && e.sb_lead ? { tenantId, campaignId: e.sb_campaign, leadId: e.sb_lead } : undefined;
          if (['bounce', 'spamreport', 'unsubscribe', 'group_unsubscribe'].includes(e.event) && e.email) {
            await suppress(c, {
              tenantId,
              email: e.email,
              reason: e.event === 'bounce' ? 'bounce' : e.event === 'spamreport' ? 'spamreport' : 'unsubscribe',
              source: `sendgrid:${e.event}`,
            });
          }
          if (
            ref &&
            ['bounce', 'spamreport', 'unsubscribe', 'group_unsubscribe', 'open', 'click', 'dropped'].includes(e.event)
          ) {
            await appendEvents(c, ref, [
              {
                kind: `email-${e.event}`,
                at: e.timestamp * 1000,
                key: `sg:${e.sg_event_id}`,
                data: {
                  sendKey: e.sb_send_key,
                  messageId,
                  ...(e.reason ? { reason: e.reason } : {}),
                  ...(e.url ? { url: e.url } : {}),
                },
              },
            ]);
          }
        }
        return { applied, duplicates, otherTenant };
      });
      if (counts.otherTenant)
        req.log.warn({ tenantId, ignored: counts.otherTenant }, 'SendGrid events naming another tenant ignored');
      return { received: parsed.length, ...counts };
    },
  );

  /** The tenant's Inbound Parse secret (unsealed), created on first use. */
  const inboundSecret = async (tenantId: string, rotate = false): Promise<string> =>
    withTenant(pool, tenantId, async (c) => {
      const sealed = encryptSecret(masterKey, tenantId, newInboundSecret());
      await c.query(
        `insert into inbound_parse_secrets (tenant_id, secret) values ($1, $2)
         on conflict (tenant_id) do ${rotate ? 'update set secret = excluded.secret, created_at = now()' : 'nothing'}`,
        [tenantId, sealed],
      );
      const { rows } = await c.query<{ secret: string }>(
        'select secret from inbound_parse_secrets where tenant_id = $1',
        [tenantId],
      );
      return decryptSecret(masterKey, tenantId, rows[0]!.secret);
    });
  /** The stored secret without creating one: a tenant that never asked for its URL has none to match. */
  const storedSecret = async (tenantId: string): Promise<string | undefined> => {
    const { rows } = await withTenant(pool, tenantId, (c) =>
      c.query<{ secret: string }>('select secret from inbound_parse_secrets where tenant_id = $1', [tenantId]),
    );
    return rows[0] ? decryptSecret(masterKey, tenantId, rows[0].secret) : undefined;
  };
  const inboundUrl = (req: FastifyRequest, tenantId: string, secret: string) =>
    `${(publicUrl ?? `${req.protocol}://${req.host}`).replace(/\/+$/, '')}/webhooks/sendgrid/inbound/${tenantId}/${secret}`;

  for (const rotate of [false, true]) {
    app.route<{ Params: Record<string, never> }>({
      method: rotate ? 'POST' : 'GET',
      url: rotate ? '/v1/connections/sendgrid/inbound-parse/rotate' : '/v1/connections/sendgrid/inbound-parse',
      preHandler: app.requireScope('admin'),
      schema: {
        summary: rotate
          ? 'Replace the Inbound Parse secret (the old URL stops working at once)'
          : "The tenant's SendGrid Inbound Parse URL, with its secret (set it as the parse host's destination URL)",
        tags: ['connections'],
      },
      handler: async (req) => {
        const { tenantId } = tenantOf(req);
        return { url: inboundUrl(req, tenantId, await inboundSecret(tenantId, rotate)) };
      },
    });
  }

  /** SendGrid cannot sign Parse posts: the secret (path or basic-auth password) is the only proof of origin. */
  const handleInbound = async (
    req: FastifyRequest<{ Params: { tenantId: string; secret?: string } }>,
    reply: FastifyReply,
  ) => {
    const { tenantId } = req.params;
    // 4xx makes SendGrid drop the message: right for a wrong URL, so a missing tenant is a 404.
    if (!(await tenantExists(tenantId))) return fail(reply, 404, `no tenant ${tenantId}`);
    const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const presented =
      req.params.secret ?? (basic ? Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':') : '');
    const expected = await storedSecret(tenantId);
    if (!presented || !expected || !secretMatches(presented, expected))
      return fail(
        reply,
        401,
        'Inbound Parse needs the tenant secret in the URL (/webhooks/sendgrid/inbound/{tenantId}/{secret}) or as the basic-auth password; GET /v1/connections/sendgrid/inbound-parse gives the URL',
      );
    const raw = req.body;
    const contentType = req.headers['content-type'];
    if (!Buffer.isBuffer(raw) || !contentType?.startsWith('multipart/form-data'))
      return fail(reply, 400, 'expected multipart/form-data (SendGrid Inbound Parse)');
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
    } catch {
      return fail(reply, 400, 'malformed multipart body');
    }
    const fields = Object.fromEntries([...form.entries()].filter(([, v]) => typeof v === 'string'));
    const parsed = Inbound.safeParse(fields);
    if (!parsed.success)
      return fail(reply, 400, parsed.error.issues.map((i) => `body.${i.path.join('.')}: ${i.message}`).join('; '));
    const m = parsed.data;
    const text = m.text.trim() || stripHtml(m.html);
    if (!text) return fail(reply, 400, 'body.text: the reply has no text or html');
    const from = address(m.from);
    const envelope = (() => {
      try {
        return m.envelope ? (JSON.parse(m.envelope) as { to?: unknown; from?: unknown }) : {};
      } catch {
        return {}; // a malformed envelope still leaves `to` and the headers to route by
      }
    })();
    const toAddresses = [m.to, String(envelope.to ?? '')].join(',');
    // Routed only by what we put on our own mail: the reply-to token, else the Message-ID replied to.
    const token = /\+([a-z0-9]+)@/i.exec(toAddresses)?.[1]?.toLowerCase();
    const inReplyTo = header(m.headers, 'In-Reply-To')?.replace(/^<|>$/g, '').split('@')[0];
    const dedupeKey =
      header(m.headers, 'Message-ID') ?? createHash('sha256').update(`${from}\n${m.subject}\n${text}`).digest('hex');
    const authenticated = senderAuthenticated(
      from,
      m.SPF,
      m.dkim,
      typeof envelope.from === 'string' ? envelope.from : '',
    );

    const stored = await withTenant(pool, tenantId, async (c) => {
      const route = await c.query<{ campaign_id: string; lead_id: string }>(
        `select campaign_id, lead_id from email_sends where tenant_id = $1 and (
            ($2::text is not null and reply_token = $2) or ($3::text is not null and message_id = $3))
          order by (reply_token = $2) desc nulls last, sent_at desc nulls last limit 1`,
        [tenantId, token ?? null, inReplyTo ?? null],
      );
      const routed = route.rows[0];
      let verdict: Verdict = 'accepted';
      if (routed) {
        const lead = await c.query<{ email: string | null }>(
          'select email from campaign_leads where tenant_id = $1 and campaign_id = $2 and id = $3',
          [tenantId, routed.campaign_id, routed.lead_id],
        );
        const history = await c.query<{ n: number; chars: number }>(
          `select count(*)::int as n, coalesce(sum(length(text)), 0)::int as chars from inbound_emails
            where tenant_id = $1 and campaign_id = $2 and lead_id = $3 and verdict = 'accepted' and dedupe_key <> $4`,
          [tenantId, routed.campaign_id, routed.lead_id, dedupeKey],
        );
        const { conversation } = (await loadCampaign(c, tenantId, routed.campaign_id)).settings.policy;
        if (!authenticated) verdict = 'unauthenticated';
        else if (!lead.rows[0]?.email || lead.rows[0].email !== from) verdict = 'sender-mismatch';
        // One past the limit still reaches the lead (which hands it to a person); later ones are only stored.
        else if (history.rows[0]!.n > conversation.maxReplies) verdict = 'over-limit';
      }
      const inserted = await c.query<{ id: string }>(
        `insert into inbound_emails (tenant_id, dedupe_key, from_email, to_email, subject, text, campaign_id, lead_id, spf, dkim, verdict)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) on conflict (tenant_id, dedupe_key) do nothing returning id`,
        [
          tenantId,
          dedupeKey,
          from,
          m.to,
          m.subject,
          text.slice(0, 100_000),
          routed?.campaign_id ?? null,
          routed?.lead_id ?? null,
          m.SPF ?? null,
          m.dkim ?? null,
          verdict,
        ],
      );
      const prior = inserted.rows[0]
        ? undefined
        : (
            await c.query<{ id: string; verdict: Verdict }>(
              'select id, verdict from inbound_emails where tenant_id = $1 and dedupe_key = $2',
              [tenantId, dedupeKey],
            )
          ).rows[0]!;
      const id = String(inserted.rows[0]?.id ?? prior!.id);
      verdict = prior?.verdict ?? verdict;
      if (routed && verdict !== 'accepted' && !prior) {
        // Held for a person: on the lead's timeline, never acted on (no booking, no answer, no opt-out).
        await appendEvents(c, { tenantId, campaignId: routed.campaign_id, leadId: routed.lead_id }, [
          {
            kind: 'reply-held',
            at: Date.now(),
            key: `${routed.campaign_id}:${routed.lead_id}:held:${id}`,
            data: { inboundId: id, from, reason: verdict, spf: m.SPF ?? null, dkim: m.dkim ?? null },
          },
        ]);
      }
      return { id, lead: routed, duplicate: !inserted.rowCount, verdict };
    });
    if (!stored.lead) return { ok: true, routed: false, duplicate: stored.duplicate };
    const ref: LeadRef = { tenantId, campaignId: stored.lead.campaign_id, leadId: stored.lead.lead_id };
    const answer = { ok: true, routed: true, duplicate: stored.duplicate, inboundId: stored.id, leadId: ref.leadId };
    if (stored.verdict !== 'accepted') return { ...answer, held: stored.verdict };
    try {
      // Signalled even for a duplicate delivery: the workflow keeps the first and ignores the rest.
      const lead = temporal.workflow.getHandle(workflowIds.leadOutreach(tenantId, ref.campaignId, ref.leadId));
      await lead.signal(replyReceivedSignal, { inboundId: stored.id });
    } catch (err) {
      if ((err as { name?: string }).name !== 'WorkflowNotFoundError') throw err;
      // The lead's workflow has ended: the reply joins its timeline, and an opt-out is honoured all the same.
      await withTenant(pool, tenantId, async (c) => {
        await appendEvents(c, ref, [
          {
            kind: 'reply-after-finish',
            at: Date.now(),
            key: `${ref.campaignId}:${ref.leadId}:late-reply:${stored.id}`,
            data: { inboundId: stored.id, from },
          },
        ]);
        // The lead's own keys are suppressed, never the address a message claims to be from.
        if (isOptOutText(newReplyText(text))) await suppressLead(c, ref, `campaign:${ref.campaignId}`);
      });
    }
    return answer;
  };

  const inboundOptions = {
    bodyLimit: INBOUND_BODY_LIMIT,
    config: {
      rateLimit: { max: inboundPerMinute, timeWindow: '1 minute', keyGenerator: inboundRateKey },
      openapi: {
        requestBody: { contentType: 'multipart/form-data', schema: { type: 'object' } },
        errors: [401, 404],
        responses: { 200: 'stored (or a duplicate)' },
      },
    },
    schema: { summary: 'SendGrid Inbound Parse (replies), authenticated by the tenant secret', tags: ['webhooks'] },
  };
  app.post<{ Params: { tenantId: string; secret: string } }>(
    '/webhooks/sendgrid/inbound/:tenantId/:secret',
    inboundOptions,
    handleInbound,
  );
  // The basic-auth form (https://user:secret@host/webhooks/sendgrid/inbound/{tenantId}).
  app.post<{ Params: { tenantId: string } }>('/webhooks/sendgrid/inbound/:tenantId', inboundOptions, handleInbound);

  /** One-click unsubscribe (RFC 8058): POST honours it at once; GET (a person following the link) confirms first. */
  const unsubscribeRef = (token: string) => verifyUnsubscribeToken(masterKey, token);
  app.get<{ Params: { token: string } }>(
    '/u/:token',
    {
      config: {
        openapi: {
          responses: {
            200: { description: 'the confirm page', types: ['text/html'] },
            404: { description: 'not our link', types: ['text/html'] },
          },
        },
      },
      schema: { summary: 'Unsubscribe link: a confirm page', tags: ['webhooks'] },
    },
    async (req, reply) => {
      const ref = unsubscribeRef(req.params.token);
      reply.type('text/html; charset=utf-8');
      // A token we did not sign is no link of ours: not found.
      if (!ref) return reply.code(404).send(page('Link not valid', 'This unsubscribe link is damaged or not ours.'));
      return page(
        'Unsubscribe',
        'Stop all further messages from this sender?',
        `<form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`,
      );
    },
  );
  app.post<{ Params: { token: string } }>(
    '/u/:token',
    {
      config: { openapi: { responses: { 200: { description: 'unsubscribed', types: ['text/html'] } } } },
      schema: { summary: 'One-click unsubscribe (RFC 8058 List-Unsubscribe-Post)', tags: ['webhooks'] },
    },
    async (req, reply) => {
      const ref = unsubscribeRef(req.params.token);
      if (!ref) return fail(reply, 404, 'token: not a valid unsubscribe link');
      if (!(await tenantExists(ref.tenantId))) return fail(reply, 404, 'token: the sender no longer exists');
      const found = await withTenant(pool, ref.tenantId, async (c) => {
        const done = await suppressLead(c, ref, `unsubscribe-link:${ref.campaignId}`);
        if (done)
          await appendEvents(c, ref, [
            { kind: 'unsubscribed', at: Date.now(), key: `${ref.campaignId}:${ref.leadId}:unsubscribe-link`, data: {} },
          ]);
        return done;
      });
      if (!found) return fail(reply, 404, 'token: no such recipient');
      reply.type('text/html; charset=utf-8');
      return page('Unsubscribed', 'You will not hear from this sender again.');
    },
  );
};
