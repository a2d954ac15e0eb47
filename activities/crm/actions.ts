import { ApplicationFailure } from '@temporalio/activity';
import { toContactRow, UPSERT_CONTACTS } from '../../domain/contactCache.js';
import { NotConnectedError } from '../../domain/connections/store.js';
import {
  lookupCallerContact,
  openTenantCrm,
  type CallerLookup,
  type CrmDeps,
  type TenantCrm,
} from '../../domain/crm/callerLookup.js';
import { freeSlots, FreeSlotsRefused } from '../../domain/crm/freeSlots.js';
import { assertTenantCalendar, assertTenantContact, NotTenantsRecordError } from '../../domain/crm/ownership.js';
import { withTenant } from '../../lib/db.js';
import { contactBlocked } from '../../domain/suppression.js';
import { toE164 } from '../../lib/phone.js';
import { GhlApiError } from '../../providers/ghl/client.js';

/**
 * What the front office does in the CRM on someone's behalf — look a caller up, offer and book
 * times, note, text. Each write is idempotent by a caller-given key: the first result is kept in
 * `crm_effects`, and where a crash could fall between GHL's answer and our record, GHL is asked
 * again before anything is repeated.
 */
export type CrmActionDeps = CrmDeps;

/** A CRM failure that retrying cannot fix becomes non-retryable, so the caller hears about it at once. */
function asActivityError(err: unknown): never {
  if (err instanceof GhlApiError && !err.retryable) throw ApplicationFailure.nonRetryable(err.message, 'CrmRejected');
  if (err instanceof NotConnectedError) throw ApplicationFailure.nonRetryable(err.message, 'NotConnected');
  if (err instanceof NotTenantsRecordError) throw ApplicationFailure.nonRetryable(err.message, 'NotTenantsRecord');
  if (err instanceof FreeSlotsRefused) throw ApplicationFailure.nonRetryable(err.message, err.kind);
  throw err;
}

/**
 * `tenantCrm` replaces the read of the tenant's CRM settings, so a caller doing several actions
 * for one request (a voice tool call) reads them once.
 */
