import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
import { consume, QuotaExceeded } from '../../domain/quotas.js';
import { toE164 } from '../../lib/phone.js';
import type { Priority } from '../../providers/ghl/budget.js';
import { GhlApiError } from '../../providers/ghl/client.js';
import { createCrmRecordActions } from './records.js';
import { cacheAppointments } from '../../domain/crm/appointments.js';

/**
 * What the front office does in the CRM on someone's behalf — look a caller up, offer and book
 * times, note, text. Each write is idempotent by a caller-given key: the first result is kept in
 * `crm_effects`, and where a crash could fall between GHL's answer and our record, GHL is asked
 * again before anything is repeated.
 */
export type CrmActionDeps = CrmDeps;

// A claim's holder refreshes it while it acts; one not refreshed for CLAIM_LEASE_MS is a dead
// attempt's (crash) and is taken over. A second attempt meeting a live claim waits up to
// CLAIM_WAIT_MS for its result, then asks GHL, then gives up for now (retryable).
const CLAIM_LEASE_MS = 30_000;
const CLAIM_REFRESH_MS = 5_000;
const CLAIM_WAIT_MS = 40_000;
const CLAIM_POLL_MS = 250;

/** A CRM failure that retrying cannot fix becomes non-retryable, so the caller hears about it at once. */
function asActivityError(err: unknown): never {
  if (err instanceof GhlApiError && !err.retryable) throw ApplicationFailure.nonRetryable(err.message, 'CrmRejected');
  if (err instanceof NotConnectedError) throw ApplicationFailure.nonRetryable(err.message, 'NotConnected');
  if (err instanceof NotTenantsRecordError) throw ApplicationFailure.nonRetryable(err.message, 'NotTenantsRecord');
  if (err instanceof ApplicationFailure) throw err;
  if (err instanceof FreeSlotsRefused) throw ApplicationFailure.nonRetryable(err.message, err.kind);
  throw err;
}

/**
 * `tenantCrm` replaces the read of the tenant's CRM settings, so a caller doing several actions
 * for one request (a voice tool call) reads them once.
 */
