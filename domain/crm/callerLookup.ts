import { ApplicationFailure } from '@temporalio/activity';
import type { ProviderConfig } from '../../lib/config.js';
import { withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import { toE164 } from '../../lib/phone.js';
import { defaultVoiceSettings, VoiceSettings } from '../../lib/voice.js';
import type { GhlBudget } from '../../providers/ghl/budget.js';
import { GhlClient, type GhlContact } from '../../providers/ghl/client.js';
import { toContactRow, UPSERT_CONTACTS } from '../contactCache.js';

/**
 * The tenant's CRM as the front office sees it: its GHL location and booking defaults, a GHL client
 * on the live share of the location's request budget, and caller-ID lookup (cache first, then GHL).
 * Used by the CRM action activities and by the API (voice webhooks, MCP tools).
 */
export interface CrmDeps {
  pool: Pool;
  ghl: ProviderConfig;
  ghlBudget: GhlBudget;
}

export interface ContactSummary {
  id: string;
  name: string | null;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  phone: string | null;
  tags: string[];
}

export interface TenantCrm {
  locationId: string;
  calendarId: string | undefined;
  timezone: string;
  appointmentMinutes: number;
}

export interface CallerLookup {
  found: boolean;
  source: 'cache' | 'live' | 'none';
  contact?: ContactSummary;
  /** Set when the live lookup gave up (timeout or GHL error): the caller is treated as unknown. */
  degraded?: string;
}

function summarize(c: GhlContact): ContactSummary {
  const name = c.contactName ?? ([c.firstName, c.lastName].filter(Boolean).join(' ') || null);
  return { id: c.id, name, firstName: c.firstName ?? null, lastName: c.lastName ?? null, email: c.email ?? null, phone: toE164(c.phone), tags: c.tags };
}

/** The tenant's GHL location and booking defaults; a tenant without a CRM connection cannot act. */
export async function loadTenantCrm(client: PoolClient, tenantId: string): Promise<TenantCrm> {
  const { rows } = await client.query<{ location_id: string; settings: unknown }>(
    `select c.location_id, v.settings from crm_connections c left join voice_settings v using (tenant_id) where c.tenant_id = $1`,
    [tenantId],
  );
  const row = rows[0];
  if (!row) throw ApplicationFailure.nonRetryable(`tenant ${tenantId} has no CRM connection (PUT /v1/crm/connection)`, 'NoCrmConnection');
  const settings = row.settings ? VoiceSettings.parse(row.settings) : defaultVoiceSettings;
  return { locationId: row.location_id, calendarId: settings.calendarId, timezone: settings.timezone, appointmentMinutes: settings.appointmentMinutes };
}

/** A GHL client for work someone is waiting on: it draws from the live share of the location's budget. */
export function liveGhlClient(deps: CrmDeps, locationId: string, timeoutMs = 10_000): GhlClient {
  return new GhlClient({ baseUrl: deps.ghl.baseUrl, token: deps.ghl.apiKey, fetch: deps.ghlBudget.fetchFor(locationId, 'live'), maxRetries: 2, timeoutMs });
}

/**
 * Caller-ID lookup: the cached contacts first, then GHL's duplicate search, given up after
 * `timeoutMs` (an unknown caller is a fine answer; a caller kept waiting is not). A live hit is
 * cached for the next call.
 */
export async function lookupCallerContact(deps: CrmDeps, tenantId: string, rawPhone: string, timeoutMs: number): Promise<CallerLookup> {
  const phone = toE164(rawPhone);
  if (!phone) return { found: false, source: 'none' };
  const cached = await withTenant(deps.pool, tenantId, async (c) => {
    const { rows } = await c.query<{ id: string; name: string | null; first_name: string | null; last_name: string | null; email: string | null; phone: string | null; tags: string[] }>(
      'select id, name, first_name, last_name, email, phone, tags from contacts where tenant_id = $1 and phone = $2 order by date_updated desc nulls last limit 1',
      [tenantId, phone],
    );
    const location = await c.query<{ location_id: string }>('select location_id from crm_connections where tenant_id = $1', [tenantId]);
    return { row: rows[0], locationId: location.rows[0]?.location_id };
  });
  if (cached.row) {
    const r = cached.row;
    return { found: true, source: 'cache', contact: { id: r.id, name: r.name, firstName: r.first_name, lastName: r.last_name, email: r.email, phone: r.phone, tags: r.tags } };
  }
  if (!cached.locationId) return { found: false, source: 'none' };
  try {
    const ghl = liveGhlClient(deps, cached.locationId, timeoutMs);
    const live = await Promise.race([
      ghl.findDuplicateContact({ locationId: cached.locationId, number: phone }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer from GHL within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    if (!live.contact) return { found: false, source: 'live' };
    await withTenant(deps.pool, tenantId, (c) => c.query(UPSERT_CONTACTS, [tenantId, null, JSON.stringify([toContactRow(live.contact!)])]));
    return { found: true, source: 'live', contact: summarize(live.contact) };
  } catch (err) {
    return { found: false, source: 'none', degraded: (err as Error).message };
  }
}
