import { deriveSeed, IdFactory, Rng } from '../random.js';
import { LocationContacts } from './contacts.js';
import {
  DEMO,
  type Appointment,
  type Calendar,
  type Contact,
  type ContactRow,
  type Conversation,
  type Message,
  type Note,
  type Opportunity,
  type Pipeline,
  type Task,
  type Enrollment,
  type Workflow,
} from './model.js';
import { generateContacts } from './seed.js';

const DAY_MS = 24 * 3600 * 1000;

/** All GoHighLevel state of the sandbox, in memory. */
export class GhlStore {
  readonly locations = new Map<string, LocationContacts>();
  readonly notes = new Map<string, Note[]>();
  readonly tasks = new Map<string, Task[]>();
  readonly calendars = new Map<string, Calendar>();
  readonly appointments = new Map<string, Appointment>();
  readonly conversations = new Map<string, Conversation>();
  private readonly conversationByContact = new Map<string, string>();
  readonly messages: Message[] = [];
  readonly pipelines = new Map<string, Pipeline>();
  readonly opportunities = new Map<string, Opportunity>();
  readonly workflows = new Map<string, Workflow>();
  readonly enrollments: Enrollment[] = [];
  private readonly seededCount = new Map<string, number>();
  readonly ids: IdFactory;
  /** How long a write takes to show in `POST /contacts/search` (0 = at once). */
  private searchLagMs = 0;

  constructor(readonly seed: number) {
    this.ids = new IdFactory(new Rng(deriveSeed(seed, 'ghl')));
    this.installDemo();
  }

  /** The demo tenant: `loc_demo`, calendar `cal_demo`, pipeline `pipe_demo`, contact `ct_demo`, 50 contacts. */
  private installDemo(): void {
    this.calendars.set(DEMO.calendarId, {
      id: DEMO.calendarId,
      locationId: DEMO.locationId,
      name: 'Demo Calendar',
      timezone: 'America/New_York',
      slotDurationMinutes: 30,
      slotIntervalMinutes: 30,
      openDays: [1, 2, 3, 4, 5],
      openHour: 9,
      closeHour: 17,
    });
    this.ensurePipeline(DEMO.locationId);
    const anchor = startOfUtcDay(Date.now());
    this.insertContact({
      ...blankContact('ct_demo', DEMO.locationId, new Date(anchor - 30 * DAY_MS).toISOString()),
      contactName: 'Demo Caller',
      firstName: 'Demo',
      lastName: 'Caller',
      firstNameLowerCase: 'demo',
      lastNameLowerCase: 'caller',
      email: 'demo.caller@example.com',
      phone: '+15555550100',
      source: 'sandbox',
      tags: ['demo'],
      timezone: 'America/New_York',
    });
    this.seedContacts(DEMO.locationId, 50, this.seed);
  }

  location(locationId: string): LocationContacts {
    let loc = this.locations.get(locationId);
    if (!loc) {
      loc = new LocationContacts(locationId, this.searchLagMs);
      this.locations.set(locationId, loc);
    }
    return loc;
  }

  setSearchLag(ms: number): void {
    this.searchLagMs = ms;
    for (const loc of this.locations.values()) loc.setSearchLag(ms);
  }

  getSearchLag(): number {
    return this.searchLagMs;
  }

  getContact(id: string): ContactRow | undefined {
    // Ids are global in GHL; locations are few, so asking each beats keeping a second 100k-entry map.
    for (const loc of this.locations.values()) {
      const row = loc.byId.get(id);
      if (row) return row;
    }
    return undefined;
  }

  insertContact(contact: Contact): ContactRow {
    return this.location(contact.locationId).add(contact);
  }

  replaceContact(contact: Contact): ContactRow {
    return this.location(contact.locationId).replace(contact);
  }

  deleteContact(row: ContactRow): void {
    this.locations.get(row.contact.locationId)?.remove(row);
    this.notes.delete(row.contact.id);
    this.tasks.delete(row.contact.id);
  }

  /** Bulk generation; contacts are spread over the year before today (UTC midnight, so reruns match). */
  seedContacts(locationId: string, count: number, seed: number): { created: number; total: number } {
    const startIndex = this.seededCount.get(`${locationId}:${seed}`) ?? 0;
    const contacts = generateContacts({ locationId, count, seed, now: startOfUtcDay(Date.now()), startIndex });
    const loc = this.location(locationId);
    loc.addMany(contacts);
    this.seededCount.set(`${locationId}:${seed}`, startIndex + count);
    return { created: count, total: loc.size };
  }

