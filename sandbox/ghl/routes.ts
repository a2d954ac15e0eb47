import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { compileFilters, sortableFields, type Filter, type SortSpec } from './contacts.js';
import { fail, validationMessages } from './errors.js';
import {
  normalizeEmail,
  normalizePhone,
  type Appointment,
  type Contact,
  type ContactRow,
  type Opportunity,
} from './model.js';
import type { RateLimiter } from './rateLimit.js';
import { findLocation } from './locations.js';
import { OAUTH_ROUTES } from './oauth.js';
import { blankContact, type GhlStore } from './store.js';
import { assertTimeZone, isoWithOffset, localDate, wallClock, zonedToUtc } from './time.js';
import type { GhlWebhooks } from './webhooks.js';

export interface GhlDeps {
  store(): GhlStore;
  limiter: RateLimiter;
  webhooks: GhlWebhooks;
  /** Location-scoped tokens (403 outside their location); other tokens see every location. */
  tokens: Map<string, string>;
  /** True for an OAuth access token that has expired or been revoked (→ 401 Invalid JWT). */
  isTokenDead(token: string): boolean;
}

const VERSIONS = { contacts: '2021-07-28', calendars: '2021-04-15' } as const;
const MAX_PAGE_DEPTH = 10_000;
const MAX_SLOT_RANGE_MS = 31 * 24 * 3600 * 1000;

function parse<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const r = schema.safeParse(input ?? {});
  if (!r.success) fail(422, validationMessages(r.error.issues));
  return (r as { data: z.infer<T> }).data;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const nowIso = () => new Date().toISOString();

// --- schemas ------------------------------------------------------------------------------------

const nullableText = z.string().nullish();
const CustomFieldsInput = z.array(
  z.object({
    id: z.string().optional(),
    key: z.string().optional(),
    value: z.unknown().optional(),
    field_value: z.unknown().optional(),
  }),
);
const ContactFields = z.object({
  firstName: nullableText,
  lastName: nullableText,
  name: nullableText,
  email: z.string().email('must be an email').nullish().or(z.literal('')),
  phone: nullableText,
  companyName: nullableText,
  source: nullableText,
  type: nullableText,
  tags: z.array(z.string()).optional(),
  dnd: z.boolean().optional(),
  assignedTo: nullableText,
  address1: nullableText,
  city: nullableText,
  state: nullableText,
  country: nullableText,
  postalCode: nullableText,
  timezone: nullableText,
  website: nullableText,
  dateOfBirth: nullableText,
  customFields: CustomFieldsInput.optional(),
});
type ContactFields = z.infer<typeof ContactFields>;
const CreateContact = ContactFields.extend({ locationId: z.string().min(1, 'should not be empty') });

const SearchBody = z.object({
  locationId: z.string().min(1, 'should not be empty'),
  pageLimit: z
    .number()
    .int('must be an integer number')
    .min(1, 'must not be less than 1')
    .max(500, 'must not be greater than 500'),
  page: z.number().int().min(1, 'must not be less than 1').optional(),
  searchAfter: z.array(z.union([z.string(), z.number(), z.null()])).optional(),
  filters: z.array(z.record(z.string(), z.unknown())).optional(),
  sort: z
    .array(z.object({ field: z.string(), direction: z.enum(['asc', 'desc']) }))
    .max(2, 'must contain no more than 2 elements')
    .optional(),
  query: z.string().optional(),
});

const NoteBody = z.object({
  body: z.string().min(1, 'should not be empty'),
  userId: z.string().nullish(),
  title: z.string().optional(),
});
const TaskBody = z.object({
  title: z.string().min(1, 'should not be empty'),
  body: z.string().nullish(),
  dueDate: z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be a valid ISO 8601 date string'),
  completed: z.boolean(),
  assignedTo: z.string().nullish(),
});
const TagsBody = z.object({ tags: z.array(z.string().min(1)).min(1, 'should not be empty') });

const isoDate = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be a valid ISO 8601 date string');
const AppointmentBody = z.object({
  calendarId: z.string().min(1, 'should not be empty'),
  locationId: z.string().min(1, 'should not be empty'),
  contactId: z.string().min(1, 'should not be empty'),
  startTime: isoDate,
  endTime: isoDate.optional(),
  title: z.string().optional(),
  appointmentStatus: z.enum(['new', 'confirmed', 'cancelled', 'showed', 'noshow', 'invalid']).optional(),
  assignedUserId: z.string().optional(),
  address: z.string().optional(),
  notes: z.string().optional(),
  ignoreFreeSlotValidation: z.boolean().optional(),
  toNotify: z.boolean().optional(),
});
const AppointmentUpdate = AppointmentBody.partial().omit({ locationId: true, contactId: true, calendarId: true });

const MessageBody = z.object({
  type: z.enum(['SMS', 'Email', 'WhatsApp', 'GMB', 'IG', 'FB', 'Custom', 'Live_Chat']),
  contactId: z.string().min(1, 'should not be empty'),
  message: z.string().optional(),
  html: z.string().optional(),
  subject: z.string().optional(),
  emailTo: z.string().optional(),
  emailFrom: z.string().optional(),
  fromNumber: z.string().optional(),
  toNumber: z.string().optional(),
  attachments: z.array(z.string()).optional(),
});

