import { z } from 'zod';
import type { PoolClient } from '../../lib/db.js';
import { PhoneNumber } from '../../lib/phone.js';
import { docsHolding, groupsQuery, prefixCounts, similarTerms, type TermGroup } from '../../domain/searchTerms.js';

/** Cached CRM reads: straight from the contacts cache the crmSync workflow keeps, no provider call. */

export const Contact = z.object({
  id: z.string(),
  locationId: z.string(),
  firstName: z.string().nullable(),
  lastName: z.string().nullable(),
  name: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable().describe('E.164'),
  companyName: z.string().nullable(),
  source: z.string().nullable(),
  tags: z.array(z.string()),
  dnd: z.boolean(),
  timezone: z.string().nullable(),
  dateAdded: z.string().nullable(),
  dateUpdated: z.string().nullable(),
  syncedAt: z.string(),
});
export type Contact = z.infer<typeof Contact>;

interface ContactDbRow {
  id: string;
  location_id: string;
  first_name: string | null;
  last_name: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  company_name: string | null;
  source: string | null;
  tags: string[];
  dnd: boolean;
  timezone: string | null;
  date_added: Date | null;
  date_updated: Date | null;
  synced_at: Date;
}
const COLUMNS =
  'id, location_id, first_name, last_name, name, email, phone, company_name, source, tags, dnd, timezone, date_added, date_updated, synced_at';

const toContact = (r: ContactDbRow): Contact => ({
  id: r.id,
  locationId: r.location_id,
  firstName: r.first_name,
  lastName: r.last_name,
  name: r.name,
  email: r.email,
  phone: r.phone,
  companyName: r.company_name,
  source: r.source,
  tags: r.tags,
  dnd: r.dnd,
  timezone: r.timezone,
  dateAdded: r.date_added?.toISOString() ?? null,
  dateUpdated: r.date_updated?.toISOString() ?? null,
  syncedAt: r.synced_at.toISOString(),
});

/** Opaque page cursor: the offset into the result, so any ordering pages consistently. */
const encodeCursor = (offset: number) => Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
const Cursor = z.string().transform((raw, ctx) => {
  try {
    const parsed = z
      .object({ o: z.number().int().min(0).max(100_000) })
      .parse(JSON.parse(Buffer.from(raw, 'base64url').toString()));
    return parsed.o;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a cursor returned by this endpoint' });
    return z.NEVER;
  }
});

/** Search filters for cached contacts (REST querystring and the `crm_search_contacts` tool). */
export const ContactSearch = z.strictObject({
  q: z.string().trim().min(1).max(200).optional().describe('name, email or company words; fuzzy on names'),
  phone: PhoneNumber.optional().describe('any common format; matched as E.164'),
  email: z.string().trim().min(3).max(320).optional(),
  tag: z.string().trim().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: Cursor.optional().describe('nextCursor of the previous page'),
});
export type ContactSearch = z.output<typeof ContactSearch>;

export const ContactPage = z.object({ contacts: z.array(Contact), nextCursor: z.string().nullable() });
export type ContactPage = z.infer<typeof ContactPage>;
export const TimelineEntry = z.object({ at: z.string(), kind: z.string(), summary: z.string() });
export const ContactWithTimeline = z.object({
  contact: Contact,
  timeline: z.array(TimelineEntry).describe('events known to Switchboard, newest first'),
});
export type ContactWithTimeline = z.infer<typeof ContactWithTimeline>;

/** A word starting this many term rows or more is left to the row check (its count is capped there). */
const COMMON_WORD = 200;

/**
 * The term groups a contact must hold for `q`: each word of it (name, email or company words) as
 * a prefix — "ann bak" finds Ann Baker — or, for a word no contact starts with, the words within
 * a typo of it. Null when a word matches nothing at all (no contact has every word).
 */
async function nameTerms(
  c: PoolClient,
  tenantId: string,
  q: string,
): Promise<{ group: TermGroup; n: number }[] | null> {
  const counts = await prefixCounts(c, tenantId, 'contacts', q, COMMON_WORD);
  if (!counts.size) return null;
  const groups: { group: TermGroup; n: number }[] = [];
  for (const [word, n] of counts) {
    if (n > 0) groups.push({ group: { prefix: word }, n });
    else {
      const near = await similarTerms(c, tenantId, 'contacts', word);
      if (!near.length) return null;
      groups.push({ group: { anyOf: near }, n: 0 });
    }
  }
  return groups;
}

