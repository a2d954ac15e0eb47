import { z } from 'zod';

/**
 * GoHighLevel API v2 client (production). Plain fetch, configurable base URL (the live API or the
 * sandbox at `<sandbox>/ghl`), Bearer token, the `Version` header each endpoint family requires,
 * bounded retries that honour 429 `Retry-After` / `X-RateLimit-*`, and zod-parsed responses.
 *
 * Retries: a 429 is always safe to retry (the request was not processed). 5xx and network errors
 * are retried only for idempotent calls (reads, PUT/DELETE, search, upsert): a retried create could
 * book twice. Everything else surfaces as a GhlApiError whose `retryable` tells the caller (e.g. a
 * Temporal activity) whether trying later can help.
 */

export const GHL_VERSIONS = {
  contacts: '2021-07-28',
  opportunities: '2021-07-28',
  calendars: '2021-04-15',
  conversations: '2021-04-15',
} as const;
type Family = keyof typeof GHL_VERSIONS;

// --- response schemas (loose: GHL adds fields freely) ------------------------------------------

const nullish = <T extends z.ZodType>(t: T) => t.nullish();

export const GhlContactSchema = z.looseObject({
  id: z.string(),
  locationId: z.string(),
  firstName: nullish(z.string()),
  lastName: nullish(z.string()),
  contactName: nullish(z.string()),
  email: nullish(z.string()),
  phone: nullish(z.string()),
  companyName: nullish(z.string()),
  source: nullish(z.string()),
  type: nullish(z.string()),
  tags: z.array(z.string()).default([]),
  dnd: z.boolean().optional(),
  timezone: nullish(z.string()),
  customFields: z.array(z.looseObject({ id: z.string(), value: z.unknown() })).default([]),
  dateAdded: nullish(z.string()),
  dateUpdated: nullish(z.string()),
  searchAfter: z.array(z.union([z.string(), z.number(), z.null()])).optional(),
});
export type GhlContact = z.infer<typeof GhlContactSchema>;

const SearchResponse = z.looseObject({ contacts: z.array(GhlContactSchema), total: z.number() });
const DuplicateResponse = z.looseObject({
  contact: GhlContactSchema.nullable().optional(),
  matchingField: z.string().nullish(),
});
const UpsertResponse = z.looseObject({ new: z.boolean(), contact: GhlContactSchema });
const ContactResponse = z.looseObject({ contact: GhlContactSchema });

export const GhlNoteSchema = z.looseObject({
  id: z.string(),
  body: z.string(),
  contactId: z.string().optional(),
  dateAdded: z.string().optional(),
});
export type GhlNote = z.infer<typeof GhlNoteSchema>;
export const GhlTaskSchema = z.looseObject({
  id: z.string(),
  title: z.string(),
  body: z.string().nullish(),
  dueDate: z.string().optional(),
  completed: z.boolean().optional(),
  contactId: z.string().optional(),
});
export type GhlTask = z.infer<typeof GhlTaskSchema>;

export const GhlAppointmentSchema = z.looseObject({
  id: z.string(),
  calendarId: z.string(),
  contactId: z.string(),
  startTime: z.string(),
  endTime: z.string(),
  appointmentStatus: z.string().optional(),
  title: z.string().optional(),
  locationId: z.string().optional(),
});
export type GhlAppointment = z.infer<typeof GhlAppointmentSchema>;

const GhlMessageSchema = z.looseObject({
  id: z.string(),
  body: z.string().nullish(),
  direction: z.string().nullish(),
  dateAdded: z.string().nullish(),
});
export type GhlMessage = z.infer<typeof GhlMessageSchema>;

const SendMessageResponse = z.looseObject({
  conversationId: z.string(),
  messageId: z.string(),
  status: z.string().optional(),
});
export type GhlSentMessage = z.infer<typeof SendMessageResponse>;

export const GhlOpportunitySchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  pipelineId: z.string(),
  pipelineStageId: z.string().optional(),
  status: z.string(),
  contactId: z.string().optional(),
  monetaryValue: z.number().nullish(),
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
});
export type GhlOpportunity = z.infer<typeof GhlOpportunitySchema>;
const OpportunitySearchResponse = z.looseObject({
  opportunities: z.array(GhlOpportunitySchema),
  meta: z.looseObject({
    total: z.number(),
    startAfter: z.union([z.number(), z.string()]).nullish(),
    startAfterId: z.string().nullish(),
  }),
});
export type GhlOpportunityPage = z.infer<typeof OpportunitySearchResponse>;