const OppStatus = z.enum(['open', 'won', 'lost', 'abandoned']);
const OpportunityBody = z.object({
  pipelineId: z.string().min(1, 'should not be empty'),
  locationId: z.string().min(1, 'should not be empty'),
  name: z.string().min(1, 'should not be empty'),
  status: OppStatus,
  contactId: z.string().min(1, 'should not be empty'),
  pipelineStageId: z.string().optional(),
  monetaryValue: z.number().optional(),
  assignedTo: z.string().optional(),
  source: z.string().optional(),
});
const OpportunityUpdate = OpportunityBody.partial().omit({ locationId: true, contactId: true });
const OppSearch = z.object({
  location_id: z.string().min(1, 'should not be empty'),
  contact_id: z.string().optional(),
  pipeline_id: z.string().optional(),
  pipeline_stage_id: z.string().optional(),
  status: z.enum(['open', 'won', 'lost', 'abandoned', 'all']).optional(),
  q: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100, 'must not be greater than 100').default(20),
  startAfter: z.coerce.number().optional(),
  startAfterId: z.string().optional(),
});

// --- helpers ------------------------------------------------------------------------------------

function applyContactFields(base: Contact, f: ContactFields, now: string): Contact {
  const c: Contact = { ...base, tags: [...base.tags], customFields: [...base.customFields], dateUpdated: now };
  const set = <K extends keyof Contact>(k: K, v: Contact[K] | undefined) => {
    if (v !== undefined) c[k] = v;
  };
  if (f.name && f.firstName === undefined && f.lastName === undefined) {
    const [first, ...rest] = f.name.trim().split(/\s+/);
    c.firstName = first ?? null;
    c.lastName = rest.length ? rest.join(' ') : null;
  }
  set('firstName', f.firstName);
  set('lastName', f.lastName);
  if (f.email !== undefined) c.email = normalizeEmail(f.email);
  if (f.phone !== undefined) c.phone = normalizePhone(f.phone);
  for (const k of [
    'companyName',
    'source',
    'assignedTo',
    'address1',
    'city',
    'state',
    'country',
    'postalCode',
    'timezone',
    'website',
    'dateOfBirth',
  ] as const) {
    set(k, f[k]);
  }
  if (f.type) c.type = f.type;
  if (f.dnd !== undefined) c.dnd = f.dnd;
  if (f.tags) c.tags = [...new Set(f.tags.map((t) => t.trim().toLowerCase()).filter(Boolean))];
  for (const cf of f.customFields ?? []) {
    const id = cf.id ?? cf.key;
    if (!id) continue;
    const value = cf.value ?? cf.field_value;
    const i = c.customFields.findIndex((x) => x.id === id);
    if (i >= 0) c.customFields[i] = { id, value };
    else c.customFields.push({ id, value });
  }
  c.firstNameLowerCase = c.firstName?.toLowerCase() ?? null;
  c.lastNameLowerCase = c.lastName?.toLowerCase() ?? null;
  c.contactName = [c.firstName, c.lastName].filter(Boolean).join(' ') || null;
  return c;
}

function duplicateOf(
  store: GhlStore,
  locationId: string,
  c: { email: string | null; phone: string | null; id?: string },
) {
  const loc = store.location(locationId);
  const byEmail = c.email ? loc.byEmail.get(c.email) : undefined;
  if (byEmail && byEmail !== c.id) return { contactId: byEmail, matchingField: 'email' };
  const byPhone = c.phone ? loc.byPhone.get(c.phone) : undefined;
  if (byPhone && byPhone !== c.id) return { contactId: byPhone, matchingField: 'phone' };
  return undefined;
}

function requireContact(store: GhlStore, id: string): ContactRow {
  const row = store.getContact(id);
  if (!row) fail(400, 'Contact not found');
  return row!;
}

function webhookContact(c: Contact): Record<string, unknown> {
  return { ...c, name: c.contactName, attachments: [] };
}

function appointmentOut(a: Appointment) {
  const { startMs: _s, endMs: _e, ...rest } = a;
  return rest;
}

function opportunityOut(store: GhlStore, o: Opportunity) {
  const c = store.getContact(o.contactId)?.contact;
  return {
    ...o,
    contact: c
      ? { id: c.id, name: c.contactName, email: c.email, phone: c.phone, tags: c.tags, companyName: c.companyName }
      : null,
  };
}

function versionFor(url: string): string {
  const path = url.slice(url.indexOf('/ghl') + 4);
  return path.startsWith('/calendars') || path.startsWith('/conversations') ? VERSIONS.calendars : VERSIONS.contacts;
}

// --- routes -------------------------------------------------------------------------------------

