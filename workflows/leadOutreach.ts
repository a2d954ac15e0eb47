import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { LeadOutcome, LeadPlan, OutreachActivities } from '../activities/campaigns/outreach.js';
import type { ReplyCategory } from '../domain/campaigns/prompts.js';
import type { CrmActionActivities } from '../activities/crm/actions.js';
import { CallStatusKey, ContactPhoneKey, TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import { workflowIds } from '../lib/workflowIds.js';
import { leadFinishedSignal } from './campaign.contract.js';
import { innermostMessage } from './failures.js';
import {
  approvalDecidedSignal,
  leadProgressQuery,
  pauseLeadSignal,
  replyReceivedSignal,
  resumeLeadSignal,
  type ApprovalDecision,
  type LeadOutreachInput,
  type LeadResult,
} from './leadOutreach.contract.js';
import {
  bookingRange,
  CALL_SLOT_RECHECK_MS,
  CONVERSATION_OPEN_MS,
  DAY,
  leadKey,
  LeadState,
  outcomeTag,
  PAUSED_RECHECK_MS,
  pickSlot,
  replyStep,
  sendStep,
  worthWritingBack,
  type LeadRef,
} from './leadOutreach.state.js';
import type { voiceCall } from './voiceCall.js';

// Local activities: each lead is a handful of short steps, and running them inside the lead's
// workflow task (results recorded as markers) spares a server round trip per step — what lets a
// 10,000-lead campaign run at close to the cost of its bare child workflows. Every one is
// idempotent by its lead/step key, so a retry after a crash has one effect.
const act = proxyLocalActivities<OutreachActivities>({
  startToCloseTimeout: '3 minutes',
  localRetryThreshold: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 60 },
});

// CRM writes (the voice issue's idempotent actions): rare, rate-limited by GHL's budget, so ordinary activities.
const crm = proxyActivities<CrmActionActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
});

/** What every step of one lead works with. */
interface Lead {
  ref: LeadRef;
  state: LeadState;
}

type Step<T extends LeadPlan['steps'][number]['type']> = Extract<LeadPlan['steps'][number], { type: T }>;
/** A step's end: an outcome ends the lead, null goes on to the next step. */
type StepEnd = LeadOutcome | null;
/** What handled replies meant for the sequence: stop with an outcome, or talk on. */
type ReplyEffect = { stop: LeadOutcome } | { converse: true };

/**
 * One lead of a campaign: research, then the sequence (email, wait, call, sms) with sends inside the
 * lead's local send window and under the caps, drafts held for approval in review mode, and replies
 * handled as they arrive (they end the follow-ups).
 *
 * Replay: these steps issue the same commands, in the same order, as the recorded histories in
 * test/histories; the signal handlers issue none.
 */
export async function leadOutreach(input: LeadOutreachInput): Promise<LeadResult> {
  const lead = listen(input);
  const { result, failure, recorded } = await work(lead);
  lead.state.finish(result.outcome);
  await CancellationScope.nonCancellable(async () => {
    if (!recorded) {
      const detail = result.detail ? { detail: result.detail } : {};
      await act.finishLead({ ...lead.ref, outcome: result.outcome, at: Date.now(), ...detail });
    }
    // The campaign learns the outcome from this workflow's result, or (leads started before that) by signal.
    if (!input.reportsByResult)
      await getExternalWorkflowHandle(input.campaignWorkflowId)
        .signal(leadFinishedSignal, { leadId: lead.ref.leadId, outcome: result.outcome })
        .catch(() => undefined);
  });
  if (failure && !isCancellation(failure)) throw failure;
  return result;
}

