import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { z } from 'zod';
import { createCrmActionActivities } from '../../activities/crm/actions.js';
import type { CrmDeps } from '../../domain/crm/callerLookup.js';
import { workflowIds } from '../../lib/ids.js';
import { TenantIdKey, WorkflowKindKey } from '../../lib/searchAttributes.js';
import { crmAction } from '../../workflows/crmAction.js';
import type { CrmActionInput, CrmActionName, CrmActionResult } from '../../workflows/crmAction.contract.js';
import { asServiceError, ServiceError } from './errors.js';

/**
 * The front desk's CRM records for REST and MCP alike: appointments (list by contact or range,
 * reschedule, cancel), tasks (create, list, complete), pipelines and opportunities (list, create,
 * move stage, mark won/lost) and GHL workflow enrollment. Reads ask GoHighLevel (appointments by
 * contact: the cache first) on the tenant's own connection; every change is one `crmAction`
 * workflow (the API changes the world only through workflows), keyed by the caller's idempotency
 * key. Every id a caller gives is checked to be the tenant's before GoHighLevel is asked to act.
 */

export interface CrmRecordDeps {
  temporal: Client;
  taskQueue: string;
  crm: CrmDeps;
}

// --- shapes (the adapters' input and output schemas) --------------------------------------------

const Id = z.string().trim().min(1).max(100);
const IsoDateTime = z.iso.datetime({ offset: true });
export const IdempotencyKey = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore')
  .describe('the same key never acts twice: a repeat returns the first result');

export const AppointmentQuery = z
  .strictObject({
    contactId: Id.optional().describe("the contact's appointments (cache first, then GoHighLevel)"),
    from: IsoDateTime.optional().describe('appointments starting at or after this (without contactId: default now)'),
    to: IsoDateTime.optional().describe(
      'appointments starting at or before this (without contactId: default from + 30 days)',
    ),
    calendarId: Id.optional(),
    includeCancelled: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
      .optional()
      .describe('also list cancelled appointments'),
  })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) <= Date.parse(q.to), {
    message: 'before from',
    path: ['to'],
  });
export type AppointmentQuery = z.output<typeof AppointmentQuery>;

export const Appointment = z.object({
  id: z.string(),
  calendarId: z.string().nullable(),
  contactId: z.string().nullable(),
  title: z.string().nullable(),
  status: z.string().nullable(),
  startTime: z.string().nullable(),
  endTime: z.string().nullable(),
});
export const AppointmentList = z.object({
  appointments: z.array(Appointment),
  timezone: z.string(),
  source: z.enum(['cache', 'live']),
});

export const Reschedule = z.strictObject({
  startTime: IsoDateTime.describe('one of the free slots'),
  idempotencyKey: IdempotencyKey.optional(),
});
export const Cancel = z.strictObject({
  reason: z.string().trim().min(1).max(500).optional().describe('noted on the contact'),
  idempotencyKey: IdempotencyKey.optional(),
});
export const NewTask = z.strictObject({
  title: z.string().trim().min(1).max(200),
  body: z.string().trim().min(1).max(5000).optional(),
  dueDate: IsoDateTime,
  assignedTo: Id.optional().describe('GoHighLevel user id'),
  idempotencyKey: IdempotencyKey.optional(),
});
export const Task = z.object({
  id: z.string(),
  title: z.string(),
  body: z.string().nullable(),
  dueDate: z.string().nullable(),
  completed: z.boolean(),
  assignedTo: z.string().nullable(),
});

