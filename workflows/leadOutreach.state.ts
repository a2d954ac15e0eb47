import type { LeadOutcome, LeadPlan, SendResult } from '../activities/campaigns/outreach.js';
import type { ReplyCategory } from '../domain/campaigns/prompts.js';
import { nextWindowStart } from '../lib/sendWindow.js';
import type { ApprovalDecision, LeadProgress, LeadStage } from './leadOutreach.contract.js';

/**
 * What one leadOutreach workflow knows between its steps, and the rules it applies: replies
 * queued once per inbound id, approval decisions, pause/resume, the out-of-office "not before",
 * the recipient's send window, what a send result or a reply kind means for the next step. Plain
 * code (no Temporal): unit-tested on its own, while the workflow wires its signals to it.
 */

export const DAY = 86_400_000;
/** After answering a question, how long the conversation stays open for another reply. */
export const CONVERSATION_OPEN_MS = 14 * DAY;
/** An out-of-office without a return date pushes the next touch this far. */
export const OUT_OF_OFFICE_MS = 7 * DAY;
/** A send that found the campaign paused (before our pause signal arrived) looks again after this. */
export const PAUSED_RECHECK_MS = 10 * 60_000;
/** A call step waiting for one of the tenant's call slots looks again after this. */
export const CALL_SLOT_RECHECK_MS = 20_000;
/** Meetings are offered from the free slots of the next days. */
export const BOOKING_HORIZON_DAYS = 7;
/** Outcomes worth writing back to the CRM contact (tags and a note). */
const CRM_OUTCOMES: readonly LeadOutcome[] = ['booked', 'replied', 'opted_out', 'not_now', 'wrong_person'];

export interface LeadRef {
  tenantId: string;
  campaignId: string;
  leadId: string;
}

/** Keys of this lead's events, sends and CRM writes: unique per campaign and lead. */
export const leadKey = (ref: LeadRef, suffix: string | number): string => `${ref.campaignId}:${ref.leadId}:${suffix}`;

export class LeadState {
  readonly progress: LeadProgress;
  /** Resume signals so far: a send that found the campaign paused waits for the next one. */
  resumes = 0;
  /** Out of office: no touch before this instant (ms). */
  notBefore = 0;
  private readonly replies: string[] = [];
  private readonly seenReplies = new Set<string>();
  private readonly decisions = new Map<string, ApprovalDecision>();

  constructor(paused: boolean) {
    this.progress = { state: 'preparing', stepIndex: -1, paused, waitingUntil: null, outcome: null };
  }

  /** Queues a reply once, however often it is delivered; false for a duplicate. */
  receiveReply(inboundId: string): boolean {
    if (this.seenReplies.has(inboundId)) return false;
    this.seenReplies.add(inboundId);
    this.replies.push(inboundId);
    return true;
  }

  get hasReplies(): boolean {
    return this.replies.length > 0;
  }

  /** The oldest reply not handled yet. */
  nextReply(): string | undefined {
    return this.replies.shift();
  }

  decide(approvalId: string, decision: ApprovalDecision): void {
    this.decisions.set(approvalId, decision);
  }

  decision(approvalId: string): ApprovalDecision | undefined {
    return this.decisions.get(approvalId);
  }

  get paused(): boolean {
    return this.progress.paused;
  }

  pause(): void {
    this.progress.paused = true;
  }

  resume(): void {
    this.progress.paused = false;
    this.resumes++;
  }

  enter(stage: LeadStage): void {
    this.progress.state = stage;
  }

  finish(outcome: LeadOutcome): void {
    this.progress.state = 'finished';
    this.progress.outcome = outcome;
  }

  /** When the next send may go: `now` inside the recipient's window (and past any out-of-office), else later. */
  sendOpensAt(now: number, plan: Pick<LeadPlan, 'timezone' | 'window'>): number {
    return nextWindowStart(Math.max(now, this.notBefore), plan.timezone, plan.window);
  }

  /** The end of a wait step: its own end, or later when the lead is out of office. */
  waitEnd(until: number): number {
    return Math.max(until, this.notBefore);
  }

  /** An out-of-office reply: nothing before the return date they gave (if it is ahead), else a week. */
  outOfOffice(returnTime: string | null, now: number): number {
    const back = returnTime ? Date.parse(returnTime) : Number.NaN;
    const until = Number.isFinite(back) && back > now ? back : now + OUT_OF_OFFICE_MS;
    this.notBefore = Math.max(this.notBefore, until);
    return this.notBefore;
  }
}

/** What a reply's kind leads to: an outcome, a later next touch, a booking, or an answer. */
export type ReplyStep = { stop: LeadOutcome } | { reschedule: true } | { book: true } | { answer: true };

export function replyStep(category: ReplyCategory): ReplyStep {
  switch (category) {
    case 'unsubscribe':
      return { stop: 'opted_out' };
    case 'not_now':
      return { stop: 'not_now' };
    case 'wrong_person':
      return { stop: 'wrong_person' };
    case 'out_of_office':
      return { reschedule: true };
    case 'interested':
      return { book: true };
    case 'question':
      return { answer: true };
    case 'handoff':
      // Past the conversation's limits the lead ends as replied; a person follows up from its timeline.
      return { stop: 'replied' };
  }
}

/** What a send's result means: done (sent, skipped or an outcome), try again at `retryAt` (caps), or paused. */
export type SendStep = { done: LeadOutcome | 'sent' | 'skipped' } | { retryAt: number } | { paused: true };

export function sendStep(r: SendResult): SendStep {
  switch (r.status) {
    case 'sent':
      return { done: 'sent' };
    case 'deferred':
      return { retryAt: r.retryAt };
    case 'paused':
      return { paused: true };
    case 'cancelled':
      return { done: 'cancelled' };
    case 'suppressed':
      return { done: 'suppressed' };
    default:
      return { done: 'skipped' };
  }
}

/** The dates free slots are asked for: today through the booking horizon (UTC days). */
export function bookingRange(now: number): { startDate: string; endDate: string } {
  return {
    startDate: new Date(now).toISOString().slice(0, 10),
    endDate: new Date(now + BOOKING_HORIZON_DAYS * DAY).toISOString().slice(0, 10),
  };
}

/** The first future slot at or after the time they asked for, else the first future slot. */
export function pickSlot(slots: readonly string[], preferredTime: string | null, now: number): string | undefined {
  const wanted = preferredTime ? Date.parse(preferredTime) : now;
  const future = slots.filter((slot) => Date.parse(slot) > now);
  return future.find((t) => Date.parse(t) >= wanted) ?? future[0];
}

export function worthWritingBack(outcome: LeadOutcome): boolean {
  return CRM_OUTCOMES.includes(outcome);
}

export const outcomeTag = (outcome: LeadOutcome): string => `campaign-${outcome.replace(/_/g, '-')}`;
