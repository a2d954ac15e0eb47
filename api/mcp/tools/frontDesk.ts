import { z } from 'zod';
import {
  addToWorkflow,
  AppointmentList,
  AppointmentQuery,
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
  rescheduleAppointment,
  setOpportunityStatus,
  Task,
  type CrmRecordDeps,
  type CrmWrite,
} from '../../services/crmRecords.js';
import type { CrmActionName } from '../../../workflows/crmAction.contract.js';
import { Confirm, defineTool, ToolError, type ToolCall } from '../tool.js';

/**
 * The front desk's CRM records as MCP tools: the same service as the REST routes
 * (api/services/crmRecords.ts). Reads ask GoHighLevel live (a contact's appointments: the cache
 * first); each change is a crmAction workflow, keyed by `idempotencyKey`.
 */

const Id = z.string().trim().min(1).max(100);
const LIVE_READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;
const CRM_RECORD = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;
const REACHES_PEOPLE = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: true,
  openWorldHint: true,
} as const;

const service = (call: ToolCall): CrmRecordDeps => ({
  temporal: call.deps.temporal,
  taskQueue: call.deps.taskQueue,
  crm: call.deps.crm,
});
const live = (call: ToolCall) => call.note({ source: call.deps.crm.access.mode('ghl') });

/** A change's result with its handle; still running after 30 s → follow it with workflow_describe. */
function done<A extends CrmActionName>(call: ToolCall, w: CrmWrite<A>) {
  call.note({ workflowId: w.workflowId, source: call.deps.crm.access.mode('ghl') });
  if (!w.result)
    throw new ToolError(
      `still running after 30 s; follow workflow ${w.workflowId} with workflow_describe${w.repeated ? ' (repeated key)' : ''}`,
    );
  return { ...w.result, workflowId: w.workflowId, repeated: w.repeated };
}