export function createCrmActionActivities(
  deps: CrmActionDeps,
  opts: { tenantCrm?: (tenantId: string) => Promise<TenantCrm>; priority?: Priority } = {},
) {
  const { pool } = deps;

  // A voice tool call shares one read of the tenant's CRM across the actions it runs.
  const tenantCrm = (tenantId: string) =>
    (opts.tenantCrm ?? ((t: string) => openTenantCrm(deps, t, { priority: opts.priority })))(tenantId).catch(
      asActivityError,
    );
  /** Every id from outside is checked against the tenant's own location before GHL is asked to act. */
  const ownContact = (tenantId: string, crm: TenantCrm, contactId: string) =>
    assertTenantContact(pool, tenantId, crm, contactId).catch(asActivityError);
  const ownCalendar = (tenantId: string, crm: TenantCrm, calendarId: string) =>
    assertTenantCalendar(tenantId, crm, calendarId).catch(asActivityError);

  type Claim<T> =
    | { state: 'done'; result: T }
    | { state: 'mine'; token: string; takenOver: boolean; since: Date }
    | { state: 'busy'; since: Date };

  /** Claims `key` (inserts it as 'claimed') before anything acts; or finds it done, held, or abandoned. */
  async function claim<T>(tenantId: string, key: string, kind: string): Promise<Claim<T>> {
    const token = randomUUID();
    return withTenant(pool, tenantId, async (c) => {
      const fresh = await c.query<{ claimed_at: Date }>(
        `insert into crm_effects (tenant_id, idempotency_key, kind, status, claim_token, claimed_at)
         values ($1, $2, $3, 'claimed', $4, now()) on conflict do nothing returning claimed_at`,
        [tenantId, key, kind, token],
      );
      if (fresh.rows[0]) return { state: 'mine', token, takenOver: false, since: fresh.rows[0].claimed_at };
      const row = (
        await c.query<{ status: 'claimed' | 'done'; result: T; since: Date | null; abandoned: boolean }>(
          `select status, result, coalesce(created_at, claimed_at) as since,
                  (claim_token is null or claimed_at < now() - $3 * interval '1 millisecond') as abandoned
             from crm_effects where tenant_id = $1 and idempotency_key = $2 for update`,
          [tenantId, key, CLAIM_LEASE_MS],
        )
      ).rows[0];
      // Gone since the insert collided (its tenant deleted): act as a taker-over would, GHL first.
      if (!row) return { state: 'mine', token, takenOver: true, since: new Date(Date.now() - CLAIM_LEASE_MS) };
      if (row.status === 'done') return { state: 'done', result: row.result };
      const since = row.since ?? new Date();
      if (!row.abandoned) return { state: 'busy', since };
      await c.query(
        `update crm_effects set claim_token = $3, claimed_at = now() where tenant_id = $1 and idempotency_key = $2`,
        [tenantId, key, token],
      );
      return { state: 'mine', token, takenOver: true, since };
    });
  }

  /**
   * The recorded result for `key`, else acts once. The claim comes first, so two concurrent
   * attempts never both act: the second waits for the first's result. An attempt taking over an
   * abandoned claim (its holder crashed, maybe after GHL acted) runs `recheck` first — does GHL
   * already have it, since the claim was first taken? — and acts only if not.
   */
  async function once<T>(
    tenantId: string,
    key: string,
    kind: string,
    perform: () => Promise<T>,
    recheck?: (since: Date) => Promise<T | undefined>,
  ): Promise<T> {
    const waitUntil = Date.now() + CLAIM_WAIT_MS;
    let held = await claim<T>(tenantId, key, kind);
    while (held.state === 'busy' && Date.now() < waitUntil) {
      await sleep(CLAIM_POLL_MS);
      held = await claim<T>(tenantId, key, kind);
    }
    if (held.state === 'done') return held.result;
    if (held.state === 'busy') {
      const there = await recheck?.(held.since).catch(() => undefined);
      if (there) return there;
      throw ApplicationFailure.retryable(`another attempt is still performing ${kind} ${key}`, 'EffectInProgress');
    }
    const { token } = held;
    const onlyMine = (sql: string, params: unknown[]) =>
      withTenant(pool, tenantId, (c) => c.query(sql, [tenantId, key, token, ...params]));
    // Alive: the claim stays fresh however long GHL's retries take.
    const refresh = setInterval(() => {
      void onlyMine(
        'update crm_effects set claimed_at = now() where tenant_id = $1 and idempotency_key = $2 and claim_token = $3',
        [],
      ).catch(() => undefined);
    }, CLAIM_REFRESH_MS);
    let result: T;
    try {
      result = (held.takenOver ? await recheck?.(held.since) : undefined) ?? (await perform());
    } catch (err) {
      // Released, not deleted: GHL may have acted before the failure, so the next attempt rechecks.
      await onlyMine(
        'update crm_effects set claim_token = null where tenant_id = $1 and idempotency_key = $2 and claim_token = $3',
        [],
      ).catch(() => undefined);
      return asActivityError(err);
    } finally {
      clearInterval(refresh);
    }
    await onlyMine(
      `update crm_effects set status = 'done', result = $4, claim_token = null
        where tenant_id = $1 and idempotency_key = $2 and claim_token = $3`,
      [JSON.stringify(result)],
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

  /** One note per key. The key is written into the note, so a retry after a crash finds it at GHL. */
  async function addContactNote(input: {
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
  }

  /** Rewrites one of the tenant's notes in full (the contact checked to be the tenant's first). */
  async function updateContactNote(input: {
    tenantId: string;
    contactId: string;
    noteId: string;
    body: string;
  }): Promise<{ noteId: string }> {
    const crm = await tenantCrm(input.tenantId);
    await ownContact(input.tenantId, crm, input.contactId);
    const note = await crm.ghl.updateNote(input.contactId, input.noteId, { body: input.body }).catch(asActivityError);
    return { noteId: note.id };
  }

  const records = createCrmRecordActions({
    pool,
    tenantCrm,
    ownContact,
    once,
    fail: asActivityError,
    addContactNote,
  });

  return {
    upsertContact,
    updateContactNote,
    ...records,

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
            // Into the cache at once: the caller asking "what do I have booked?" next sees it.
            await withTenant(pool, input.tenantId, (c) => cacheAppointments(c, input.tenantId, crm.locationId, [appt]));
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

    addContactNote,

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
      // Past the daily SMS quota no text goes out (counted once per idempotency key: retries too).
      await consume(pool, input.tenantId, 'sms_per_day', 1, {
        defaults: deps.access.quotaDefaults,
        key: `sms:${input.idempotencyKey}`,
      }).catch((err: unknown) => {
        if (err instanceof QuotaExceeded)
          throw ApplicationFailure.nonRetryable(`${err.message}: no text sent`, 'QuotaExceeded');
        throw err;
      });
      return once(
        input.tenantId,
        input.idempotencyKey,
        'sms',
        async () => {
          const sent = await crm.ghl.sendMessage({ type: 'SMS', contactId: input.contactId, message: input.message });
          return { messageId: sent.messageId };
        },
        // The text is the customer's to read (no marker): the same text, sent to them since the claim.
        async (since) => {
          const sent = (await crm.ghl.recentMessages(crm.locationId, input.contactId)).find(
            (m) =>
              m.direction === 'outbound' &&
              m.body === input.message &&
              Date.parse(m.dateAdded ?? '') >= since.getTime() - 5_000,
          );
          return sent ? { messageId: sent.id } : undefined;
        },
      );
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
      /** GHL user the task is assigned to (e.g. whoever takes phone messages). */
      assignedTo?: string;
    }): Promise<{ taskId: string }> {
      const crm = await tenantCrm(input.tenantId);
      await ownContact(input.tenantId, crm, input.contactId);
      // As with notes: the key in the task's body lets a retry after a crash find it at GHL.
      const marker = `ref: ${input.tenantId}/${input.idempotencyKey}`;
      return once(
        input.tenantId,
        input.idempotencyKey,
        'task',
        async () => {
          const task = await crm.ghl.createTask(input.contactId, {
            title: input.title,
            body: input.body ? `${input.body}\n\n${marker}` : marker,
            dueDate: input.dueDate,
            completed: false,
            ...(input.assignedTo ? { assignedTo: input.assignedTo } : {}),
          });
          return { taskId: task.id };
        },
        async () => {
          const mine = (await crm.ghl.listTasks(input.contactId)).find((t) => t.body?.endsWith(marker));
          return mine ? { taskId: mine.id } : undefined;
        },
      );
    },
  };
}

export type CrmActionActivities = ReturnType<typeof createCrmActionActivities>;
