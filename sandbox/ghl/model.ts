/** GoHighLevel v2 records as the API returns them. */

export interface CustomFieldValue {
  id: string;
  value: unknown;
}

export interface Contact {
  id: string;
  locationId: string;
  contactName: string | null;
  firstName: string | null;
  lastName: string | null;
  firstNameLowerCase: string | null;
  lastNameLowerCase: string | null;
  email: string | null;
  phone: string | null;
  companyName: string | null;
  source: string | null;
  type: string;
  tags: string[];
  dnd: boolean;
  assignedTo: string | null;
  address1: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  postalCode: string | null;
  timezone: string | null;
  website: string | null;
  dateOfBirth: string | null;
  customFields: CustomFieldValue[];
  dateAdded: string;
  dateUpdated: string;
}

/** A contact plus the derived values search needs (kept next to it so search never re-derives). */
export interface ContactRow {
  contact: Contact;
  addedMs: number;
  updatedMs: number;
  /** Lower-cased name, email, phone and company for the free-text `query` (made on first use). */
  text?: string;
  /** Lower-cased text fields for case-insensitive filters (made on first use; rows are replaced on write). */
  lc?: LowerFields;
}

export interface LowerFields {
  contactName: string | null;
  companyName: string | null;
  source: string | null;
  address1: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  website: string | null;
}

const low = (v: string | null) => (v === null ? null : v.toLowerCase());
export function lowerFields(row: ContactRow): LowerFields {
  if (row.lc) return row.lc;
  const c = row.contact;
  return (row.lc = {
    contactName: low(c.contactName),
    companyName: low(c.companyName),
    source: low(c.source),
    address1: low(c.address1),
    city: low(c.city),
    state: low(c.state),
    country: low(c.country),
    website: low(c.website),
  });
}

export interface Note {
  id: string;
  body: string;
  title?: string;
  userId: string | null;
  contactId: string;
  dateAdded: string;
}

export interface Task {
  id: string;
  title: string;
  body: string | null;
  assignedTo: string | null;
  dueDate: string;
  completed: boolean;
  contactId: string;
  dateAdded: string;
}

export interface Calendar {
  id: string;
  locationId: string;
  name: string;
  timezone: string;
  slotDurationMinutes: number;
  slotIntervalMinutes: number;
  /** ISO weekdays (1 = Monday) the calendar is open. */
  openDays: number[];
  openHour: number;
  closeHour: number;
}

export interface Appointment {
  id: string;
  calendarId: string;
  locationId: string;
  contactId: string;
  title: string;
  startTime: string;
  endTime: string;
  appointmentStatus: string;
  assignedUserId: string | null;
  address: string | null;
  notes: string | null;
  dateAdded: string;
  dateUpdated: string;
  /** Parsed times (not in the API answer). */
  startMs: number;
  endMs: number;
}

export interface Message {
  id: string;
  conversationId: string;
  locationId: string;
  contactId: string;
  type: string;
  messageType: string;
  direction: 'outbound' | 'inbound';
  status: string;
  body: string | null;
  html: string | null;
  subject: string | null;
  emailTo: string | null;
  fromNumber: string | null;
  toNumber: string | null;
  dateAdded: string;
}

export interface Conversation {
  id: string;
  locationId: string;
  contactId: string;
  lastMessageBody: string | null;
  lastMessageType: string | null;
  dateAdded: string;
  dateUpdated: string;
}

export interface Pipeline {
  id: string;
  locationId: string;
  name: string;
  stages: { id: string; name: string; position: number }[];
}

export interface Opportunity {
  id: string;
  locationId: string;
  name: string;
  pipelineId: string;
  pipelineStageId: string;
  status: string;
  monetaryValue: number;
  assignedTo: string | null;
  source: string | null;
  contactId: string;
  lastStatusChangeAt: string;
  createdAt: string;
  updatedAt: string;
}

export interface Workflow {
  id: string;
  locationId: string;
  name: string;
  status: 'published' | 'draft';
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** A contact added to a workflow (`POST /contacts/{id}/workflow/{workflowId}`), once per pair. */
export interface Enrollment {
  contactId: string;
  workflowId: string;
  locationId: string;
  eventStartTime: string | null;
  enrolledAt: string;
}

export const DEMO = {
  locationId: 'loc_demo',
  calendarId: 'cal_demo',
  pipelineId: 'pipe_demo',
  stages: [
    { id: 'stage_new', name: 'New Lead' },
    { id: 'stage_contacted', name: 'Contacted' },
    { id: 'stage_booked', name: 'Appointment Booked' },
    { id: 'stage_won', name: 'Won' },
  ],
  workflows: [
    { id: 'wf_demo_followup', name: 'New lead follow-up' },
    { id: 'wf_demo_reminder', name: 'Appointment reminder' },
  ],
} as const;

export function contactRow(
  contact: Contact,
  addedMs = Date.parse(contact.dateAdded),
  updatedMs = Date.parse(contact.dateUpdated),
): ContactRow {
  // Every field present from the start: one hidden class for all rows keeps search scans monomorphic.
  return { contact, addedMs, updatedMs, text: undefined, lc: undefined };
}

export function rowText(row: ContactRow): string {
  const c = row.contact;
  return (row.text ??= [c.firstName, c.lastName, c.email, c.phone, c.companyName]
    .filter(Boolean)
    .join(' ')
    .toLowerCase());
}

/** `+1 (415) 555-0100` → `+14155550100`; 10 digits are taken as US numbers. */
export function normalizePhone(raw: string | null | undefined): string | null {
  if (!raw) return null;
  const digits = raw.replace(/[^\d]/g, '');
  if (!digits) return null;
  if (raw.trim().startsWith('+')) return `+${digits}`;
  if (digits.length === 10) return `+1${digits}`;
  if (digits.length === 11 && digits.startsWith('1')) return `+${digits}`;
  return `+${digits}`;
}

export const normalizeEmail = (raw: string | null | undefined): string | null =>
  raw ? raw.trim().toLowerCase() : null;
