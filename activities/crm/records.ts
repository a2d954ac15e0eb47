import { ApplicationFailure } from '@temporalio/activity';
import type { TenantCrm } from '../../domain/crm/callerLookup.js';
import {
  appointmentView,
  cachedAppointments,
  cacheAppointments,
  spokenTime,
  type AppointmentView,
} from '../../domain/crm/appointments.js';
import {
  assertTenantPipeline,
  assertTenantWorkflow,
  tenantAppointment,
  tenantOpportunity,
} from '../../domain/crm/ownership.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { GhlApiError, type GhlOpportunity } from '../../providers/ghl/client.js';

/**
 * The CRM records the front desk keeps after a booking: appointments moved and cancelled, tasks,
 * opportunities moved through the pipeline, GHL workflow enrollment. Built on the CRM actions'
 * machinery (the tenant's CRM read once, ids checked against its location, one effect per key).
 */

/** What these actions borrow from createCrmActionActivities. */
export interface CrmActionKit {
  pool: Pool;
  tenantCrm(tenantId: string): Promise<TenantCrm>;
  ownContact(tenantId: string, crm: TenantCrm, contactId: string): Promise<void>;
  once<T>(
    tenantId: string,
    key: string,
    kind: string,
    perform: () => Promise<T>,
    recheck?: (since: Date) => Promise<T | undefined>,
  ): Promise<T>;
  fail(err: unknown): never;
  addContactNote(input: {
    tenantId: string;
    idempotencyKey: string;
    contactId: string;
    body: string;
  }): Promise<{ noteId: string }>;
}

export type OpportunityStatus = 'open' | 'won' | 'lost' | 'abandoned';

export interface OpportunityView {
  id: string;
  name: string;
  pipelineId: string;
  stageId: string | null;
  status: string;
  contactId: string | null;
  monetaryValue: number | null;
}

const opportunityView = (o: GhlOpportunity): OpportunityView => ({
  id: o.id,
  name: o.name,
  pipelineId: o.pipelineId,
  stageId: o.pipelineStageId ?? null,
  status: o.status,
  contactId: o.contactId ?? null,
  monetaryValue: o.monetaryValue ?? null,
});

const refuse = (message: string, type: string): never => {
  throw ApplicationFailure.nonRetryable(message, type);
};