export const GhlPipelineSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  stages: z.array(z.looseObject({ id: z.string(), name: z.string() })),
});
export type GhlPipeline = z.infer<typeof GhlPipelineSchema>;

export const GhlWorkflowSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  status: z.string().optional(),
  locationId: z.string().optional(),
});
export type GhlWorkflow = z.infer<typeof GhlWorkflowSchema>;

const ErrorBody = z.looseObject({
  statusCode: z.number().optional(),
  message: z.union([z.string(), z.array(z.string())]).optional(),
});

// --- inputs ------------------------------------------------------------------------------------

export type GhlFilter =
  | {
      field: string;
      operator: 'eq' | 'not_eq' | 'contains' | 'not_contains';
      value: string | number | boolean | string[];
    }
  | { field: string; operator: 'exists' | 'not_exists' }
  | {
      field: string;
      operator: 'range';
      value: { gte?: string | number; lte?: string | number; gt?: string | number; lt?: string | number };
    }
  | { group: 'AND' | 'OR'; filters: GhlFilter[] };

export interface ContactSearchInput {
  locationId: string;
  pageLimit: number;
  page?: number;
  searchAfter?: (string | number | null)[];
  filters?: GhlFilter[];
  sort?: { field: string; direction: 'asc' | 'desc' }[];
  query?: string;
}

export interface ContactInput {
  firstName?: string | null;
  lastName?: string | null;
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  companyName?: string | null;
  source?: string | null;
  timezone?: string | null;
  /** Replaces the contact's tags (upsert / update). Use addTags to add. */
  tags?: string[];
  dnd?: boolean;
  customFields?: { id: string; value: unknown }[];
}

export interface AppointmentInput {
  calendarId: string;
  locationId: string;
  contactId: string;
  startTime: string;
  endTime?: string;
  title?: string;
  appointmentStatus?: 'new' | 'confirmed' | 'cancelled' | 'showed' | 'noshow' | 'invalid';
}

/** `PUT /calendars/events/appointments/{id}`: a new time (GHL checks the slot), a status, a title. */
export interface AppointmentPatch {
  startTime?: string;
  endTime?: string;
  title?: string;
  appointmentStatus?: AppointmentInput['appointmentStatus'];
}

export interface SendMessageInput {
  type: 'SMS' | 'Email' | 'WhatsApp';
  contactId: string;
  message?: string;
  html?: string;
  subject?: string;
  emailTo?: string;
  fromNumber?: string;
  toNumber?: string;
}

export interface OpportunityInput {
  pipelineId: string;
  locationId: string;
  name: string;
  status: 'open' | 'won' | 'lost' | 'abandoned';
  contactId: string;
  pipelineStageId?: string;
  monetaryValue?: number;
}

// --- errors and rate-limit state ----------------------------------------------------------------

export class GhlApiError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    readonly method: string,
    readonly path: string,
    readonly body: unknown,
    /** True when the same call may succeed later (429, 5xx, network). */
    readonly retryable: boolean,
  ) {
    super(`GHL ${method} ${path} failed${status ? ` (${status})` : ''}: ${message}`);
    this.name = 'GhlApiError';
  }

  get isNotFound(): boolean {
    return this.status === 404 || (this.status === 400 && /not found/i.test(this.message));
  }

  /** Booking a slot someone else took. */
  get isSlotTaken(): boolean {
    return this.status === 400 && /slot .*no longer available|slot.*taken/i.test(this.message);
  }
}

export interface GhlRateLimit {
  max: number | undefined;
  remaining: number | undefined;
  intervalMs: number | undefined;
  dailyLimit: number | undefined;
  dailyRemaining: number | undefined;
}

/** A bearer token that can change: an OAuth access token is renewed when it expires or GHL rejects it. */
export interface GhlTokenSource {
  current(): Promise<string>;
  renewAfterRejected(rejected: string): Promise<string>;
}