export function createCrmActionActivities(
  deps: CrmActionDeps,
  opts: { tenantCrm?: (tenantId: string) => Promise<TenantCrm> } = {},
) {
  const { pool } = deps;

  // A voice tool call shares one read of the tenant's CRM across the actions it runs.
  const tenantCrm = (tenantId: string) =>
    (opts.tenantCrm ?? ((t: string) => openTenantCrm(deps, t)))(tenantId).catch(asActivityError);
  /** Every id from outside is checked against the tenant's own location before GHL is asked to act. */
  const ownContact = (tenantId: string, crm: TenantCrm, contactId: string) =>
    assertTenantContact(pool, tenantId, crm, contactId).catch(asActivityError);
  const ownCalendar = (tenantId: string, crm: TenantCrm, calendarId: string) =>
    assertTenantCalendar(tenantId, crm, calendarId).catch(asActivityError);

  /** The first recorded result for `key`, else `recheck` (GHL already has it), else `perform`; recorded once. */
  async function once<T>(
    tenantId: string,
    key: string,
    kind: string,
    perform: () => Promise<T>,
    recheck?: () => Promise<T | undefined>,
  ): Promise<T> {
    const prior = await withTenant(
      pool,
      tenantId,
      async (c) =>
        (
          await c.query<{ result: T }>('select result from crm_effects where tenant_id = $1 and idempotency_key = $2', [
            tenantId,
            key,
          ])
        ).rows[0],
    );
    if (prior) return prior.result;
    const result = (await recheck?.()) ?? (await perform().catch(asActivityError));
    await withTenant(pool, tenantId, (c) =>
      c.query(
        'insert into crm_effects (tenant_id, idempotency_key, kind, result) values ($1, $2, $3, $4) on conflict do nothing',
        [tenantId, key, kind, JSON.stringify(result)],
      ),
    );
    return result;
  }

  async function upsertContact(input: {
    tenantId: string;
    phone?: string;
    email?: string;
    firstName?: string;
    lastName?: string;
    name?: string;
    tags?: string[];
  }): Promise<{ contactId: string; created: boolean }> {
    const crm = await tenantCrm(input.tenantId);
    const phone = toE164(input.phone);
    if (!phone && !input.email)
      throw ApplicationFailure.nonRetryable('upsertContact: a phone or an email is needed', 'InvalidArguments');
    const [first, ...rest] = (input.name ?? '').trim().split(/\s+/);
    const r = await crm.ghl
      .upsertContact(crm.locationId, {
        ...(phone ? { phone } : {}),
        ...(input.email ? { email: input.email } : {}),
        ...((input.firstName ?? first) ? { firstName: input.firstName ?? first } : {}),
        ...((input.lastName ?? (rest.length ? rest.join(' ') : undefined))
          ? { lastName: input.lastName ?? rest.join(' ') }
          : {}),
        ...(input.tags ? { tags: input.tags } : {}),
      })
      .catch(asActivityError);
    await withTenant(pool, input.tenantId, (c) =>
      c.query(UPSERT_CONTACTS, [input.tenantId, null, JSON.stringify([toContactRow(r.contact)])]),
    );
    return { contactId: r.contact.id, created: r.new };
  }

  return {
    upsertContact,

    async lookupCaller(input: { tenantId: string; phone: string; timeoutMs?: number }): Promise<CallerLookup> {
      return lookupCallerContact(deps, input.tenantId, input.phone, input.timeoutMs ?? 3000);
    },

    async getFreeSlots(input: {
      tenantId: string;
      calendarId?: string;
      startDate: string;
      endDate?: string;
      timezone?: string;
    }): Promise<{ calendarId: string; timezone: string; slots: string[] }> {
      const crm = await tenantCrm(input.tenantId);
      return freeSlots(input.tenantId, crm, input).catch(asActivityError);
    },

    /**
     * Books one appointment per idempotency key: re-checks that the slot is still free, creates the
     * contact first if the caller is new, and on a retry finds the appointment it already made.
     */
    async bookAppointment(input: {
      tenantId: string;
      idempotencyKey: string;
      calendarId?: string;
      contactId?: string;
      phone?: string;
      email?: string;
      name?: string;
      startTime: string;
      title?: string;
    }): Promise<{ appointmentId: string; contactId: string; startTime: string; endTime: string }> {
      const crm = await tenantCrm(input.tenantId);
      const calendarId = input.calendarId ?? crm.calendarId;
      if (!calendarId)
        throw ApplicationFailure.nonRetryable(
          'no calendar configured for this tenant (voice settings: calendarId)',
          'NoCalendar',
        );
      const start = Date.parse(input.startTime);
      if (Number.isNaN(start))
        throw ApplicationFailure.nonRetryable(`startTime: not a date-time: ${input.startTime}`, 'InvalidArguments');
      const ghl = crm.ghl;
      await ownCalendar(input.tenantId, crm, calendarId);
      if (input.contactId) await ownContact(input.tenantId, crm, input.contactId);
      let contactId = input.contactId;

      const existing = async () => {
        if (!contactId) return undefined;
        const found = await ghl.listAppointments({
          locationId: crm.locationId,
          calendarId,
          startTime: start,
          endTime: start,
        });
        const mine = found.find(
          (a) => a.contactId === contactId && Date.parse(a.startTime) === start && a.appointmentStatus !== 'cancelled',
        );
        return mine
          ? { appointmentId: mine.id, contactId: mine.contactId, startTime: mine.startTime, endTime: mine.endTime }
          : undefined;
      };
      return once(
        input.tenantId,
        input.idempotencyKey,
        'appointment',
        async () => {
          if (!contactId)
            contactId = (
              await upsertContact({
                tenantId: input.tenantId,
                phone: input.phone,
                email: input.email,
                name: input.name,
              })
            ).contactId;
          const again = await existing();
          if (again) return again;
          const day = new Date(start).toISOString().slice(0, 10);
          const free = await ghl.getFreeSlots({
            calendarId,
            startDate: Math.max(start - 86_400_000, Date.now()),
            endDate: start + 86_400_000,
            timezone: crm.timezone,
          });
          const isFree = Object.values(free).some((slots) => slots.some((s) => Date.parse(s) === start));
          if (!isFree) {
            throw ApplicationFailure.nonRetryable(
              `${input.startTime} is not a free slot any more (around ${day}); ask for free slots again`,
              'SlotTaken',
            );
          }
          const endTime = new Date(start + crm.appointmentMinutes * 60_000).toISOString();
          try {
            const appt = await ghl.bookAppointment({
              calendarId,
              locationId: crm.locationId,
              contactId,
              startTime: input.startTime,
              endTime,
              title: input.title ?? 'Appointment',
              appointmentStatus: 'confirmed',
            });
            return { appointmentId: appt.id, contactId, startTime: appt.startTime, endTime: appt.endTime };
          } catch (err) {
            if (err instanceof GhlApiError && err.isSlotTaken)
              throw ApplicationFailure.nonRetryable(
                `${input.startTime} was just taken; ask for free slots again`,
                'SlotTaken',
              );
            throw err;
          }
        },
        existing,
      );
    },

    /** One note per key. The key is written into the note, so a retry after a crash finds it at GHL. */
    async addContactNote(input: {
      tenantId: string;
      idempotencyKey: string;
      contactId: string;
      body: string;
    }): Promise<{ noteId: string }> {
      const crm = await tenantCrm(input.tenantId);
      await ownContact(input.tenantId, crm, input.contactId);
      const ghl = crm.ghl;
      // The marker names the tenant too: two tenants' keys never find each other's notes.
      const marker = `ref: ${input.tenantId}/${input.idempotencyKey}`;
      return once(
        input.tenantId,
        input.idempotencyKey,
        'note',
        async () => ({ noteId: (await ghl.addNote(input.contactId, { body: `${input.body}\n\n${marker}` })).id }),
        async () => {
          const mine = (await ghl.listNotes(input.contactId))?.find((n) => n.body.endsWith(marker));
          return mine ? { noteId: mine.id } : undefined;
        },
      );
    },

    async sendSms(input: {
      tenantId: string;
      idempotencyKey: string;
      contactId: string;
      message: string;
    }): Promise<{ messageId: string }> {
      const crm = await tenantCrm(input.tenantId);
      await ownContact(input.tenantId, crm, input.contactId);
      // Every SMS (voice tool, MCP, campaign) passes the one contactability check first. The number
      // texted is the contact's: from the cache, else from GHL (an opted-out number of a contact not
      // synced yet is still an opted-out number), and GHL's own DND flag counts as well.
      const cached = await withTenant(pool, input.tenantId, (c) =>
        c.query<{ phone: string | null; email: string | null }>(
          'select phone, email from contacts where tenant_id = $1 and id = $2',
          [input.tenantId, input.contactId],
        ),
      );
      const live = cached.rows[0] ? undefined : await crm.ghl.getContact(input.contactId).catch(asActivityError);
      const keys = cached.rows[0] ?? { phone: live?.phone ?? null, email: live?.email ?? null };
      const blocked =
        live?.dnd === true
          ? 'dnd'
          : await withTenant(pool, input.tenantId, (c) =>
              contactBlocked(c, {
                tenantId: input.tenantId,
                channel: 'sms',
                contactId: input.contactId,
                phone: keys.phone,
                email: keys.email,
              }),
            );
      if (blocked)
        throw ApplicationFailure.nonRetryable(
          blocked === 'dnd'
            ? `contact ${input.contactId} is marked do-not-disturb: no text sent`
            : `contact ${input.contactId} opted out (suppression list): no text sent`,
          'ContactSuppressed',
        );
      return once(input.tenantId, input.idempotencyKey, 'sms', async () => {
        const sent = await crm.ghl.sendMessage({ type: 'SMS', contactId: input.contactId, message: input.message });
        return { messageId: sent.messageId };
      });
    },

    /** Tags and a follow-up task: tags are naturally idempotent; the task is kept once per key. */
    async tagContact(input: { tenantId: string; contactId: string; tags: string[] }): Promise<{ tags: string[] }> {
      const crm = await tenantCrm(input.tenantId);
      await ownContact(input.tenantId, crm, input.contactId);
      return { tags: await crm.ghl.addTags(input.contactId, input.tags).catch(asActivityError) };
    },

    async createFollowUpTask(input: {
      tenantId: string;
      idempotencyKey: string;
      contactId: string;
      title: string;
      body?: string;
      dueDate: string;
    }): Promise<{ taskId: string }> {
      const crm = await tenantCrm(input.tenantId);
      await ownContact(input.tenantId, crm, input.contactId);
      return once(input.tenantId, input.idempotencyKey, 'task', async () => {
        const task = await crm.ghl.createTask(input.contactId, {
          title: input.title,
          body: input.body,
          dueDate: input.dueDate,
          completed: false,
        });
        return { taskId: task.id };
      });
    },
  };
}

export type CrmActionActivities = ReturnType<typeof createCrmActionActivities>;
