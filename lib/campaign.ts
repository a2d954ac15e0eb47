import { z } from 'zod';
import { toE164 } from './phone.js';
import { parseCsv } from './csv.js';

export { parseCsv };

/**
 * What a campaign is: its sequence of steps, sender, policy and audience, and what a lead is. Parsed
 * with zod at the API (unknown fields rejected) and again when activities read them back.
 */

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const TimeZone = z.string().refine(isTimeZone, 'not an IANA time zone (e.g. America/New_York)');
const Email = z
  .email('not an email address')
  .max(254)
  .transform((e) => e.trim().toLowerCase());
const Phone = z
  .string()
  .max(40)
  .transform((p, ctx) => {
    const e164 = toE164(p);
    if (!e164) {
      ctx.addIssue({ code: 'custom', message: 'not a phone number' });
      return z.NEVER;
    }
    return e164;
  });

export const EmailStep = z
  .strictObject({
    type: z.literal('email'),
    /** What Claude should write (personalised with the lead's research brief). */
    prompt: z.string().trim().min(1).max(4000).optional(),
    /** Plain template: `{{firstName}}`, `{{company}}`, `{{senderName}}` … are filled in; used when there is no prompt, or when the model fails. */
    subject: z.string().trim().min(1).max(200).optional(),
    template: z.string().trim().min(1).max(20_000).optional(),
  })
  .refine((s) => s.prompt || (s.subject && s.template), {
    message: 'an email step needs a prompt, or a subject and a template',
  });
export const WaitStep = z.strictObject({
  type: z.literal('wait'),
  /** Days to wait before the next step; a reply ends the wait (and the follow-ups). */
  days: z.number().min(0).max(365),
});
export const CallStep = z.strictObject({
  type: z.literal('call'),
  purpose: z.string().trim().min(1).max(2000),
  provider: z.enum(['vapi', 'retell']).default('vapi'),
  assistant: z.string().trim().min(1).max(200).optional(),
});
export const SmsStep = z.strictObject({
  type: z.literal('sms'),
  message: z.string().trim().min(1).max(1600),
});
/** Adds the lead's CRM contact to one of the location's GoHighLevel workflows (its automation takes over). */
export const WorkflowStep = z.strictObject({
  type: z.literal('workflow'),
  workflowId: z.string().trim().min(1).max(100),
});
export const Step = z.discriminatedUnion('type', [EmailStep, WaitStep, CallStep, SmsStep, WorkflowStep]);
export type Step = z.infer<typeof Step>;

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const SendWindow = z
  .strictObject({
    startHour: z.number().int().min(0).max(23).default(9),
    endHour: z.number().int().min(1).max(24).default(17),
    days: z.array(z.enum(WEEKDAYS)).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri']),
  })
  .refine((w) => w.endHour > w.startHour, { message: 'endHour must be after startHour', path: ['endHour'] });
export type SendWindow = z.infer<typeof SendWindow>;

const Cap = z.number().int().min(1).max(1_000_000).optional();
export const Policy = z.strictObject({
  /** Time zone of leads that have none of their own (nor one in the CRM). */
  timezone: TimeZone.default('America/New_York'),
  sendWindow: SendWindow.default({ startHour: 9, endHour: 17, days: ['mon', 'tue', 'wed', 'thu', 'fri'] }),
  caps: z.strictObject({ tenantPerHour: Cap, tenantPerDay: Cap, senderPerHour: Cap, senderPerDay: Cap }).default({}),
  maxConcurrentCalls: z.number().int().min(1).max(100).default(2),
  /** Leads in flight at once (each is a child workflow; Temporal allows 2,000 pending children per run). */
  maxActiveLeads: z.number().int().min(1).max(2000).default(500),
  reviewMode: z.boolean().default(false),
  /** GHL calendar for meetings; default: the tenant's voice settings' calendar. */
  calendarId: z.string().trim().min(1).max(100).optional(),
  /**
   * Where a lead's GHL opportunity goes on this pipeline when it books, replies or opts out (created
   * there if the contact has none). Stages not named leave the opportunity where it is.
   */
  pipeline: z
    .strictObject({
      pipelineId: z.string().trim().min(1).max(100),
      stages: z
        .strictObject({
          booked: z.string().trim().min(1).max(100).optional(),
          replied: z.string().trim().min(1).max(100).optional(),
          opted_out: z.string().trim().min(1).max(100).optional(),
        })
        .refine(
          (st) => st.booked || st.replied || st.opted_out,
          'name at least one stage (booked, replied, opted_out)',
        ),
    })
    .optional(),
  /**
   * A lead's email conversation is bounded: past this many accepted replies, or this much reply
   * text in all, the lead is handed to a person (it ends as `replied`) instead of Claude answering on.
   */
  conversation: z
    .strictObject({
      maxReplies: z.number().int().min(1).max(50).default(8),
      maxHistoryChars: z.number().int().min(1000).max(500_000).default(60_000),
    })
    .default({ maxReplies: 8, maxHistoryChars: 60_000 }),
});
export type Policy = z.infer<typeof Policy>;

export const Sender = z.strictObject({
  email: Email,
  name: z.string().trim().min(1).max(200).optional(),
  /** Address whose domain SendGrid Inbound Parse receives; replies come back as `local+token@domain`. */
  replyTo: Email.optional(),
  /** The sender's postal address, printed in every campaign email's footer (CAN-SPAM); required when the sequence emails. */
  postalAddress: z.string().trim().min(10, 'a full postal address (street, city, postcode)').max(300).optional(),
});
export type Sender = z.infer<typeof Sender>;