/**
 * What a request waits for before each attempt. The attempt's timeout starts after `admit`: a
 * request that queued for the budget longer than its timeout would otherwise be admitted, spend
 * a slot of the window and abort at once without reaching GHL.
 */
export interface RequestGate {
  admit(): Promise<void>;
  observe(res: Response): Promise<void>;
}

export interface GhlClientOptions {
  /** `https://services.leadconnectorhq.com` or `<sandbox>/ghl`. */
  baseUrl: string;
  token: string | GhlTokenSource;
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** Cap on any single wait (default 30 s). */
  maxRetryDelayMs?: number;
  /** Per-attempt timeout (default 30 s); a wait at the gate is not part of it. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Admits each attempt (a shared request budget) and learns from each answer. */
  gate?: RequestGate;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (info: {
    method: string;
    path: string;
    attempt: number;
    status: number | undefined;
    delayMs: number;
  }) => void;
}

interface RequestSpec<T extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  family: Family;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  schema: T;
  /** Safe to repeat after a 5xx or a network error. */
  idempotent: boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class GhlClient {
  private readonly baseUrl: string;
  private readonly maxRetries: number;
  private readonly maxRetryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Rate-limit headers of the latest answer. */
  lastRateLimit: GhlRateLimit | undefined;

  constructor(private readonly opts: GhlClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.maxRetries = opts.maxRetries ?? 3;
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? 30_000;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.fetchFn = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  // Contacts ------------------------------------------------------------------------------------

  searchContacts(input: ContactSearchInput): Promise<z.infer<typeof SearchResponse>> {
    return this.request({
      method: 'POST',
      path: '/contacts/search',
      family: 'contacts',
      body: input,
      schema: SearchResponse,
      idempotent: true,
    });
  }

  findDuplicateContact(input: {
    locationId: string;
    number?: string;
    email?: string;
  }): Promise<{ contact: GhlContact | null; matchingField: string | null }> {
    return this.request({
      method: 'GET',
      path: '/contacts/search/duplicate',
      family: 'contacts',
      query: { locationId: input.locationId, number: input.number, email: input.email },
      schema: DuplicateResponse,
      idempotent: true,
    }).then((r) => ({ contact: r.contact ?? null, matchingField: r.matchingField ?? null }));
  }

  async upsertContact(locationId: string, input: ContactInput): Promise<{ new: boolean; contact: GhlContact }> {
    const r = await this.request({
      method: 'POST',
      path: '/contacts/upsert',
      family: 'contacts',
      body: { ...input, locationId },
      schema: UpsertResponse,
      idempotent: true,
    });
    return { new: r.new, contact: r.contact };
  }

  /** `null` when the contact does not exist. */
  async getContact(contactId: string): Promise<GhlContact | null> {
    try {
      const r = await this.request({
        method: 'GET',
        path: `/contacts/${enc(contactId)}`,
        family: 'contacts',
        schema: ContactResponse,
        idempotent: true,
      });
      return r.contact;
    } catch (err) {
      if (err instanceof GhlApiError && err.isNotFound) return null;
      throw err;
    }
  }

  /** The body must not carry `locationId` (GHL rejects it on PUT), so the type has none. */
  async updateContact(contactId: string, patch: ContactInput): Promise<GhlContact> {
    const r = await this.request({
      method: 'PUT',
      path: `/contacts/${enc(contactId)}`,
      family: 'contacts',
      body: patch,
      schema: ContactResponse,
      idempotent: true,
    });
    return r.contact;
  }

  async deleteContact(contactId: string): Promise<void> {
    await this.request({
      method: 'DELETE',
      path: `/contacts/${enc(contactId)}`,
      family: 'contacts',
      schema: z.unknown(),
      idempotent: true,
    });
  }

  async addNote(contactId: string, note: { body: string; userId?: string; title?: string }): Promise<GhlNote> {
    const r = await this.request({
      method: 'POST',
      path: `/contacts/${enc(contactId)}/notes`,
      family: 'contacts',
      body: note,
      schema: z.looseObject({ note: GhlNoteSchema }),
      idempotent: false,
    });
    return r.note;
  }

  /** Rewrites a note's body (GHL's PUT replaces it: the same body twice is the same note). */
  async updateNote(contactId: string, noteId: string, note: { body: string }): Promise<GhlNote> {
    const r = await this.request({
      method: 'PUT',
      path: `/contacts/${enc(contactId)}/notes/${enc(noteId)}`,
      family: 'contacts',
      body: note,
      schema: z.looseObject({ note: GhlNoteSchema }),
      idempotent: true,
    });
    return r.note;
  }

  /** `null` when the contact does not exist. */
  async listNotes(contactId: string): Promise<GhlNote[] | null> {
    try {
      const r = await this.request({
        method: 'GET',
        path: `/contacts/${enc(contactId)}/notes`,
        family: 'contacts',
        schema: z.looseObject({ notes: z.array(GhlNoteSchema) }),
        idempotent: true,
      });
      return r.notes;
    } catch (err) {
      if (err instanceof GhlApiError && err.isNotFound) return null;
      throw err;
    }
  }

  async listTasks(contactId: string): Promise<GhlTask[]> {
    const r = await this.request({
      method: 'GET',
      path: `/contacts/${enc(contactId)}/tasks`,
      family: 'contacts',
      schema: z.looseObject({ tasks: z.array(GhlTaskSchema) }),
      idempotent: true,
    });
    return r.tasks;
  }

  async createTask(
    contactId: string,
    task: { title: string; body?: string; dueDate: string; completed: boolean; assignedTo?: string },
  ): Promise<GhlTask> {
    const r = await this.request({
      method: 'POST',
      path: `/contacts/${enc(contactId)}/tasks`,
      family: 'contacts',
      body: task,
      schema: z.looseObject({ task: GhlTaskSchema }),
      idempotent: false,
    });
    return r.task;
  }

  /** Marks a task done (or not): naturally idempotent. */
  async completeTask(contactId: string, taskId: string, completed = true): Promise<GhlTask> {
    const r = await this.request({
      method: 'PUT',
      path: `/contacts/${enc(contactId)}/tasks/${enc(taskId)}/completed`,
      family: 'contacts',
      body: { completed },
      schema: z.looseObject({ task: GhlTaskSchema }),
      idempotent: true,
    });
    return r.task;
  }

  /** Every appointment of a contact, on any calendar, cancelled ones included. */
  async contactAppointments(contactId: string): Promise<GhlAppointment[]> {
    const r = await this.request({
      method: 'GET',
      path: `/contacts/${enc(contactId)}/appointments`,
      family: 'contacts',
      schema: z.looseObject({ events: z.array(GhlAppointmentSchema) }),
      idempotent: true,
    });
    return r.events;
  }

  // Workflows -----------------------------------------------------------------------------------

  async listWorkflows(locationId: string): Promise<GhlWorkflow[]> {
    const r = await this.request({
      method: 'GET',
      path: '/workflows/',
      family: 'contacts',
      query: { locationId },
      schema: z.looseObject({ workflows: z.array(GhlWorkflowSchema) }),
      idempotent: true,
    });
    return r.workflows;
  }

  /**
   * Adds the contact to the workflow. Not retried after a 5xx: a workflow that allows re-entry would
   * run its automation twice (callers key it, see activities/crm/records.ts).
   */
  async addToWorkflow(contactId: string, workflowId: string, eventStartTime?: string): Promise<void> {
    await this.request({
      method: 'POST',
      path: `/contacts/${enc(contactId)}/workflow/${enc(workflowId)}`,
      family: 'contacts',
      body: eventStartTime ? { eventStartTime } : {},
      schema: z.unknown(),
      idempotent: false,
    });
  }

  /** Adding tags is naturally idempotent. Returns the contact's tags. */
  async addTags(contactId: string, tags: string[]): Promise<string[]> {
    const r = await this.request({
      method: 'POST',
      path: `/contacts/${enc(contactId)}/tags`,
      family: 'contacts',
      body: { tags },
      schema: z.looseObject({ tags: z.array(z.string()) }),
      idempotent: true,
    });
    return r.tags;
  }

  async removeTags(contactId: string, tags: string[]): Promise<string[]> {
    const r = await this.request({
      method: 'DELETE',
      path: `/contacts/${enc(contactId)}/tags`,
      family: 'contacts',
      body: { tags },
      schema: z.looseObject({ tags: z.array(z.string()) }),
      idempotent: true,
    });
    return r.tags;
  }

  // Calendars -----------------------------------------------------------------------------------

  /** The location's calendars (ids and names). */
  async listCalendars(locationId: string): Promise<Array<{ id: string; name?: string }>> {
    const r = await this.request({
      method: 'GET',
      path: '/calendars/',
      family: 'calendars',
      query: { locationId },
      schema: z.looseObject({ calendars: z.array(z.looseObject({ id: z.string(), name: z.string().optional() })) }),
      idempotent: true,
    });
    return r.calendars;
  }

  /** Free slots keyed by local date (`YYYY-MM-DD` → ISO start times with offset). Range ≤ 31 days. */
  async getFreeSlots(input: {
    calendarId: string;
    startDate: Date | number;
    endDate: Date | number;
    timezone?: string;
  }): Promise<Record<string, string[]>> {
    const r = await this.request({
      method: 'GET',
      path: `/calendars/${enc(input.calendarId)}/free-slots`,
      family: 'calendars',
      query: { startDate: +input.startDate, endDate: +input.endDate, timezone: input.timezone },
      schema: z.record(z.string(), z.unknown()),
      idempotent: true,
    });
    const out: Record<string, string[]> = {};
    for (const [key, value] of Object.entries(r)) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(key)) continue; // skips traceId and friends
      const day = z.looseObject({ slots: z.array(z.string()) }).safeParse(value);
      if (day.success) out[key] = day.data.slots;
    }
    return out;
  }

  /** A taken slot throws a GhlApiError with `isSlotTaken`. */
  bookAppointment(input: AppointmentInput): Promise<GhlAppointment> {
    return this.request({
      method: 'POST',
      path: '/calendars/events/appointments',
      family: 'calendars',
      body: input,
      schema: GhlAppointmentSchema,
      idempotent: false,
    });
  }

  /** Appointments of a location (optionally one calendar) starting within [startTime, endTime] (epoch ms). */
  async listAppointments(input: {
    locationId: string;
    calendarId?: string;
    startTime: number;
    endTime: number;
  }): Promise<GhlAppointment[]> {
    const r = await this.request({
      method: 'GET',
      path: '/calendars/events',
      family: 'calendars',
      query: {
        locationId: input.locationId,
        calendarId: input.calendarId,
        startTime: input.startTime,
        endTime: input.endTime,
      },
      schema: z.looseObject({ events: z.array(GhlAppointmentSchema) }),
      idempotent: true,
    });
    return r.events;
  }

  /** `null` when there is no such appointment. */
  async getAppointment(eventId: string): Promise<GhlAppointment | null> {
    try {
      const r = await this.request({
        method: 'GET',
        path: `/calendars/events/appointments/${enc(eventId)}`,
        family: 'calendars',
        schema: z.looseObject({ appointment: GhlAppointmentSchema }),
        idempotent: true,
      });
      return r.appointment;
    } catch (err) {
      if (err instanceof GhlApiError && err.isNotFound) return null;
      throw err;
    }
  }

  /**
   * Moves (new `startTime`) or changes an appointment in one request: GHL holds the new slot and frees
   * the old one together, so the old time is never released before the new one is held. A taken
   * slot throws a GhlApiError with `isSlotTaken`. Repeating the same change is harmless.
   */
  updateAppointment(eventId: string, patch: AppointmentPatch): Promise<GhlAppointment> {
    return this.request({
      method: 'PUT',
      path: `/calendars/events/appointments/${enc(eventId)}`,
      family: 'calendars',
      body: patch,
      schema: GhlAppointmentSchema,
      idempotent: true,
    });
  }

  /** Deletes the calendar event (its slot is free again). Prefer `appointmentStatus: 'cancelled'` to keep a record. */
  async deleteEvent(eventId: string): Promise<void> {
    await this.request({
      method: 'DELETE',
      path: `/calendars/events/${enc(eventId)}`,
      family: 'calendars',
      schema: z.unknown(),
      idempotent: true,
    });
  }

  // Conversations -------------------------------------------------------------------------------

  sendMessage(input: SendMessageInput): Promise<GhlSentMessage> {
    return this.request({
      method: 'POST',
      path: '/conversations/messages',
      family: 'conversations',
      body: input,
      schema: SendMessageResponse,
      idempotent: false,
    });
  }

  /** The messages of a contact's most recent conversation (none yet: empty). */
  async recentMessages(locationId: string, contactId: string): Promise<GhlMessage[]> {
    const found = await this.request({
      method: 'GET',
      path: '/conversations/search',
      query: { locationId, contactId, limit: 1 },
      family: 'conversations',
      schema: z.looseObject({ conversations: z.array(z.looseObject({ id: z.string() })) }),
      idempotent: true,
    });
    const conversation = found.conversations[0];
    if (!conversation) return [];
    const r = await this.request({
      method: 'GET',
      path: `/conversations/${enc(conversation.id)}/messages`,
      family: 'conversations',
      schema: z.looseObject({ messages: z.looseObject({ messages: z.array(GhlMessageSchema) }) }),
      idempotent: true,
    });
    return r.messages.messages;
  }

  // Opportunities -------------------------------------------------------------------------------

  searchOpportunities(input: {
    locationId: string;
    contactId?: string;
    pipelineId?: string;
    pipelineStageId?: string;
    status?: 'open' | 'won' | 'lost' | 'abandoned' | 'all';
    limit?: number;
    startAfter?: number | string;
    startAfterId?: string;
  }): Promise<GhlOpportunityPage> {
    return this.request({
      method: 'GET',
      path: '/opportunities/search',
      family: 'opportunities',
      query: {
        location_id: input.locationId,
        contact_id: input.contactId,
        pipeline_id: input.pipelineId,
        pipeline_stage_id: input.pipelineStageId,
        status: input.status,
        limit: input.limit,
        startAfter: input.startAfter,
        startAfterId: input.startAfterId,
      },
      schema: OpportunitySearchResponse,
      idempotent: true,
    });
  }

  async createOpportunity(input: OpportunityInput): Promise<GhlOpportunity> {
    const r = await this.request({
      method: 'POST',
      path: '/opportunities/',
      family: 'opportunities',
      body: input,
      schema: z.looseObject({ opportunity: GhlOpportunitySchema }),
      idempotent: false,
    });
    return r.opportunity;
  }

  /** `null` when there is no such opportunity. */
  async getOpportunity(id: string): Promise<GhlOpportunity | null> {
    try {
      const r = await this.request({
        method: 'GET',
        path: `/opportunities/${enc(id)}`,
        family: 'opportunities',
        schema: z.looseObject({ opportunity: GhlOpportunitySchema }),
        idempotent: true,
      });
      return r.opportunity;
    } catch (err) {
      if (err instanceof GhlApiError && err.isNotFound) return null;
      throw err;
    }
  }

  /** Stage, name, value or status; the body must not carry `locationId` or `contactId`. */
  async updateOpportunity(
    id: string,
    patch: Partial<Pick<OpportunityInput, 'pipelineId' | 'pipelineStageId' | 'name' | 'status' | 'monetaryValue'>>,
  ): Promise<GhlOpportunity> {
    const r = await this.request({
      method: 'PUT',
      path: `/opportunities/${enc(id)}`,
      family: 'opportunities',
      body: patch,
      schema: z.looseObject({ opportunity: GhlOpportunitySchema }),
      idempotent: true,
    });
    return r.opportunity;
  }

  async setOpportunityStatus(id: string, status: OpportunityInput['status']): Promise<void> {
    await this.request({
      method: 'PUT',
      path: `/opportunities/${enc(id)}/status`,
      family: 'opportunities',
      body: { status },
      schema: z.unknown(),
      idempotent: true,
    });
  }

  async listPipelines(locationId: string): Promise<GhlPipeline[]> {
    const r = await this.request({
      method: 'GET',
      path: '/opportunities/pipelines',
      family: 'opportunities',
      query: { locationId },
      schema: z.looseObject({ pipelines: z.array(GhlPipelineSchema) }),
      idempotent: true,
    });
    return r.pipelines;
  }

  // Transport -----------------------------------------------------------------------------------

  private async request<T extends z.ZodType>(spec: RequestSpec<T>): Promise<z.infer<T>> {
    const url = new URL(this.baseUrl + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {}))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const source = this.opts.token;
    let token = typeof source === 'string' ? source : await source.current();
    let renewed = false;
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      version: GHL_VERSIONS[spec.family],
      accept: 'application/json',
    };
    if (spec.body !== undefined) headers['content-type'] = 'application/json';
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);

    for (let attempt = 0; ; attempt++) {
      let res: Response;
      await this.opts.gate?.admit();
      try {
        res = await this.fetchFn(url, {
          method: spec.method,
          headers,
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (spec.idempotent && attempt < this.maxRetries) {
          await this.backoff(spec, attempt, undefined, this.expDelay(attempt));
          continue;
        }
        throw new GhlApiError(undefined, message, spec.method, spec.path, undefined, true);
      }
      await this.opts.gate?.observe(res);
      this.lastRateLimit = readRateLimit(res.headers);
      const text = await res.text();
      const json = parseJson(text);
      if (res.ok) {
        const parsed = spec.schema.safeParse(json ?? {});
        if (!parsed.success) {
          throw new GhlApiError(
            res.status,
            `unexpected response shape: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
            spec.method,
            spec.path,
            json,
            false,
          );
        }
        return parsed.data as z.infer<T>;
      }
      if (res.status === 401 && typeof source !== 'string' && !renewed) {
        // An expired or rotated OAuth token: renew once (single-flight across processes) and go again.
        renewed = true;
        token = await source.renewAfterRejected(token);
        headers.authorization = `Bearer ${token}`;
        attempt--;
        continue;
      }
      const retryable = res.status === 429 || res.status >= 500 || res.status === 408;
      const canRetry =
        attempt < this.maxRetries && (res.status === 429 ? !this.dailyExhausted() : retryable && spec.idempotent);
      if (canRetry) {
        await this.backoff(spec, attempt, res.status, this.retryDelay(res, attempt));
        continue;
      }
      throw new GhlApiError(
        res.status,
        errorMessage(json, text, res.status),
        spec.method,
        spec.path,
        json ?? text,
        retryable,
      );
    }
  }

  private dailyExhausted(): boolean {
    return this.lastRateLimit?.dailyRemaining === 0;
  }

  /** Retry-After (seconds or HTTP date) wins; else, when the burst is spent, a share of the window; else exponential. */
  private retryDelay(res: Response, attempt: number): number {
    const retryAfter = res.headers.get('retry-after');
    if (retryAfter) {
      const seconds = Number(retryAfter);
      const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
      if (Number.isFinite(ms)) return this.cap(Math.max(0, ms));
    }
    const rl = this.lastRateLimit;
    if (res.status === 429 && rl?.remaining === 0 && rl.intervalMs) {
      // Sliding window: capacity returns gradually, so wait a fraction of it, more each time.
      return this.cap(Math.min(rl.intervalMs, (rl.intervalMs / 4) * 2 ** attempt) * (0.75 + Math.random() * 0.5));
    }
    return this.expDelay(attempt);
  }

  private expDelay(attempt: number): number {
    return this.cap(500 * 2 ** attempt * (0.75 + Math.random() * 0.5));
  }

  private cap(ms: number): number {
    return Math.min(ms, this.maxRetryDelayMs);
  }

  private async backoff(
    spec: { method: string; path: string },
    attempt: number,
    status: number | undefined,
    delayMs: number,
  ): Promise<void> {
    this.opts.onRetry?.({ method: spec.method, path: spec.path, attempt: attempt + 1, status, delayMs });
    await this.sleep(delayMs);
  }
}

const enc = encodeURIComponent;

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorMessage(json: unknown, text: string, status: number): string {
  const e = ErrorBody.safeParse(json);
  if (e.success && e.data.message) return Array.isArray(e.data.message) ? e.data.message.join('; ') : e.data.message;
  return text.slice(0, 200) || `HTTP ${status}`;
}

function readRateLimit(h: Headers): GhlRateLimit | undefined {
  const num = (name: string) => {
    const v = h.get(name);
    return v === null || v === '' ? undefined : Number(v);
  };
  const rl = {
    max: num('x-ratelimit-max'),
    remaining: num('x-ratelimit-remaining'),
    intervalMs: num('x-ratelimit-interval-milliseconds'),
    dailyLimit: num('x-ratelimit-limit-daily'),
    dailyRemaining: num('x-ratelimit-daily-remaining'),
  };
  return Object.values(rl).some((v) => v !== undefined) ? rl : undefined;
}
