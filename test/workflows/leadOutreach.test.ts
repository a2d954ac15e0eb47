import { randomBytes } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  LeadOutcome,
  LeadPlan,
  OutreachActivities,
  SendInput,
  SendResult,
} from '../../activities/campaigns/outreach.js';
import type { ReplyCategory } from '../../domain/campaigns/prompts.js';
import type { LeadEvent } from '../../domain/campaigns/leadEvents.js';
import type { CrmActionActivities } from '../../activities/crm/actions.js';
import type { SendWindow } from '../../lib/campaign.js';
import { inWindow, localTime } from '../../lib/sendWindow.js';
import { leadProgressQuery, replyReceivedSignal } from '../../workflows/leadOutreach.contract.js';
import type { leadOutreach } from '../../workflows/leadOutreach.js';
import { bundleWorkflows, eventually, logged, startTimeSkippingEnv, stubWorker } from '../support/timeSkipping.js';

type Activities = OutreachActivities & CrmActionActivities;
const NAMES = [
  'prepareLead',
  'composeEmail',
  'sendEmail',
  'classifyLeadReply',
  'draftAnswer',
  'draftConfirmation',
  'leadSuppressed',
  'acquireCallSlot',
  'releaseCallSlot',
  'recordLeadEvents',
  'finishLead',
  'getFreeSlots',
  'bookAppointment',
  'upsertContact',
  'sendSms',
  'tagContact',
  'addContactNote',
] as const satisfies readonly (keyof Activities)[];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const allWeek: SendWindow = { startHour: 0, endHour: 24, days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] };
const TENANT = 'tenant-l';
const CAMPAIGN = 'cmp1';

/**
 * The leadOutreach workflow on the time-skipping test server, every activity a stub: send windows,
 * caps (a deferred send), and what each kind of reply does to the sequence.
 */