export const LeadInput = z
  .strictObject({
    email: Email.optional(),
    phone: Phone.optional(),
    firstName: z.string().trim().max(200).optional(),
    lastName: z.string().trim().max(200).optional(),
    company: z.string().trim().max(300).optional(),
    timezone: TimeZone.optional(),
    contactId: z.string().trim().min(1).max(100).optional(),
    fields: z.record(z.string().max(100), z.string().max(2000)).optional(),
  })
  .refine((l) => l.email || l.phone, { message: 'a lead needs an email or a phone', path: ['email'] });
export type LeadInput = z.infer<typeof LeadInput>;

export const MAX_LEADS_PER_REQUEST = 5000;

export const Audience = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('leads'), leads: z.array(z.unknown()).max(MAX_LEADS_PER_REQUEST) }),
  z.strictObject({ type: z.literal('csv'), csv: z.string().min(1).max(5_000_000) }),
  z.strictObject({
    type: z.literal('crm'),
    tag: z.string().trim().min(1).max(200),
    limit: z.number().int().min(1).max(50_000).default(10_000),
  }),
]);
export type Audience = z.infer<typeof Audience>;

/** A campaign as stored (read back leniently: campaigns created before a rule was added still load). */
export const StoredCampaignDefinition = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    goal: z.string().trim().min(1).max(2000),
    audience: Audience.optional(),
    // Not every step a wait (the refine below), as the document states it.
    sequence: z
      .array(Step)
      .min(1)
      .max(30)
      .meta({ not: { items: { properties: { type: { enum: ['wait'] } }, required: ['type'] } } }),
    sender: Sender,
    policy: Policy.default(Policy.parse({})),
  })
  .refine((c) => c.sequence.some((s) => s.type !== 'wait'), {
    message: 'the sequence needs at least one email, call or sms step',
    path: ['sequence'],
  });
export type CampaignDefinition = z.infer<typeof StoredCampaignDefinition>;

/** A campaign as created (REST, MCP): email campaigns must name the sender's postal address. */
export const CampaignDefinition = StoredCampaignDefinition.refine(
  (c) => !c.sequence.some((s) => s.type === 'email') || Boolean(c.sender.postalAddress),
  {
    message: "sender.postalAddress is required for a campaign that sends email (CAN-SPAM: the sender's postal address)",
    path: ['sender', 'postalAddress'],
  },
);

/** What the workflows and activities keep of a campaign (the audience is imported into leads at once). */
export type CampaignSettings = Omit<CampaignDefinition, 'audience'>;

export type LeadState =
  | 'pending'
  | 'active'
  | 'replied'
  | 'booked'
  | 'opted_out'
  | 'suppressed'
  | 'not_now'
  | 'wrong_person'
  | 'exhausted'
  | 'cancelled'
  | 'failed';

export interface RowError {
  row: number;
  field: string;
  message: string;
}

/** Validates raw leads one by one: good rows come back parsed, bad rows as errors naming the field. */
export function validateLeads(raw: unknown[], firstRow = 1): { leads: LeadInput[]; errors: RowError[] } {
  const leads: LeadInput[] = [];
  const errors: RowError[] = [];
  raw.forEach((item, i) => {
    const parsed = LeadInput.safeParse(item);
    if (parsed.success) leads.push(parsed.data);
    else
      for (const issue of parsed.error.issues)
        errors.push({ row: firstRow + i, field: issue.path.join('.') || '(row)', message: issue.message });
  });
  return { leads, errors };
}

const CSV_COLUMNS: Record<string, keyof LeadInput> = {
  email: 'email',
  phone: 'phone',
  firstname: 'firstName',
  first_name: 'firstName',
  lastname: 'lastName',
  last_name: 'lastName',
  company: 'company',
  timezone: 'timezone',
  contactid: 'contactId',
  contact_id: 'contactId',
};

/**
 * A CSV with a header row into leads. Known columns map to lead fields, others go to `fields`. Row
 * numbers in errors are the file's line numbers (the header is row 1).
 */
export function leadsFromCsv(text: string): { leads: LeadInput[]; errors: RowError[] } {
  const [header, ...rows] = parseCsv(text.replace(/^\uFEFF/, ''));
  if (!header) return { leads: [], errors: [{ row: 1, field: 'csv', message: 'the CSV is empty' }] };
  const columns = header.map((h) => h.trim());
  const known = columns.map((c) => CSV_COLUMNS[c.toLowerCase().replace(/[\s-]/g, '')] ?? CSV_COLUMNS[c.toLowerCase()]);
  if (!known.includes('email') && !known.includes('phone')) {
    return {
      leads: [],
      errors: [{ row: 1, field: 'csv', message: 'the header row needs an email or a phone column' }],
    };
  }
  const raw = rows.map((cells) => {
    const lead: Record<string, unknown> = {};
    const fields: Record<string, string> = {};
    columns.forEach((column, i) => {
      const value = cells[i]?.trim() ?? '';
      if (value === '') return;
      const key = known[i];
      if (key) lead[key] = value;
      else fields[column] = value;
    });
    if (Object.keys(fields).length) lead.fields = fields;
    return lead;
  });
  return validateLeads(raw, 2);
}
