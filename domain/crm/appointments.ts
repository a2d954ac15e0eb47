import type { PoolClient } from '../../lib/db.js';
import type { GhlAppointment } from '../../providers/ghl/client.js';

/**
 * The appointments cache (`crm_appointments`, fed by GHL webhooks) as the front desk uses it: every
 * change we make is written back at once, so the next read from the cache is true without waiting
 * for the webhook; a contact with nothing cached is asked of GHL.
 */

export interface AppointmentView {
  id: string;
  calendarId: string | null;
  contactId: string | null;
  title: string | null;
  status: string | null;
  startTime: string | null;
  endTime: string | null;
}

export async function cacheAppointments(
  c: PoolClient,
  tenantId: string,
  locationId: string,
  appts: readonly GhlAppointment[],
): Promise<void> {
  if (!appts.length) return;
  await c.query(
    `insert into crm_appointments (tenant_id, id, location_id, calendar_id, contact_id, title, status, start_time, end_time, deleted)
     select $1, r.id, $2, r.calendar_id, r.contact_id, r.title, r.status, r.start_time, r.end_time, false
       from jsonb_to_recordset($3::jsonb) as r(id text, calendar_id text, contact_id text, title text, status text,
            start_time timestamptz, end_time timestamptz)
     on conflict (tenant_id, id) do update set calendar_id = excluded.calendar_id, contact_id = excluded.contact_id,
       title = excluded.title, status = excluded.status, start_time = excluded.start_time, end_time = excluded.end_time,
       deleted = false, updated_at = now()`,
    [
      tenantId,
      locationId,
      JSON.stringify(
        appts.map((a) => ({
          id: a.id,
          calendar_id: a.calendarId,
          contact_id: a.contactId,
          title: a.title ?? null,
          status: a.appointmentStatus ?? null,
          start_time: a.startTime,
          end_time: a.endTime,
        })),
      ),
    ],
  );
}

/** A contact's cached appointments in [from, to] (live ones only unless asked), earliest first. */
export async function cachedAppointments(
  c: PoolClient,
  tenantId: string,
  q: { locationId: string; contactId: string; from?: Date; to?: Date; includeCancelled?: boolean },
): Promise<AppointmentView[]> {
  const { rows } = await c.query<{
    id: string;
    calendar_id: string | null;
    contact_id: string | null;
    title: string | null;
    status: string | null;
    start_time: Date | null;
    end_time: Date | null;
  }>(
    `select id, calendar_id, contact_id, title, status, start_time, end_time from crm_appointments
      where tenant_id = $1 and location_id = $2 and contact_id = $3 and not deleted
        and ($4::timestamptz is null or start_time >= $4) and ($5::timestamptz is null or start_time <= $5)
        and ($6 or coalesce(status, '') <> 'cancelled')
      order by start_time nulls last, id limit 50`,
    [tenantId, q.locationId, q.contactId, q.from ?? null, q.to ?? null, q.includeCancelled ?? false],
  );
  return rows.map((r) => ({
    id: r.id,
    calendarId: r.calendar_id,
    contactId: r.contact_id,
    title: r.title,
    status: r.status,
    startTime: r.start_time?.toISOString() ?? null,
    endTime: r.end_time?.toISOString() ?? null,
  }));
}

export const appointmentView = (a: GhlAppointment): AppointmentView => ({
  id: a.id,
  calendarId: a.calendarId,
  contactId: a.contactId,
  title: a.title ?? null,
  status: a.appointmentStatus ?? null,
  startTime: a.startTime,
  endTime: a.endTime,
});

/** "Tue, Dec 8, 10:30 AM" in the business's time zone: how a date is said on a call. */
export function spokenTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
  }).format(new Date(iso));
}