export function registerGhlRoutes(app: FastifyInstance, deps: GhlDeps): void {
  const { limiter, webhooks } = deps;

  /** Where a request's quota is counted: the location it names or touches, else its token. */
  function locationOf(req: FastifyRequest, token: string): string {
    const store = deps.store();
    const q = (req.query ?? {}) as Record<string, unknown>;
    const b = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const p = (req.params ?? {}) as Record<string, string>;
    return (
      str(p.locationId) ??
      str(q.locationId) ??
      str(q.location_id) ??
      str(b.locationId) ??
      (p.contactId ? store.getContact(p.contactId)?.contact.locationId : undefined) ??
      (p.calendarId ? store.calendars.get(p.calendarId)?.locationId : undefined) ??
      (p.eventId ? store.appointments.get(p.eventId)?.locationId : undefined) ??
      (p.opportunityId ? store.opportunities.get(p.opportunityId)?.locationId : undefined) ??
      (str(b.contactId) ? store.getContact(String(b.contactId))?.contact.locationId : undefined) ??
      deps.tokens.get(token) ??
      `token:${token}`
    );
  }

  // Callback style: this runs on every GHL request (see bench/sandbox.ts).
  app.addHook('preHandler', (req, reply, done) => {
    // The OAuth endpoints are how a client gets a token in the first place: no Bearer, no Version.
    if (OAUTH_ROUTES.has(req.routeOptions.url ?? '')) return done();
    try {
      const auth = req.headers.authorization;
      const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : '';
      if (!token || deps.isTokenDead(token)) fail(401, 'Invalid JWT');
      const version = req.headers.version;
      if (!version) fail(400, 'version header was not found');
      const expected = versionFor(req.url);
      if (version !== expected) fail(400, `Version ${String(version)} is not supported for this API; use ${expected}`);
      const locationId = locationOf(req, token);
      const decision = limiter.check(locationId);
      reply.headers(decision.headers);
      if (!decision.allowed) fail(429, 'Too Many Requests');
      const scoped = deps.tokens.get(token);
      if (scoped && !locationId.startsWith('token:') && scoped !== locationId)
        fail(403, 'The token does not have access to this location.');
      done();
    } catch (err) {
      done(err as Error);
    }
  });

  // Locations --------------------------------------------------------------------------------

  // How an app checks that a token (PIT or OAuth) really covers a location: 403 comes from the preHandler.
  app.get('/locations/:locationId', async (req) => {
    const { locationId } = req.params as { locationId: string };
    const location = findLocation(deps.store(), locationId);
    if (!location) return fail(400, 'Location not found');
    return { location, traceId: traceId() };
  });

  // Contacts ---------------------------------------------------------------------------------

  app.post('/contacts/search', async (req) => {
    const body = parse(SearchBody, req.body);
    const store = deps.store();
    if (!body.searchAfter && body.page && body.page * body.pageLimit > MAX_PAGE_DEPTH) {
      fail(422, [`page * pageLimit must not be greater than ${MAX_PAGE_DEPTH}; use searchAfter to page deeper`]);
    }
    const specs: SortSpec[] = body.sort?.length ? body.sort : [{ field: 'dateAdded', direction: 'desc' }];
    for (const [i, s] of specs.entries()) {
      if (!sortableFields.includes(s.field))
        fail(422, [`sort.${i}.field must be one of the following values: ${sortableFields.join(', ')}`]);
    }
    const predicate = compileFilters(body.filters as Filter[] | undefined, body.query);
    const loc = store.locations.get(body.locationId);
    if (!loc) return { contacts: [], total: 0, traceId: traceId() };
    const index = loc.sorted(specs);
    const rows = index.rows;
    const start = body.searchAfter ? index.after(body.searchAfter) : 0;
    const skip = body.searchAfter ? 0 : ((body.page ?? 1) - 1) * body.pageLimit;
    const page: ContactRow[] = [];
    let total: number;
    if (!predicate) {
      total = rows.length;
      for (let i = start + skip; i < rows.length && page.length < body.pageLimit; i++) page.push(rows[i]!);
    } else {
      total = 0;
      let matchedAfterStart = 0;
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!;
        if (!predicate(row)) continue;
        total++;
        if (i < start || page.length >= body.pageLimit) continue;
        if (matchedAfterStart++ < skip) continue;
        page.push(row);
      }
    }
    return { contacts: page.map((r) => ({ ...r.contact, searchAfter: index.keys(r) })), total, traceId: traceId() };
  });

  app.get('/contacts/search/duplicate', async (req) => {
    const q = parse(
      z.object({
        locationId: z.string().min(1, 'should not be empty'),
        number: z.string().optional(),
        email: z.string().optional(),
      }),
      req.query,
    );
    const loc = deps.store().locations.get(q.locationId);
    const email = normalizeEmail(q.email);
    const phone = normalizePhone(q.number);
    const byEmail = email ? loc?.byEmail.get(email) : undefined;
    const byPhone = phone ? loc?.byPhone.get(phone) : undefined;
    const id = byEmail ?? byPhone;
    const contact = id ? loc?.byId.get(id)?.contact : undefined;
    return {
      contact: contact ?? null,
      matchingField: contact ? (byEmail ? 'email' : 'phone') : null,
      traceId: traceId(),
    };
  });

  app.post('/contacts/', async (req, reply) => {
    const body = parse(CreateContact, req.body);
    const store = deps.store();
    const now = nowIso();
    const contact = applyContactFields(blankContact(store.ids.ghl(), body.locationId, now), body, now);
    const dup = duplicateOf(store, body.locationId, contact);
    if (dup) fail(400, 'This location does not allow duplicated contacts.', { meta: dup });
    store.insertContact(contact);
    webhooks.emit('ContactCreate', contact.locationId, webhookContact(contact));
    return reply.status(201).send({ contact, traceId: traceId() });
  });

  app.post('/contacts/upsert', async (req, reply) => {
    const body = parse(CreateContact, req.body);
    if (!body.email && !body.phone) fail(422, ['email or phone should not be empty']);
    const store = deps.store();
    const now = nowIso();
    const probe = { email: normalizeEmail(body.email), phone: normalizePhone(body.phone) };
    const match = duplicateOf(store, body.locationId, probe);
    if (match) {
      const row = store.getContact(match.contactId)!;
      const contact = applyContactFields(row.contact, body, now);
      const clash = duplicateOf(store, body.locationId, contact);
      if (clash) fail(400, 'This location does not allow duplicated contacts.', { meta: clash });
      store.replaceContact(contact);
      webhooks.emit('ContactUpdate', contact.locationId, webhookContact(contact));
      return reply.status(200).send({ new: false, contact, traceId: traceId() });
    }
    const contact = applyContactFields(blankContact(store.ids.ghl(), body.locationId, now), body, now);
    store.insertContact(contact);
    webhooks.emit('ContactCreate', contact.locationId, webhookContact(contact));
    return reply.status(201).send({ new: true, contact, traceId: traceId() });
  });

  app.get('/contacts/:contactId', async (req) => {
    const { contactId } = req.params as { contactId: string };
    return { contact: requireContact(deps.store(), contactId).contact, traceId: traceId() };
  });

  app.put('/contacts/:contactId', async (req) => {
    const { contactId } = req.params as { contactId: string };
    const raw = (req.body ?? {}) as Record<string, unknown>;
    if (raw && typeof raw === 'object' && 'locationId' in raw) fail(422, ['property locationId should not exist']);
    const body = parse(ContactFields, raw);
    const store = deps.store();
    const row = requireContact(store, contactId);
    const contact = applyContactFields(row.contact, body, nowIso());
    const dup = duplicateOf(store, contact.locationId, contact);
    if (dup) fail(400, 'This location does not allow duplicated contacts.', { meta: dup });
    store.replaceContact(contact);
    webhooks.emit('ContactUpdate', contact.locationId, webhookContact(contact));
    return { succeded: true, contact, traceId: traceId() };
  });

  app.delete('/contacts/:contactId', async (req) => {
    const { contactId } = req.params as { contactId: string };
    const store = deps.store();
    const row = requireContact(store, contactId);
    store.deleteContact(row);
    webhooks.emit('ContactDelete', row.contact.locationId, webhookContact(row.contact));
    return { succeded: true, traceId: traceId() };
  });

  // Notes, tasks, tags -----------------------------------------------------------------------

  app.get('/contacts/:contactId/notes', async (req) => {
    const { contactId } = req.params as { contactId: string };
    const store = deps.store();
    requireContact(store, contactId);
    return { notes: store.notes.get(contactId) ?? [], traceId: traceId() };
  });

  app.post('/contacts/:contactId/notes', async (req, reply) => {
    const { contactId } = req.params as { contactId: string };
    const body = parse(NoteBody, req.body);
    const store = deps.store();
    const row = requireContact(store, contactId);
    const note = {
      id: store.ids.ghl(),
      body: body.body,
      ...(body.title ? { title: body.title } : {}),
      userId: body.userId ?? null,
      contactId,
      dateAdded: nowIso(),
    };
    const list = store.notes.get(contactId) ?? [];
    list.push(note);
    store.notes.set(contactId, list);
    webhooks.emit('NoteCreate', row.contact.locationId, { ...note });
    return reply.status(201).send({ note, traceId: traceId() });
  });

  app.put('/contacts/:contactId/notes/:noteId', async (req) => {
    const { contactId, noteId } = req.params as { contactId: string; noteId: string };
    const body = parse(NoteBody, req.body);
    const store = deps.store();
    requireContact(store, contactId);
    const note = (store.notes.get(contactId) ?? []).find((n) => n.id === noteId);
    if (!note) fail(400, 'Note not found');
    note!.body = body.body;
    if (body.title) note!.title = body.title;
    return { note, traceId: traceId() };
  });

  app.delete('/contacts/:contactId/notes/:noteId', async (req) => {
    const { contactId, noteId } = req.params as { contactId: string; noteId: string };
    const store = deps.store();
    requireContact(store, contactId);
    const list = store.notes.get(contactId) ?? [];
    if (!list.some((n) => n.id === noteId)) fail(400, 'Note not found');
    store.notes.set(
      contactId,
      list.filter((n) => n.id !== noteId),
    );
    return { succeded: true, traceId: traceId() };
  });

  app.get('/contacts/:contactId/tasks', async (req) => {
    const { contactId } = req.params as { contactId: string };
    const store = deps.store();
    requireContact(store, contactId);
    return { tasks: store.tasks.get(contactId) ?? [], traceId: traceId() };
  });

  app.post('/contacts/:contactId/tasks', async (req, reply) => {
    const { contactId } = req.params as { contactId: string };
    const body = parse(TaskBody, req.body);
    const store = deps.store();
    const row = requireContact(store, contactId);
    const task = {
      id: store.ids.ghl(),
      title: body.title,
      body: body.body ?? null,
      assignedTo: body.assignedTo ?? null,
      dueDate: new Date(body.dueDate).toISOString(),
      completed: body.completed,
      contactId,
      dateAdded: nowIso(),
    };
    const list = store.tasks.get(contactId) ?? [];
    list.push(task);
    store.tasks.set(contactId, list);
    webhooks.emit('TaskCreate', row.contact.locationId, { ...task });
    return reply.status(201).send({ task, traceId: traceId() });
  });

  app.put('/contacts/:contactId/tasks/:taskId/completed', async (req) => {
    const { contactId, taskId } = req.params as { contactId: string; taskId: string };
    const body = parse(z.object({ completed: z.boolean() }), req.body);
    const store = deps.store();
    requireContact(store, contactId);
    const task = store.tasks.get(contactId)?.find((t) => t.id === taskId);
    if (!task) return fail(400, 'Task not found');
    task.completed = body.completed;
    return { task, traceId: traceId() };
  });

  // A contact's appointments (every calendar, cancelled ones too, oldest first), as GHL lists them.
  app.get('/contacts/:contactId/appointments', async (req) => {
    const { contactId } = req.params as { contactId: string };
    const store = deps.store();
    requireContact(store, contactId);
    const events = [...store.appointments.values()]
      .filter((a) => a.contactId === contactId)
      .sort((a, b) => a.startMs - b.startMs)
      .map(appointmentOut);
    return { events, traceId: traceId() };
  });

  // Workflows: the location's automations, and adding a contact to one (once per contact and workflow).
  app.get('/workflows/', async (req) => {
    const q = parse(z.object({ locationId: z.string().min(1, 'should not be empty') }), req.query);
    return { workflows: deps.store().ensureWorkflows(q.locationId), traceId: traceId() };
  });

  app.post('/contacts/:contactId/workflow/:workflowId', async (req, reply) => {
    const { contactId, workflowId } = req.params as { contactId: string; workflowId: string };
    const body = parse(z.object({ eventStartTime: isoDate.optional() }), req.body);
    const store = deps.store();
    const contact = requireContact(store, contactId).contact;
    const wf = store.ensureWorkflows(contact.locationId).find((w) => w.id === workflowId);
    if (!wf) return fail(400, 'Workflow not found');
    if (!store.enrollments.some((e) => e.contactId === contactId && e.workflowId === workflowId))
      store.enrollments.push({
        contactId,
        workflowId,
        locationId: contact.locationId,
        eventStartTime: body.eventStartTime ?? null,
        enrolledAt: nowIso(),
      });
    return reply.status(201).send({ succeded: true, traceId: traceId() });
  });

  app.delete('/contacts/:contactId/workflow/:workflowId', async (req) => {
    const { contactId, workflowId } = req.params as { contactId: string; workflowId: string };
    const store = deps.store();
    requireContact(store, contactId);
    const i = store.enrollments.findIndex((e) => e.contactId === contactId && e.workflowId === workflowId);
    if (i >= 0) store.enrollments.splice(i, 1);
    return { succeded: true, traceId: traceId() };
  });

  const changeTags = (add: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const { contactId } = req.params as { contactId: string };
    const body = parse(TagsBody, req.body);
    const store = deps.store();
    const row = requireContact(store, contactId);
    const wanted = body.tags.map((t) => t.trim().toLowerCase());
    const tags = add
      ? [...new Set([...row.contact.tags, ...wanted])]
      : row.contact.tags.filter((t) => !wanted.includes(t));
    const contact = { ...row.contact, tags, dateUpdated: nowIso() };
    store.replaceContact(contact);
    webhooks.emit('ContactTagUpdate', contact.locationId, webhookContact(contact));
    return reply.status(add ? 201 : 200).send({ tags, traceId: traceId() });
  };
  app.post('/contacts/:contactId/tags', changeTags(true));
  app.delete('/contacts/:contactId/tags', changeTags(false));

  // Calendars ---------------------------------------------------------------------------------

  app.get('/calendars/', async (req) => {
    const q = parse(z.object({ locationId: z.string().min(1, 'should not be empty') }), req.query);
    const calendars = [...deps.store().calendars.values()].filter((c) => c.locationId === q.locationId);
    return { calendars: calendars.map((c) => ({ ...c, isActive: true })), traceId: traceId() };
  });

  app.get('/calendars/:calendarId/free-slots', async (req) => {
    const { calendarId } = req.params as { calendarId: string };
    const epoch = z
      .string()
      .min(1, 'should not be empty')
      .refine((v) => /^\d+$/.test(v), 'must be a number conforming to the specified constraints');
    const q = parse(
      z.object({ startDate: epoch, endDate: epoch, timezone: z.string().optional(), userId: z.string().optional() }),
      req.query,
    );
    const store = deps.store();
    const cal = store.calendars.get(calendarId);
    if (!cal) return fail(400, 'Calendar not found');
    const startMs = Number(q.startDate);
    const endMs = Number(q.endDate);
    if (endMs < startMs) fail(422, ['endDate must be after startDate']);
    if (endMs - startMs > MAX_SLOT_RANGE_MS) fail(422, ['The date range should not be more than 31 days']);
    const outTz = q.timezone ?? cal.timezone;
    try {
      assertTimeZone(outTz);
    } catch {
      fail(422, [`timezone ${outTz} is not a valid IANA time zone`]);
    }
    const booked = [...store.appointments.values()].filter(
      (a) => a.calendarId === calendarId && a.appointmentStatus !== 'cancelled',
    );
    const out: Record<string, { slots: string[] } | string> = {};
    const now = Date.now();
    for (const slot of calendarSlots(cal, startMs, endMs)) {
      if (slot < now) continue;
      const slotEnd = slot + cal.slotDurationMinutes * 60_000;
      if (booked.some((a) => a.startMs < slotEnd && a.endMs > slot)) continue;
      const day = localDate(outTz, slot);
      const entry = (out[day] ??= { slots: [] }) as { slots: string[] };
      entry.slots.push(isoWithOffset(outTz, slot));
    }
    out.traceId = traceId();
    return out;
  });

  app.post('/calendars/events/appointments', async (req, reply) => {
    const body = parse(AppointmentBody, req.body);
    const store = deps.store();
    const cal = store.calendars.get(body.calendarId);
    if (!cal) return fail(400, 'Calendar not found');
    if (cal.locationId !== body.locationId) fail(403, 'The calendar does not belong to this location.');
    const contact = requireContact(store, body.contactId).contact;
    const startMs = Date.parse(body.startTime);
    const endMs = body.endTime ? Date.parse(body.endTime) : startMs + cal.slotDurationMinutes * 60_000;
    if (endMs <= startMs) fail(422, ['endTime must be after startTime']);
    if (!body.ignoreFreeSlotValidation) {
      const isSlot = startMs >= Date.now() && calendarSlots(cal, startMs, startMs).includes(startMs);
      const taken = [...store.appointments.values()].some(
        (a) => a.calendarId === cal.id && a.appointmentStatus !== 'cancelled' && a.startMs < endMs && a.endMs > startMs,
      );
      if (!isSlot || taken) fail(400, 'The slot you have selected is no longer available.');
    }
    const now = nowIso();
    const appt: Appointment = {
      id: store.ids.ghl(),
      calendarId: cal.id,
      locationId: cal.locationId,
      contactId: contact.id,
      title: body.title ?? `Appointment with ${contact.contactName ?? contact.email ?? contact.phone ?? contact.id}`,
      startTime: isoWithOffset(cal.timezone, startMs),
      endTime: isoWithOffset(cal.timezone, endMs),
      appointmentStatus: body.appointmentStatus ?? 'confirmed',
      assignedUserId: body.assignedUserId ?? null,
      address: body.address ?? null,
      notes: body.notes ?? null,
      dateAdded: now,
      dateUpdated: now,
      startMs,
      endMs,
    };
    store.appointments.set(appt.id, appt);
    webhooks.emit('AppointmentCreate', appt.locationId, { appointment: appointmentOut(appt) });
    return reply.status(200).send({ ...appointmentOut(appt), traceId: traceId() });
  });

  app.get('/calendars/events/appointments/:eventId', async (req) => {
    const { eventId } = req.params as { eventId: string };
    const appt = deps.store().appointments.get(eventId);
    if (!appt) return fail(400, 'Appointment not found');
    return { appointment: appointmentOut(appt), traceId: traceId() };
  });

  app.put('/calendars/events/appointments/:eventId', async (req) => {
    const { eventId } = req.params as { eventId: string };
    const body = parse(AppointmentUpdate, req.body);
    const store = deps.store();
    const appt = store.appointments.get(eventId);
    if (!appt) return fail(400, 'Appointment not found');
    const cal = store.calendars.get(appt.calendarId)!;
    const startMs = body.startTime ? Date.parse(body.startTime) : appt.startMs;
    const endMs = body.endTime
      ? Date.parse(body.endTime)
      : body.startTime
        ? startMs + (appt.endMs - appt.startMs)
        : appt.endMs;
    if (body.startTime && !body.ignoreFreeSlotValidation) {
      const taken = [...store.appointments.values()].some(
        (a) =>
          a.id !== appt.id &&
          a.calendarId === cal.id &&
          a.appointmentStatus !== 'cancelled' &&
          a.startMs < endMs &&
          a.endMs > startMs,
      );
      if (taken || !calendarSlots(cal, startMs, startMs).includes(startMs))
        fail(400, 'The slot you have selected is no longer available.');
    }
    Object.assign(appt, {
      startMs,
      endMs,
      startTime: isoWithOffset(cal.timezone, startMs),
      endTime: isoWithOffset(cal.timezone, endMs),
      ...(body.title !== undefined ? { title: body.title } : {}),
      ...(body.appointmentStatus ? { appointmentStatus: body.appointmentStatus } : {}),
      ...(body.notes !== undefined ? { notes: body.notes } : {}),
      dateUpdated: nowIso(),
    });
    webhooks.emit('AppointmentUpdate', appt.locationId, { appointment: appointmentOut(appt) });
    return { ...appointmentOut(appt), traceId: traceId() };
  });

  app.delete('/calendars/events/:eventId', async (req) => {
    const { eventId } = req.params as { eventId: string };
    const store = deps.store();
    const appt = store.appointments.get(eventId);
    if (!appt) return fail(400, 'Appointment not found');
    store.appointments.delete(eventId);
    webhooks.emit('AppointmentDelete', appt.locationId, { appointment: appointmentOut(appt) });
    return { succeeded: true, traceId: traceId() };
  });

  app.get('/calendars/events', async (req) => {
    const q = parse(
      z.object({
        locationId: z.string().min(1, 'should not be empty'),
        calendarId: z.string().optional(),
        startTime: z.string().optional(),
        endTime: z.string().optional(),
      }),
      req.query,
    );
    const from = q.startTime ? Number(q.startTime) : -Infinity;
    const to = q.endTime ? Number(q.endTime) : Infinity;
    const events = [...deps.store().appointments.values()]
      .filter(
        (a) =>
          a.locationId === q.locationId &&
          (!q.calendarId || a.calendarId === q.calendarId) &&
          a.startMs >= from &&
          a.startMs <= to,
      )
      .sort((a, b) => a.startMs - b.startMs)
      .map(appointmentOut);
    return { events, traceId: traceId() };
  });

  // Conversations ------------------------------------------------------------------------------

  app.post('/conversations/messages', async (req) => {
    const body = parse(MessageBody, req.body);
    const store = deps.store();
    const contact = requireContact(store, body.contactId).contact;
    if ((body.type === 'SMS' || body.type === 'WhatsApp') && !contact.phone && !body.toNumber)
      fail(400, 'Contact does not have a phone number.');
    if (body.type === 'Email' && !contact.email && !body.emailTo) fail(400, 'Contact does not have an email address.');
    if (body.type === 'Email' && !body.html && !body.message) fail(422, ['html or message should not be empty']);
    if (body.type !== 'Email' && !body.message && !body.attachments?.length) fail(422, ['message should not be empty']);
    const now = nowIso();
    const { message: msg, conversation: conv } = store.recordMessage(
      contact,
      {
        type: body.type,
        direction: 'outbound',
        body: body.message ?? null,
        html: body.html ?? null,
        subject: body.subject ?? null,
        emailTo: body.emailTo ?? (body.type === 'Email' ? contact.email : null),
        fromNumber: body.fromNumber ?? null,
        toNumber: body.toNumber ?? (body.type === 'SMS' ? contact.phone : null),
      },
      now,
    );
    webhooks.emit('OutboundMessage', msg.locationId, { ...msg, messageId: msg.id });
    return {
      conversationId: conv.id,
      messageId: msg.id,
      ...(body.type === 'Email' ? { emailMessageId: msg.id } : {}),
      messageIds: [msg.id],
      status: 'pending',
      msg: 'Message queued successfully.',
      traceId: traceId(),
    };
  });

  app.get('/conversations/search', async (req) => {
    const q = parse(
      z.object({
        locationId: z.string().min(1, 'should not be empty'),
        contactId: z.string().optional(),
        limit: z.coerce.number().int().min(1).max(100).default(20),
      }),
      req.query,
    );
    const conversations = [...deps.store().conversations.values()]
      .filter((c) => c.locationId === q.locationId && (!q.contactId || c.contactId === q.contactId))
      .sort((a, b) => (a.dateUpdated < b.dateUpdated ? 1 : -1));
    return { conversations: conversations.slice(0, q.limit), total: conversations.length, traceId: traceId() };
  });

  app.get('/conversations/:conversationId/messages', async (req) => {
    const { conversationId } = req.params as { conversationId: string };
    const store = deps.store();
    if (!store.conversations.has(conversationId)) return fail(400, 'Conversation not found');
    const messages = store.messages.filter((m) => m.conversationId === conversationId).reverse();
    return { messages: { lastMessageId: messages.at(-1)?.id ?? null, nextPage: false, messages }, traceId: traceId() };
  });

  // Opportunities ------------------------------------------------------------------------------

  app.get('/opportunities/pipelines', async (req) => {
    const q = parse(z.object({ locationId: z.string().min(1, 'should not be empty') }), req.query);
    const store = deps.store();
    store.ensurePipeline(q.locationId);
    return {
      pipelines: [...store.pipelines.values()].filter((p) => p.locationId === q.locationId),
      traceId: traceId(),
    };
  });

  app.get('/opportunities/search', async (req) => {
    const q = parse(OppSearch, req.query);
    const store = deps.store();
    const needle = q.q?.toLowerCase();
    const all = [...store.opportunities.values()]
      .filter(
        (o) =>
          o.locationId === q.location_id &&
          (!q.contact_id || o.contactId === q.contact_id) &&
          (!q.pipeline_id || o.pipelineId === q.pipeline_id) &&
          (!q.pipeline_stage_id || o.pipelineStageId === q.pipeline_stage_id) &&
          (!q.status || q.status === 'all' || o.status === q.status) &&
          (!needle || o.name.toLowerCase().includes(needle)),
      )
      // Newest first; the cursor is (createdAt ms, id) of the last item of the previous page.
      .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : -1));
    let from = 0;
    if (q.startAfter !== undefined && q.startAfterId) {
      const ms = q.startAfter;
      const id = q.startAfterId;
      from = all.findIndex((o) => {
        const t = Date.parse(o.createdAt);
        return t < ms || (t === ms && o.id < id);
      });
      if (from < 0) from = all.length;
    }
    const page = all.slice(from, from + q.limit);
    const last = page.at(-1);
    const more = from + page.length < all.length;
    return {
      opportunities: page.map((o) => opportunityOut(store, o)),
      meta: {
        total: all.length,
        startAfter: more && last ? Date.parse(last.createdAt) : null,
        startAfterId: more && last ? last.id : null,
        currentPage: Math.floor(from / q.limit) + 1,
        nextPage: more ? Math.floor(from / q.limit) + 2 : null,
        prevPage: from > 0 ? Math.floor(from / q.limit) : null,
      },
      aggregations: {},
      traceId: traceId(),
    };
  });

  app.post('/opportunities/', async (req, reply) => {
    const body = parse(OpportunityBody, req.body);
    const store = deps.store();
    store.ensurePipeline(body.locationId);
    const pipeline = store.pipelines.get(body.pipelineId);
    if (!pipeline || pipeline.locationId !== body.locationId) return fail(400, 'Pipeline not found');
    const contact = requireContact(store, body.contactId).contact;
    if (contact.locationId !== body.locationId) fail(403, 'The contact does not belong to this location.');
    const stage = body.pipelineStageId ?? pipeline.stages[0]!.id;
    if (!pipeline.stages.some((s) => s.id === stage)) fail(400, 'Pipeline stage not found');
    const now = nowIso();
    const opp: Opportunity = {
      id: store.ids.ghl(),
      locationId: body.locationId,
      name: body.name,
      pipelineId: pipeline.id,
      pipelineStageId: stage,
      status: body.status,
      monetaryValue: body.monetaryValue ?? 0,
      assignedTo: body.assignedTo ?? null,
      source: body.source ?? null,
      contactId: contact.id,
      lastStatusChangeAt: now,
      createdAt: now,
      updatedAt: now,
    };
    store.opportunities.set(opp.id, opp);
    webhooks.emit('OpportunityCreate', opp.locationId, { ...opp });
    return reply.status(201).send({ opportunity: opportunityOut(store, opp), traceId: traceId() });
  });

  app.get('/opportunities/:opportunityId', async (req) => {
    const { opportunityId } = req.params as { opportunityId: string };
    const store = deps.store();
    const opp = store.opportunities.get(opportunityId);
    if (!opp) return fail(400, 'Opportunity not found');
    return { opportunity: opportunityOut(store, opp), traceId: traceId() };
  });

  app.put('/opportunities/:opportunityId', async (req) => {
    const { opportunityId } = req.params as { opportunityId: string };
    const raw = (req.body ?? {}) as Record<string, unknown>;
    if (raw && typeof raw === 'object' && 'locationId' in raw) fail(422, ['property locationId should not exist']);
    const body = parse(OpportunityUpdate, raw);
    const store = deps.store();
    const opp = store.opportunities.get(opportunityId);
    if (!opp) return fail(400, 'Opportunity not found');
    const now = nowIso();
    if (body.status && body.status !== opp.status) opp.lastStatusChangeAt = now;
    Object.assign(opp, Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)), { updatedAt: now });
    webhooks.emit('OpportunityUpdate', opp.locationId, { ...opp });
    return { opportunity: opportunityOut(store, opp), traceId: traceId() };
  });

  app.put('/opportunities/:opportunityId/status', async (req) => {
    const { opportunityId } = req.params as { opportunityId: string };
    const body = parse(z.object({ status: OppStatus }), req.body);
    const store = deps.store();
    const opp = store.opportunities.get(opportunityId);
    if (!opp) return fail(400, 'Opportunity not found');
    const now = nowIso();
    Object.assign(opp, { status: body.status, lastStatusChangeAt: now, updatedAt: now });
    webhooks.emit('OpportunityStatusUpdate', opp.locationId, { ...opp });
    return { succeded: true, traceId: traceId() };
  });

  app.delete('/opportunities/:opportunityId', async (req) => {
    const { opportunityId } = req.params as { opportunityId: string };
    const store = deps.store();
    const opp = store.opportunities.get(opportunityId);
    if (!opp) return fail(400, 'Opportunity not found');
    store.opportunities.delete(opportunityId);
    webhooks.emit('OpportunityDelete', opp.locationId, { ...opp });
    return { succeded: true, traceId: traceId() };
  });
}

