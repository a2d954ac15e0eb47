import {
  CancellationScope, condition, defineQuery, defineSignal, getExternalWorkflowHandle, isCancellation, proxyActivities, proxyLocalActivities,
  setHandler, startChild, workflowInfo,
} from '@temporalio/workflow';
import type { LeadOutcome, LeadPlan, OutreachActivities, SendResult } from '../activities/campaigns/outreach.js';
import type { ReplyCategory } from '../domain/campaigns/prompts.js';
import type { CrmActionActivities } from '../activities/crm/actions.js';
import { workflowIds } from '../lib/workflowIds.js';
import { CallStatusKey, ContactPhoneKey, TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import { nextWindowStart } from '../lib/sendWindow.js';
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

export interface LeadOutreachInput {
  tenantId: string;
  campaignId: string;
  leadId: string;
  /** Told when this lead is done (the campaign continues as new, so it is found by id). */
  campaignWorkflowId: string;
  paused?: boolean;
}

export interface LeadResult {
  outcome: LeadOutcome;
  detail?: string;
}

export interface LeadProgress {
  state: 'preparing' | 'waiting' | 'awaiting-approval' | 'sending' | 'handling-reply' | 'conversation' | 'calling' | 'finished';
  stepIndex: number;
  paused: boolean;
  waitingUntil: string | null;
  outcome: LeadOutcome | null;
}

/** A reply stored by the Inbound Parse webhook (by id: the text stays out of history). */
export const replyReceivedSignal = defineSignal<[{ inboundId: string }]>('replyReceived');
export const approvalDecidedSignal = defineSignal<[{ approvalId: string; decision: 'approved' | 'edited' | 'rejected' }]>('approvalDecided');
export const pauseLeadSignal = defineSignal('pause');
export const resumeLeadSignal = defineSignal('resume');
export const leadProgressQuery = defineQuery<LeadProgress>('leadProgress');
/** The lead's last act: tells its campaign (whichever run is current) that it is done. */
export const leadFinishedSignal = defineSignal<[{ leadId: string; outcome: LeadOutcome }]>('leadFinished');

const DAY = 86_400_000;
/** After answering a question, how long the conversation stays open for another reply. */
const CONVERSATION_OPEN_MS = 14 * DAY;
/** An out-of-office without a return date pushes the next touch this far. */
const OUT_OF_OFFICE_MS = 7 * DAY;
/** A send that found the campaign paused (before our pause signal arrived) looks again after this. */
const PAUSED_RECHECK_MS = 10 * 60_000;
/** A call step waiting for one of the tenant's call slots looks again after this. */
const CALL_SLOT_RECHECK_MS = 20_000;
/** Meetings are offered from the free slots of the next days. */
const BOOKING_HORIZON_DAYS = 7;
/** Outcomes worth writing back to the CRM contact (tags and a note). */
const CRM_OUTCOMES: LeadOutcome[] = ['booked', 'replied', 'opted_out', 'not_now', 'wrong_person'];

/** What a reply meant for the sequence: stop with an outcome, keep going, or talk on. */
type ReplyEffect = { stop: LeadOutcome } | { converse: true } | null;

/**
 * One lead of a campaign: research, then the sequence (email, wait, call, sms) with sends inside the
 * lead's local send window and under the caps, drafts held for approval in review mode, and replies
 * handled as they arrive (they end the follow-ups).
 */
export async function leadOutreach(input: LeadOutreachInput): Promise<LeadResult> {
  const ref = { tenantId: input.tenantId, campaignId: input.campaignId, leadId: input.leadId };
  const st = {
    progress: { state: 'preparing', stepIndex: -1, paused: Boolean(input.paused), waitingUntil: null, outcome: null } as LeadProgress,
    resumes: 0,
    replies: [] as string[],
    seenReplies: new Set<string>(),
    decisions: new Map<string, 'approved' | 'edited' | 'rejected'>(),
    /** Out of office: no touch before this instant. */
    notBefore: 0,
  };
  setHandler(replyReceivedSignal, ({ inboundId }) => {
    if (st.seenReplies.has(inboundId)) return;
    st.seenReplies.add(inboundId);
    st.replies.push(inboundId);
  });
  setHandler(approvalDecidedSignal, ({ approvalId, decision }) => void st.decisions.set(approvalId, decision));
  setHandler(pauseLeadSignal, () => void (st.progress.paused = true));
  setHandler(resumeLeadSignal, () => {
    st.progress.paused = false;
    st.resumes++;
  });
  setHandler(leadProgressQuery, () => st.progress);

  const record = (kind: string, key: string, data: Record<string, unknown> = {}) =>
    act.recordLeadEvents({ ...ref, events: [{ kind, at: Date.now(), stepIndex: st.progress.stepIndex, key: `${ref.campaignId}:${ref.leadId}:${key}`, data }] });

  /** Sleeps until `until` unless a reply (or, when `onPause`, a pause) needs attention first. */
  const sleepUntil = async (until: number, onPause = true) => {
    st.progress.waitingUntil = new Date(until).toISOString();
    await condition(() => st.replies.length > 0 || (onPause && st.progress.paused), Math.max(1, until - Date.now()));
    st.progress.waitingUntil = null;
  };

  /**
   * Sends one email inside the lead's window and under the caps. Sequence emails give way to
   * replies (which may end the sequence); answers and confirmations do not.
   */
  async function deliver(plan: LeadPlan, sendKey: string, stepIndex: number | null, interruptible: boolean): Promise<LeadOutcome | 'sent' | 'skipped'> {
    for (;;) {
      if (interruptible && st.replies.length) {
        const effect = await handleReplies(plan);
        if (effect && 'stop' in effect) return effect.stop;
        if (effect) return converse(plan);
      }
      if (st.progress.paused) {
        await condition(() => !st.progress.paused || (interruptible && st.replies.length > 0));
        continue;
      }
      const now = Date.now();
      const opens = nextWindowStart(Math.max(now, st.notBefore), plan.timezone, plan.window);
      if (opens > now) {
        await record('waiting-for-window', `window:${sendKey}:${opens}`, { sendKey, until: new Date(opens).toISOString(), timezone: plan.timezone });
        await sleepUntil(opens);
        continue;
      }
      st.progress.state = 'sending';
      const resumesBefore = st.resumes;
      const r: SendResult = await act.sendEmail({ ...ref, sendKey, stepIndex, at: now });
      switch (r.status) {
        case 'sent':
          return 'sent';
        case 'deferred':
          st.progress.state = 'waiting';
          await sleepUntil(r.retryAt);
          continue;
        case 'paused':
          await condition(() => st.resumes > resumesBefore || (interruptible && st.replies.length > 0), PAUSED_RECHECK_MS);
          continue;
        case 'cancelled':
          return 'cancelled';
        case 'suppressed':
          return 'suppressed';
        default:
          return 'skipped';
      }
    }
  }

  /** Review mode: waits for the person's decision; replies are handled meanwhile. */
  async function approval(plan: LeadPlan, approvalId: string): Promise<{ decision: 'approved' | 'edited' | 'rejected' } | { effect: ReplyEffect }> {
    st.progress.state = 'awaiting-approval';
    for (;;) {
      await condition(() => st.decisions.has(approvalId) || st.replies.length > 0);
      const decision = st.decisions.get(approvalId);
      if (decision) {
        await record('approval-decided', `approval:${approvalId}`, { approvalId, decision });
        return { decision };
      }
      const effect = await handleReplies(plan);
      if (effect) return { effect };
    }
  }

  async function handleReplies(plan: LeadPlan): Promise<ReplyEffect> {
    while (st.replies.length) {
      const inboundId = st.replies.shift()!;
      st.progress.state = 'handling-reply';
      const { category, preferredTime } = await act.classifyLeadReply({ ...ref, inboundId, at: Date.now() });
      const effect = await onReply(plan, inboundId, category, preferredTime);
      if (effect) return effect;
    }
    return null;
  }

  async function onReply(plan: LeadPlan, inboundId: string, category: ReplyCategory, preferredTime: string | null): Promise<ReplyEffect> {
    switch (category) {
      case 'unsubscribe':
        return { stop: 'opted_out' };
      case 'not_now':
        return { stop: 'not_now' };
      case 'wrong_person':
        return { stop: 'wrong_person' };
      case 'out_of_office': {
        const back = preferredTime ? Date.parse(preferredTime) : Number.NaN;
        st.notBefore = Math.max(st.notBefore, Number.isFinite(back) && back > Date.now() ? back : Date.now() + OUT_OF_OFFICE_MS);
        await record('rescheduled', `ooo:${inboundId}`, { notBefore: new Date(st.notBefore).toISOString() });
        return null;
      }
      case 'interested':
        return { stop: await bookMeeting(plan, inboundId, preferredTime) };
      case 'question': {
        const { sendKey, approvalId } = await act.draftAnswer({ ...ref, inboundId, at: Date.now(), review: plan.reviewMode });
        if (approvalId) {
          const decided = await approval(plan, approvalId);
          if ('effect' in decided) return decided.effect;
          if (decided.decision === 'rejected') return { converse: true };
        }
        const sent = await deliver(plan, sendKey, null, false);
        if (sent !== 'sent' && sent !== 'skipped') return { stop: sent };
        return { converse: true };
      }
    }
  }

  /**
   * Interested: the free slot nearest the time they asked for (else the first one), booked once per
   * reply, and confirmed by email. Without a CRM calendar the reply stands and a person follows up.
   */
  async function bookMeeting(plan: LeadPlan, inboundId: string, preferredTime: string | null): Promise<LeadOutcome> {
    const today = new Date(Date.now()).toISOString().slice(0, 10);
    const horizon = new Date(Date.now() + BOOKING_HORIZON_DAYS * DAY).toISOString().slice(0, 10);
    try {
      const { slots, calendarId } = await crm.getFreeSlots({ tenantId: ref.tenantId, calendarId: plan.calendarId ?? undefined, startDate: today, endDate: horizon, timezone: plan.timezone });
      const wanted = preferredTime ? Date.parse(preferredTime) : Date.now();
      const future = slots.filter((slot) => Date.parse(slot) > Date.now());
      const slot = future.find((t) => Date.parse(t) >= wanted) ?? future[0];
      if (!slot) {
        await record('booking-failed', `booking:${inboundId}`, { reason: 'no free slot in the next days' });
        return 'replied';
      }
      const booked = await crm.bookAppointment({
        tenantId: ref.tenantId, idempotencyKey: `${ref.campaignId}:${ref.leadId}:book:${inboundId}`, calendarId,
        ...(plan.contactId ? { contactId: plan.contactId } : {}), ...(plan.email ? { email: plan.email } : {}), ...(plan.phone ? { phone: plan.phone } : {}),
        ...(plan.name ? { name: plan.name } : {}), startTime: slot, title: 'Meeting (campaign reply)',
      });
      plan.contactId = booked.contactId;
      await record('meeting-booked', `booked:${inboundId}`, { appointmentId: booked.appointmentId, startTime: booked.startTime, contactId: booked.contactId });
      if (plan.email) {
        const { sendKey } = await act.draftConfirmation({ ...ref, appointmentId: booked.appointmentId, startTime: booked.startTime, timezone: plan.timezone, at: Date.now() });
        await deliver(plan, sendKey, null, false);
      }
      return 'booked';
    } catch (err) {
      if (isCancellation(err)) throw err;
      await record('booking-failed', `booking:${inboundId}`, { reason: failureMessage(err) });
      return 'replied';
    }
  }

  /** A call step: one of the tenant's call slots, then a voiceCall child; a booking on the call ends the sequence. */
  async function call(plan: LeadPlan, step: Extract<LeadPlan['steps'][number], { type: 'call' }>, i: number): Promise<LeadOutcome | null> {
    if (!plan.phone) {
      await record('step-skipped', `skip:${i}`, { reason: 'no phone number' });
      return null;
    }
    const slotKey = `${ref.campaignId}:${ref.leadId}:${i}`;
    for (;;) {
      const slot = await act.acquireCallSlot({ ...ref, slotKey, max: plan.maxConcurrentCalls });
      if (slot === 'suppressed') return 'suppressed';
      if (slot === 'acquired') break;
      await sleepUntil(Date.now() + CALL_SLOT_RECHECK_MS, false);
      if (st.replies.length) return null; // the sequence loop handles the reply first
    }
    st.progress.state = 'calling';
    const callRef = `lead-${ref.campaignId}-${ref.leadId}-${i}`;
    try {
      const child = await startChild<typeof voiceCall>('voiceCall', {
        workflowId: workflowIds.voiceCall(ref.tenantId, step.provider, callRef),
        args: [{
          direction: 'outbound', tenantId: ref.tenantId, provider: step.provider, callRef, to: plan.phone, purpose: step.purpose,
          ...(plan.contactId ? { contactId: plan.contactId } : {}), ...(step.assistant ? { assistant: step.assistant } : {}),
          metadata: { campaignId: ref.campaignId, leadId: ref.leadId },
        }],
        parentClosePolicy: 'REQUEST_CANCEL',
        typedSearchAttributes: [
          { key: TenantIdKey, value: ref.tenantId },
          { key: WorkflowKindKey, value: 'voiceCall' },
          { key: ContactPhoneKey, value: plan.phone },
          { key: CallStatusKey, value: 'scheduled' },
        ],
      });
      await record('call-started', `call:${i}`, { workflowId: child.workflowId, purpose: step.purpose });
      const result = await child.result();
      if (result.contactId) plan.contactId = result.contactId;
      await record('call-finished', `call-done:${i}`, {
        status: result.status, attempts: result.attempts, appointmentIds: result.appointmentIds, outcome: result.outcome ?? null, nextAction: result.nextAction ?? null, summary: result.summary ?? null,
      });
      return result.appointmentIds.length ? 'booked' : null;
    } catch (err) {
      if (isCancellation(err)) throw err;
      await record('call-failed', `call-failed:${i}`, { reason: failureMessage(err) });
      return null;
    } finally {
      await CancellationScope.nonCancellable(() => act.releaseCallSlot({ ...ref, slotKey }));
    }
  }

  /** An sms step through the CRM (GoHighLevel conversations), inside the send window, once per step. */
  async function sms(plan: LeadPlan, step: Extract<LeadPlan['steps'][number], { type: 'sms' }>, i: number): Promise<LeadOutcome | null> {
    if (!plan.phone) {
      await record('step-skipped', `skip:${i}`, { reason: 'no phone number' });
      return null;
    }
    for (;;) {
      const opens = nextWindowStart(Math.max(Date.now(), st.notBefore), plan.timezone, plan.window);
      if (opens <= Date.now() && !st.progress.paused) break;
      if (st.progress.paused) await condition(() => !st.progress.paused || st.replies.length > 0);
      else await sleepUntil(opens);
      if (st.replies.length) return null;
    }
    if (await act.leadSuppressed(ref)) return 'suppressed';
    try {
      if (!plan.contactId) plan.contactId = (await crm.upsertContact({ tenantId: ref.tenantId, phone: plan.phone, ...(plan.email ? { email: plan.email } : {}), ...(plan.name ? { name: plan.name } : {}) })).contactId;
      const sent = await crm.sendSms({ tenantId: ref.tenantId, idempotencyKey: `${ref.campaignId}:${ref.leadId}:${i}:sms`, contactId: plan.contactId, message: step.message });
      await record('sms-sent', `sms:${i}`, { messageId: sent.messageId });
    } catch (err) {
      if (isCancellation(err)) throw err;
      await record('sms-failed', `sms-failed:${i}`, { reason: failureMessage(err) });
    }
    return null;
  }

  /** What matters goes back to the CRM contact: a tag per outcome and a note. Best effort: the outcome stands either way. */
  async function writeBack(plan: LeadPlan, outcome: LeadOutcome) {
    if (!plan.contactId || !CRM_OUTCOMES.includes(outcome)) return;
    try {
      await crm.tagContact({ tenantId: ref.tenantId, contactId: plan.contactId, tags: [`campaign-${outcome.replace(/_/g, '-')}`] });
      await crm.addContactNote({
        tenantId: ref.tenantId, idempotencyKey: `${ref.campaignId}:${ref.leadId}:outcome-note`, contactId: plan.contactId,
        body: `Campaign ${ref.campaignId}: ${outcome.replace(/_/g, ' ')} (workflow ${workflowInfo().workflowId}).`,
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      await record('crm-writeback-failed', 'crm-writeback', { reason: failureMessage(err) });
    }
  }

  /** After an answered question: the conversation stays open for more replies, then the lead ends as replied. */
  async function converse(plan: LeadPlan): Promise<LeadOutcome> {
    for (;;) {
      st.progress.state = 'conversation';
      const got = await condition(() => st.replies.length > 0, CONVERSATION_OPEN_MS);
      if (!got) return 'replied';
      const effect = await handleReplies(plan);
      if (effect && 'stop' in effect) return effect.stop;
    }
  }

  async function runSequence(plan: LeadPlan): Promise<LeadOutcome> {
    for (let i = 0; i < plan.steps.length; i++) {
      const step = plan.steps[i]!;
      st.progress.stepIndex = i;
      if (st.replies.length) {
        const effect = await handleReplies(plan);
        if (effect) return 'stop' in effect ? effect.stop : converse(plan);
      }
      switch (step.type) {
        case 'wait': {
          st.progress.state = 'waiting';
          const until = Date.now() + step.days * DAY;
          while (Math.max(until, st.notBefore) > Date.now()) {
            await sleepUntil(Math.max(until, st.notBefore), false);
            if (st.replies.length) {
              const effect = await handleReplies(plan);
              if (effect) return 'stop' in effect ? effect.stop : converse(plan);
            }
          }
          break;
        }
        case 'email': {
          if (!plan.email) {
            await record('step-skipped', `skip:${i}`, { reason: 'no email address' });
            break;
          }
          const sendKey = `${ref.campaignId}:${ref.leadId}:${i}`;
          if (plan.reviewMode) {
            const { approvalId } = await act.composeEmail({ ...ref, stepIndex: i, at: Date.now(), review: true });
            if (approvalId) {
              const decided = await approval(plan, approvalId);
              if ('effect' in decided) {
                const effect = decided.effect!;
                return 'stop' in effect ? effect.stop : converse(plan);
              }
              if (decided.decision === 'rejected') break;
            }
          }
          const sent = await deliver(plan, sendKey, i, true);
          if (sent !== 'sent' && sent !== 'skipped') return sent;
          break;
        }
        case 'call': {
          const outcome = await call(plan, step, i);
          if (outcome) return outcome;
          break;
        }
        case 'sms': {
          const outcome = await sms(plan, step, i);
          if (outcome) return outcome;
          break;
        }
      }
    }
    return 'exhausted';
  }

  let result: LeadResult;
  let failure: unknown;
  let recorded = false;
  try {
    const plan = await act.prepareLead({ ...ref, at: Date.now() });
    if (plan.status === 'finished') {
      // Done already (this task is a retry of one that timed out after the lead's last step): report it again.
      recorded = true;
      result = { outcome: plan.finalState ?? 'exhausted', detail: 'already finished' };
    } else {
      result = { outcome: plan.status === 'suppressed' ? 'suppressed' : await runSequence(plan) };
      await writeBack(plan, result.outcome);
    }
  } catch (err) {
    // A failed lead still reports back, so its campaign is not left waiting for it.
    failure = err;
    result = isCancellation(err) ? { outcome: 'cancelled' } : { outcome: 'failed', detail: err instanceof Error ? err.message : String(err) };
  }
  st.progress.state = 'finished';
  st.progress.outcome = result.outcome;
  await CancellationScope.nonCancellable(async () => {
    if (!recorded) await act.finishLead({ ...ref, outcome: result.outcome, at: Date.now(), ...(result.detail ? { detail: result.detail } : {}) });
    await getExternalWorkflowHandle(input.campaignWorkflowId).signal(leadFinishedSignal, { leadId: ref.leadId, outcome: result.outcome }).catch(() => undefined);
  });
  if (failure && !isCancellation(failure)) throw failure;
  return result;
}

function failureMessage(err: unknown): string {
  // An ActivityFailure or ChildWorkflowFailure wraps the real error: the innermost message says what happened.
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e && typeof e === 'object' && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e?.message ?? String(err);
}