/** The lead's state, with its signals and progress query wired to it. */
function listen(input: LeadOutreachInput): Lead {
  const state = new LeadState(Boolean(input.paused));
  setHandler(replyReceivedSignal, ({ inboundId }) => void state.receiveReply(inboundId));
  setHandler(approvalDecidedSignal, ({ approvalId, decision }) => state.decide(approvalId, decision));
  setHandler(pauseLeadSignal, () => state.pause());
  setHandler(resumeLeadSignal, () => state.resume());
  setHandler(leadProgressQuery, () => state.progress);
  return { ref: { tenantId: input.tenantId, campaignId: input.campaignId, leadId: input.leadId }, state };
}

/** Prepares the lead and runs its sequence; a failed lead still has a result to report. */
async function work(lead: Lead): Promise<{ result: LeadResult; failure?: unknown; recorded: boolean }> {
  try {
    const plan = await act.prepareLead({ ...lead.ref, at: Date.now() });
    if (plan.status === 'finished') {
      // Done already (this task is a retry of one that timed out after the lead's last step): report it again.
      return { result: { outcome: plan.finalState ?? 'exhausted', detail: 'already finished' }, recorded: true };
    }
    const outcome = plan.status === 'suppressed' ? 'suppressed' : await runSequence(lead, plan);
    await writeBack(lead, plan, outcome);
    return { result: { outcome }, recorded: false };
  } catch (err) {
    // A failed lead still reports back, so its campaign is not left waiting for it.
    const detail = err instanceof Error ? err.message : String(err);
    const result: LeadResult = isCancellation(err) ? { outcome: 'cancelled' } : { outcome: 'failed', detail };
    return { result, failure: err, recorded: false };
  }
}

async function runSequence(lead: Lead, plan: LeadPlan): Promise<LeadOutcome> {
  for (let i = 0; i < plan.steps.length; i++) {
    lead.state.progress.stepIndex = i;
    const end = (await repliesFirst(lead, plan)) ?? (await runStep(lead, plan, plan.steps[i]!, i));
    if (end) return end;
  }
  return 'exhausted';
}

function runStep(lead: Lead, plan: LeadPlan, step: LeadPlan['steps'][number], i: number): Promise<StepEnd> {
  switch (step.type) {
    case 'wait':
      return waitStep(lead, plan, step.days);
    case 'email':
      return emailStep(lead, plan, i);
    case 'call':
      return callStep(lead, plan, step, i);
    case 'sms':
      return smsStep(lead, plan, step, i);
    case 'workflow':
      return workflowStep(lead, plan, step, i);
  }
}

function record(lead: Lead, kind: string, key: string, data: Record<string, unknown> = {}) {
  const event = { kind, at: Date.now(), stepIndex: lead.state.progress.stepIndex, key: leadKey(lead.ref, key), data };
  return act.recordLeadEvents({ ...lead.ref, events: [event] });
}

/** Sleeps until `until` unless a reply (or, when `onPause`, a pause) needs attention first. */
async function sleepUntil({ state }: Lead, until: number, onPause = true): Promise<void> {
  state.progress.waitingUntil = new Date(until).toISOString();
  await condition(() => state.hasReplies || (onPause && state.paused), Math.max(1, until - Date.now()));
  state.progress.waitingUntil = null;
}

/** Replies that came in are handled before anything else; they may end the lead. */
async function repliesFirst(lead: Lead, plan: LeadPlan): Promise<StepEnd> {
  if (!lead.state.hasReplies) return null;
  const effect = await handleReplies(lead, plan);
  return effect ? settle(lead, plan, effect) : null;
}

function settle(lead: Lead, plan: LeadPlan, effect: ReplyEffect): Promise<LeadOutcome> | LeadOutcome {
  return 'stop' in effect ? effect.stop : converse(lead, plan);
}

async function waitStep(lead: Lead, plan: LeadPlan, days: number): Promise<StepEnd> {
  const { state } = lead;
  state.enter('waiting');
  const until = Date.now() + days * DAY;
  while (state.waitEnd(until) > Date.now()) {
    await sleepUntil(lead, state.waitEnd(until), false);
    const end = await repliesFirst(lead, plan);
    if (end) return end;
  }
  return null;
}

