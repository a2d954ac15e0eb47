import { z } from 'zod';
import { lookupCallerContact, openTenantCrm } from '../../../domain/crm/callerLookup.js';
import { freeSlots, FreeSlotsRefused } from '../../../domain/crm/freeSlots.js';
import { GhlApiError } from '../../../providers/ghl/client.js';
import { PhoneNumber } from '../../../lib/phone.js';
import {
  Contact,
  ContactSearch,
  ContactWithTimeline,
  getContact,
  searchContacts,
  type ContactPage,
} from '../../services/contacts.js';
import { IdempotencyKey, runCrmAction } from '../crmActions.js';
import { Confirm, defineTool, READ_ONLY, ToolError } from '../tool.js';

/**
 * CRM tools. Reads answer from the contacts cache the crmSync workflow keeps (a phone search the
 * cache cannot answer asks GoHighLevel, and says so in `source`); changes run as crmAction workflows.
 */

const ContactId = z.string().trim().min(1).max(100);
const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD');
const IsoDateTime = z.iso.datetime({ offset: true }).describe('ISO date-time with offset, one of the free slots');
const TimeZone = z.string().trim().min(1).max(64).describe('IANA time zone, e.g. America/New_York');

/** Writes that cost money or reach people. */
const REACHES_PEOPLE = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: true,
  openWorldHint: true,
} as const;
/** Writes to the CRM record only. */
const CRM_RECORD = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;

/** The workflow every write ran as, and whether a repeated idempotency key returned an earlier result. */
const Handle = {
  workflowId: z.string(),
  repeated: z.boolean().describe('true when the idempotencyKey was used before: nothing was done again'),
};
/** A write still running after the tool stopped waiting: follow it with workflow_describe. */
const pending = (workflowId: string, repeated: boolean) =>
  new ToolError(
    `still running after 30 s; follow workflow ${workflowId} with workflow_describe${repeated ? ' (repeated key)' : ''}`,
  );

