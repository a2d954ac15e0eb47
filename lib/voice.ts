import { z } from 'zod';
import { VOICE_TOOL_NAMES, type VoiceToolName as ToolName } from './voiceToolNames.js';

/**
 * A tenant's voice settings (zod, with defaults). Among them is the list of tools its assistant may
 * call: the tools themselves (schema and behaviour) are defined in activities/voice/tools.ts, their
 * names (zod-free, for workflow code) in lib/voiceToolNames.ts.
 */

export const VoiceToolName = z.enum(VOICE_TOOL_NAMES);
export type VoiceToolName = ToolName;

const hhmm = z.string().regex(/^([01]\d|2[0-4]):[0-5]\d$/, 'expected HH:MM (24 h)');
const Hours = z
  .strictObject({
    start: hhmm.default('09:00'),
    end: hhmm.default('18:00'),
    days: z.array(z.number().int().min(1).max(7)).min(1).default([1, 2, 3, 4, 5]),
  })
  .refine((h) => h.start < h.end, { message: 'start must be before end', path: ['end'] });

/**
 * What the voice tools may do on a caller's say-so. Callers are strangers: by default every tool acts
 * only for the number the call is on. Each widening names its risk.
 */
export const VoiceToolPolicy = z.strictObject({
  lookupOtherNumbers: z
    .boolean()
    .default(false)
    .describe(
      "Let lookup_caller read the CRM record of any number the caller names. Risk: anyone who calls can learn another customer's name, email and tags.",
    ),
  memoryAcrossCallers: z
    .boolean()
    .default(false)
    .describe(
      "Let recall search everything remembered and remember file facts under any subject. Risk: a caller hears what other callers said, and can plant notes on someone else's record.",
    ),
  bookForOthers: z
    .boolean()
    .default(false)
    .describe(
      'Let book_appointment book for a person other than the caller (another name, email or phone). Risk: anyone can fill your calendar in other people’s names and create CRM contacts for them.',
    ),
  appointmentsOfOthers: z
    .boolean()
    .default(false)
    .describe(
      "Let reschedule_appointment and cancel_appointment change appointments that are not the caller's own. Risk: anyone who learns an appointment id can move or cancel another customer's visit.",
    ),
});
export type VoiceToolPolicy = z.infer<typeof VoiceToolPolicy>;

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
      fromNumber: z
        .string()
        .regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number')
        .optional(),
    })
    .default({}),
  /** Greeting and instructions for the transient assistant. */
  greeting: z.string().min(1).max(500).default('Thanks for calling, how can I help you today?'),
  instructions: z
    .string()
    .min(1)
    .max(8000)
    .default('You are a friendly front-desk assistant. Book appointments, take notes and answer briefly.'),
  tools: z.array(VoiceToolName).default([...VOICE_TOOL_NAMES]),
  /** Defaults keep every tool to the caller's own record; see VoiceToolPolicy for what each widening risks. */
  toolPolicy: VoiceToolPolicy.default({
    lookupOtherNumbers: false,
    memoryAcrossCallers: false,
    bookForOthers: false,
    appointmentsOfOthers: false,
  }),
  calendarId: z.string().min(1).optional(),
  timezone: z.string().min(1).default('America/New_York'),
  appointmentMinutes: z.number().int().min(5).max(480).default(30),
  transferNumber: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/, 'expected an E.164 number')
    .optional(),
  /** Outbound calls ring only inside these local hours and days (1 = Monday … 7 = Sunday). */
  callingHours: Hours.default({ start: '09:00', end: '18:00', days: [1, 2, 3, 4, 5] }),
  /** transfer_to_human forwards the call only inside these local hours (unset: the calling hours); outside, it takes a message. */
  transferHours: Hours.optional(),
  /** GHL user id the messages taken on calls (take_message, a transfer outside hours) are assigned to as tasks. */
  messageUserId: z.string().min(1).max(100).optional(),
  /** A call that books moves the caller's opportunity on this pipeline to this stage (created there if missing). */
  pipeline: z
    .strictObject({ pipelineId: z.string().min(1).max(100), bookedStageId: z.string().min(1).max(100) })
    .optional(),
  /** No answer / busy / voicemail: try again up to this many attempts in all, this far apart. */
  retry: z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(10).default(3),
      spacingSeconds: z
        .number()
        .int()
        .min(1)
        .max(7 * 86_400)
        .default(1800),
    })
    .default({ maxAttempts: 3, spacingSeconds: 1800 }),
  /** Tool calls are answered within this (a "still working" error past it); keep it under the provider's tool timeout. */
  toolDeadlineMs: z.number().int().min(200).max(110_000).default(12_000),
  /** No end-of-call report this long after a call's last event: finish from the provider's REST API. */
  reportGraceSeconds: z.number().int().min(1).max(86_400).default(300),
  /**
   * Caller-ID lookup during assistant-request / call_inbound gives up on GHL after this (the caller
   * hears nothing until we answer): past it the caller is greeted as unknown, and the contact GHL
   * finds later is cached for the call's tools. Shorter answers faster but misses slow matches.
   */
  lookupTimeoutMs: z.number().int().min(50).max(5000).default(1500),
});
export type VoiceSettings = z.infer<typeof VoiceSettings>;
export const defaultVoiceSettings: VoiceSettings = VoiceSettings.parse({});