export const OpportunityStatus = z.enum(['open', 'won', 'lost', 'abandoned']);
export const OpportunityQuery = z.strictObject({
  contactId: Id.optional(),
  pipelineId: Id.optional(),
  status: z.enum(['open', 'won', 'lost', 'abandoned', 'all']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
export const Opportunity = z.object({
  id: z.string(),
  name: z.string(),
  pipelineId: z.string(),
  stageId: z.string().nullable(),
  status: z.string(),
  contactId: z.string().nullable(),
  monetaryValue: z.number().nullable(),
});
export const NewOpportunity = z.strictObject({
  contactId: Id,
  pipelineId: Id,
  stageId: Id.optional().describe("default: the pipeline's first stage"),
  name: z.string().trim().min(1).max(200),
  monetaryValue: z.number().min(0).max(1e12).optional(),
  idempotencyKey: IdempotencyKey.optional(),
});
export const Pipeline = z.object({
  id: z.string(),
  name: z.string(),
  stages: z.array(z.object({ id: z.string(), name: z.string() })),
});

/** The workflow a change ran as, and whether a repeated key returned an earlier result. */
export const Handle = z.object({
  workflowId: z.string(),
  repeated: z.boolean().describe('true when the idempotencyKey was used before: nothing was done again'),
});

// --- refusals ------------------------------------------------------------------------------------

/** What the CRM actions refuse (as activity failures), in the services' vocabulary. */
const FAILURE_STATUS: Record<string, 400 | 404 | 409> = {
  NotTenantsRecord: 404,
  NotContactsAppointment: 404,
  InvalidArguments: 400,
  CrmRejected: 400,
  SlotTaken: 409,
  AppointmentCancelled: 409,
  NotConnected: 409,
  NoCalendar: 409,
};

function refusal(err: unknown): unknown {
  let cause: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (cause instanceof TemporalFailure && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure && cause.type && cause.type in FAILURE_STATUS)
    return new ServiceError(FAILURE_STATUS[cause.type]!, cause.message);
  return asServiceError(cause) ?? (cause instanceof ApplicationFailure ? new ServiceError(400, cause.message) : err);
}

const reads = (deps: CrmRecordDeps) => createCrmActionActivities(deps.crm);
const read = async <T>(p: Promise<T>): Promise<T> => p.catch((err: unknown) => Promise.reject(refusal(err)));

// --- writes: one crmAction workflow each ----------------------------------------------------------

/** How long a change is waited for before the answer is its workflow id (202 / "still running"). */
const WAIT_MS = 30_000;
const kebab = (action: CrmActionName) => action.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export interface CrmWrite<A extends CrmActionName> {
  workflowId: string;
  repeated: boolean;
  /** null: still running after WAIT_MS; follow the workflow. */
  result: Omit<Extract<CrmActionResult, { action: A }>, 'action'> | null;
}

/**
 * Runs one change as `crm:{tenant}:{action}:{idempotencyKey}`: a repeated key joins the running
 * workflow or returns the finished one's result (or its refusal) without acting again.
 */
export async function runCrmWrite<A extends CrmActionName>(
  deps: CrmRecordDeps,
  input: Extract<CrmActionInput, { action: A }>,
  idempotencyKey: string | undefined,
): Promise<CrmWrite<A>> {
  const workflowId = workflowIds.crmAction(input.tenantId, kebab(input.action), idempotencyKey ?? randomUUID());
  let repeated = false;
  try {
    await deps.temporal.workflow.start(crmAction, {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: TenantIdKey, value: input.tenantId },
        { key: WorkflowKindKey, value: 'crmAction' },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    repeated = true;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      deps.temporal.workflow.getHandle<typeof crmAction>(workflowId).result(),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), WAIT_MS))),
    ]);
    if (!result) return { workflowId, repeated, result: null };
    const { action: _action, ...rest } = result as Extract<CrmActionResult, { action: A }>;
    return { workflowId, repeated, result: rest as CrmWrite<A>['result'] };
  } catch (err) {
    throw refusal(err);
  } finally {
    clearTimeout(timer);
  }
}

// --- the operations -------------------------------------------------------------------------------

const DEFAULT_RANGE_MS = 30 * 86_400_000;

