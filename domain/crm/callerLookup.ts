import { withTenant, type Pool } from '../../lib/db.js';
import { toE164 } from '../../lib/phone.js';
import type { GhlBudget } from '../../providers/ghl/budget.js';
import { GhlClient, type GhlContact } from '../../providers/ghl/client.js';
import type { ProviderAccess } from '../connections/providerAccess.js';
import { toContactRow, UPSERT_CONTACTS } from '../contactCache.js';
import { loadVoiceSettings } from '../voice/settings.js';
import type { VoiceSettings } from '../../lib/voice.js';

/**
 * The tenant's CRM as the front office sees it: its own connected GHL location and booking
 * defaults, a GHL client on the tenant's token and the location's request budget, and caller-ID
 * lookup (cache first, then GHL). Used by the CRM activities and by the API (voice webhooks, MCP).
 */
export interface CrmDeps {
  pool: Pool;
  /** The tenant's provider accounts: GHL comes from here, never from the environment. */
  access: ProviderAccess;
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
  /** A client on the tenant's own token, drawing from its location's budget. */
  ghl: GhlClient;
  source: 'live' | 'sandbox';
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
  return {
    id: c.id,
    name,
    firstName: c.firstName ?? null,
    lastName: c.lastName ?? null,
    email: c.email ?? null,
    phone: toE164(c.phone),
    tags: c.tags,
  };
}

/**
 * The tenant's connected GHL location (NotConnectedError without one), its booking defaults and a
 * client: `live` draws from the share of the budget kept for work someone is waiting on.
 */
export async function openTenantCrm(
  deps: CrmDeps,
  tenantId: string,
  opts: { priority?: 'live' | 'bulk'; timeoutMs?: number; settings?: () => Promise<VoiceSettings> } = {},
): Promise<TenantCrm> {
  const [{ ghl, locationId, source }, settings] = await Promise.all([
    tenantGhl(deps, tenantId, opts),
    // A caller that read the settings already (a voice tool call) shares its read.
    opts.settings?.() ?? withTenant(deps.pool, tenantId, (c) => loadVoiceSettings(c, tenantId)),
  ]);
  return {
    locationId,
    calendarId: settings.calendarId,
    timezone: settings.timezone,
    appointmentMinutes: settings.appointmentMinutes,
    ghl,
    source,
  };
}

/** Only the tenant's GHL client and location (syncs need no booking defaults). */
export async function tenantGhl(
  deps: Pick<CrmDeps, 'access' | 'ghlBudget'>,
  tenantId: string,
  opts: { priority?: 'live' | 'bulk'; timeoutMs?: number } = {},
): Promise<{ ghl: GhlClient; locationId: string; source: 'live' | 'sandbox' }> {
  const access = await deps.access.ghl(tenantId);
  const priority = opts.priority ?? 'live';
  const ghl = new GhlClient({
    baseUrl: access.baseUrl,
    token: access.token,
    gate: deps.ghlBudget.gateFor(access.locationId, priority),
    maxRetries: priority === 'live' ? 2 : 6,
    ...(opts.timeoutMs || priority === 'live' ? { timeoutMs: opts.timeoutMs ?? 10_000 } : {}),
  });
  return { ghl, locationId: access.locationId, source: access.mode };
}

/**
 * Caller-ID lookup: the cached contacts first, then GHL's duplicate search, given up after
 * `timeoutMs` (an unknown caller is a fine answer; a caller kept waiting is not). A live hit is
 * cached for the next call.
 */
export async function lookupCallerContact(
  deps: CrmDeps,
  tenantId: string,
  rawPhone: string,
  timeoutMs: number,
): Promise<CallerLookup> {
  const phone = toE164(rawPhone);
  if (!phone) return { found: false, source: 'none' };
  const cached = await withTenant(deps.pool, tenantId, async (c) => {
    const { rows } = await c.query<{
      id: string;
      name: string | null;
      first_name: string | null;
      last_name: string | null;
      email: string | null;
      phone: string | null;
      tags: string[];
    }>(
      'select id, name, first_name, last_name, email, phone, tags from contacts where tenant_id = $1 and phone = $2 order by date_updated desc nulls last limit 1',
      [tenantId, phone],
    );
    return rows[0];
  });
  if (cached) {
    const r = cached;
    return {
      found: true,
      source: 'cache',
      contact: {
        id: r.id,
        name: r.name,
        firstName: r.first_name,
        lastName: r.last_name,
        email: r.email,
        phone: r.phone,
        tags: r.tags,
      },
    };
  }
  const started = Date.now();
  try {
    const crm = await openTenantCrm(deps, tenantId, { timeoutMs });
    // The search goes on past the time box: the contact it finds is cached for the call's later
    // lookups (its tools), while this answer has already gone out as an unknown caller.
    const search = crm.ghl.findDuplicateContact({ locationId: crm.locationId, number: phone }).then(async (r) => {
      if (r.contact)
        await withTenant(deps.pool, tenantId, (c) =>
          c.query(UPSERT_CONTACTS, [tenantId, null, JSON.stringify([toContactRow(r.contact!)])]),
        );
      return r;
    });
    search.catch(() => undefined);
    const left = Math.max(0, timeoutMs - (Date.now() - started));
    const live = await Promise.race([
      search,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no answer from GHL within ${timeoutMs} ms`)), left).unref(),
      ),
    ]);
    if (!live.contact) return { found: false, source: 'live' };
    return { found: true, source: 'live', contact: summarize(live.contact) };
  } catch (err) {
    return { found: false, source: 'none', degraded: (err as Error).message };
  }
}
