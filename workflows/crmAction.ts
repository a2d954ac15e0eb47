import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CrmActionActivities } from '../activities/crm/actions.js';
import type { CrmActionInput, CrmActionResult } from './crmAction.contract.js';

const crm = proxyActivities<CrmActionActivities>({
  // Above what one attempt may take: the GHL client's own retries (live: 3 tries of ≤ 10 s with
  // ≤ 30 s between, 90 s a request; a booking makes up to four) plus waiting on another attempt's
  // claim (40 s). Shorter, Temporal would start a second attempt while the first still acts.
  startToCloseTimeout: '8 minutes',
  // Rejections GoHighLevel will repeat (slot taken, bad input) are non-retryable in the activity.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 5 },
});

/**
 * One CRM change asked for through the API or MCP (upsert a contact, book, note, text, move or cancel
 * an appointment, a task, an opportunity's stage or status, a workflow enrollment): a short
 * workflow, so the change is durable, visible in the Web UI and retried past GoHighLevel hiccups,
 * while the caller waits for its result. Its id carries the caller's idempotency key, so the same
 * request never acts twice; the activity's own key is the workflow id (recorded in `crm_effects`).
 * The starter sets its TenantId / WorkflowKind search attributes.
 */
export async function crmAction(input: CrmActionInput): Promise<CrmActionResult> {
  const { workflowId } = workflowInfo();
  switch (input.action) {
    case 'upsertContact': {
      const { action, ...args } = input;
      return { action, ...(await crm.upsertContact(args)) };
    }
    case 'bookAppointment': {
      const { action, ...args } = input;
      return { action, ...(await crm.bookAppointment({ ...args, idempotencyKey: workflowId })) };
    }
    case 'addContactNote': {
      const { action, ...args } = input;
      return { action, ...(await crm.addContactNote({ ...args, idempotencyKey: workflowId })) };
    }
    case 'sendSms': {
      const { action, ...args } = input;
      return { action, ...(await crm.sendSms({ ...args, idempotencyKey: workflowId })) };
    }
    case 'rescheduleAppointment': {
      const { action, ...args } = input;
      return { action, ...(await crm.rescheduleAppointment({ ...args, idempotencyKey: workflowId })) };
    }
    case 'cancelAppointment': {
      const { action, ...args } = input;
      return { action, ...(await crm.cancelAppointment({ ...args, idempotencyKey: workflowId })) };
    }
    case 'createTask': {
      const { action, ...args } = input;
      return { action, ...(await crm.createFollowUpTask({ ...args, idempotencyKey: workflowId })) };
    }
    case 'completeTask': {
      const { action, ...args } = input;
      return { action, ...(await crm.completeTask(args)) };
    }
    case 'createOpportunity': {
      const { action, ...args } = input;
      return { action, ...(await crm.createOpportunity({ ...args, idempotencyKey: workflowId })) };
    }
    case 'moveOpportunity': {
      const { action, ...args } = input;
      return { action, ...(await crm.moveOpportunity(args)) };
    }
    case 'setOpportunityStatus': {
      const { action, ...args } = input;
      return { action, ...(await crm.setOpportunityStatus(args)) };
    }
    case 'addToWorkflow': {
      const { action, ...args } = input;
      return { action, ...(await crm.addToWorkflow({ ...args, idempotencyKey: workflowId })) };
    }
  }
}