/** Slot start instants (epoch ms) of `cal` whose start lies in [fromMs, toMs]. */
export function calendarSlots(
  cal: {
    timezone: string;
    openDays: number[];
    openHour: number;
    closeHour: number;
    slotDurationMinutes: number;
    slotIntervalMinutes: number;
  },
  fromMs: number,
  toMs: number,
): number[] {
  const out: number[] = [];
  const first = wallClock(cal.timezone, fromMs);
  const last = wallClock(cal.timezone, toMs);
  const lastDay = Date.UTC(last.year, last.month - 1, last.day);
  for (let day = Date.UTC(first.year, first.month - 1, first.day); day <= lastDay; day += 24 * 3600 * 1000) {
    const d = new Date(day);
    const isoWeekday = ((d.getUTCDay() + 6) % 7) + 1;
    if (!cal.openDays.includes(isoWeekday)) continue;
    for (let m = cal.openHour * 60; m + cal.slotDurationMinutes <= cal.closeHour * 60; m += cal.slotIntervalMinutes) {
      const at = zonedToUtc(
        cal.timezone,
        d.getUTCFullYear(),
        d.getUTCMonth() + 1,
        d.getUTCDate(),
        Math.floor(m / 60),
        m % 60,
      );
      if (at >= fromMs && at <= toMs) out.push(at);
    }
  }
  return out;
}

let traceCounter = 0;
/** GHL answers carry a traceId; a counter is enough here. */
function traceId(): string {
  traceCounter = (traceCounter + 1) % 1e9;
  return `sandbox-${traceCounter.toString(16).padStart(8, '0')}`;
}