async function emailStep(lead: Lead, plan: LeadPlan, i: number): Promise<StepEnd> {
  if (!plan.email) {
    await record(lead, 'step-skipped', `skip:${i}`, { reason: 'no email address' });
    return null;
  }
  if (plan.reviewMode) {
    const { approvalId } = await act.composeEmail({ ...lead.ref, stepIndex: i, at: Date.now(), review: true });
    if (approvalId) {
      const decided = await approval(lead, plan, approvalId);
      if ('effect' in decided) return settle(lead, plan, decided.effect);
      if (decided.decision === 'rejected') return null;
    }
  }
  const sent = await deliver(lead, plan, leadKey(lead.ref, i), i, true);
  return sent === 'sent' || sent === 'skipped' ? null : sent;
}

/**
 * Sends one email inside the lead's window and under the caps. Sequence emails give way to
 * replies (which may end the sequence); answers and confirmations do not.
 */
async function deliver(
  lead: Lead,
  plan: LeadPlan,
  sendKey: string,
  stepIndex: number | null,
  interruptible: boolean,
): Promise<LeadOutcome | 'sent' | 'skipped'> {
  const { state } = lead;
  const replyWaiting = () => interruptible && state.hasReplies;
  for (;;) {
    if (replyWaiting()) {
      const effect = await handleReplies(lead, plan);
      if (effect) return settle(lead, plan, effect);
    }
    if (state.paused) {
      await condition(() => !state.paused || replyWaiting());
      continue;
    }
    const now = Date.now();
    const opens = state.sendOpensAt(now, plan);
    if (opens > now) {
      const until = new Date(opens).toISOString();
      const data = { sendKey, until, timezone: plan.timezone };
      await record(lead, 'waiting-for-window', `window:${sendKey}:${opens}`, data);
      await sleepUntil(lead, opens);
      continue;
    }
    state.enter('sending');
    const resumesBefore = state.resumes;
    const next = sendStep(await act.sendEmail({ ...lead.ref, sendKey, stepIndex, at: now }));
    if ('done' in next) return next.done;
    if ('retryAt' in next) {
      state.enter('waiting');
      await sleepUntil(lead, next.retryAt);
      continue;
    }
    await condition(() => state.resumes > resumesBefore || replyWaiting(), PAUSED_RECHECK_MS);
  }
}

/** Review mode: waits for the person's decision; replies are handled meanwhile. */
async function approval(
  lead: Lead,
  plan: LeadPlan,
  approvalId: string,
): Promise<{ decision: ApprovalDecision } | { effect: ReplyEffect }> {
  const { state } = lead;
  state.enter('awaiting-approval');
  for (;;) {
    await condition(() => state.decision(approvalId) !== undefined || state.hasReplies);
    const decision = state.decision(approvalId);
    if (decision) {
      await record(lead, 'approval-decided', `approval:${approvalId}`, { approvalId, decision });
      return { decision };
    }
    const effect = await handleReplies(lead, plan);
    if (effect) return { effect };
  }
}

async function handleReplies(lead: Lead, plan: LeadPlan): Promise<ReplyEffect | null> {
  for (let inboundId = lead.state.nextReply(); inboundId !== undefined; inboundId = lead.state.nextReply()) {
    lead.state.enter('handling-reply');
    const { category, preferredTime } = await act.classifyLeadReply({ ...lead.ref, inboundId, at: Date.now() });
    const effect = await onReply(lead, plan, inboundId, category, preferredTime);
    if (effect) return effect;
  }
  return null;
}

