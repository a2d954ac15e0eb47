import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { z } from 'zod';
import { withTenant, type Pool } from '../../lib/db.js';
import { recall, remember } from '../../domain/memory.js';
import { openTenantCrm, type TenantCrm } from '../../domain/crm/callerLookup.js';
import type { VoiceToolName } from '../../lib/voiceToolNames.js';
import { toE164 } from '../../lib/phone.js';
import { oneLine } from '../../lib/text.js';
import { findToolCall, saveToolCall, type StoredToolCall } from '../../domain/voice/toolCalls.js';
import type { VoiceSettings, VoiceToolPolicy } from '../../lib/voice.js';
import { loadVoiceSettings } from '../../domain/voice/settings.js';
import { createCrmActionActivities, type CrmActionActivities, type CrmActionDeps } from '../crm/actions.js';
import { createHash } from 'node:crypto';
import { spokenTime } from '../../domain/crm/appointments.js';
import {
  requestTransfer,
  saveTransfer,
  transferHoursText,
  transferOpen,
  providerOf,
} from '../../domain/voice/transfer.js';

/**
 * The voice agent's tools, one definition each: its description, the zod schema of its
 * arguments (also the JSON Schema the assistant is given) and what it does. One activity runs
 * them all: arguments are parsed once, here (the workflow stays free of zod, which its bundle would
 * otherwise load for every call), the CRM action or memory runs, and the answer comes back as the
 * one line the agent says. The names (zod-free, for workflow code) are in lib/voiceToolNames.ts.
 */

export interface VoiceToolRequest {
  tenantId: string;
  workflowId: string;
  toolCallId: string;
  name: VoiceToolName;
  args: unknown;
  /** What the call knows so far: tools default to the caller. */
  customerPhone: string | null;
  contactId: string | null;
  transferNumber: string | null;
}

export interface VoiceToolResult {
  text: string;
  /** The caller's CRM contact, when this tool found or created it. */
  contactId?: string;
  appointmentId?: string;
}

/** What a tool runs with besides its arguments. */
export interface VoiceToolContext {
  req: VoiceToolRequest;
  /** CRM actions sharing this tool call's one read of the tenant's CRM settings. */
  crm: CrmActionActivities;
  pool: Pool;
  /** Idempotency key of this tool call (a retried activity writes once). */
  key: string;
  /** The caller's number, when the call has one. */
  caller: string | undefined;
  /** The tenant's voice tool policy (read on first use): by default tools act only for the caller. */
  policy: () => Promise<VoiceToolPolicy>;
  /** The tenant's voice settings (the same one read as `policy`). */
  settings: () => Promise<VoiceSettings>;
  deps: CrmActionDeps;
}

export interface VoiceToolDefinition {
  description: string;
  args: z.ZodType;
  /** Parses the raw arguments (a refusal naming the bad fields) and runs the tool. */
  invoke(ctx: VoiceToolContext, rawArgs: unknown): Promise<VoiceToolResult>;
}

const refuse = (message: string): never => {
  throw ApplicationFailure.nonRetryable(message, 'VoiceToolRefused');
};

