import type { PoolClient } from '../lib/db.js';
import { toE164 } from '../lib/phone.js';

/**
 * The tenant-wide do-not-contact list. A contact who unsubscribed, said "stop", bounced or reported
 * spam on any channel is never emailed, called or texted again by any campaign or outbound call.
 * Both functions take a client already inside `withTenant(...)`.
 */

/** Words that withdraw consent ("unsubscribe", "stop", "remove me"): honoured on any channel even without a model. */
const OPT_OUT =
  /\b(unsubscribe|opt[- ]?out|stop (emailing|contacting|calling|texting)|remove me|do not (contact|email|call|text))\b|^\s*stop\s*$/im;
export const isOptOutText = (text: string): boolean => OPT_OUT.test(text);

export type SuppressionReason = 'unsubscribe' | 'stop' | 'bounce' | 'spamreport' | 'manual';

export interface ContactKeys {
  tenantId: string;
  email?: string | null;
  phone?: string | null;
  contactId?: string | null;
}

function keysOf(input: ContactKeys): { channel: 'email' | 'phone' | 'contact'; value: string }[] {
  const keys: { channel: 'email' | 'phone' | 'contact'; value: string }[] = [];
  const email = input.email?.trim().toLowerCase();
  if (email) keys.push({ channel: 'email', value: email });
  const phone = toE164(input.phone);
  if (phone) keys.push({ channel: 'phone', value: phone });
  if (input.contactId) keys.push({ channel: 'contact', value: input.contactId });
  return keys;
}

/** True when any of the given email, phone or CRM contact id is suppressed for the tenant. */
export async function isSuppressed(client: PoolClient, input: ContactKeys): Promise<boolean> {
  const keys = keysOf(input);
  if (!keys.length) return false;
  const { rowCount } = await client.query(
    `select 1 from suppressions s join unnest($2::text[], $3::text[]) as k(channel, value) on s.channel = k.channel and s.value = k.value
      where s.tenant_id = $1 limit 1`,
    [input.tenantId, keys.map((k) => k.channel), keys.map((k) => k.value)],
  );
  return Boolean(rowCount);
}

/** Suppresses every given key at once (idempotent: the first reason recorded stays). */
export async function suppress(
  client: PoolClient,
  input: ContactKeys & { reason: SuppressionReason; source?: string },
): Promise<number> {
  const keys = keysOf(input);
  if (!keys.length) return 0;
  const { rowCount } = await client.query(
    `insert into suppressions (tenant_id, channel, value, reason, source)
     select $1, k.channel, k.value, $4, $5 from unnest($2::text[], $3::text[]) as k(channel, value)
     on conflict do nothing`,
    [input.tenantId, keys.map((k) => k.channel), keys.map((k) => k.value), input.reason, input.source ?? null],
  );
  return rowCount ?? 0;
}

export type OutboundChannel = 'email' | 'call' | 'sms';

/** Why someone may not be contacted: on the suppression list, or marked do-not-disturb in the CRM. */
export type ContactBlock = 'suppressed' | 'dnd';

/**
 * The one check every outbound email, call and SMS passes (campaigns, voice tools, MCP, REST):
 * the tenant's suppression list by any key, and the DND flag of any cached CRM contact the keys
 * name. The channel is accepted for the callers' clarity; consent withdrawn anywhere holds everywhere.
 */
export async function contactBlocked(
  client: PoolClient,
  input: ContactKeys & { channel: OutboundChannel },
): Promise<ContactBlock | null> {
  if (await isSuppressed(client, input)) return 'suppressed';
  const email = input.email?.trim().toLowerCase() || null;
  const phone = toE164(input.phone) ?? null;
  const contactId = input.contactId || null;
  if (!email && !phone && !contactId) return null;
  const { rowCount } = await client.query(
    `select 1 from contacts where tenant_id = $1 and dnd
        and (id = $2 or ($3::text is not null and phone = $3) or ($4::text is not null and lower(email) = $4)) limit 1`,
    [input.tenantId, contactId, phone, email],
  );
  return rowCount ? 'dnd' : null;
}