async function onReply(
  lead: Lead,
  plan: LeadPlan,
  inboundId: string,
  category: ReplyCategory,
  preferredTime: string | null,
): Promise<ReplyEffect | null> {
  const next = replyStep(category);
  if ('stop' in next) return next;
  if ('reschedule' in next) {
    const notBefore = lead.state.outOfOffice(preferredTime, Date.now());
    await record(lead, 'rescheduled', `ooo:${inboundId}`, { notBefore: new Date(notBefore).toISOString() });
    return null;
  }
  if ('book' in next) return { stop: await bookMeeting(lead, plan, inboundId, preferredTime) };
  return answer(lead, plan, inboundId);
}

/** A question: a drafted answer (approved first in review mode), then the conversation stays open. */
async function answer(lead: Lead, plan: LeadPlan, inboundId: string): Promise<ReplyEffect> {
  const drafted = await act.draftAnswer({ ...lead.ref, inboundId, at: Date.now(), review: plan.reviewMode });
  const { sendKey, approvalId } = drafted;
  if (approvalId) {
    const decided = await approval(lead, plan, approvalId);
    if ('effect' in decided) return decided.effect;
    if (decided.decision === 'rejected') return { converse: true };
  }
  const sent = await deliver(lead, plan, sendKey, null, false);
  if (sent !== 'sent' && sent !== 'skipped') return { stop: sent };
  return { converse: true };
}

/**
 * Interested: the free slot nearest the time they asked for (else the first one), booked once per
 * reply, and confirmed by email. Without a CRM calendar the reply stands and a person follows up.
 */
async function bookMeeting(
  lead: Lead,
  plan: LeadPlan,
  inboundId: string,
  preferredTime: string | null,
): Promise<LeadOutcome> {
  const { ref } = lead;
  const range = bookingRange(Date.now());
  try {
    const calendar = plan.calendarId ?? undefined;
    const free = await crm.getFreeSlots({
      tenantId: ref.tenantId,
      calendarId: calendar,
      ...range,
      timezone: plan.timezone,
    });
    const { slots, calendarId } = free;
    const slot = pickSlot(slots, preferredTime, Date.now());
    if (!slot) {
      await record(lead, 'booking-failed', `booking:${inboundId}`, { reason: 'no free slot in the next days' });
      return 'replied';
    }
    const booked = await crm.bookAppointment({
      tenantId: ref.tenantId,
      idempotencyKey: leadKey(ref, `book:${inboundId}`),
      calendarId,
      ...(plan.contactId ? { contactId: plan.contactId } : {}),
      ...(plan.email ? { email: plan.email } : {}),
      ...(plan.phone ? { phone: plan.phone } : {}),
      ...(plan.name ? { name: plan.name } : {}),
      startTime: slot,
      title: 'Meeting (campaign reply)',
    });
    plan.contactId = booked.contactId;
    const { appointmentId, startTime, contactId } = booked;
    await record(lead, 'meeting-booked', `booked:${inboundId}`, { appointmentId, startTime, contactId });
    if (plan.email) {
      const confirm = { ...ref, appointmentId, startTime, timezone: plan.timezone, at: Date.now() };
      const { sendKey } = await act.draftConfirmation(confirm);
      await deliver(lead, plan, sendKey, null, false);
    }
    return 'booked';
  } catch (err) {
    if (isCancellation(err)) throw err;
    await record(lead, 'booking-failed', `booking:${inboundId}`, { reason: failureMessage(err) });
    return 'replied';
  }
}

/** After an answered question: the conversation stays open for more replies, then the lead ends as replied. */
async function converse(lead: Lead, plan: LeadPlan): Promise<LeadOutcome> {
  const { state } = lead;
  for (;;) {
    state.enter('conversation');
    const got = await condition(() => state.hasReplies, CONVERSATION_OPEN_MS);
    if (!got) return 'replied';
    const effect = await handleReplies(lead, plan);
    if (effect && 'stop' in effect) return effect.stop;
  }
}

