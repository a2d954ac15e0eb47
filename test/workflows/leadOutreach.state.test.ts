import { describe, expect, it } from 'vitest';
import type { SendWindow } from '../../lib/campaign.js';
import type { LeadOutcome } from '../../activities/campaigns/outreach.js';
import { REPLY_CATEGORIES } from '../../domain/campaigns/prompts.js';
import {
  bookingRange,
  DAY,
  leadKey,
  LeadState,
  OUT_OF_OFFICE_MS,
  outcomeTag,
  pickSlot,
  replyStep,
  sendStep,
  worthWritingBack,
} from '../../workflows/leadOutreach.state.js';

const weekdays9to17: SendWindow = { startHour: 9, endHour: 17, days: ['mon', 'tue', 'wed', 'thu', 'fri'] };
const utc = { timezone: 'UTC', window: weekdays9to17 };
/** Monday 2030-01-07 (UTC). */
const monday = (hour: number, minute = 0) => Date.UTC(2030, 0, 7, hour, minute);

describe('LeadState: replies, approvals, pause', () => {
  it('queues each reply once, however often it is delivered, oldest first', () => {
    const st = new LeadState(false);
    expect(st.receiveReply('r1')).toBe(true);
    expect(st.receiveReply('r2')).toBe(true);
    expect(st.receiveReply('r1')).toBe(false);
    expect(st.hasReplies).toBe(true);
    expect([st.nextReply(), st.nextReply(), st.nextReply()]).toEqual(['r1', 'r2', undefined]);
    expect(st.hasReplies).toBe(false);
    // Handled already: a late duplicate does not come back.
    expect(st.receiveReply('r1')).toBe(false);
  });

  it('keeps approval decisions by id', () => {
    const st = new LeadState(false);
    st.decide('ap1', 'edited');
    expect(st.decision('ap1')).toBe('edited');
    expect(st.decision('ap2')).toBeUndefined();
  });

  it('pause and resume show in the progress; resumes are counted', () => {
    const st = new LeadState(true);
    expect(st.progress).toMatchObject({ state: 'preparing', paused: true, stepIndex: -1, outcome: null });
    st.resume();
    st.pause();
    st.resume();
    expect(st.paused).toBe(false);
    expect(st.resumes).toBe(2);
    st.finish('booked');
    expect(st.progress).toMatchObject({ state: 'finished', outcome: 'booked' });
  });
});

describe('LeadState: send windows and out of office', () => {
  it('a send inside the window goes now; outside it waits for the next window start', () => {
    const st = new LeadState(false);
    expect(st.sendOpensAt(monday(10, 30), utc)).toBe(monday(10, 30));
    expect(st.sendOpensAt(monday(7), utc)).toBe(monday(9));
    expect(st.sendOpensAt(monday(17), utc)).toBe(Date.UTC(2030, 0, 8, 9));
    // Friday evening → Monday morning.
    expect(st.sendOpensAt(Date.UTC(2030, 0, 11, 18), utc)).toBe(Date.UTC(2030, 0, 14, 9));
  });

  it('the window is the recipient’s local one', () => {
    const st = new LeadState(false);
    const tokyo = { timezone: 'Asia/Tokyo', window: weekdays9to17 };
    // 10:00 UTC Monday is 19:00 in Tokyo: the next window is Tuesday 09:00 Tokyo = 00:00 UTC Tuesday.
    expect(st.sendOpensAt(monday(10), tokyo)).toBe(Date.UTC(2030, 0, 8, 0));
  });

  it('an out-of-office return date holds every touch until then; without one, a week', () => {
    const st = new LeadState(false);
    const now = monday(10);
    const back = st.outOfOffice('2030-01-10T09:00:00Z', now);
    expect(back).toBe(Date.UTC(2030, 0, 10, 9));
    expect(st.sendOpensAt(now, utc)).toBe(back);
    expect(st.waitEnd(now + DAY)).toBe(back);
    expect(st.waitEnd(now + 5 * DAY)).toBe(now + 5 * DAY);

    const other = new LeadState(false);
    expect(other.outOfOffice(null, now)).toBe(now + OUT_OF_OFFICE_MS);
    expect(new LeadState(false).outOfOffice('not a date', now)).toBe(now + OUT_OF_OFFICE_MS);
    expect(new LeadState(false).outOfOffice('2029-12-01T00:00:00Z', now)).toBe(now + OUT_OF_OFFICE_MS);
  });

  it('a second out-of-office never brings the next touch earlier', () => {
    const st = new LeadState(false);
    const now = monday(10);
    st.outOfOffice('2030-01-20T09:00:00Z', now);
    expect(st.outOfOffice('2030-01-09T09:00:00Z', now)).toBe(Date.UTC(2030, 0, 20, 9));
  });
});

describe('reply kinds and send results', () => {
  it('maps every reply kind to its next step', () => {
    expect(Object.fromEntries(REPLY_CATEGORIES.map((c) => [c, replyStep(c)]))).toEqual({
      interested: { book: true },
      not_now: { stop: 'not_now' },
      question: { answer: true },
      out_of_office: { reschedule: true },
      unsubscribe: { stop: 'opted_out' },
      wrong_person: { stop: 'wrong_person' },
    });
  });

  it('a cap (deferred) says when to try again; a pause waits; the rest end the send', () => {
    expect(sendStep({ status: 'deferred', retryAt: 123, reason: 'senderPerDay' })).toEqual({ retryAt: 123 });
    expect(sendStep({ status: 'paused' })).toEqual({ paused: true });
    expect(sendStep({ status: 'sent', messageId: 'm' })).toEqual({ done: 'sent' });
    expect(sendStep({ status: 'cancelled' })).toEqual({ done: 'cancelled' });
    expect(sendStep({ status: 'suppressed' })).toEqual({ done: 'suppressed' });
    expect(sendStep({ status: 'rejected' })).toEqual({ done: 'skipped' });
    expect(sendStep({ status: 'no-email' })).toEqual({ done: 'skipped' });
  });
});

describe('booking and write-back', () => {
  const now = monday(10);
  const slots = ['2030-01-07T09:00:00Z', '2030-01-08T10:00:00Z', '2030-01-09T15:00:00Z', '2030-01-10T09:00:00Z'];

  it('picks the first future slot at or after the time asked for, else the first future one', () => {
    expect(pickSlot(slots, '2030-01-09T12:00:00Z', now)).toBe('2030-01-09T15:00:00Z');
    expect(pickSlot(slots, null, now)).toBe('2030-01-08T10:00:00Z');
    expect(pickSlot(slots, '2030-02-01T00:00:00Z', now)).toBe('2030-01-08T10:00:00Z');
    expect(pickSlot(slots, 'whenever', now)).toBe('2030-01-08T10:00:00Z');
    expect(pickSlot(['2030-01-07T09:00:00Z'], null, now)).toBeUndefined();
  });

  it('asks for slots from today through the horizon', () => {
    expect(bookingRange(now)).toEqual({ startDate: '2030-01-07', endDate: '2030-01-14' });
  });

  it('writes back the outcomes a person cares about, tagged by name', () => {
    const worth: LeadOutcome[] = ['booked', 'replied', 'opted_out', 'not_now', 'wrong_person'];
    expect(worth.filter((o) => !worthWritingBack(o))).toEqual([]);
    expect(worthWritingBack('exhausted')).toBe(false);
    expect(worthWritingBack('failed')).toBe(false);
    expect(outcomeTag('opted_out')).toBe('campaign-opted-out');
    expect(leadKey({ tenantId: 't', campaignId: 'c', leadId: 'l' }, 'book:r1')).toBe('c:l:book:r1');
  });
});