export const frontDeskTools = [
  defineTool({
    name: 'crm_list_appointments',
    title: 'List appointments',
    description:
      "A contact's appointments (the cache first, then GoHighLevel), or every appointment of the location starting between from and to. Cancelled ones only with includeCancelled.",
    scope: 'read',
    input: AppointmentQuery,
    output: AppointmentList,
    annotations: LIVE_READ,
    run: async (args, call) => {
      const r = await listAppointments(service(call), call.tenantId, args);
      call.note({ source: r.source === 'cache' ? 'cache' : call.deps.crm.access.mode('ghl') });
      return r;
    },
  }),
  defineTool({
    name: 'crm_reschedule_appointment',
    title: 'Move an appointment',
    description:
      'Move an appointment to one of the free times (crm_get_free_slots). The old time is freed only once the new one is held; a taken time changes nothing. Runs as a workflow; pass idempotencyKey so a retry moves once.',
    scope: 'act',
    input: z.strictObject({
      appointmentId: Id,
      startTime: z.iso.datetime({ offset: true }).describe('ISO date-time with offset, one of the free slots'),
      idempotencyKey: IdempotencyKey.optional(),
      confirm: Confirm,
    }),
    output: Handle.extend({
      appointmentId: z.string(),
      contactId: z.string(),
      startTime: z.string(),
      endTime: z.string(),
      previousStartTime: z.string(),
      moved: z.boolean(),
    }),
    annotations: REACHES_PEOPLE,
    confirm: (a) => `Move appointment ${a.appointmentId} to ${a.startTime}?`,
    run: async ({ appointmentId, confirm: _c, ...b }, call) =>
      done(call, await rescheduleAppointment(service(call), call.tenantId, appointmentId, b)),
  }),
  defineTool({
    name: 'crm_cancel_appointment',
    title: 'Cancel an appointment',
    description:
      'Cancel an appointment (its slot is free again); the reason is noted on the contact. Runs as a workflow; idempotent by idempotencyKey.',
    scope: 'act',
    input: z.strictObject({
      appointmentId: Id,
      reason: z.string().trim().min(1).max(500).optional(),
      idempotencyKey: IdempotencyKey.optional(),
      confirm: Confirm,
    }),
    output: Handle.extend({
      appointmentId: z.string(),
      contactId: z.string(),
      startTime: z.string(),
      noteId: z.string(),
    }),
    annotations: REACHES_PEOPLE,
    confirm: (a) => `Cancel appointment ${a.appointmentId}${a.reason ? ` (${a.reason})` : ''}?`,
    run: async ({ appointmentId, confirm: _c, ...b }, call) =>
      done(call, await cancelAppointment(service(call), call.tenantId, appointmentId, b)),
  }),
  defineTool({
    name: 'crm_list_tasks',
    title: "A contact's tasks",
    description: "A contact's GoHighLevel tasks, done or not.",
    scope: 'read',
    input: z.strictObject({ contactId: Id }),
    output: z.object({ tasks: z.array(Task) }),
    annotations: LIVE_READ,
    run: async (args, call) => {
      live(call);
      return listTasks(service(call), call.tenantId, args.contactId);
    },
  }),
  defineTool({
    name: 'crm_create_task',
    title: 'Create a task',
    description:
      'A task on a contact (e.g. a call back), optionally assigned to a GoHighLevel user. One per idempotencyKey.',
    scope: 'act',
    input: NewTask.extend({ contactId: Id }),
    output: Handle.extend({ taskId: z.string() }),
    annotations: CRM_RECORD,
    run: async ({ contactId, ...b }, call) => done(call, await createTask(service(call), call.tenantId, contactId, b)),
  }),
  defineTool({
    name: 'crm_complete_task',
    title: 'Complete a task',
    description: "Mark one of a contact's tasks done (completed: false reopens it).",
    scope: 'act',
    input: z.strictObject({
      contactId: Id,
      taskId: Id,
      completed: z.boolean().optional(),
      idempotencyKey: IdempotencyKey.optional(),
    }),
    output: Handle.extend({ taskId: z.string(), completed: z.boolean() }),
    annotations: CRM_RECORD,
    run: async ({ contactId, taskId, ...b }, call) =>
      done(call, await completeTask(service(call), call.tenantId, contactId, taskId, b)),
  }),
  defineTool({
    name: 'crm_list_pipelines',
    title: 'Pipelines',
    description: "The location's pipelines and their stages (ids for opportunities).",
    scope: 'read',
    input: z.strictObject({}),
    output: z.object({ pipelines: z.array(Pipeline) }),
    annotations: LIVE_READ,
    run: async (_args, call) => {
      live(call);
      return listPipelines(service(call), call.tenantId);
    },
  }),
  defineTool({
    name: 'crm_list_opportunities',
    title: 'List opportunities',
    description: 'Opportunities, newest first, by contact, pipeline and status.',
    scope: 'read',
    input: OpportunityQuery,
    output: z.object({ opportunities: z.array(Opportunity), total: z.number() }),
    annotations: LIVE_READ,
    run: async (args, call) => {
      live(call);
      return listOpportunities(service(call), call.tenantId, args);
    },
  }),
  defineTool({
    name: 'crm_create_opportunity',
    title: 'Create an opportunity',
    description: "An opportunity for a contact on one of the location's pipelines. One per idempotencyKey.",
    scope: 'act',
    input: NewOpportunity,
    output: Handle.extend(Opportunity.shape),
    annotations: CRM_RECORD,
    run: async (args, call) => done(call, await createOpportunity(service(call), call.tenantId, args)),
  }),
  defineTool({
    name: 'crm_move_opportunity',
    title: 'Move an opportunity to a stage',
    description: 'Move an opportunity to another stage of its pipeline (crm_list_pipelines lists the stages).',
    scope: 'act',
    input: z.strictObject({ opportunityId: Id, stageId: Id, idempotencyKey: IdempotencyKey.optional() }),
    output: Handle.extend(Opportunity.shape),
    annotations: CRM_RECORD,
    run: async ({ opportunityId, ...b }, call) =>
      done(call, await moveOpportunity(service(call), call.tenantId, opportunityId, b)),
  }),
  defineTool({
    name: 'crm_set_opportunity_status',
    title: 'Mark an opportunity won or lost',
    description: 'Mark an opportunity won, lost, abandoned, or open again.',
    scope: 'act',
    input: z.strictObject({ opportunityId: Id, status: OpportunityStatus, idempotencyKey: IdempotencyKey.optional() }),
    output: Handle.extend(Opportunity.shape),
    annotations: CRM_RECORD,
    run: async ({ opportunityId, ...b }, call) =>
      done(call, await setOpportunityStatus(service(call), call.tenantId, opportunityId, b)),
  }),
  defineTool({
    name: 'crm_list_workflows',
    title: 'GoHighLevel workflows',
    description: "The location's GoHighLevel workflows (automations) a contact can be added to.",
    scope: 'read',
    input: z.strictObject({}),
    output: z.object({
      workflows: z.array(z.object({ id: z.string(), name: z.string(), status: z.string().nullable() })),
    }),
    annotations: LIVE_READ,
    run: async (_args, call) => {
      live(call);
      return listWorkflows(service(call), call.tenantId);
    },
  }),
  defineTool({
    name: 'crm_add_to_workflow',
    title: 'Add a contact to a GoHighLevel workflow',
    description:
      "Enroll a contact in one of the location's GoHighLevel workflows (its automation then runs: messages, reminders). A contact is enrolled once per workflow.",
    scope: 'act',
    input: z.strictObject({ contactId: Id, workflowId: Id, idempotencyKey: IdempotencyKey.optional() }),
    output: Handle.extend({ contactId: z.string(), workflowId: z.string(), enrolled: z.boolean() }),
    annotations: REACHES_PEOPLE,
    run: async ({ contactId, ...b }, call) =>
      done(call, await addToWorkflow(service(call), call.tenantId, contactId, b)),
  }),
];