export const crmTools = [
  defineTool({
    name: 'crm_search_contacts',
    title: 'Search contacts',
    description:
      'Search CRM contacts: words of a name, email or company (fuzzy on names), exact phone (any format), email or tag. Answers from the cache; a phone the cache does not know is looked up in GoHighLevel (source "live"). Pages with nextCursor.',
    scope: 'read',
    input: ContactSearch,
    output: z.object({
      contacts: z.array(Contact.partial().required({ id: true })),
      nextCursor: z.string().nullable(),
      source: z.enum(['cache', 'live']),
    }),
    annotations: READ_ONLY,
    run: async (args, call) => {
      const page: ContactPage = await call.cachedRead((c) => searchContacts(c, call.tenantId, args));
      const onlyPhone = args.phone && !args.q && !args.email && !args.tag && !args.cursor;
      if (page.contacts.length || !onlyPhone) return { ...page, source: 'cache' as const };
      // Cache first, then GoHighLevel's duplicate search (the hit is cached for next time).
      const live = await lookupCallerContact(call.deps.crm, call.tenantId, args.phone!, 5_000);
      // GoHighLevel unreachable: the cache's (empty) answer stands.
      if (live.degraded) return { ...page, source: 'cache' as const };
      const c = live.contact;
      return {
        contacts: c
          ? [
              {
                id: c.id,
                name: c.name,
                firstName: c.firstName,
                lastName: c.lastName,
                email: c.email,
                phone: c.phone,
                tags: c.tags,
              },
            ]
          : [],
        nextCursor: null,
        source: 'live' as const,
      };
    },
  }),
  defineTool({
    name: 'crm_get_contact',
    title: 'Get a contact',
    description: 'One contact from the CRM cache with its timeline (newest first).',
    scope: 'read',
    input: z.strictObject({ contactId: ContactId }),
    output: ContactWithTimeline.extend({ source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (args, call) => {
      const found = await call.cachedRead(async (c) => {
        const hit = await getContact(c, call.tenantId, args.contactId);
        if (!hit)
          throw new ToolError(
            `no contact '${args.contactId}' in the cache (search with crm_search_contacts; crm_sync_now refreshes the cache)`,
          );
        return hit;
      });
      return { ...found, source: 'cache' as const };
    },
  }),
  defineTool({
    name: 'crm_get_free_slots',
    title: 'Free appointment slots',
    description:
      "Free times on the tenant's calendar (or calendarId) from startDate to endDate inclusive, asked live from GoHighLevel. Book one with crm_book_appointment.",
    scope: 'read',
    input: z.strictObject({
      startDate: IsoDate,
      endDate: IsoDate.optional().describe('default: startDate; at most 29 days after it'),
      calendarId: z
        .string()
        .trim()
        .min(1)
        .max(100)
        .optional()
        .describe("default: the tenant's calendar (voice settings)"),
      timezone: TimeZone.optional().describe("default: the tenant's time zone"),
    }),
    output: z.object({
      calendarId: z.string(),
      timezone: z.string(),
      slots: z.array(z.string()),
      source: z.enum(['live', 'sandbox']),
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    run: async (args, call) => {
      if (args.endDate && args.endDate < args.startDate) throw new ToolError('endDate: before startDate');
      call.note({ source: call.deps.crm.access.mode('ghl') });
      // A read: it asks GoHighLevel directly (on the location's live budget), no workflow needed.
      const crm = await openTenantCrm(call.deps.crm, call.tenantId);
      const free = await freeSlots(call.tenantId, crm, args).catch((err: unknown) => {
        if (err instanceof FreeSlotsRefused || (err instanceof GhlApiError && !err.retryable))
          throw new ToolError(err.message);
        throw err;
      });
      return { ...free, source: call.deps.crm.access.mode('ghl') };
    },
  }),
  defineTool({
    name: 'crm_upsert_contact',
    title: 'Create or update a contact',
    description:
      'Create a GoHighLevel contact, or update the one with this email or phone (tags replace the existing ones). Runs as a workflow.',
    scope: 'act',
    input: z
      .strictObject({
        phone: PhoneNumber.optional(),
        email: z.email().max(320).optional(),
        firstName: z.string().trim().min(1).max(100).optional(),
        lastName: z.string().trim().min(1).max(100).optional(),
        name: z.string().trim().min(1).max(200).optional().describe('full name, when first/last are not given'),
        tags: z.array(z.string().trim().min(1).max(100)).max(50).optional(),
        idempotencyKey: IdempotencyKey.optional(),
      })
      .refine((a) => a.phone || a.email, { message: 'a phone or an email is needed', path: ['phone'] }),
    output: z.object({ contactId: z.string(), created: z.boolean(), ...Handle }),
    annotations: CRM_RECORD,
    run: async ({ idempotencyKey, ...args }, call) => {
      const run = await runCrmAction(
        call,
        { action: 'upsertContact', tenantId: call.tenantId, ...args },
        idempotencyKey,
      );
      if (!run.result) throw pending(run.workflowId, run.repeated);
      return {
        contactId: run.result.contactId,
        created: run.result.created,
        workflowId: run.workflowId,
        repeated: run.repeated,
      };
    },
  }),
  defineTool({
    name: 'crm_add_note',
    title: 'Add a note to a contact',
    description: "Add a note to a contact's GoHighLevel record. Runs as a workflow; idempotent by idempotencyKey.",
    scope: 'act',
    input: z.strictObject({
      contactId: ContactId,
      body: z.string().trim().min(1).max(5000),
      idempotencyKey: IdempotencyKey.optional(),
    }),
    output: z.object({ noteId: z.string(), ...Handle }),
    annotations: CRM_RECORD,
    run: async ({ idempotencyKey, ...args }, call) => {
      const run = await runCrmAction(
        call,
        { action: 'addContactNote', tenantId: call.tenantId, ...args },
        idempotencyKey,
      );
      if (!run.result) throw pending(run.workflowId, run.repeated);
      return { noteId: run.result.noteId, workflowId: run.workflowId, repeated: run.repeated };
    },
  }),
  defineTool({
    name: 'crm_book_appointment',
    title: 'Book an appointment',
    description:
      'Book a free slot (from crm_get_free_slots) for a contact (contactId), or for a person by phone/email/name (created in the CRM if new). Re-checks that the slot is free. Runs as a workflow; pass idempotencyKey so a retry never books twice.',
    scope: 'act',
    input: z
      .strictObject({
        startTime: IsoDateTime,
        contactId: ContactId.optional(),
        phone: PhoneNumber.optional(),
        email: z.email().max(320).optional(),
        name: z.string().trim().min(1).max(200).optional(),
        calendarId: z.string().trim().min(1).max(100).optional(),
        title: z.string().trim().min(1).max(200).optional(),
        idempotencyKey: IdempotencyKey.optional(),
        confirm: Confirm,
      })
      .refine((a) => a.contactId || a.phone || a.email, {
        message: 'contactId, phone or email is needed',
        path: ['contactId'],
      }),
    output: z.object({
      appointmentId: z.string(),
      contactId: z.string(),
      startTime: z.string(),
      endTime: z.string(),
      ...Handle,
    }),
    annotations: REACHES_PEOPLE,
    confirm: (a) =>
      `Book ${a.title ? `"${a.title}" ` : ''}at ${a.startTime} for ${a.contactId ? `contact ${a.contactId}` : (a.name ?? a.phone ?? a.email)}${a.calendarId ? ` on calendar '${a.calendarId}'` : ''}?`,
    run: async ({ idempotencyKey, ...args }, call) => {
      const run = await runCrmAction(
        call,
        { action: 'bookAppointment', tenantId: call.tenantId, ...args },
        idempotencyKey,
      );
      if (!run.result) throw pending(run.workflowId, run.repeated);
      const { action: _, ...booked } = run.result;
      return { ...booked, workflowId: run.workflowId, repeated: run.repeated };
    },
  }),
  defineTool({
    name: 'crm_send_sms',
    title: 'Send an SMS',
    description:
      'Text a contact through GoHighLevel. Runs as a workflow; pass idempotencyKey so a retry never texts twice.',
    scope: 'act',
    input: z.strictObject({
      contactId: ContactId,
      message: z.string().trim().min(1).max(1600),
      idempotencyKey: IdempotencyKey.optional(),
    }),
    output: z.object({ messageId: z.string(), ...Handle }),
    annotations: REACHES_PEOPLE,
    run: async ({ idempotencyKey, ...args }, call) => {
      const run = await runCrmAction(call, { action: 'sendSms', tenantId: call.tenantId, ...args }, idempotencyKey);
      if (!run.result) throw pending(run.workflowId, run.repeated);
      return { messageId: run.result.messageId, workflowId: run.workflowId, repeated: run.repeated };
    },
  }),
];