describe('leadOutreach workflow (stubbed activities)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Awaited<ReturnType<typeof stubWorker<Activities>>>;

  beforeAll(async () => {
    env = await startTimeSkippingEnv();
    worker = await stubWorker<Activities>(env, await bundleWorkflows(), NAMES);
  });
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  const plan = (over: Partial<LeadPlan> = {}): LeadPlan => ({
    status: 'ready',
    timezone: 'UTC',
    steps: [{ type: 'email' }],
    window: allWeek,
    reviewMode: false,
    maxConcurrentCalls: 1,
    calendarId: 'cal-1',
    email: 'ana@example.com',
    phone: null,
    contactId: 'ct-1',
    name: 'Ana Lead',
    ...over,
  });

  /** Stubs for a lead whose sends all go out; `over` changes what a test is about. */
  function fakeLead(p: LeadPlan, over: Partial<Activities> = {}) {
    const fake = logged<Activities>(NAMES, {
      prepareLead: async () => structuredClone(p),
      sendEmail: async (i): Promise<SendResult> => ({ status: 'sent', messageId: `m-${i.sendKey}` }),
      recordLeadEvents: async () => undefined,
      finishLead: async () => undefined,
      tagContact: async (i) => ({ tags: i.tags }),
      addContactNote: async () => ({ noteId: 'note-1' }),
      ...over,
    });
    worker.use(fake.stubs);
    return {
      ...fake,
      sendKeys: () => fake.inputs<SendInput>('sendEmail').map((i) => i.sendKey),
      events: () => fake.inputs<{ events: LeadEvent[] }>('recordLeadEvents').flatMap((i) => i.events),
    };
  }

  async function start() {
    const leadId = `lead-${randomBytes(4).toString('hex')}`;
    const handle = await env.client.workflow.start<typeof leadOutreach>('leadOutreach', {
      taskQueue: worker.taskQueue,
      workflowId: `lead:${TENANT}:${CAMPAIGN}:${leadId}`,
      // No campaign workflow runs here: the lead's last signal to it fails, which the lead ignores.
      args: [{ tenantId: TENANT, campaignId: CAMPAIGN, leadId, campaignWorkflowId: `campaign:${TENANT}:none` }],
    });
    return { handle, leadId, key: (suffix: string | number) => `${CAMPAIGN}:${leadId}:${suffix}` };
  }

  const classify =
    (category: ReplyCategory, preferredTime: string | null = null) =>
    async () => ({ category, preferredTime });

  it('send windows: a send waits for the recipient’s local window', async () => {
    const tz = 'Asia/Kolkata';
    const now = await env.currentTimeMs();
    // A one-hour window that opens two hours from now, recipient-local: closed at the start.
    const startHour = (localTime(now, tz).hour + 2) % 24;
    const window: SendWindow = { ...allWeek, startHour, endHour: startHour + 1 };
    const fake = fakeLead(plan({ timezone: tz, window }));
    const { handle } = await start();
    expect(await handle.result()).toEqual({ outcome: 'exhausted' });

    const [send, ...more] = fake.inputs<SendInput>('sendEmail');
    expect(more).toEqual([]);
    expect(send!.at).toBeGreaterThan(now);
    expect(inWindow(send!.at, tz, window)).toBe(true);
    // It waited for the window's start, recipient-local, and sent as it opened.
    const waiting = fake.events().find((e) => e.kind === 'waiting-for-window');
    const waited = waiting?.data as { until: string; timezone: string };
    expect(waited.timezone).toBe(tz);
    const opens = Date.parse(waited.until);
    expect(localTime(opens, tz)).toMatchObject({ hour: startHour, minute: 0, second: 0 });
    expect(send!.at - opens).toBeGreaterThanOrEqual(0);
    expect(send!.at - opens).toBeLessThan(60_000);
  });

  it('daily caps: a capped send is deferred, waits until the cap allows, then goes once', async () => {
    let retryAt = 0;
    const fake = fakeLead(plan(), {
      sendEmail: async (i): Promise<SendResult> => {
        if (!retryAt) {
          retryAt = i.at + 20 * HOUR;
          return { status: 'deferred', retryAt, reason: 'cap senderPerDay reached' };
        }
        return { status: 'sent', messageId: 'm-1' };
      },
    });
    const { handle, key } = await start();
    const waiting = await eventually('the lead waits for the cap', async () => {
      const p = await handle.query(leadProgressQuery);
      return p.state === 'waiting' && p.waitingUntil ? p : undefined;
    });
    expect(waiting.waitingUntil).toBe(new Date(retryAt).toISOString());
    expect(await handle.result()).toEqual({ outcome: 'exhausted' });

    const sends = fake.inputs<SendInput>('sendEmail');
    expect(sends.map((s) => s.sendKey)).toEqual([key(0), key(0)]);
    expect(sends[1]!.at).toBeGreaterThanOrEqual(retryAt);
    expect(sends[1]!.at - retryAt).toBeLessThan(60_000);
  });

  it('an interested reply books the slot asked for (or the first free), confirms it, ends the follow-ups', async () => {
    const fake = fakeLead(plan({ steps: [{ type: 'email' }, { type: 'wait', days: 3 }, { type: 'email' }] }), {
      classifyLeadReply: classify('interested'),
      // Today's midnight is past: the booking takes the first future slot.
      getFreeSlots: async (i) => ({
        calendarId: i.calendarId ?? 'none',
        timezone: 'UTC',
        slots: [`${i.startDate}T00:00:00.000Z`, `${i.endDate}T15:00:00.000Z`],
      }),
      bookAppointment: async (i) => ({ appointmentId: 'ap-1', contactId: 'ct-9', startTime: i.startTime, endTime: '' }),
      draftConfirmation: async () => ({ sendKey: 'confirm-ap-1' }),
    });
    const { handle, key } = await start();
    await eventually('the first email', () => fake.inputs('sendEmail').length === 1);
    await handle.signal(replyReceivedSignal, { inboundId: 'r1' });
    expect(await handle.result()).toEqual({ outcome: 'booked' });

    expect(fake.sendKeys()).toEqual([key(0), 'confirm-ap-1']);
    const [slots] = fake.inputs<{ endDate: string; calendarId: string }>('getFreeSlots');
    expect(slots!.calendarId).toBe('cal-1');
    expect(fake.inputs('bookAppointment')).toEqual([
      expect.objectContaining({
        idempotencyKey: key('book:r1'),
        startTime: `${slots!.endDate}T15:00:00.000Z`,
        contactId: 'ct-1',
        email: 'ana@example.com',
      }),
    ]);
    // The booking's contact gets the outcome tag.
    expect(fake.inputs('tagContact')).toEqual([{ tenantId: TENANT, contactId: 'ct-9', tags: ['campaign-booked'] }]);
    expect(fake.inputs<{ outcome: LeadOutcome }>('finishLead').map((i) => i.outcome)).toEqual(['booked']);
  });

  it.each([
    ['unsubscribe', 'opted_out', 'campaign-opted-out'],
    ['not_now', 'not_now', 'campaign-not-now'],
    ['wrong_person', 'wrong_person', 'campaign-wrong-person'],
  ] as const)('a %s reply stops the sequence as %s', async (category, outcome, tag) => {
    const fake = fakeLead(plan({ steps: [{ type: 'email' }, { type: 'wait', days: 2 }, { type: 'email' }] }), {
      classifyLeadReply: classify(category),
    });
    const { handle, key } = await start();
    await eventually('the first email', () => fake.inputs('sendEmail').length === 1);
    await handle.signal(replyReceivedSignal, { inboundId: 'r1' });
    expect(await handle.result()).toEqual({ outcome });
    expect(fake.sendKeys()).toEqual([key(0)]);
    expect(fake.inputs<{ tags: string[] }>('tagContact').map((i) => i.tags)).toEqual([[tag]]);
  });

  it('a question is answered once (a duplicated delivery too) and the conversation stays open 14 days', async () => {
    const fake = fakeLead(plan({ steps: [{ type: 'email' }, { type: 'wait', days: 1 }, { type: 'email' }] }), {
      classifyLeadReply: classify('question'),
      draftAnswer: async (i) => ({ sendKey: `answer-${i.inboundId}`, approvalId: null }),
    });
    const { handle, key } = await start();
    await eventually('the first email', () => fake.inputs('sendEmail').length === 1);
    await handle.signal(replyReceivedSignal, { inboundId: 'r1' });
    await handle.signal(replyReceivedSignal, { inboundId: 'r1' });
    expect(await handle.result()).toEqual({ outcome: 'replied' });

    expect(fake.sendKeys()).toEqual([key(0), 'answer-r1']);
    expect(fake.inputs('classifyLeadReply')).toHaveLength(1);
    expect(fake.inputs('draftAnswer')).toHaveLength(1);
    const answered = fake.inputs<SendInput>('sendEmail')[1]!.at;
    const [finished] = fake.inputs<{ at: number }>('finishLead');
    expect(finished!.at - answered).toBeGreaterThanOrEqual(14 * DAY);
  });

  it('an out-of-office reply moves the next email past the return date', async () => {
    const back = new Date((await env.currentTimeMs()) + 5 * DAY).toISOString();
    const fake = fakeLead(plan({ steps: [{ type: 'email' }, { type: 'wait', days: 1 }, { type: 'email' }] }), {
      classifyLeadReply: classify('out_of_office', back),
    });
    const { handle, key } = await start();
    await eventually('the first email', () => fake.inputs('sendEmail').length === 1);
    await handle.signal(replyReceivedSignal, { inboundId: 'r1' });
    expect(await handle.result()).toEqual({ outcome: 'exhausted' });

    const sends = fake.inputs<SendInput>('sendEmail');
    expect(sends.map((s) => s.sendKey)).toEqual([key(0), key(2)]);
    expect(sends[1]!.at).toBeGreaterThanOrEqual(Date.parse(back));
    expect(fake.events().find((e) => e.kind === 'rescheduled')?.data).toEqual({ notBefore: back });
    // Out of office is no outcome worth a CRM note.
    expect(fake.inputs('tagContact')).toEqual([]);
  });
});
