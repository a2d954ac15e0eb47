import { toE164 } from '../lib/phone.js';

/**
 * The contacts cache: how a GoHighLevel contact (from a search page or a webhook) becomes a row,
 * and the one statement that upserts a batch of rows.
 */

/** The GHL contact fields we keep; search results and webhook payloads both carry them. */
export interface CrmContactFields {
  id: string;
  locationId: string;
  firstName?: string | null;
  lastName?: string | null;
  contactName?: string | null;
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  companyName?: string | null;
  source?: string | null;
  tags: string[];
  dnd?: boolean;
  timezone?: string | null;
  customFields: unknown[];
  dateAdded?: string | null;
  dateUpdated?: string | null;
}

export interface ContactRow {
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
  custom_fields: unknown[];
  date_added: string | null;
  date_updated: string | null;
}

export function toContactRow(c: CrmContactFields): ContactRow {
  const name = c.contactName ?? c.name ?? ([c.firstName, c.lastName].filter(Boolean).join(' ') || null);
  return {
    id: c.id,
    location_id: c.locationId,
    first_name: c.firstName ?? null,
    last_name: c.lastName ?? null,
    name,
    email: c.email ? c.email.trim().toLowerCase() : null,
    phone: toE164(c.phone),
    company_name: c.companyName ?? null,
    source: c.source ?? null,
    tags: c.tags,
    dnd: c.dnd ?? false,
    timezone: c.timezone ?? null,
    custom_fields: c.customFields,
    date_added: c.dateAdded ?? null,
    date_updated: c.dateUpdated ?? null,
  };
}

/**
 * What a row of GHL may overwrite: a version at least as new as the cached one (webhooks and sync
 * pages arrive out of order; an older one must not undo a newer one).
 */
const NOT_OLDER =
  '(excluded.date_updated is null or contacts.date_updated is null or excluded.date_updated >= contacts.date_updated)';
const FIELDS = [
  'location_id',
  'first_name',
  'last_name',
  'name',
  'email',
  'phone',
  'company_name',
  'source',
  'tags',
  'dnd',
  'timezone',
  'custom_fields',
  'date_added',
  'date_updated',
] as const;

/**
 * One statement per page: the rows arrive as one JSON array and are upserted together. A contact
 * deleted at GHL (contact_tombstones) is not brought back by a row that was on its way; an older
 * version keeps the newer one's fields but still counts as seen by the sync (synced_at, sync_key).
 */
export const UPSERT_CONTACTS = `
  insert into contacts (tenant_id, id, location_id, first_name, last_name, name, email, phone, company_name, source,
                        tags, dnd, timezone, custom_fields, date_added, date_updated, synced_at, sync_key)
  select $1, r.id, r.location_id, r.first_name, r.last_name, r.name, r.email, r.phone, r.company_name, r.source,
         coalesce(r.tags, '{}'), coalesce(r.dnd, false), r.timezone, coalesce(r.custom_fields, '[]'), r.date_added, r.date_updated,
         clock_timestamp(), $2
    from jsonb_to_recordset($3::jsonb) as r(id text, location_id text, first_name text, last_name text, name text, email text,
         phone text, company_name text, source text, tags text[], dnd boolean, timezone text, custom_fields jsonb,
         date_added timestamptz, date_updated timestamptz)
   where not exists (select 1 from contact_tombstones t where t.tenant_id = $1 and t.id = r.id)
  on conflict (tenant_id, id) do update set
    ${FIELDS.map((f) => `${f} = case when ${NOT_OLDER} then excluded.${f} else contacts.${f} end`).join(',\n    ')},
    synced_at = excluded.synced_at,
    sync_key = coalesce(excluded.sync_key, contacts.sync_key)`;

/** A contact deleted at GHL: gone from the cache, and remembered so that nothing late brings it back. */
export const DELETE_CONTACT = `
  with gone as (delete from contacts where tenant_id = $1 and id = $2)
  insert into contact_tombstones (tenant_id, id) values ($1, $2)
  on conflict (tenant_id, id) do update set deleted_at = now()`;
