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
  | { action: 'sendSms'; tenantId: string; contactId: string; message: string };

export type CrmActionName = CrmActionInput['action'];

export type CrmActionResult =
  | { action: 'upsertContact'; contactId: string; created: boolean }
  | { action: 'bookAppointment'; appointmentId: string; contactId: string; startTime: string; endTime: string }
  | { action: 'addContactNote'; noteId: string }
  | { action: 'sendSms'; messageId: string };
