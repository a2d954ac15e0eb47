import type { TenantCrm } from './callerLookup.js';
import { assertTenantCalendar } from './ownership.js';

/**
 * Free appointment times of the tenant's calendar (its own, checked), for a voice agent or an MCP
 * client alike: a read, so it asks GoHighLevel directly on the location's live budget.
 */

/** What a caller asked for that cannot be answered as asked (no calendar, too long a range). */
export class FreeSlotsRefused extends Error {
  constructor(
    readonly kind: 'NoCalendar' | 'InvalidArguments',
    message: string,
  ) {
    super(message);
  }
}

export async function freeSlots(
  tenantId: string,
  crm: TenantCrm,
  input: { calendarId?: string; startDate: string; endDate?: string; timezone?: string },
): Promise<{ calendarId: string; timezone: string; slots: string[] }> {
  const calendarId = input.calendarId ?? crm.calendarId;
  if (!calendarId)
    throw new FreeSlotsRefused('NoCalendar', 'no calendar configured for this tenant (voice settings: calendarId)');
  const timezone = input.timezone ?? crm.timezone;
  // Whole local days: from the start of startDate to the end of endDate, padded a day each side
  // for time zones, then filtered to the asked dates by GHL's own date keys.
  const from = Date.parse(`${input.startDate}T00:00:00Z`) - 86_400_000;
  const to = Date.parse(`${input.endDate ?? input.startDate}T23:59:59Z`) + 86_400_000;
  if (to - from > 31 * 86_400_000)
    throw new FreeSlotsRefused('InvalidArguments', 'get_free_slots: at most 29 days at a time');
  await assertTenantCalendar(tenantId, crm, calendarId);
  const days = await crm.ghl.getFreeSlots({ calendarId, startDate: Math.max(from, Date.now()), endDate: to, timezone });
  const slots = Object.entries(days)
    .filter(([day]) => day >= input.startDate && day <= (input.endDate ?? input.startDate))
    .flatMap(([, s]) => s)
    .sort();
  return { calendarId, timezone, slots };
}