  conversationFor(locationId: string, contactId: string, now: string): Conversation {
    const existing = this.conversationByContact.get(contactId);
    if (existing) return this.conversations.get(existing)!;
    const conv: Conversation = {
      id: this.ids.ghl(),
      locationId,
      contactId,
      lastMessageBody: null,
      lastMessageType: null,
      dateAdded: now,
      dateUpdated: now,
    };
    this.conversations.set(conv.id, conv);
    this.conversationByContact.set(contactId, conv.id);
    return conv;
  }

  /** Files a message in the contact's conversation (made on first use) and updates its summary. */
  recordMessage(
    contact: { id: string; locationId: string },
    fields: Pick<Message, 'type' | 'direction' | 'body' | 'html' | 'subject' | 'emailTo' | 'fromNumber' | 'toNumber'>,
    now: string,
  ): { message: Message; conversation: Conversation } {
    const conversation = this.conversationFor(contact.locationId, contact.id, now);
    const message: Message = {
      id: this.ids.ghl(),
      conversationId: conversation.id,
      locationId: contact.locationId,
      contactId: contact.id,
      messageType: `TYPE_${fields.type.toUpperCase()}`,
      status: 'delivered',
      dateAdded: now,
      ...fields,
    };
    this.messages.push(message);
    Object.assign(conversation, {
      lastMessageBody: message.body ?? message.subject,
      lastMessageType: message.messageType,
      dateUpdated: now,
    });
    return { message, conversation };
  }

  /** Every location has a pipeline; the demo one has fixed, documented ids. */
  ensurePipeline(locationId: string): Pipeline {
    for (const p of this.pipelines.values()) if (p.locationId === locationId) return p;
    const demo = locationId === DEMO.locationId;
    const pipeline: Pipeline = {
      id: demo ? DEMO.pipelineId : `pipe_${locationId}`,
      locationId,
      name: 'Sales Pipeline',
      stages: DEMO.stages.map((s, position) => ({ id: demo ? s.id : `${s.id}_${locationId}`, name: s.name, position })),
    };
    this.pipelines.set(pipeline.id, pipeline);
    return pipeline;
  }

  /** Every location has two published workflows; the demo ones have fixed, documented ids. */
  ensureWorkflows(locationId: string): Workflow[] {
    const have = [...this.workflows.values()].filter((w) => w.locationId === locationId);
    if (have.length) return have;
    const demo = locationId === DEMO.locationId;
    const at = new Date(startOfUtcDay(Date.now()) - 60 * DAY_MS).toISOString();
    return DEMO.workflows.map((w) => {
      const wf: Workflow = {
        id: demo ? w.id : `${w.id.replace('_demo', '')}_${locationId}`,
        locationId,
        name: w.name,
        status: 'published',
        version: 1,
        createdAt: at,
        updatedAt: at,
      };
      this.workflows.set(wf.id, wf);
      return wf;
    });
  }

  /** Overlapping live (not cancelled) appointments on one calendar: what a double booking looks like. */
  doubleBookings(): { calendarId: string; appointmentIds: [string, string] }[] {
    const live = [...this.appointments.values()]
      .filter((a) => a.appointmentStatus !== 'cancelled')
      .sort((a, b) => a.startMs - b.startMs);
    const out: { calendarId: string; appointmentIds: [string, string] }[] = [];
    for (let i = 0; i < live.length; i++)
      for (let j = i + 1; j < live.length && live[j]!.startMs < live[i]!.endMs; j++)
        if (live[j]!.calendarId === live[i]!.calendarId)
          out.push({ calendarId: live[i]!.calendarId, appointmentIds: [live[i]!.id, live[j]!.id] });
    return out;
  }

  counts(): Record<string, number> {
    let contacts = 0;
    for (const loc of this.locations.values()) contacts += loc.size;
    let notes = 0;
    for (const n of this.notes.values()) notes += n.length;
    let tasks = 0;
    for (const t of this.tasks.values()) tasks += t.length;
    return {
      locations: this.locations.size,
      contacts,
      notes,
      tasks,
      calendars: this.calendars.size,
      appointments: this.appointments.size,
      conversations: this.conversations.size,
      messages: this.messages.length,
      pipelines: this.pipelines.size,
      opportunities: this.opportunities.size,
      enrollments: this.enrollments.length,
    };
  }
}

export function startOfUtcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

export function blankContact(id: string, locationId: string, now: string): Contact {
  return {
    id,
    locationId,
    contactName: null,
    firstName: null,
    lastName: null,
    firstNameLowerCase: null,
    lastNameLowerCase: null,
    email: null,
    phone: null,
    companyName: null,
    source: null,
    type: 'lead',
    tags: [],
    dnd: false,
    assignedTo: null,
    address1: null,
    city: null,
    state: null,
    country: null,
    postalCode: null,
    timezone: null,
    website: null,
    dateOfBirth: null,
    customFields: [],
    dateAdded: now,
    dateUpdated: now,
  };
}
