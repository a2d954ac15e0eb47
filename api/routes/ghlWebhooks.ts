import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { FastifyPluginAsync } from 'fastify';
import { DELETE_CONTACT, toContactRow, UPSERT_CONTACTS } from '../../domain/contactCache.js';
import { asSystem, withTenant, type Pool } from '../../lib/db.js';
import { fail } from '../http/errors.js';

/** GHL rejects nothing on our side but a 429 is retried; replays older than this are refused. */
const MAX_AGE_MS = 5 * 60_000;

const Envelope = z.looseObject({
  type: z.string().min(1),
  locationId: z.string().min(1),
  webhookId: z.string().min(1),
  timestamp: z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'expected an ISO timestamp'),
});
const WebhookContact = z.looseObject({
  id: z.string().min(1),
  locationId: z.string().min(1),
  firstName: z.string().nullish(),
  lastName: z.string().nullish(),
  name: z.string().nullish(),
  contactName: z.string().nullish(),
  email: z.string().nullish(),
  phone: z.string().nullish(),
  companyName: z.string().nullish(),
  source: z.string().nullish(),
  tags: z.array(z.string()).default([]),
  dnd: z.boolean().optional(),
  timezone: z.string().nullish(),
  customFields: z.array(z.unknown()).default([]),
  dateAdded: z.string().nullish(),
  dateUpdated: z.string().nullish(),
});
const WebhookAppointment = z.object({
  appointment: z.looseObject({
    id: z.string().min(1),
    calendarId: z.string().nullish(),
    contactId: z.string().nullish(),
    title: z.string().nullish(),
    appointmentStatus: z.string().nullish(),
    startTime: z.string().nullish(),
    endTime: z.string().nullish(),
  }),
});

export interface GhlWebhookKeys {
  rsa: string | undefined;
  ed25519: string | undefined;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * `POST /webhooks/ghl`: GoHighLevel's signed contact and appointment events, applied to the cache at
 * once. The signature is checked over the raw body (Ed25519 `x-ghl-signature`, or the legacy RSA
 * `x-wh-signature`); a stale timestamp is refused; each `webhookId` has one effect however often
 * it arrives. The location in the payload names the tenant.
 */
export const ghlWebhookRoutes: FastifyPluginAsync<{ pool: Pool; keys: GhlWebhookKeys }> = async (
  app,
  { pool, keys },
) => {
  const rsa: KeyObject | undefined = keys.rsa ? createPublicKey(keys.rsa) : undefined;
  const ed25519: KeyObject | undefined = keys.ed25519 ? createPublicKey(keys.ed25519) : undefined;

  // This scope keeps the raw bytes: signatures are over them, not over re-serialised JSON.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const authentic = (raw: Buffer, edSig: string | undefined, rsaSig: string | undefined): boolean => {
    if (edSig && ed25519) return verify(null, raw, ed25519, Buffer.from(edSig, 'base64'));
    if (rsaSig && rsa) return verify('sha256', raw, rsa, Buffer.from(rsaSig, 'base64'));
    return false;
  };

  app.post(
    '/webhooks/ghl',
    {
      config: {
        rateLimit: false,
        openapi: { requestBody: { contentType: 'application/json' }, errors: [401], responses: { 200: 'applied' } },
      },
      schema: { summary: 'GoHighLevel webhooks', tags: ['webhooks'] },
    },
    async (req, reply) => {
      const raw = req.body;
      if (!Buffer.isBuffer(raw)) return fail(reply, 415, 'expected application/json');
      const edSig = header(req.headers['x-ghl-signature']);
      const rsaSig = header(req.headers['x-wh-signature']);
      if (!rsa && !ed25519) {
        req.log.error(
          'GHL webhook received but no webhook public key is configured (GHL_WEBHOOK_PUBLIC_KEY / GHL_WEBHOOK_ED25519_PUBLIC_KEY)',
        );
        return fail(reply, 401, 'webhook signatures cannot be checked: no GHL public key configured');
      }
      if (!edSig && !rsaSig) return fail(reply, 401, 'missing x-ghl-signature or x-wh-signature');
      if (!authentic(raw, edSig, rsaSig)) return fail(reply, 401, 'invalid webhook signature');

      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        return fail(reply, 400, 'body is not valid JSON');
      }
      const envelope = Envelope.safeParse(json);
      if (!envelope.success) {
        return fail(reply, 400, envelope.error.issues.map((i) => `body.${i.path.join('.')}: ${i.message}`).join('; '));
      }
      const event = envelope.data;
      if (Math.abs(Date.now() - Date.parse(event.timestamp)) > MAX_AGE_MS) {
        return fail(reply, 401, `stale webhook: timestamp ${event.timestamp} is more than 5 minutes off`);
      }
      // Cross-tenant: the location is what tells us the tenant.
      const tenant = await asSystem(pool, (c) =>
        c.query<{ tenant_id: string }>('select tenant_id from crm_connections where location_id = $1', [
          event.locationId,
        ]),
      );
      const tenantId = tenant.rows[0]?.tenant_id;
      // Not ours (any more): acknowledged so GHL does not retry, and nothing is written.
      if (!tenantId)
        return { ok: true, applied: false, reason: `no tenant is connected to location ${event.locationId}` };

      const applied = await withTenant(pool, tenantId, async (c) => {
        const first = await c.query(
          'insert into ghl_webhook_events (webhook_id, tenant_id, type) values ($1, $2, $3) on conflict do nothing',
          [event.webhookId, tenantId, event.type],
        );
        if (!first.rowCount) return 'duplicate';
        switch (event.type) {
          case 'ContactCreate':
          case 'ContactUpdate':
          case 'ContactTagUpdate':
          case 'ContactDndUpdate': {
            const contact = WebhookContact.parse(json);
            await c.query(UPSERT_CONTACTS, [tenantId, null, JSON.stringify([toContactRow(contact)])]);
            return 'applied';
          }
          case 'ContactDelete': {
            const { id } = WebhookContact.pick({ id: true }).parse(json);
            await c.query(DELETE_CONTACT, [tenantId, id]);
            return 'applied';
          }
          case 'AppointmentCreate':
          case 'AppointmentUpdate':
          case 'AppointmentDelete': {
            const { appointment: a } = WebhookAppointment.parse(json);
            await c.query(
              `insert into crm_appointments (tenant_id, id, location_id, calendar_id, contact_id, title, status, start_time, end_time, deleted)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             on conflict (tenant_id, id) do update set calendar_id = excluded.calendar_id, contact_id = excluded.contact_id, title = excluded.title,
               status = excluded.status, start_time = excluded.start_time, end_time = excluded.end_time, deleted = excluded.deleted, updated_at = now()`,
              [
                tenantId,
                a.id,
                event.locationId,
                a.calendarId ?? null,
                a.contactId ?? null,
                a.title ?? null,
                a.appointmentStatus ?? null,
                a.startTime ?? null,
                a.endTime ?? null,
                event.type === 'AppointmentDelete',
              ],
            );
            return 'applied';
          }
          default:
            return 'ignored';
        }
      }).catch((err: unknown) => {
        if (err instanceof z.ZodError) return err;
        throw err;
      });
      if (applied instanceof z.ZodError) {
        return fail(reply, 400, applied.issues.map((i) => `body.${i.path.join('.')}: ${i.message}`).join('; '));
      }
      return { ok: true, applied: applied === 'applied', duplicate: applied === 'duplicate' };
    },
  );
};
