import { z } from 'zod';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { CrmActionName } from '../../workflows/crmAction.contract.js';
import { tenantOf } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import {
  addToWorkflow,
  AppointmentList,
  AppointmentQuery,
  Cancel,
  cancelAppointment,
  completeTask,
  createOpportunity,
  createTask,
  Handle,
  IdempotencyKey,
  listAppointments,
  listOpportunities,
  listPipelines,
  listTasks,
  listWorkflows,
  moveOpportunity,
  NewOpportunity,
  NewTask,
  Opportunity,
  OpportunityQuery,
  OpportunityStatus,
  Pipeline,
  Reschedule,
  rescheduleAppointment,
  setOpportunityStatus,
  Task,
  type CrmRecordDeps,
  type CrmWrite,
} from '../services/crmRecords.js';

/**
 * The front desk's CRM records over REST (api/services/crmRecords.ts, shared with MCP): appointments,
 * tasks, pipelines and opportunities, GHL workflow enrollment. Reads answer at once; each change is a
 * crmAction workflow: 200 with its result, or 202 with the workflow id when it takes longer than 30 s.
 */

const Id = z.string().trim().min(1).max(100);
const Running = Handle.extend({ status: z.literal('running') });
const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const crmRecordRoutes: FastifyPluginAsyncZod<CrmRecordDeps> = async (app, deps) => {
  const read = app.requireScope('read');
  const act = app.requireScope('act');

  /** A write's answer: its result and handle, or 202 while it still runs. */
  function answer<A extends CrmActionName>(reply: FastifyReply, w: CrmWrite<A>) {
    if (!w.result) {
      void reply.code(202);
      return { workflowId: w.workflowId, repeated: w.repeated, status: 'running' as const };
    }
    return { ...w.result, workflowId: w.workflowId, repeated: w.repeated };
  }

  // Appointments ---------------------------------------------------------------------------------

  app.get(
    '/v1/appointments',
    {
      preHandler: read,
      schema: {
        summary: "Appointments: a contact's (cache first, then GoHighLevel), or the location's between from and to",
        tags: ['crm'],
        querystring: AppointmentQuery,
        response: { 200: AppointmentList, ...errors },
      },
    },
    async (req) => listAppointments(deps, tenantOf(req).tenantId, req.query),
  );

  app.post(
    '/v1/appointments/:id/reschedule',
    {
      preHandler: act,
      schema: {
        summary: 'Move an appointment to a free time (the old time is freed only once the new one is held)',
        tags: ['crm'],
        params: z.object({ id: Id }),
        body: Reschedule,
        response: {
          200: Handle.extend({
            appointmentId: z.string(),
            contactId: z.string(),
            startTime: z.string(),
            endTime: z.string(),
            previousStartTime: z.string(),
            moved: z.boolean(),
          }),
          202: Running,
          ...errors,
        },
      },
    },
    async (req, reply) =>
      answer(reply, await rescheduleAppointment(deps, tenantOf(req).tenantId, req.params.id, req.body)),
  );

  app.post(
    '/v1/appointments/:id/cancel',
    {
      preHandler: act,
      schema: {
        summary: 'Cancel an appointment (its slot is free again); the reason is noted on the contact',
        tags: ['crm'],
        params: z.object({ id: Id }),
        body: Cancel,
        response: {
          200: Handle.extend({
            appointmentId: z.string(),
            contactId: z.string(),
            startTime: z.string(),
            noteId: z.string(),
          }),
          202: Running,
          ...errors,
        },
      },
    },
    async (req, reply) => answer(reply, await cancelAppointment(deps, tenantOf(req).tenantId, req.params.id, req.body)),
  );

  // Tasks ----------------------------------------------------------------------------------------

  app.get(
    '/v1/contacts/:id/tasks',
    {
      preHandler: read,
      schema: {
        summary: "A contact's GoHighLevel tasks",
        tags: ['crm'],
        params: z.object({ id: Id }),
        response: { 200: z.object({ tasks: z.array(Task) }), ...errors },
      },
    },
    async (req) => listTasks(deps, tenantOf(req).tenantId, req.params.id),
  );

  app.post(
    '/v1/contacts/:id/tasks',
    {
      preHandler: act,
      schema: {
        summary: 'Create a task on a contact (one per idempotencyKey)',
        tags: ['crm'],
        params: z.object({ id: Id }),
        body: NewTask,
        response: { 200: Handle.extend({ taskId: z.string() }), 202: Running, ...errors },
      },
    },
    async (req, reply) => answer(reply, await createTask(deps, tenantOf(req).tenantId, req.params.id, req.body)),
  );

  app.post(
    '/v1/contacts/:id/tasks/:taskId/complete',
    {
      preHandler: act,
      schema: {
        summary: 'Mark a task done (completed: false reopens it)',
        tags: ['crm'],
        params: z.object({ id: Id, taskId: Id }),
        body: z.strictObject({ completed: z.boolean().optional(), idempotencyKey: IdempotencyKey.optional() }),
        response: { 200: Handle.extend({ taskId: z.string(), completed: z.boolean() }), 202: Running, ...errors },
      },
    },
    async (req, reply) =>
      answer(reply, await completeTask(deps, tenantOf(req).tenantId, req.params.id, req.params.taskId, req.body)),
  );

  // Pipelines and opportunities -----------------------------------------------------------------

  app.get(
    '/v1/pipelines',
    {
      preHandler: read,
      schema: {
        summary: "The location's pipelines and their stages",
        tags: ['crm'],
        response: { 200: z.object({ pipelines: z.array(Pipeline) }), ...errors },
      },
    },
    async (req) => listPipelines(deps, tenantOf(req).tenantId),
  );

  app.get(
    '/v1/opportunities',
    {
      preHandler: read,
      schema: {
        summary: 'Opportunities, newest first (by contact, pipeline, status)',
        tags: ['crm'],
        querystring: OpportunityQuery,
        response: { 200: z.object({ opportunities: z.array(Opportunity), total: z.number() }), ...errors },
      },
    },
    async (req) => listOpportunities(deps, tenantOf(req).tenantId, req.query),
  );

  app.post(
    '/v1/opportunities',
    {
      preHandler: act,
      schema: {
        summary: 'Create an opportunity for a contact on a pipeline (one per idempotencyKey)',
        tags: ['crm'],
        body: NewOpportunity,
        response: { 200: Handle.extend(Opportunity.shape), 202: Running, ...errors },
      },
    },
    async (req, reply) => answer(reply, await createOpportunity(deps, tenantOf(req).tenantId, req.body)),
  );

  app.post(
    '/v1/opportunities/:id/stage',
    {
      preHandler: act,
      schema: {
        summary: 'Move an opportunity to a stage of its pipeline',
        tags: ['crm'],
        params: z.object({ id: Id }),
        body: z.strictObject({ stageId: Id, idempotencyKey: IdempotencyKey.optional() }),
        response: { 200: Handle.extend(Opportunity.shape), 202: Running, ...errors },
      },
    },
    async (req, reply) => answer(reply, await moveOpportunity(deps, tenantOf(req).tenantId, req.params.id, req.body)),
  );

  app.post(
    '/v1/opportunities/:id/status',
    {
      preHandler: act,
      schema: {
        summary: 'Mark an opportunity won, lost, abandoned or open again',
        tags: ['crm'],
        params: z.object({ id: Id }),
        body: z.strictObject({ status: OpportunityStatus, idempotencyKey: IdempotencyKey.optional() }),
        response: { 200: Handle.extend(Opportunity.shape), 202: Running, ...errors },
      },
    },
    async (req, reply) =>
      answer(reply, await setOpportunityStatus(deps, tenantOf(req).tenantId, req.params.id, req.body)),
  );

  // GHL workflows -------------------------------------------------------------------------------

  app.get(
    '/v1/crm/workflows',
    {
      preHandler: read,
      schema: {
        summary: "The location's GoHighLevel workflows (automations)",
        tags: ['crm'],
        response: {
          200: z.object({
            workflows: z.array(z.object({ id: z.string(), name: z.string(), status: z.string().nullable() })),
          }),
          ...errors,
        },
      },
    },
    async (req) => listWorkflows(deps, tenantOf(req).tenantId),
  );

  app.post(
    '/v1/contacts/:id/workflows',
    {
      preHandler: act,
      schema: {
        summary: 'Add a contact to one of the location’s GoHighLevel workflows',
        tags: ['crm'],
        params: z.object({ id: Id }),
        body: z.strictObject({ workflowId: Id, idempotencyKey: IdempotencyKey.optional() }),
        response: {
          200: Handle.extend({ contactId: z.string(), workflowId: z.string(), enrolled: z.boolean() }),
          202: Running,
          ...errors,
        },
      },
    },
    async (req, reply) => answer(reply, await addToWorkflow(deps, tenantOf(req).tenantId, req.params.id, req.body)),
  );
};
