import { z } from 'zod';
import { VOICE_TOOL_NAMES, type VoiceToolName as ToolName } from './voiceToolNames.js';

/**
 * The voice agent's tools and a tenant's voice settings. Tools are data: each has a name, a
 * description and a zod schema for its arguments; a tenant's settings list which of them its
 * assistant may call, and the same schemas become the JSON Schema the assistant is given.
 */

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD');
const isoDateTime = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) && !Number.isNaN(Date.parse(s)), 'expected an ISO date-time with offset');
const phone = z.string().min(5).max(32);

export const voiceTools = {
  lookup_caller: {
    description: "Look up the caller (or another phone number) in the CRM: name, email, tags. Defaults to the caller's number.",
    args: z.object({ phone: phone.optional() }),
  },
  get_free_slots: {
    description: 'Free appointment times between two dates (inclusive), in the given or the business time zone.',
    args: z.object({ startDate: isoDate, endDate: isoDate.optional(), timezone: z.string().min(1).max(64).optional() }),
  },
  book_appointment: {
    description: 'Book an appointment at one of the free times for the caller (or the person named).',
    args: z.object({
      startTime: isoDateTime,
      name: z.string().min(1).max(200).optional(),
      email: z.email().optional(),
      phone: phone.optional(),
      title: z.string().min(1).max(200).optional(),
    }),
  },
  add_note: {
    description: "Add a note to the caller's CRM record.",
    args: z.object({ body: z.string().min(1).max(5000) }),
  },
  send_sms: {
    description: 'Text the caller (e.g. a confirmation or a link).',
    args: z.object({ message: z.string().min(1).max(1600) }),
  },
  remember: {
    description: 'Remember a fact for later calls (per business, searchable).',
    args: z.object({ content: z.string().min(1).max(2000), subject: z.string().min(1).max(200).optional() }),
  },
  recall: {
    description: 'Search what was remembered earlier.',
    args: z.object({ query: z.string().min(1).max(500) }),
  },
  transfer_to_human: {
    description: 'Hand the call to a person; returns the number to transfer to.',
    args: z.object({ reason: z.string().max(500).optional() }),
  },
} as const satisfies Record<ToolName, { description: string; args: z.ZodType }>;

export const VoiceToolName = z.enum(VOICE_TOOL_NAMES);
export type VoiceToolName = ToolName;

/** Function definitions in the shape Vapi and Retell take (`parameters` is JSON Schema). */
export function toolDefinitions(names: readonly VoiceToolName[]) {
  return names.map((name) => ({
    name,
    description: voiceTools[name].description,
    parameters: z.toJSONSchema(voiceTools[name].args),
  }));
}

const hhmm = z.string().regex(/^([01]\d|2[0-4]):[0-5]\d$/, 'expected HH:MM (24 h)');

export const VoiceSettings = z.strictObject({
  /** Provider for outbound calls when a request does not name one. */
  defaultProvider: z.enum(['vapi', 'retell']).default('vapi'),
  vapi: z
    .strictObject({
      /** Answer assistant-requests with this assistant; unset: a transient assistant built from these settings. */
      assistantId: z.string().min(1).optional(),
      phoneNumberId: z.string().min(1).optional(),
    })
    .default({}),
  retell: z
    .strictObject({
      agentId: z.string().min(1).optional(),
      /** Our Retell number outbound calls come from (E.164). */
      fromNumber: z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number').optional(),
    })
    .default({}),
  /** Greeting and instructions for the transient assistant. */
  greeting: z.string().min(1).max(500).default('Thanks for calling, how can I help you today?'),
  instructions: z.string().min(1).max(8000).default('You are a friendly front-desk assistant. Book appointments, take notes and answer briefly.'),
  tools: z.array(VoiceToolName).default([...VOICE_TOOL_NAMES]),
  calendarId: z.string().min(1).optional(),
  timezone: z.string().min(1).default('America/New_York'),
  appointmentMinutes: z.number().int().min(5).max(480).default(30),
  transferNumber: z.string().regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number').optional(),
  /** Outbound calls ring only inside these local hours and days (1 = Monday … 7 = Sunday). */
  callingHours: z
    .strictObject({ start: hhmm.default('09:00'), end: hhmm.default('18:00'), days: z.array(z.number().int().min(1).max(7)).min(1).default([1, 2, 3, 4, 5]) })
    .refine((h) => h.start < h.end, { message: 'start must be before end', path: ['end'] })
    .default({ start: '09:00', end: '18:00', days: [1, 2, 3, 4, 5] }),
  /** No answer / busy / voicemail: try again up to this many attempts in all, this far apart. */
  retry: z.strictObject({ maxAttempts: z.number().int().min(1).max(10).default(3), spacingSeconds: z.number().int().min(1).max(7 * 86_400).default(1800) }).default({ maxAttempts: 3, spacingSeconds: 1800 }),
  /** Tool calls are answered within this (a "still working" error past it); keep it under the provider's tool timeout. */
  toolDeadlineMs: z.number().int().min(200).max(110_000).default(12_000),
  /** No end-of-call report this long after a call's last event: finish from the provider's REST API. */
  reportGraceSeconds: z.number().int().min(1).max(86_400).default(300),
  /** Caller-ID lookup during assistant-request / call_inbound gives up on GHL after this. */
  lookupTimeoutMs: z.number().int().min(50).max(5000).default(1500),
});
export type VoiceSettings = z.infer<typeof VoiceSettings>;
export const defaultVoiceSettings: VoiceSettings = VoiceSettings.parse({});
