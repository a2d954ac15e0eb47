/** The crmAction workflow's contract: one CRM change in, its result out (no messages). */

export type CrmActionInput =
  | {
      action: 'upsertContact';
      tenantId: string;
      phone?: string;
      email?: string;
      firstName?: string;
      lastName?: string;
      name?: string;
      tags?: string[];
    }
  | {
      action: 'bookAppointment';
      tenantId: string;
      calendarId?: string;
      contactId?: string;
      phone?: string;
      email?: string;
      name?: string;
      startTime: string;
      title?: string;
    }
  | { action: 'addContactNote'; tenantId: string; contactId: string; body: string }
  | { action: 'sendSms'; tenantId: string; contactId: string; message: string }
  | { action: 'rescheduleAppointment'; tenantId: string; appointmentId: string; startTime: string }
  | { action: 'cancelAppointment'; tenantId: string; appointmentId: string; reason?: string }
  | {
      action: 'createTask';
      tenantId: string;
      contactId: string;
      title: string;
      body?: string;
      dueDate: string;
      assignedTo?: string;
    }
  | { action: 'completeTask'; tenantId: string; contactId: string; taskId: string; completed?: boolean }
  | {
      action: 'createOpportunity';
      tenantId: string;
      contactId: string;
      pipelineId: string;
      stageId?: string;
      name: string;
      monetaryValue?: number;
    }
  | { action: 'moveOpportunity'; tenantId: string; opportunityId: string; stageId: string }
  | {
      action: 'setOpportunityStatus';
      tenantId: string;
      opportunityId: string;
      status: 'open' | 'won' | 'lost' | 'abandoned';
    }
  | { action: 'addToWorkflow'; tenantId: string; contactId: string; workflowId: string };

export type CrmActionName = CrmActionInput['action'];

export type CrmActionResult =
  | { action: 'upsertContact'; contactId: string; created: boolean }
  | { action: 'bookAppointment'; appointmentId: string; contactId: string; startTime: string; endTime: string }
  | { action: 'addContactNote'; noteId: string }
  | { action: 'sendSms'; messageId: string }
  | {
      action: 'rescheduleAppointment';
      appointmentId: string;
      contactId: string;
      startTime: string;
      endTime: string;
      previousStartTime: string;
      moved: boolean;
    }
  | { action: 'cancelAppointment'; appointmentId: string; contactId: string; startTime: string; noteId: string }
  | { action: 'createTask'; taskId: string }
  | { action: 'completeTask'; taskId: string; completed: boolean }
  | ({ action: 'createOpportunity' } & CrmOpportunity)
  | ({ action: 'moveOpportunity' } & CrmOpportunity)
  | ({ action: 'setOpportunityStatus' } & CrmOpportunity)
  | { action: 'addToWorkflow'; contactId: string; workflowId: string; enrolled: boolean };

/** An opportunity as the CRM actions return it. */
export interface CrmOpportunity {
  id: string;
  name: string;
  pipelineId: string;
  stageId: string | null;
  status: string;
  contactId: string | null;
  monetaryValue: number | null;
}
