import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { z } from 'zod';
import { workflowIds } from '../../lib/ids.js';
import { ContactPhoneKey, TenantIdKey, WorkflowKindKey } from '../../lib/searchAttributes.js';
import { crmAction } from '../../workflows/crmAction.js';
import type { CrmActionInput, CrmActionName, CrmActionResult } from '../../workflows/crmAction.contract.js';
import { ToolError, type ToolCall } from './tool.js';

/** A client's key for a write it may retry; it becomes part of the workflow id. */
export const IdempotencyKey = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore')
  .describe('the same key never acts twice: a repeat returns the first result');

/** How long a tool waits for its CRM change before answering with the workflow id to follow. */
const WAIT_MS = 30_000;

const kebab = (action: CrmActionName) => action.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Why a CRM workflow failed, in the words the activity used (slot taken, no calendar, …). */
function failureMessage(err: WorkflowFailedError): string {
  let cause: unknown = err.cause;
  while (cause instanceof TemporalFailure && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
  return cause instanceof Error ? cause.message : err.message;
}

/**
 * Runs one CRM change as a `crmAction` workflow (rule 1: the API changes the world only through
 * workflows) and waits for it. Its id is `crm:{tenant}:{action}:{idempotencyKey}`: a repeated key
 * joins the running workflow or returns the finished one's result — or its failure — without acting
 * again. Without a key each call is new.
 */
export async function runCrmAction<A extends CrmActionName>(
  call: ToolCall,
  input: Extract<CrmActionInput, { action: A }>,
  idempotencyKey: string | undefined,
): Promise<{ workflowId: string; repeated: boolean; result: Extract<CrmActionResult, { action: A }> | null }> {
  const { temporal, taskQueue } = call.deps;
  const workflowId = workflowIds.crmAction(call.tenantId, kebab(input.action), idempotencyKey ?? randomUUID());
  call.note({ workflowId, source: call.deps.crm.access.mode('ghl') });
  const phone = 'phone' in input ? input.phone : undefined;
  let repeated = false;
  try {
    await temporal.workflow.start(crmAction, {
      taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: TenantIdKey, value: call.tenantId },
        { key: WorkflowKindKey, value: 'crmAction' },
        ...(phone ? [{ key: ContactPhoneKey, value: phone }] : []),
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    repeated = true;
  }
  const handle = temporal.workflow.getHandle<typeof crmAction>(workflowId);
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      handle.result(),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), WAIT_MS))),
    ]);
    return { workflowId, repeated, result: result as Extract<CrmActionResult, { action: A }> | null };
  } catch (err) {
    if (err instanceof WorkflowFailedError)
      throw new ToolError(`${input.action} failed: ${failureMessage(err)} (workflow ${workflowId})`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