export function createCrmRecordActions(kit: CrmActionKit) {
  const { pool } = kit;
  const cache = (tenantId: string, crm: TenantCrm, appts: Parameters<typeof cacheAppointments>[3]) =>
    withTenant(pool, tenantId, (c) => cacheAppointments(c, tenantId, crm.locationId, appts));

  /** The appointment if it is the tenant's (and, when `contactId` is given, that contact's). */
  async function ownAppointment(tenantId: string, crm: TenantCrm, appointmentId: string, contactId?: string) {
    const appt = await tenantAppointment(tenantId, crm, appointmentId).catch(kit.fail);
    if (contactId && appt.contactId !== contactId)
      refuse(`appointment '${appointmentId}' is not this contact's appointment`, 'NotContactsAppointment');
    return appt;
  }

  return {
    /**
     * A contact's appointments (cache first, GHL when the cache has none in the range), or the
     * location's in a time range. Live ones only unless `includeCancelled`.
     */
    async listAppointments(input: {
      tenantId: string;
      contactId?: string;
      calendarId?: string;
      from?: string;
      to?: string;
      includeCancelled?: boolean;
    }): Promise<{ appointments: AppointmentView[]; source: 'cache' | 'live'; timezone: string }> {
      const crm = await kit.tenantCrm(input.tenantId);
      const from = input.from ? new Date(input.from) : undefined;
      const to = input.to ? new Date(input.to) : undefined;
      const inRange = (a: AppointmentView) =>
        (!from || Date.parse(a.startTime ?? '') >= +from) &&
        (!to || Date.parse(a.startTime ?? '') <= +to) &&
        (input.includeCancelled || a.status !== 'cancelled') &&
        (!input.calendarId || a.calendarId === input.calendarId);
      if (input.contactId) {
        await kit.ownContact(input.tenantId, crm, input.contactId);
        const cached = await withTenant(pool, input.tenantId, (c) =>
          cachedAppointments(c, input.tenantId, { locationId: crm.locationId, contactId: input.contactId!, from, to }),
        );
        const hits = cached.filter(inRange);
        if (hits.length) return { appointments: hits, source: 'cache', timezone: crm.timezone };
        const live = await crm.ghl.contactAppointments(input.contactId).catch(kit.fail);
        await cache(input.tenantId, crm, live);
        return { appointments: live.map(appointmentView).filter(inRange), source: 'live', timezone: crm.timezone };
      }
      if (!from || !to) return refuse('listAppointments: give a contact, or both from and to', 'InvalidArguments');
      const live = await crm.ghl
        .listAppointments({
          locationId: crm.locationId,
          calendarId: input.calendarId,
          startTime: +from,
          endTime: +to,
        })
        .catch(kit.fail);
      await cache(input.tenantId, crm, live);
      return { appointments: live.map(appointmentView).filter(inRange), source: 'live', timezone: crm.timezone };
    },

    /**
     * Moves an appointment to a free time, once per key. One GHL request holds the new slot and frees
     * the old one, so the old time is released only when the new one is held; a taken time changes nothing.
     */
    async rescheduleAppointment(input: {
      tenantId: string;
      idempotencyKey: string;
      appointmentId: string;
      startTime: string;
      /** Set: the appointment must be this contact's (a caller moves only their own). */
      contactId?: string;
    }): Promise<{
      appointmentId: string;
      contactId: string;
      startTime: string;
      endTime: string;
      previousStartTime: string;
      moved: boolean;
    }> {
      const crm = await kit.tenantCrm(input.tenantId);
      const start = Date.parse(input.startTime);
      if (Number.isNaN(start)) refuse(`startTime: not a date-time: ${input.startTime}`, 'InvalidArguments');
      const appt = await ownAppointment(input.tenantId, crm, input.appointmentId, input.contactId);
      const result = (a: { startTime: string; endTime: string }, previous: string, moved: boolean) => ({
        appointmentId: appt.id,
        contactId: appt.contactId,
        startTime: a.startTime,
        endTime: a.endTime,
        previousStartTime: previous,
        moved,
      });
      return kit.once(
        input.tenantId,
        input.idempotencyKey,
        'reschedule',
        async () => {
          if (Date.parse(appt.startTime) === start) return result(appt, appt.startTime, false);
          if (appt.appointmentStatus === 'cancelled')
            refuse(`appointment '${appt.id}' is cancelled; book a new time instead`, 'AppointmentCancelled');
          const free = await crm.ghl.getFreeSlots({
            calendarId: appt.calendarId,
            startDate: Math.max(start - 86_400_000, Date.now()),
            endDate: start + 86_400_000,
            timezone: crm.timezone,
          });
          if (!Object.values(free).some((slots) => slots.some((s) => Date.parse(s) === start)))
            refuse(`${input.startTime} is not a free time; ask for free slots again`, 'SlotTaken');
          const duration = Date.parse(appt.endTime) - Date.parse(appt.startTime);
          const moved = await crm.ghl
            .updateAppointment(appt.id, {
              startTime: input.startTime,
              endTime: new Date(start + (duration > 0 ? duration : crm.appointmentMinutes * 60_000)).toISOString(),
            })
            .catch((err: unknown) => {
              if (err instanceof GhlApiError && err.isSlotTaken)
                return refuse(`${input.startTime} was just taken; ask for free slots again`, 'SlotTaken');
              throw err;
            });
          await cache(input.tenantId, crm, [{ ...appt, ...moved }]);
          return result(moved, appt.startTime, true);
        },
        // After a crash: GHL already shows the new time, so the move happened.
        async () => {
          const now = await crm.ghl.getAppointment(appt.id);
          return now && Date.parse(now.startTime) === start ? result(now, appt.startTime, true) : undefined;
        },
      );
    },

    /** Cancels an appointment (its slot is free again) and notes why on the contact; once per key. */
    async cancelAppointment(input: {
      tenantId: string;
      idempotencyKey: string;
      appointmentId: string;
      reason?: string;
      contactId?: string;
    }): Promise<{ appointmentId: string; contactId: string; startTime: string; noteId: string }> {
      const crm = await kit.tenantCrm(input.tenantId);
      const appt = await ownAppointment(input.tenantId, crm, input.appointmentId, input.contactId);
      await kit.once(
        input.tenantId,
        input.idempotencyKey,
        'cancel',
        async () => {
          const cancelled =
            appt.appointmentStatus === 'cancelled'
              ? appt
              : await crm.ghl.updateAppointment(appt.id, { appointmentStatus: 'cancelled' }).catch(kit.fail);
          await cache(input.tenantId, crm, [{ ...appt, ...cancelled, appointmentStatus: 'cancelled' }]);
          return { appointmentId: appt.id };
        },
        async () =>
          (await crm.ghl.getAppointment(appt.id))?.appointmentStatus === 'cancelled'
            ? { appointmentId: appt.id }
            : undefined,
      );
      const when = spokenTime(appt.startTime, crm.timezone);
      const note = await kit.addContactNote({
        tenantId: input.tenantId,
        idempotencyKey: `${input.idempotencyKey}:note`,
        contactId: appt.contactId,
        body: `Appointment ${appt.id} on ${when} (${crm.timezone}) cancelled.${input.reason ? ` Reason: ${input.reason}` : ''}`,
      });
      return { appointmentId: appt.id, contactId: appt.contactId, startTime: appt.startTime, noteId: note.noteId };
    },

    async listTasks(input: { tenantId: string; contactId: string }) {
      const crm = await kit.tenantCrm(input.tenantId);
      await kit.ownContact(input.tenantId, crm, input.contactId);
      const tasks = await crm.ghl.listTasks(input.contactId).catch(kit.fail);
      return {
        tasks: tasks.map((t) => ({
          id: t.id,
          title: t.title,
          body: t.body ?? null,
          dueDate: t.dueDate ?? null,
          completed: t.completed ?? false,
          assignedTo: typeof t.assignedTo === 'string' ? t.assignedTo : null,
        })),
      };
    },

    /** Marks one of the contact's tasks done (naturally idempotent). */
    async completeTask(input: { tenantId: string; contactId: string; taskId: string; completed?: boolean }) {
      const crm = await kit.tenantCrm(input.tenantId);
      await kit.ownContact(input.tenantId, crm, input.contactId);
      const tasks = await crm.ghl.listTasks(input.contactId).catch(kit.fail);
      if (!tasks.some((t) => t.id === input.taskId))
        refuse(`task '${input.taskId}' is not a task of contact '${input.contactId}'`, 'NotTenantsRecord');
      const task = await crm.ghl.completeTask(input.contactId, input.taskId, input.completed ?? true).catch(kit.fail);
      return { taskId: task.id, completed: task.completed ?? input.completed ?? true };
    },

    async listOpportunities(input: {
      tenantId: string;
      contactId?: string;
      pipelineId?: string;
      status?: OpportunityStatus | 'all';
      limit?: number;
    }): Promise<{ opportunities: OpportunityView[]; total: number }> {
      const crm = await kit.tenantCrm(input.tenantId);
      if (input.contactId) await kit.ownContact(input.tenantId, crm, input.contactId);
      if (input.pipelineId) await assertTenantPipeline(input.tenantId, crm, input.pipelineId).catch(kit.fail);
      const page = await crm.ghl
        .searchOpportunities({
          locationId: crm.locationId,
          contactId: input.contactId,
          pipelineId: input.pipelineId,
          status: input.status,
          limit: input.limit ?? 50,
        })
        .catch(kit.fail);
      return { opportunities: page.opportunities.map(opportunityView), total: page.meta.total };
    },

    /** One opportunity per key, on a pipeline (and stage) of the tenant's location, for one of its contacts. */
    async createOpportunity(input: {
      tenantId: string;
      idempotencyKey: string;
      contactId: string;
      pipelineId: string;
      stageId?: string;
      name: string;
      monetaryValue?: number;
    }): Promise<OpportunityView> {
      const crm = await kit.tenantCrm(input.tenantId);
      await kit.ownContact(input.tenantId, crm, input.contactId);
      await assertTenantPipeline(input.tenantId, crm, input.pipelineId, input.stageId).catch(kit.fail);
      const mine = async () => {
        const page = await crm.ghl.searchOpportunities({
          locationId: crm.locationId,
          contactId: input.contactId,
          pipelineId: input.pipelineId,
          status: 'all',
          limit: 100,
        });
        const hit = page.opportunities.find((o) => o.name === input.name);
        return hit ? opportunityView(hit) : undefined;
      };
      return kit.once(
        input.tenantId,
        input.idempotencyKey,
        'opportunity',
        async () =>
          opportunityView(
            await crm.ghl.createOpportunity({
              pipelineId: input.pipelineId,
              locationId: crm.locationId,
              name: input.name,
              status: 'open',
              contactId: input.contactId,
              ...(input.stageId ? { pipelineStageId: input.stageId } : {}),
              ...(input.monetaryValue !== undefined ? { monetaryValue: input.monetaryValue } : {}),
            }),
          ),
        mine,
      );
    },

    /** Moves one of the tenant's opportunities to a stage of its pipeline (a repeat changes nothing). */
    async moveOpportunity(input: {
      tenantId: string;
      opportunityId: string;
      stageId: string;
    }): Promise<OpportunityView> {
      const crm = await kit.tenantCrm(input.tenantId);
      const opp = await tenantOpportunity(input.tenantId, crm, input.opportunityId).catch(kit.fail);
      await assertTenantPipeline(input.tenantId, crm, opp.pipelineId, input.stageId).catch(kit.fail);
      if (opp.pipelineStageId === input.stageId) return opportunityView(opp);
      return opportunityView(
        await crm.ghl.updateOpportunity(opp.id, { pipelineStageId: input.stageId }).catch(kit.fail),
      );
    },

    /** Won, lost, abandoned or open again. */
    async setOpportunityStatus(input: {
      tenantId: string;
      opportunityId: string;
      status: OpportunityStatus;
    }): Promise<OpportunityView> {
      const crm = await kit.tenantCrm(input.tenantId);
      const opp = await tenantOpportunity(input.tenantId, crm, input.opportunityId).catch(kit.fail);
      if (opp.status !== input.status) await crm.ghl.setOpportunityStatus(opp.id, input.status).catch(kit.fail);
      return { ...opportunityView(opp), status: input.status };
    },

    /**
     * The contact's opportunity on `pipelineId` moved to `stageId` — created there if the contact has
     * none (once per key). What a campaign lead that books, replies or opts out, or a call that books, does.
     */
    async advanceContactOpportunity(input: {
      tenantId: string;
      idempotencyKey: string;
      contactId: string;
      pipelineId: string;
      stageId: string;
      name: string;
    }): Promise<{ opportunityId: string; stageId: string; created: boolean }> {
      const crm = await kit.tenantCrm(input.tenantId);
      await kit.ownContact(input.tenantId, crm, input.contactId);
      await assertTenantPipeline(input.tenantId, crm, input.pipelineId, input.stageId).catch(kit.fail);
      const existing = async () => {
        const page = await crm.ghl.searchOpportunities({
          locationId: crm.locationId,
          contactId: input.contactId,
          pipelineId: input.pipelineId,
          status: 'open',
          limit: 100,
        });
        return page.opportunities[0];
      };
      return kit.once(
        input.tenantId,
        input.idempotencyKey,
        'opportunity-stage',
        async () => {
          const opp = await existing();
          if (opp) {
            if (opp.pipelineStageId !== input.stageId)
              await crm.ghl.updateOpportunity(opp.id, { pipelineStageId: input.stageId });
            return { opportunityId: opp.id, stageId: input.stageId, created: false };
          }
          const made = await crm.ghl.createOpportunity({
            pipelineId: input.pipelineId,
            locationId: crm.locationId,
            name: input.name,
            status: 'open',
            contactId: input.contactId,
            pipelineStageId: input.stageId,
          });
          return { opportunityId: made.id, stageId: input.stageId, created: true };
        },
        // After a crash: an open opportunity of the contact already at the stage is the one.
        async () => {
          const opp = await existing();
          return opp?.pipelineStageId === input.stageId
            ? { opportunityId: opp.id, stageId: input.stageId, created: false }
            : undefined;
        },
      );
    },

    async listPipelines(input: { tenantId: string }) {
      const crm = await kit.tenantCrm(input.tenantId);
      const pipelines = await crm.ghl.listPipelines(crm.locationId).catch(kit.fail);
      return {
        pipelines: pipelines.map((p) => ({
          id: p.id,
          name: p.name,
          stages: p.stages.map((st) => ({ id: st.id, name: st.name })),
        })),
      };
    },

    async listWorkflows(input: { tenantId: string }) {
      const crm = await kit.tenantCrm(input.tenantId);
      const workflows = await crm.ghl.listWorkflows(crm.locationId).catch(kit.fail);
      return { workflows: workflows.map((w) => ({ id: w.id, name: w.name, status: w.status ?? null })) };
    },

    /**
     * Adds one of the tenant's contacts to one of its GHL workflows, once per key: a workflow that
     * allows re-entry would run its automation again for a second enrollment.
     */
    async addToWorkflow(input: { tenantId: string; idempotencyKey: string; contactId: string; workflowId: string }) {
      const crm = await kit.tenantCrm(input.tenantId);
      await kit.ownContact(input.tenantId, crm, input.contactId);
      await assertTenantWorkflow(input.tenantId, crm, input.workflowId).catch(kit.fail);
      return kit.once(input.tenantId, input.idempotencyKey, 'workflow-enrollment', async () => {
        await crm.ghl.addToWorkflow(input.contactId, input.workflowId);
        return { contactId: input.contactId, workflowId: input.workflowId, enrolled: true };
      });
    },
  };
}
