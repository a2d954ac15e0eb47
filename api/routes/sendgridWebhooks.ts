import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync } from 'fastify';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { appendEvents, type LeadRef } from '../../domain/campaigns/leadEvents.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { TenantId, workflowIds } from '../../lib/ids.js';
import { isOptOutText, suppress } from '../../domain/suppression.js';
import { replyReceivedSignal } from '../../workflows/leadOutreach.contract.js';
import { fail } from '../http/errors.js';

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
});

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
 * - `POST /webhooks/sendgrid/inbound/:tenantId`: Inbound Parse (multipart): a reply is stored once (by
 *   its Message-ID) and signalled to its lead's workflow, which ignores a reply it already has.
 */
export const sendgridWebhookRoutes: FastifyPluginAsync<{
  pool: Pool;
  temporal: Client;
  access: ProviderAccess;
  publicKey: string | undefined;
}> = async (app, { pool, temporal, access, publicKey }) => {
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
    { parseAs: 'buffer', bodyLimit: 30 * 1024 * 1024 },
    (_req, body, done) => done(null, body),
  );

  const tenantExists = async (tenantId: string) =>
    TenantId.safeParse(tenantId).success &&
    Boolean(
      (await withTenant(pool, tenantId, (c) => c.query('select 1 from tenants where id = $1', [tenantId]))).rowCount,
    );

  app.post<{ Params: { tenantId: string } }>(
    '/webhooks/sendgrid/events/:tenantId',
    { config: { rateLimit: false }, schema: { summary: 'SendGrid Event Webhook (signed)', tags: ['webhooks'] } },
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

  app.post<{ Params: { tenantId: string } }>(
    '/webhooks/sendgrid/inbound/:tenantId',
    { config: { rateLimit: false }, schema: { summary: 'SendGrid Inbound Parse (replies)', tags: ['webhooks'] } },
    async (req, reply) => {
      const raw = req.body;
      const contentType = req.headers['content-type'];
      if (!Buffer.isBuffer(raw) || !contentType?.startsWith('multipart/form-data'))
        return fail(reply, 400, 'expected multipart/form-data (SendGrid Inbound Parse)');
      const { tenantId } = req.params;
      // 4xx makes SendGrid drop the message: right for a wrong URL, so a missing tenant is a 404.
      if (!(await tenantExists(tenantId))) return fail(reply, 404, `no tenant ${tenantId}`);
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
      const envelopeTo = (() => {
        try {
          return m.envelope ? String((JSON.parse(m.envelope) as { to?: unknown }).to ?? '') : '';
        } catch {
          return ''; // a malformed envelope still leaves `to` and the headers to route by
        }
      })();
      const toAddresses = [m.to, envelopeTo].join(',');
      const token = /\+([a-z0-9]+)@/i.exec(toAddresses)?.[1]?.toLowerCase();
      const inReplyTo = header(m.headers, 'In-Reply-To')?.replace(/^<|>$/g, '').split('@')[0];
      const dedupeKey =
        header(m.headers, 'Message-ID') ?? createHash('sha256').update(`${from}\n${m.subject}\n${text}`).digest('hex');

      const stored = await withTenant(pool, tenantId, async (c) => {
        // The lead: by the reply-to token, else by the message replied to, else the latest email we sent to this address.
        const route = await c.query<{ campaign_id: string; lead_id: string }>(
          `select campaign_id, lead_id from email_sends where tenant_id = $1 and (
            ($2::text is not null and reply_token = $2) or ($3::text is not null and message_id = $3) or (to_email = $4 and status = 'sent'))
          order by (reply_token = $2) desc nulls last, (message_id = $3) desc nulls last, sent_at desc nulls last limit 1`,
          [tenantId, token ?? null, inReplyTo ?? null, from],
        );
        const lead = route.rows[0];
        const inserted = await c.query<{ id: string }>(
          `insert into inbound_emails (tenant_id, dedupe_key, from_email, to_email, subject, text, campaign_id, lead_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (tenant_id, dedupe_key) do nothing returning id`,
          [
            tenantId,
            dedupeKey,
            from,
            m.to,
            m.subject,
            text.slice(0, 100_000),
            lead?.campaign_id ?? null,
            lead?.lead_id ?? null,
          ],
        );
        const id =
          inserted.rows[0]?.id ??
          (
            await c.query<{ id: string }>('select id from inbound_emails where tenant_id = $1 and dedupe_key = $2', [
              tenantId,
              dedupeKey,
            ])
          ).rows[0]!.id;
        return { id: String(id), lead, duplicate: !inserted.rowCount };
      });
      if (!stored.lead) return { ok: true, routed: false, duplicate: stored.duplicate };

      const ref: LeadRef = { tenantId, campaignId: stored.lead.campaign_id, leadId: stored.lead.lead_id };
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
          if (isOptOutText(text))
            await suppress(c, { tenantId, email: from, reason: 'unsubscribe', source: `campaign:${ref.campaignId}` });
        });
      }
      return { ok: true, routed: true, duplicate: stored.duplicate, inboundId: stored.id, leadId: ref.leadId };
    },
  );
};