/** A contact's appointments, or the location's in a range (no range given: the next 30 days). */
export function listAppointments(deps: CrmRecordDeps, tenantId: string, q: AppointmentQuery) {
  if (q.contactId) return read(reads(deps).listAppointments({ tenantId, ...q }));
  const from = q.from ?? new Date(q.to ? Date.parse(q.to) - DEFAULT_RANGE_MS : Date.now()).toISOString();
  const to = q.to ?? new Date(Date.parse(from) + DEFAULT_RANGE_MS).toISOString();
  return read(reads(deps).listAppointments({ tenantId, ...q, from, to }));
}

export function rescheduleAppointment(
  deps: CrmRecordDeps,
  tenantId: string,
  appointmentId: string,
  b: z.output<typeof Reschedule>,
) {
  return runCrmWrite(
    deps,
    { action: 'rescheduleAppointment', tenantId, appointmentId, startTime: b.startTime },
    b.idempotencyKey,
  );
}

export function cancelAppointment(
  deps: CrmRecordDeps,
  tenantId: string,
  appointmentId: string,
  b: z.output<typeof Cancel>,
) {
  return runCrmWrite(
    deps,
    { action: 'cancelAppointment', tenantId, appointmentId, ...(b.reason ? { reason: b.reason } : {}) },
    b.idempotencyKey,
  );
}

export function listTasks(deps: CrmRecordDeps, tenantId: string, contactId: string) {
  return read(reads(deps).listTasks({ tenantId, contactId }));
}

export function createTask(deps: CrmRecordDeps, tenantId: string, contactId: string, b: z.output<typeof NewTask>) {
  const { idempotencyKey, ...task } = b;
  return runCrmWrite(deps, { action: 'createTask', tenantId, contactId, ...task }, idempotencyKey);
}

// Marking a task done, moving a stage, setting a status, enrolling: each is the same whenever it is
// repeated (GHL PUTs, one enrollment per workflow), so a key is optional and only dedupes the workflow.

export function completeTask(
  deps: CrmRecordDeps,
  tenantId: string,
  contactId: string,
  taskId: string,
  b: { completed?: boolean; idempotencyKey?: string },
) {
  return runCrmWrite(
    deps,
    { action: 'completeTask', tenantId, contactId, taskId, completed: b.completed ?? true },
    b.idempotencyKey,
  );
}

export function listPipelines(deps: CrmRecordDeps, tenantId: string) {
  return read(reads(deps).listPipelines({ tenantId }));
}

export function listOpportunities(deps: CrmRecordDeps, tenantId: string, q: z.output<typeof OpportunityQuery>) {
  return read(reads(deps).listOpportunities({ tenantId, ...q }));
}

export function createOpportunity(deps: CrmRecordDeps, tenantId: string, b: z.output<typeof NewOpportunity>) {
  const { idempotencyKey, ...opp } = b;
  return runCrmWrite(deps, { action: 'createOpportunity', tenantId, ...opp }, idempotencyKey);
}

export function moveOpportunity(
  deps: CrmRecordDeps,
  tenantId: string,
  opportunityId: string,
  b: { stageId: string; idempotencyKey?: string },
) {
  return runCrmWrite(
    deps,
    { action: 'moveOpportunity', tenantId, opportunityId, stageId: b.stageId },
    b.idempotencyKey,
  );
}

export function setOpportunityStatus(
  deps: CrmRecordDeps,
  tenantId: string,
  opportunityId: string,
  b: { status: z.output<typeof OpportunityStatus>; idempotencyKey?: string },
) {
  return runCrmWrite(
    deps,
    { action: 'setOpportunityStatus', tenantId, opportunityId, status: b.status },
    b.idempotencyKey,
  );
}

export function listWorkflows(deps: CrmRecordDeps, tenantId: string) {
  return read(reads(deps).listWorkflows({ tenantId }));
}

export function addToWorkflow(
  deps: CrmRecordDeps,
  tenantId: string,
  contactId: string,
  b: { workflowId: string; idempotencyKey?: string },
) {
  return runCrmWrite(
    deps,
    { action: 'addToWorkflow', tenantId, contactId, workflowId: b.workflowId },
    b.idempotencyKey,
  );
}