/** A call step: one of the tenant's call slots, then a voiceCall child; a booking on the call ends the lead. */
async function callStep(lead: Lead, plan: LeadPlan, step: Step<'call'>, i: number): Promise<StepEnd> {
  const { ref, state } = lead;
  if (!plan.phone) {
    await record(lead, 'step-skipped', `skip:${i}`, { reason: 'no phone number' });
    return null;
  }
  const slotKey = leadKey(ref, i);
  for (;;) {
    const slot = await act.acquireCallSlot({ ...ref, slotKey, max: plan.maxConcurrentCalls });
    if (slot === 'suppressed') return 'suppressed';
    if (slot === 'acquired') break;
    await sleepUntil(lead, Date.now() + CALL_SLOT_RECHECK_MS, false);
    if (state.hasReplies) return null; // the sequence loop handles the reply first
  }
  state.enter('calling');
  try {
    return await placeCall(lead, plan, step, i, plan.phone);
  } catch (err) {
    if (isCancellation(err)) throw err;
    await record(lead, 'call-failed', `call-failed:${i}`, { reason: failureMessage(err) });
    return null;
  } finally {
    await CancellationScope.nonCancellable(() => act.releaseCallSlot({ ...ref, slotKey }));
  }
}

/** The call itself: a voiceCall child workflow, its start and its result on the lead's timeline. */
async function placeCall(lead: Lead, plan: LeadPlan, step: Step<'call'>, i: number, phone: string): Promise<StepEnd> {
  const { ref } = lead;
  const callRef = `lead-${ref.campaignId}-${ref.leadId}-${i}`;
  const child = await startChild<typeof voiceCall>('voiceCall', {
    workflowId: workflowIds.voiceCall(ref.tenantId, step.provider, callRef),
    args: [
      {
        direction: 'outbound',
        tenantId: ref.tenantId,
        provider: step.provider,
        callRef,
        to: phone,
        purpose: step.purpose,
        ...(plan.contactId ? { contactId: plan.contactId } : {}),
        ...(step.assistant ? { assistant: step.assistant } : {}),
        metadata: { campaignId: ref.campaignId, leadId: ref.leadId },
      },
    ],
    parentClosePolicy: 'REQUEST_CANCEL',
    typedSearchAttributes: [
      { key: TenantIdKey, value: ref.tenantId },
      { key: WorkflowKindKey, value: 'voiceCall' },
      { key: ContactPhoneKey, value: phone },
      { key: CallStatusKey, value: 'scheduled' },
    ],
  });
  await record(lead, 'call-started', `call:${i}`, { workflowId: child.workflowId, purpose: step.purpose });
  const result = await child.result();
  if (result.contactId) plan.contactId = result.contactId;
  await record(lead, 'call-finished', `call-done:${i}`, {
    status: result.status,
    attempts: result.attempts,
    appointmentIds: result.appointmentIds,
    outcome: result.outcome ?? null,
    nextAction: result.nextAction ?? null,
    summary: result.summary ?? null,
  });
  return result.appointmentIds.length ? 'booked' : null;
}

/** An sms step through the CRM (GoHighLevel conversations), inside the send window, once per step. */
async function smsStep(lead: Lead, plan: LeadPlan, step: Step<'sms'>, i: number): Promise<StepEnd> {
  const { ref, state } = lead;
  if (!plan.phone) {
    await record(lead, 'step-skipped', `skip:${i}`, { reason: 'no phone number' });
    return null;
  }
  for (;;) {
    const opens = state.sendOpensAt(Date.now(), plan);
    if (opens <= Date.now() && !state.paused) break;
    if (state.paused) await condition(() => !state.paused || state.hasReplies);
    else await sleepUntil(lead, opens);
    if (state.hasReplies) return null;
  }
  if (await act.leadSuppressed(ref)) return 'suppressed';
  try {
    if (!plan.contactId) {
      const who = { ...(plan.email ? { email: plan.email } : {}), ...(plan.name ? { name: plan.name } : {}) };
      plan.contactId = (await crm.upsertContact({ tenantId: ref.tenantId, phone: plan.phone, ...who })).contactId;
    }
    const sent = await crm.sendSms({
      tenantId: ref.tenantId,
      idempotencyKey: leadKey(ref, `${i}:sms`),
      contactId: plan.contactId,
      message: step.message,
    });
    await record(lead, 'sms-sent', `sms:${i}`, { messageId: sent.messageId });
  } catch (err) {
    if (isCancellation(err)) throw err;
    await record(lead, 'sms-failed', `sms-failed:${i}`, { reason: failureMessage(err) });
  }
  return null;
}