const wordLength = (g: TermGroup) => ('prefix' in g ? g.prefix.length : Infinity);

/** One page of cached contacts matching every given filter (best name match first when `q` is set). */
export async function searchContacts(c: PoolClient, tenantId: string, q: ContactSearch): Promise<ContactPage> {
  const offset = q.cursor ?? 0;
  const params: unknown[] = [
    tenantId,
    q.phone ?? null,
    q.email ?? null,
    q.tag ?? null,
    q.q ?? null,
    q.limit + 1,
    offset,
  ];
  let byName = '';
  if (q.q) {
    const groups = await nameTerms(c, tenantId, q.q);
    if (!groups) return { contacts: [], nextCursor: null };
    // Candidates from the term index — the rows of the narrow words intersected or, when every word
    // is common, of the two longest — then each candidate checked against every word, and ranked.
    const narrow = groups.filter((g) => g.n < COMMON_WORD);
    const longest = [...groups].sort((a, b) => wordLength(b.group) - wordLength(a.group)).slice(0, 2);
    const docs = docsHolding(
      'contacts',
      '$1',
      (narrow.length ? narrow : longest).map((g) => g.group),
      params,
    );
    params.push(groupsQuery(groups.map((g) => g.group)));
    byName = `and id in (${docs}) and search @@ $${params.length}::tsquery`;
  }
  const { rows } = await c.query<ContactDbRow>(
    `select ${COLUMNS} from contacts
      where tenant_id = $1
        and ($2::text is null or phone = $2)
        and ($3::text is null or lower(email) = lower($3))
        and ($4::text is null or tags @> array[$4])
        ${byName}
      order by case when $5::text is null then 0 else similarity(coalesce(name, ''), $5) end desc, date_updated desc nulls last, id
      limit $6 offset $7`,
    params,
  );
  const more = rows.length > q.limit;
  return { contacts: rows.slice(0, q.limit).map(toContact), nextCursor: more ? encodeCursor(offset + q.limit) : null };
}

/** One cached contact and its timeline; null when the cache does not have it (each adapter words that its own way). */
export async function getContact(c: PoolClient, tenantId: string, id: string): Promise<ContactWithTimeline | null> {
  const row = (
    await c.query<ContactDbRow>(`select ${COLUMNS} from contacts where tenant_id = $1 and id = $2`, [tenantId, id])
  ).rows[0];
  if (!row) return null;
  const contact = toContact(row);
  // Calls, notes, appointments and messages join this timeline as their workflows land.
  const created = `contact created${contact.source ? ` (source: ${contact.source})` : ''}`;
  const timeline = [
    ...(contact.dateUpdated
      ? [{ at: contact.dateUpdated, kind: 'crm.updated', summary: 'contact updated in GoHighLevel' }]
      : []),
    ...(contact.dateAdded ? [{ at: contact.dateAdded, kind: 'crm.created', summary: created }] : []),
  ];
  return { contact, timeline };
}

export const UpcomingAppointment = z.object({
  id: z.string(),
  title: z.string().nullable(),
  status: z.string().nullable(),
  startTime: z.string(),
  contactId: z.string().nullable(),
});
export type UpcomingAppointment = z.infer<typeof UpcomingAppointment>;

/** The tenant's next appointment from the CRM cache (not cancelled), or null. */
export async function nextAppointment(
  c: PoolClient,
  tenantId: string,
  now = new Date(),
): Promise<UpcomingAppointment | null> {
  const { rows } = await c.query<{
    id: string;
    title: string | null;
    status: string | null;
    start_time: Date;
    contact_id: string | null;
  }>(
    `select id, title, status, start_time, contact_id from crm_appointments
      where tenant_id = $1 and not deleted and start_time >= $2 and coalesce(status, '') not in ('cancelled', 'invalid')
      order by start_time, id limit 1`,
    [tenantId, now],
  );
  const a = rows[0];
  if (!a) return null;
  return { id: a.id, title: a.title, status: a.status, startTime: a.start_time.toISOString(), contactId: a.contact_id };
}