/** A tool from its schema and its run: the run gets the parsed (typed) arguments. */
function tool<S extends z.ZodType>(def: {
  description: string;
  args: S;
  run(ctx: VoiceToolContext, args: z.output<S>): Promise<VoiceToolResult>;
}): VoiceToolDefinition {
  return {
    description: def.description,
    args: def.args,
    async invoke(ctx, rawArgs) {
      const parsed = def.args.safeParse(rawArgs);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`);
        return refuse(`${ctx.req.name}: ${issues.join('; ')}`);
      }
      return def.run(ctx, parsed.data).catch((err: unknown) => {
        // The caller hears a sentence they can act on, not an API path; the audit keeps the detail.
        if (err instanceof ApplicationFailure && err.type === 'NotConnected') {
          return refuse(`${ctx.req.name}: the booking system is not reachable right now; offer to take a message`);
        }
        if (err instanceof ApplicationFailure && err.type === 'ContactSuppressed') {
          return refuse(`${ctx.req.name}: this person asked not to be texted; do not send messages to them`);
        }
        if (err instanceof ApplicationFailure && err.type === 'QuotaExceeded') {
          return refuse(
            `${ctx.req.name}: no more texts can be sent today; tell the caller you will follow up another way`,
          );
        }
        throw err;
      });
    },
  };
}

/** The caller's contact: known already, or created from their number. */
async function callerContact({ req, crm }: VoiceToolContext): Promise<string> {
  if (req.contactId) return req.contactId;
  if (!req.customerPhone) return refuse('the caller has no number to file this under');
  return (await crm.upsertContact({ tenantId: req.tenantId, phone: req.customerPhone })).contactId;
}

/** The caller's contact if the CRM knows them (never creates one): the call's, else by their number. */
async function knownCaller({ req, crm, caller }: VoiceToolContext): Promise<string | undefined> {
  if (req.contactId) return req.contactId;
  if (!caller) return undefined;
  return (await crm.lookupCaller({ tenantId: req.tenantId, phone: caller })).contact?.id;
}

/** The contact whose appointment may be changed: the caller's own, unless the policy widens it. */
async function appointmentOwner(ctx: VoiceToolContext, tool: string): Promise<string | undefined> {
  if ((await ctx.policy()).appointmentsOfOthers) return undefined;
  const mine = await knownCaller(ctx);
  return mine ?? refuse(`${tool}: no appointments are on file under the caller's number; offer to book one`);
}

const digest = (...parts: (string | undefined)[]) =>
  createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);

/**
 * A message for the business's staff as a GHL task on the caller's record, assigned to the tenant's
 * message taker. Keyed by the call and the message's words: the agent passing it on twice files one task.
 */
async function fileMessage(
  ctx: VoiceToolContext,
  m: { name?: string; callbackNumber?: string; about: string; why: string },
): Promise<{ taskId: string; contactId: string; callback: string }> {
  const settings = await ctx.settings();
  const contactId = await callerContact(ctx);
  const callback = m.callbackNumber ?? ctx.caller ?? 'none given';
  const who = m.name ?? ctx.caller ?? 'a caller';
  const task = await ctx.crm.createFollowUpTask({
    tenantId: ctx.req.tenantId,
    idempotencyKey: `${ctx.req.workflowId}:message:${digest(m.name, m.callbackNumber, m.about)}`,
    contactId,
    title: `Call back ${who} (${callback}): ${m.about.slice(0, 80)}`,
    body: `Message taken on a call (${m.why}).\nFrom: ${who}\nCallback number: ${callback}\nAbout: ${m.about}\nCall: ${ctx.req.workflowId}`,
    dueDate: new Date(Date.now() + 86_400_000).toISOString(),
    ...(settings.messageUserId ? { assignedTo: settings.messageUserId } : {}),
  });
  return { taskId: task.taskId, contactId, callback };
}

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD');
const isoDateTime = z
  .string()
  .refine(
    (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) && !Number.isNaN(Date.parse(s)),
    'expected an ISO date-time with offset',
  );
const phone = z.string().min(5).max(32);
/** Two spellings of one number (`(555) 555-0100`, `+15555550100`) are the same number. */
const samePhone = (a: string | undefined, b: string | undefined) =>
  Boolean(a && b) && (toE164(a) ?? a) === (toE164(b) ?? b);

export const voiceTools: Readonly<Record<VoiceToolName, VoiceToolDefinition>> = {
  lookup_caller: tool({
    description:
      "Look up the caller (or another phone number) in the CRM: name, email, tags. Defaults to the caller's number.",
    args: z.object({ phone: phone.optional() }),
    async run({ req, crm, caller, policy }, a) {
      if (a.phone && !samePhone(a.phone, caller) && !(await policy()).lookupOtherNumbers)
        return refuse("lookup_caller: only the caller's own number can be looked up; ask how else you can help");
      const found = await crm.lookupCaller({ tenantId: req.tenantId, phone: a.phone ?? caller ?? '' });
      if (!found.contact) {
        const degraded = found.degraded ? ' (CRM did not answer in time)' : '';
        return { text: `No CRM record for ${a.phone ?? caller ?? 'this caller'}${degraded}.` };
      }
      const c = found.contact;
      const email = c.email ? `, email ${c.email}` : '';
      const tags = c.tags.length ? `, tags ${c.tags.join(', ')}` : '';
      return {
        text: `Found ${c.name ?? 'a contact'}${email}${tags} (contact ${c.id}).`,
        // Another number's contact is not the caller's.
        ...(!a.phone || samePhone(a.phone, caller) ? { contactId: c.id } : {}),
      };
    },
  }),
  get_free_slots: tool({
    description: 'Free appointment times between two dates (inclusive), in the given or the business time zone.',
    args: z.object({ startDate: isoDate, endDate: isoDate.optional(), timezone: z.string().min(1).max(64).optional() }),
    async run({ req, crm }, a) {
      const { startDate, endDate, timezone } = a;
      const r = await crm.getFreeSlots({ tenantId: req.tenantId, startDate, endDate, timezone });
      if (!r.slots.length) return { text: `No free times from ${a.startDate}${a.endDate ? ` to ${a.endDate}` : ''}.` };
      const more = r.slots.length > 12 ? ` and ${r.slots.length - 12} more` : '';
      return { text: `Free times (${r.timezone}): ${r.slots.slice(0, 12).join(', ')}${more}.` };
    },
  }),
  book_appointment: tool({
    description: 'Book an appointment at one of the free times for the caller (or the person named).',
    args: z.object({
      startTime: isoDateTime,
      name: z.string().min(1).max(200).optional(),
      email: z.email().optional(),
      phone: phone.optional(),
      title: z.string().min(1).max(200).optional(),
    }),
    async run({ req, crm, caller, policy, settings }, a) {
      // Another number, or no verified number at all (then the name and email alone say who it is).
      const forOther = Boolean(a.phone && !samePhone(a.phone, caller)) || (!caller && !req.contactId);
      if (forOther && !(await policy()).bookForOthers)
        return refuse(
          'book_appointment: appointments are booked for the caller only, under their own number; offer to book for them',
        );
      const r = await crm.bookAppointment({
        tenantId: req.tenantId,
        // Keyed by the time, not the tool call: the agent asking twice books once.
        idempotencyKey: `${req.workflowId}:book:${Date.parse(a.startTime)}`,
        // Someone else's booking is filed under their own contact, never the caller's.
        contactId: forOther ? undefined : (req.contactId ?? undefined),
        phone: a.phone ?? caller,
        email: a.email,
        name: a.name,
        startTime: a.startTime,
        title: a.title,
      });
      const text = `Booked for ${r.startTime} (appointment ${r.appointmentId}).`;
      // Per voice settings, the caller's deal moves to the booked stage; the booking stands whatever happens to that.
      const pipeline = forOther ? undefined : (await settings()).pipeline;
      if (pipeline)
        await crm
          .advanceContactOpportunity({
            tenantId: req.tenantId,
            idempotencyKey: `${req.workflowId}:opportunity:booked`,
            contactId: r.contactId,
            pipelineId: pipeline.pipelineId,
            stageId: pipeline.bookedStageId,
            name: `Booked by phone (${r.contactId})`,
          })
          .catch(() => undefined);
      // Another person's contact never becomes the call's: later tools (send_sms, add_note) stay with the caller.
      return { text, ...(forOther ? {} : { contactId: r.contactId }), appointmentId: r.appointmentId };
    },
  }),
  add_note: tool({
    description: "Add a note to the caller's CRM record.",
    args: z.object({ body: z.string().min(1).max(5000) }),
    async run(ctx, a) {
      const contactId = await callerContact(ctx);
      const { tenantId } = ctx.req;
      const r = await ctx.crm.addContactNote({ tenantId, idempotencyKey: ctx.key, contactId, body: a.body });
      return { text: `Noted (${r.noteId}).`, contactId };
    },
  }),
  send_sms: tool({
    description: 'Text the caller (e.g. a confirmation or a link).',
    args: z.object({ message: z.string().min(1).max(1600) }),
    async run(ctx, a) {
      const contactId = await callerContact(ctx);
      const { tenantId } = ctx.req;
      const r = await ctx.crm.sendSms({ tenantId, idempotencyKey: ctx.key, contactId, message: a.message });
      return { text: `Text sent (${r.messageId}).`, contactId };
    },
  }),
  remember: tool({
    description: 'Remember a fact for later calls (per business, searchable).',
    args: z.object({ content: z.string().min(1).max(2000), subject: z.string().min(1).max(200).optional() }),
    async run({ req, pool, key, caller, policy }, a) {
      const { tenantId, workflowId } = req;
      const provenance = { source: 'voice' as const, workflowId };
      if (a.subject && a.subject !== caller && !(await policy()).memoryAcrossCallers)
        return refuse('remember: facts are kept about the caller only');
      await withTenant(pool, tenantId, (c) =>
        remember(c, { tenantId, content: a.content, subject: a.subject ?? caller, provenance, idempotencyKey: key }),
      );
      return { text: 'Remembered.' };
    },
  }),
  recall: tool({
    description: 'Search what was remembered earlier about this caller, and the business facts.',
    args: z.object({ query: z.string().min(1).max(500) }),
    async run({ req, pool, caller, policy }, a) {
      const { tenantId } = req;
      const across = (await policy()).memoryAcrossCallers;
      const items = await withTenant(pool, tenantId, async (c) => {
        if (across) return recall(c, { tenantId, query: a.query, limit: 3 });
        // What was remembered about this caller, and the business's public facts (tagged `public`): nobody else's.
        const own = caller ? await recall(c, { tenantId, query: a.query, subject: caller, limit: 3 }) : [];
        const pub = await recall(c, { tenantId, query: a.query, tags: ['public'], limit: 3 });
        return [...own, ...pub.filter((p) => !own.some((o) => o.id === p.id))].slice(0, 3);
      });
      if (!items.length) return { text: `Nothing remembered about "${a.query}".` };
      return { text: items.map((i) => i.content).join(' | ') };
    },
  }),
  transfer_to_human: tool({
    description:
      'Put the caller through to a person now. Outside the business’s transfer hours nobody can take the call: then pass on what the caller wants (name, callback number, message) and a team member calls back.',
    args: z.object({
      reason: z.string().max(500).optional(),
      name: z.string().min(1).max(200).optional(),
      callbackNumber: phone.optional(),
      message: z.string().min(1).max(2000).optional(),
    }),
    async run(ctx, a) {
      const settings = await ctx.settings();
      const { tenantId, workflowId } = ctx.req;
      const destination = settings.transferNumber;
      if (!destination || !transferOpen(settings)) {
        // Nobody to put them through to: the message goes to the team as a task, once per call and message.
        const why = destination ? `outside transfer hours (${transferHoursText(settings)})` : 'no transfer number set';
        const m = await fileMessage(ctx, {
          name: a.name,
          callbackNumber: a.callbackNumber,
          about: a.message ?? a.reason ?? 'asked to speak to a person',
          why,
        });
        await saveTransfer(ctx.pool, tenantId, workflowId, {
          provider: providerOf(workflowId),
          providerCallId: null,
          status: 'message-taken',
          destination: null,
          reason: a.reason ?? null,
          taskId: m.taskId,
          detail: why,
        });
        return {
          text: `Nobody can take the call right now (${why}); the message was passed on (task ${m.taskId}) and someone will call back on ${m.callback}.`,
          contactId: m.contactId,
        };
      }
      const t = await requestTransfer(ctx.deps, { tenantId, workflowId, destination, reason: a.reason ?? null });
      if (t.status === 'failed')
        return refuse('transfer_to_human: the call could not be put through; offer to take a message instead');
      return { text: `Putting the caller through to a person now (${destination}).` };
    },
  }),
  find_appointments: tool({
    description:
      "The caller's upcoming appointments, with their ids (needed to move or cancel one) and times in the business's time zone.",
    args: z.object({}),
    async run(ctx) {
      const contactId = await knownCaller(ctx);
      if (!contactId) return { text: 'No appointments on file for this caller.' };
      const r = await ctx.crm.listAppointments({
        tenantId: ctx.req.tenantId,
        contactId,
        from: new Date().toISOString(),
      });
      if (!r.appointments.length) return { text: 'No upcoming appointments for this caller.', contactId };
      const list = r.appointments
        .slice(0, 5)
        .map((x) => `${spokenTime(x.startTime!, r.timezone)} (appointment ${x.id}, ${x.startTime})`);
      const more = r.appointments.length > 5 ? ` and ${r.appointments.length - 5} more` : '';
      const n = r.appointments.length;
      return { text: `${n} upcoming (${r.timezone}): ${list.join('; ')}${more}.`, contactId };
    },
  }),
  reschedule_appointment: tool({
    description:
      "Move one of the caller's appointments to one of the free times (get_free_slots); the old time is given up only once the new one is held.",
    args: z.object({ appointmentId: z.string().min(1).max(100), startTime: isoDateTime }),
    async run(ctx, a) {
      const owner = await appointmentOwner(ctx, 'reschedule_appointment');
      const r = await ctx.crm.rescheduleAppointment({
        tenantId: ctx.req.tenantId,
        // Keyed by the appointment and the new time: asked twice, it moves once.
        idempotencyKey: `${ctx.req.workflowId}:reschedule:${a.appointmentId}:${Date.parse(a.startTime)}`,
        appointmentId: a.appointmentId,
        startTime: a.startTime,
        contactId: owner,
      });
      const tz = (await ctx.settings()).timezone;
      const text = r.moved
        ? `Moved from ${spokenTime(r.previousStartTime, tz)} to ${spokenTime(r.startTime, tz)} (appointment ${r.appointmentId}).`
        : `Appointment ${r.appointmentId} is already at ${spokenTime(r.startTime, tz)}.`;
      return { text, ...(owner ? { contactId: r.contactId } : {}) };
    },
  }),
  cancel_appointment: tool({
    description: "Cancel one of the caller's appointments; the reason is noted on their record.",
    args: z.object({ appointmentId: z.string().min(1).max(100), reason: z.string().min(1).max(500).optional() }),
    async run(ctx, a) {
      const owner = await appointmentOwner(ctx, 'cancel_appointment');
      const r = await ctx.crm.cancelAppointment({
        tenantId: ctx.req.tenantId,
        idempotencyKey: `${ctx.req.workflowId}:cancel:${a.appointmentId}`,
        appointmentId: a.appointmentId,
        reason: a.reason,
        contactId: owner,
      });
      const tz = (await ctx.settings()).timezone;
      return {
        text: `Cancelled the ${spokenTime(r.startTime, tz)} appointment (${r.appointmentId}); noted on the record.`,
        ...(owner ? { contactId: r.contactId } : {}),
      };
    },
  }),
  take_message: tool({
    description:
      'Pass a message on to the team: who is calling, the number to call back, and what it is about. A team member gets it as a task.',
    args: z.object({
      name: z.string().min(1).max(200).optional(),
      callbackNumber: phone.optional(),
      about: z.string().min(1).max(2000),
    }),
    async run(ctx, a) {
      const m = await fileMessage(ctx, { ...a, why: 'take_message' });
      return {
        text: `Message passed on (task ${m.taskId}); someone will call back on ${m.callback}.`,
        contactId: m.contactId,
      };
    },
  }),
};

/** Function definitions in the shape Vapi and Retell take (`parameters` is JSON Schema). */
export function toolDefinitions(names: readonly VoiceToolName[]) {
  return names.map((name) => ({
    name,
    description: voiceTools[name].description,
    parameters: z.toJSONSchema(voiceTools[name].args),
  }));
}

/** The tenant's CRM (connection and settings), opened at most once however many CRM actions one tool call takes. */
function readOnce(
  deps: CrmActionDeps,
  settings: () => Promise<VoiceSettings>,
): (tenantId: string) => Promise<TenantCrm> {
  let crm: Promise<TenantCrm> | undefined;
  return (tenantId) => (crm ??= openTenantCrm(deps, tenantId, { settings }));
}

/** A tool call as the voiceCall workflow hands it to the activity that answers and records it. */
export interface VoiceToolCall extends Omit<VoiceToolRequest, 'name'> {
  /** As the agent sent it: the workflow has checked it unless `refused` says why not. */
  name: string;
  /** The workflow refused the call (unknown or disabled tool): nothing runs, the refusal is recorded. */
  refused?: string;
  /** When the tool call came in (workflow time, epoch ms): the call record lists calls in that order. */
  at: number;
  /** The activity's attempt budget: the last attempt answers (and records) a failure instead of throwing. */
  maxAttempts: number;
  /** Earlier attempts ran elsewhere (a local activity that ran out of time): look for their answer first. */
  resumed?: boolean;
}

/** The agent's one line (or the error it hears), plus what the tool found out for the call. */
export interface VoiceToolCallAnswer {
  result?: string;
  error?: string;
  contactId?: string;
  appointmentId?: string;
}

/** The message the caller hears for a failure (the innermost cause says what happened). */
function failureText(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e && typeof e === 'object' && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return oneLine(e?.message ?? 'the tool failed');
}

const retryable = (err: unknown) => !(err instanceof ApplicationFailure && err.nonRetryable);

const fromStored = (r: StoredToolCall): VoiceToolCallAnswer => ({
  ...(r.error !== null ? { error: r.error } : { result: r.result ?? '' }),
  ...(r.contactId ? { contactId: r.contactId } : {}),
  ...(r.appointmentId ? { appointmentId: r.appointmentId } : {}),
});

/**
 * Runs one tool call and writes its row (args, answer, latency) and audit row, once: an attempt
 * that finds the row (an earlier attempt wrote it, then the worker died before the workflow heard)
 * answers from it without running the tool again. Failures that a retry may fix are thrown while
 * attempts remain; the last attempt, and a refusal, record the failure and answer with it.
 * `startedAtMs`: when this tool call was first scheduled (the latency recorded is what the caller waited).
 */
export async function answerToolCall(
  deps: CrmActionDeps,
  call: VoiceToolCall,
  attempt: { attempt: number; startedAtMs: number },
): Promise<VoiceToolCallAnswer> {
  const { pool, access } = deps;
  const { tenantId, workflowId, toolCallId } = call;
  // A first attempt has nothing stored yet: only a retry pays for the look.
  if (attempt.attempt > 1 || call.resumed) {
    const stored = await withTenant(pool, tenantId, (c) => findToolCall(c, tenantId, workflowId, toolCallId));
    if (stored) return fromStored(stored);
  }
  let answer: VoiceToolCallAnswer;
  if (call.refused !== undefined) {
    answer = { error: oneLine(call.refused) };
  } else {
    try {
      const r = await runTool(deps, { ...call, name: call.name as VoiceToolName });
      answer = {
        result: oneLine(r.text),
        ...(r.contactId ? { contactId: r.contactId } : {}),
        ...(r.appointmentId ? { appointmentId: r.appointmentId } : {}),
      };
    } catch (err) {
      if (retryable(err) && attempt.attempt < call.maxAttempts) throw err;
      answer = { error: failureText(err) };
    }
  }
  const row = {
    tenantId,
    workflowId,
    toolCallId,
    name: call.name,
    args: call.args ?? {},
    result: answer.result ?? null,
    error: answer.error ?? null,
    latencyMs: Date.now() - attempt.startedAtMs,
    at: call.at,
    contactId: answer.contactId ?? null,
    appointmentId: answer.appointmentId ?? null,
  };
  const stored = await withTenant(pool, tenantId, async (c) =>
    (await saveToolCall(c, row, access.mode('ghl'))) ? undefined : findToolCall(c, tenantId, workflowId, toolCallId),
  );
  // Another attempt got there first: its answer is the one on record.
  return stored ? fromStored(stored) : answer;
}

async function runTool(deps: CrmActionDeps, req: VoiceToolRequest): Promise<VoiceToolResult> {
  // The workflow checks names; an unknown one here (an old history?) is refused, not a TypeError.
  if (!Object.hasOwn(voiceTools, req.name)) return refuse(`unknown tool ${req.name}`);
  // Read once per tool call (shared with the CRM's settings): a tightened policy applies to calls in progress.
  let read: Promise<VoiceSettings> | undefined;
  const settings = () => (read ??= withTenant(deps.pool, req.tenantId, (c) => loadVoiceSettings(c, req.tenantId)));
  const ctx: VoiceToolContext = {
    policy: async () => (await settings()).toolPolicy,
    settings,
    deps,
    req,
    crm: createCrmActionActivities(deps, { tenantCrm: readOnce(deps, settings) }),
    pool: deps.pool,
    key: `${req.workflowId}:tool:${req.toolCallId}`,
    caller: req.customerPhone ?? undefined,
  };
  return voiceTools[req.name].invoke(ctx, req.args ?? {});
}

export function createVoiceToolActivities(deps: CrmActionDeps) {
  return {
    /** The tool alone (histories recorded before tool calls recorded themselves schedule this one). */
    runVoiceTool: (req: VoiceToolRequest): Promise<VoiceToolResult> => runTool(deps, req),

    /** One tool call answered and recorded in one local activity: the live call's only workflow task. */
    async answerVoiceToolCall(call: VoiceToolCall): Promise<VoiceToolCallAnswer> {
      const info = activityInfo();
      // From when the workflow first scheduled it (retries included): what the caller waited for.
      const startedAtMs = info.scheduledTimestampMs ?? Date.now();
      return answerToolCall(deps, call, { attempt: info.attempt, startedAtMs });
    },
  };
}

export type VoiceToolActivities = ReturnType<typeof createVoiceToolActivities>;