/**
 * A GoHighLevel workflow step: the lead's contact (created from its phone or email if new) is added
 * to the workflow, whose automation reaches them from then on — so an opted-out lead is not added.
 */
async function workflowStep(lead: Lead, plan: LeadPlan, step: Step<'workflow'>, i: number): Promise<StepEnd> {
  const { ref } = lead;
  if (await act.leadSuppressed(ref)) return 'suppressed';
  try {
    if (!plan.contactId) {
      if (!plan.phone && !plan.email) {
        await record(lead, 'step-skipped', `skip:${i}`, { reason: 'no phone or email for a CRM contact' });
        return null;
      }
      const who = {
        ...(plan.phone ? { phone: plan.phone } : {}),
        ...(plan.email ? { email: plan.email } : {}),
        ...(plan.name ? { name: plan.name } : {}),
      };
      plan.contactId = (await crm.upsertContact({ tenantId: ref.tenantId, ...who })).contactId;
    }
    await crm.addToWorkflow({
      tenantId: ref.tenantId,
      idempotencyKey: leadKey(ref, `${i}:workflow`),
      contactId: plan.contactId,
      workflowId: step.workflowId,
    });
    await record(lead, 'workflow-enrolled', `workflow:${i}`, { workflowId: step.workflowId });
  } catch (err) {
    if (isCancellation(err)) throw err;
    await record(lead, 'workflow-failed', `workflow-failed:${i}`, {
      workflowId: step.workflowId,
      reason: failureMessage(err),
    });
  }
  return null;
}

/** What matters goes back to the CRM contact: a tag per outcome and a note. Best effort: the outcome stands. */
async function writeBack(lead: Lead, plan: LeadPlan, outcome: LeadOutcome): Promise<void> {
  const { ref } = lead;
  if (!plan.contactId || !worthWritingBack(outcome)) return;
  try {
    await crm.tagContact({ tenantId: ref.tenantId, contactId: plan.contactId, tags: [outcomeTag(outcome)] });
    await crm.addContactNote({
      tenantId: ref.tenantId,
      idempotencyKey: leadKey(ref, 'outcome-note'),
      contactId: plan.contactId,
      body: `Campaign ${ref.campaignId}: ${outcome.replace(/_/g, ' ')} (workflow ${workflowInfo().workflowId}).`,
    });
    // The campaign's pipeline stage for this outcome. Plans recorded before policy.pipeline existed
    // carry none, so their replays issue no new command here.
    const stageId =
      outcome === 'booked' || outcome === 'replied' || outcome === 'opted_out'
        ? plan.pipeline?.stages[outcome]
        : undefined;
    if (plan.pipeline && stageId)
      await crm.advanceContactOpportunity({
        tenantId: ref.tenantId,
        idempotencyKey: leadKey(ref, 'opportunity-stage'),
        contactId: plan.contactId,
        pipelineId: plan.pipeline.pipelineId,
        stageId,
        name: `Campaign ${ref.campaignId}: ${plan.name ?? plan.email ?? plan.phone ?? plan.contactId}`,
      });
  } catch (err) {
    if (isCancellation(err)) throw err;
    await record(lead, 'crm-writeback-failed', 'crm-writeback', { reason: failureMessage(err) });
  }
}

const failureMessage = (err: unknown): string => innermostMessage(err) ?? String(err);
