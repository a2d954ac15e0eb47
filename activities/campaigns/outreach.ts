import { randomBytes } from 'node:crypto';
import { ApplicationFailure, activityInfo } from '@temporalio/activity';
import { insertAudit } from '../../domain/audit.js';
import type { SendWindow } from '../../lib/campaign.js';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { NotConnectedError } from '../../domain/connections/store.js';
import { withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import { contactBlocked, isOptOutText, suppress } from '../../domain/suppression.js';
import { createSendgridMailer, SendgridError, type Mailer } from '../../providers/sendgrid.js';
import {
  answerQuestion,
  briefWithoutModel,
  classifyReply,
  costOf,
  newReplyText,
  researchLead,
  writeEmail,
  type Draft,
  type LeadFacts,
  type ReplyCategory,
  type Usage,
} from '../../domain/campaigns/prompts.js';
import { appendEvents, eventKey, type LeadEvent, type LeadRef } from '../../domain/campaigns/leadEvents.js';
import { cachedCampaign, leadFacts, loadCampaign, loadLead, type LeadRow } from '../../domain/campaigns/store.js';
import { newId } from '../../lib/ids.js';
import { unsubscribeToken } from '../../domain/campaigns/unsubscribe.js';
import { consume, QuotaExceeded } from '../../domain/quotas.js';
import { waitForQuotaReset } from '../quotaWait.js';

/**
 * The leadOutreach workflow's activities: prepare (suppression check, research), draft, send (caps,
 * suppression, exactly one email per key), classify and answer replies, finish. Each is idempotent:
 * rows are keyed by lead and step, events by an event key, and a send by its send key.
 */

export interface CampaignActivityDeps {
  pool: Pool;
  /** Each tenant's SendGrid key and sender, and Claude key (the platform's by default). */
  access: ProviderAccess;
  anthropicModel?: string;
  /** Signs the one-click unsubscribe links (a key derived from it, domain/campaigns/unsubscribe.ts). */
  masterKey: Buffer;
  /** The API's public base URL: unsubscribe links point at it. */
  publicUrl: () => string;
}

export type PlanStep =
  | { type: 'email' }
  | { type: 'wait'; days: number }
  | { type: 'call'; purpose: string; provider: 'vapi' | 'retell'; assistant?: string }
  | { type: 'sms'; message: string }
  | { type: 'workflow'; workflowId: string };

export interface LeadPlan {
  status: 'ready' | 'suppressed' | 'finished';
  /** When `finished`: the outcome already recorded (a workflow task retried after the lead was done). */
  finalState?: LeadOutcome;
  timezone: string;
  steps: PlanStep[];
  window: SendWindow;
  reviewMode: boolean;
  maxConcurrentCalls: number;
  calendarId: string | null;
  /** The campaign's pipeline stages by outcome (policy.pipeline); absent in plans made before it existed. */
  pipeline?: { pipelineId: string; stages: Partial<Record<'booked' | 'replied' | 'opted_out', string>> } | null;
  email: string | null;
  phone: string | null;
  contactId: string | null;
  name: string | null;
}

export type SendResult =
  | { status: 'sent'; messageId: string }
  | { status: 'deferred'; retryAt: number; reason: string }
  | { status: 'suppressed' | 'rejected' | 'paused' | 'cancelled' | 'no-email' };

export interface SendInput extends LeadRef {
  sendKey: string;
  /** Sequence emails are drafted on first use; answers and confirmations exist already. */
  stepIndex: number | null;
  /** Workflow time (ms): the send window and cap buckets are judged on it. */
  at: number;
}

export type LeadOutcome =
  'booked' | 'replied' | 'opted_out' | 'suppressed' | 'not_now' | 'wrong_person' | 'exhausted' | 'cancelled' | 'failed';

/** A sent email whose fate is unknown (crash between SendGrid's answer and our record) is not resent before this. */
const UNKNOWN_SEND_GRACE_MS = 120_000;

class CapReached extends Error {
  constructor(
    readonly cap: string,
    readonly retryAt: number,
  ) {
    super(`cap ${cap} reached`);
  }
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export function sequenceSendKey(ref: LeadRef, stepIndex: number): string {
  return `${ref.campaignId}:${ref.leadId}:${stepIndex}`;
}

export function createOutreachActivities(deps: CampaignActivityDeps) {
  const { pool, access } = deps;
  const llmFor = (tenantId: string) => access.llm(tenantId, { model: deps.anthropicModel });
  /** The tenant's own SendGrid key: it can send only as the tenant's verified sender. */
  const mailers = new Map<string, { apiKey: string; mailer: Mailer }>();
  const mailerFor = async (tenantId: string): Promise<Mailer> => {
    const key = await access.sendgrid(tenantId).catch((err: unknown) => {
      if (err instanceof NotConnectedError) throw ApplicationFailure.nonRetryable(err.message, 'NotConnected');
      throw err;
    });
    const hit = mailers.get(tenantId);
    if (hit?.apiKey === key.apiKey) return hit.mailer;
    const mailer = createSendgridMailer(key);
    mailers.set(tenantId, { apiKey: key.apiKey, mailer });
    return mailer;
  };
  const workflowId = () => {
    try {
      return activityInfo().workflowExecution?.workflowId;
    } catch {
      return undefined;
    }
  };

  async function auditLlm(
    c: PoolClient,
    tenantId: string,
    tool: string,
    startedAt: number,
    usage: Usage | null,
    error?: string,
  ) {
    await insertAudit(c, {
      tenantId,
      workflowId: workflowId(),
      activity: tool,
      tool: `anthropic.messages.${tool}`,
      status: error && !usage ? 'error' : 'ok',
      durationMs: Date.now() - startedAt,
      source: access.mode('anthropic'),
      params: usage ? { ...usage } : undefined,
      ...(error ? { error } : {}),
    });
  }

  type Campaign = Awaited<ReturnType<typeof loadCampaign>>;
  const campaignOf = async (ref: LeadRef): Promise<Campaign> =>
    cachedCampaign(ref.tenantId, ref.campaignId) ??
    withTenant(pool, ref.tenantId, (c) => loadCampaign(c, ref.tenantId, ref.campaignId));

  /** Claude (or the step's template) writes the email of `stepIndex` for this lead. */
  async function composeDraft(
    ref: LeadRef,
    stepIndex: number,
    lead: LeadRow,
    facts: LeadFacts,
    campaign: Campaign,
  ): Promise<Draft & { startedAt: number }> {
    const step = campaign.settings.sequence[stepIndex];
    if (step?.type !== 'email')
      throw ApplicationFailure.nonRetryable(
        `step ${stepIndex} of campaign ${ref.campaignId} is not an email step`,
        'NotAnEmailStep',
      );
    const startedAt = Date.now();
    const draft = await writeEmail(() => llmFor(ref.tenantId), {
      campaignName: campaign.name,
      goal: campaign.goal,
      stepNumber: campaign.settings.sequence.slice(0, stepIndex + 1).filter((s) => s.type === 'email').length,
      prompt: step.prompt,
      template: step.subject && step.template ? { subject: step.subject, body: step.template } : undefined,
      brief: lead.brief ?? '',
      facts,
      sender: campaign.settings.sender,
    });
    return { ...draft, startedAt };
  }

  /** Stores a drafted sequence email once per send key (and, in review mode, its approval), inside the caller's transaction. */
  async function storeDraft(
    c: PoolClient,
    ref: LeadRef,
    stepIndex: number,
    at: number,
    toEmail: string,
    campaign: Campaign,
    draft: Draft & { startedAt: number },
    review: boolean,
  ): Promise<{ sendKey: string; approvalId: string | null }> {
    const sendKey = sequenceSendKey(ref, stepIndex);
    if (draft.origin !== 'template')
      await auditLlm(c, ref.tenantId, 'writeEmail', draft.startedAt, draft.usage, draft.error);
    const inserted = await c.query(
      `insert into email_sends (tenant_id, send_key, campaign_id, lead_id, step_index, kind, to_email, from_email, subject, body, origin, reply_token)
       values ($1, $2, $3, $4, $5, 'sequence', $6, $7, $8, $9, $10, $11) on conflict do nothing`,
      [
        ref.tenantId,
        sendKey,
        ref.campaignId,
        ref.leadId,
        stepIndex,
        toEmail,
        campaign.settings.sender.email,
        draft.subject,
        draft.body,
        draft.origin,
        newToken(),
      ],
    );
    const approvalId = review
      ? await createApproval(c, ref, {
          sendKey,
          stepIndex,
          kind: 'email',
          draft: { subject: draft.subject, body: draft.body },
        })
      : null;
    if (inserted.rowCount) {
      await appendEvents(c, ref, [
        {
          kind: 'email-drafted',
          stepIndex,
          at,
          key: eventKey(ref, 'drafted', stepIndex),
          data: {
            sendKey,
            subject: draft.subject,
            origin: draft.origin,
            ...(draft.error ? { error: draft.error } : {}),
            ...(draft.usage ? { usage: draft.usage, costUsd: costOf(draft.usage) } : {}),
            ...(approvalId ? { approvalId } : {}),
          },
        },
      ]);
    }
    return { sendKey, approvalId };
  }

  /** Review mode: drafts a sequence email (once per send key) and its approval. */
  async function draftSequenceEmail(
    ref: LeadRef,
    stepIndex: number,
    at: number,
    review: boolean,
  ): Promise<{ sendKey: string; approvalId: string | null }> {
    const sendKey = sequenceSendKey(ref, stepIndex);
    const loaded = await withTenant(pool, ref.tenantId, async (c) => {
      const existing = await c.query<{ approval_id: string | null }>(
        'select (select id from campaign_approvals a where a.tenant_id = s.tenant_id and a.send_key = s.send_key) as approval_id from email_sends s where tenant_id = $1 and send_key = $2',
        [ref.tenantId, sendKey],
      );
      if (existing.rows[0]) return { done: { sendKey, approvalId: existing.rows[0].approval_id } };
      const lead = await loadLead(c, ref);
      return {
        draftFor: {
          lead,
          facts: await leadFacts(c, ref.tenantId, lead),
          campaign: await loadCampaign(c, ref.tenantId, ref.campaignId),
        },
      };
    });
    if (loaded.done) return loaded.done;
    const { lead, facts, campaign } = loaded.draftFor!;
    if (!lead.email) throw ApplicationFailure.nonRetryable(`lead ${ref.leadId} has no email`, 'NoEmail');
    const draft = await composeDraft(ref, stepIndex, lead, facts, campaign);
    return withTenant(pool, ref.tenantId, (c) =>
      storeDraft(c, ref, stepIndex, at, lead.email!, campaign, draft, review),
    );
  }

  async function createApproval(
    c: PoolClient,
    ref: LeadRef,
    a: { sendKey: string; stepIndex: number | null; kind: 'email' | 'reply'; draft: { subject: string; body: string } },
  ): Promise<string> {
    const { rows } = await c.query<{ id: string }>(
      `insert into campaign_approvals (tenant_id, id, campaign_id, lead_id, step_index, kind, send_key, draft)
       values ($1, $2, $3, $4, $5, $6, $7, $8)
       on conflict (tenant_id, send_key) do update set send_key = excluded.send_key returning id`,
      [ref.tenantId, newId('apr'), ref.campaignId, ref.leadId, a.stepIndex, a.kind, a.sendKey, a.draft],
    );
    return rows[0]!.id;
  }

  /** Increments every configured cap's counter for the buckets of `at`, or throws CapReached (the transaction rolls back). */
  async function reserveCaps(
    c: PoolClient,
    tenantId: string,
    sender: string,
    caps: Record<string, number | undefined>,
    at: number,
    sendKey: string,
  ): Promise<{ hour: Date; day: Date }> {
    const hour = new Date(Math.floor(at / HOUR) * HOUR);
    const day = new Date(Math.floor(at / DAY) * DAY);
    const counters: [string, number | undefined, Date, number][] = [
      ['tenantPerHour', caps.tenantPerHour, hour, hour.getTime() + HOUR],
      ['tenantPerDay', caps.tenantPerDay, day, day.getTime() + DAY],
      ['senderPerHour', caps.senderPerHour, hour, hour.getTime() + HOUR],
      ['senderPerDay', caps.senderPerDay, day, day.getTime() + DAY],
    ];
    for (const [cap, limit, bucket, next] of counters) {
      if (!limit) continue;
      const scope = cap.startsWith('sender') ? `${cap}:${sender}` : cap;
      const { rowCount } = await c.query(
        `insert into send_counters (tenant_id, scope, bucket, count) values ($1, $2, $3, 1)
         on conflict (tenant_id, scope, bucket) do update set count = send_counters.count + 1 where send_counters.count < $4`,
        [tenantId, scope, bucket, limit],
      );
      if (!rowCount) throw new CapReached(cap, next);
    }
    // The tenant's daily email quota, like a cap: past it the send is deferred until the reset.
    await consume(c, tenantId, 'emails_per_day', 1, { defaults: access.quotaDefaults, key: `email:${sendKey}` }).catch(
      (err: unknown) => {
        if (err instanceof QuotaExceeded) throw new CapReached(err.quota, err.resetsAt.getTime());
        throw err;
      },
    );
    return { hour, day };
  }

  interface SendRow {
    status: string;
    message_id: string | null;
    to_email: string;
    from_email: string;
    subject: string;
    body: string;
    reply_token: string;
    step_index: number | null;
    kind: string;
    claimed_at: Date | null;
    hour_bucket: Date | null;
  }

  async function finishSend(
    ref: LeadRef,
    sendKey: string,
    row: SendRow,
    messageId: string,
    at: number,
    audit?: { startedAt: number },
  ) {
    await withTenant(pool, ref.tenantId, async (c) => {
      await c.query(`update email_sends set status = 'sent', message_id = $3 where tenant_id = $1 and send_key = $2`, [
        ref.tenantId,
        sendKey,
        messageId,
      ]);
      if (row.step_index !== null && row.kind === 'sequence') {
        await c.query(
          'update campaign_leads set step_index = $4, updated_at = now() where tenant_id = $1 and campaign_id = $2 and id = $3',
          [ref.tenantId, ref.campaignId, ref.leadId, row.step_index],
        );
      }
      await appendEvents(c, ref, [
        {
          kind: 'email-sent',
          stepIndex: row.step_index,
          at,
          key: eventKey(ref, 'sent', sendKey),
          data: { sendKey, messageId, to: row.to_email, subject: row.subject, kind: row.kind },
        },
      ]);
      if (audit) {
        await insertAudit(c, {
          tenantId: ref.tenantId,
          workflowId: workflowId(),
          activity: 'sendEmail',
          tool: 'sendgrid.mail.send',
          status: 'ok',
          durationMs: Date.now() - audit.startedAt,
          source: access.mode('sendgrid'),
          params: { sendKey, messageId },
        });
      }
    });
  }

  return {
    /** Loads the lead and its campaign, checks suppression, researches the lead once, and returns the plan. */
    async prepareLead(input: LeadRef & { at: number }): Promise<LeadPlan> {
      const ref: LeadRef = input;
      const loaded = await withTenant(pool, ref.tenantId, async (c) => {
        const lead = await loadLead(c, ref);
        const campaign = await loadCampaign(c, ref.tenantId, ref.campaignId);
        const facts = await leadFacts(c, ref.tenantId, lead);
        const suppressed = Boolean(
          await contactBlocked(c, {
            tenantId: ref.tenantId,
            channel: 'email',
            email: lead.email,
            phone: lead.phone,
            contactId: lead.contact_id,
          }),
        );
        return { lead, campaign, facts, suppressed };
      });
      const { lead, campaign, facts } = loaded;
      const s = campaign.settings;
      const plan: LeadPlan = {
        status: 'ready',
        timezone: lead.timezone ?? facts.crmTimezone ?? s.policy.timezone,
        steps: s.sequence.map((step): PlanStep => {
          switch (step.type) {
            case 'email':
              return { type: 'email' };
            case 'wait':
              return { type: 'wait', days: step.days };
            case 'call':
              return {
                type: 'call',
                purpose: step.purpose,
                provider: step.provider,
                ...(step.assistant ? { assistant: step.assistant } : {}),
              };
            case 'sms':
              return {
                type: 'sms',
                message: step.message
                  .replace(/\{\{\s*firstName\s*\}\}/g, facts.firstName ?? 'there')
                  .replace(/\{\{\s*company\s*\}\}/g, facts.company ?? ''),
              };
            case 'workflow':
              return { type: 'workflow', workflowId: step.workflowId };
          }
        }),
        window: s.policy.sendWindow,
        reviewMode: s.policy.reviewMode,
        maxConcurrentCalls: s.policy.maxConcurrentCalls,
        calendarId: s.policy.calendarId ?? null,
        pipeline: s.policy.pipeline ?? null,
        email: lead.email,
        phone: lead.phone,
        contactId: lead.contact_id,
        name: facts.name,
      };
      if (!['pending', 'active'].includes(lead.state))
        return { ...plan, status: 'finished', finalState: lead.state as LeadOutcome };
      if (loaded.suppressed) return { ...plan, status: 'suppressed' };

      let brief = lead.brief;
      const events: LeadEvent[] = [
        {
          kind: 'started',
          at: input.at,
          key: eventKey(ref, 'started'),
          data: { timezone: plan.timezone, steps: plan.steps.length },
        },
      ];
      let research: Awaited<ReturnType<typeof researchLead>> | undefined;
      const startedAt = Date.now();
      if (brief === null) {
        // Past the day's Claude tokens the lead still goes on, with its facts as the brief.
        const llm = await llmFor(ref.tenantId).catch((err: unknown) => {
          if (err instanceof QuotaExceeded) return err;
          throw err;
        });
        research =
          llm instanceof QuotaExceeded
            ? briefWithoutModel(facts, llm.message)
            : await researchLead(llm, facts, campaign.goal);
        brief = research.text;
        events.push({
          kind: 'researched',
          at: input.at,
          key: eventKey(ref, 'researched'),
          data: {
            origin: research.origin,
            inCrm: facts.crm !== null,
            ...(research.error ? { error: research.error } : {}),
            ...(research.usage ? { usage: research.usage, costUsd: costOf(research.usage) } : {}),
          },
        });
      }
      await withTenant(pool, ref.tenantId, async (c) => {
        await c.query(
          `update campaign_leads set state = 'active', brief = $4, updated_at = now() where tenant_id = $1 and campaign_id = $2 and id = $3 and state in ('pending', 'active')`,
          [ref.tenantId, ref.campaignId, ref.leadId, brief],
        );
        await appendEvents(c, ref, events);
        if (research) await auditLlm(c, ref.tenantId, 'researchLead', startedAt, research.usage, research.error);
      });
      return plan;
    },

    /** Review mode: the draft and its pending approval. */
    async composeEmail(
      input: LeadRef & { stepIndex: number; at: number; review: boolean },
    ): Promise<{ sendKey: string; approvalId: string | null }> {
      return draftSequenceEmail(input, input.stepIndex, input.at, input.review);
    },

    /**
     * Sends the email of `sendKey` exactly once: suppression, campaign status and the caps are
     * checked and the caps reserved in one transaction that also claims the send; a retry after the
     * email went out returns the recorded message id instead of sending again.
     */
    async sendEmail(input: SendInput): Promise<SendResult> {
      const ref: LeadRef = input;
      const { sendKey, at } = input;
      const campaign = await campaignOf(ref);
      const selectSend = (c: PoolClient) =>
        c.query<SendRow>(
          'select status, message_id, to_email, from_email, subject, body, reply_token, step_index, kind, claimed_at, hour_bucket from email_sends where tenant_id = $1 and send_key = $2',
          [ref.tenantId, sendKey],
        );
      // One read: the send if it exists, else what drafting it needs.
      const loaded = await withTenant(pool, ref.tenantId, async (c) => {
        const row = (await selectSend(c)).rows[0];
        const lead = await loadLead(c, ref);
        return { row, lead, facts: row || !lead.email ? undefined : await leadFacts(c, ref.tenantId, lead) };
      });
      const { lead } = loaded;
      let row = loaded.row;
      let draft: (Draft & { startedAt: number }) | undefined;
      if (!row) {
        if (input.stepIndex === null)
          throw ApplicationFailure.nonRetryable(`no email drafted for ${sendKey}`, 'NoDraft');
        if (!lead.email) return { status: 'no-email' };
        try {
          draft = await composeDraft(ref, input.stepIndex, lead, loaded.facts!, campaign);
        } catch (err) {
          // The day's Claude tokens are spent: the email waits for the reset, like a cap.
          if (!(err instanceof QuotaExceeded)) throw err;
          const retryAt = err.resetsAt.getTime();
          await withTenant(pool, ref.tenantId, (c) =>
            appendEvents(c, ref, [
              {
                kind: 'send-deferred',
                stepIndex: input.stepIndex,
                at: input.at,
                key: eventKey(ref, 'deferred', sendKey, err.quota, retryAt),
                data: { sendKey, cap: err.quota, retryAt: err.resetsAt.toISOString() },
              },
            ]),
          );
          return { status: 'deferred', retryAt, reason: err.quota };
        }
      } else {
        if (row.status === 'sent') return { status: 'sent', messageId: row.message_id! };
        if (row.status === 'suppressed' || row.status === 'rejected') return { status: row.status };
      }

      if (row?.status === 'sending') {
        // The email may have gone out just before a crash: SendGrid's own events (which carry the send key) tell.
        const seen = await withTenant(pool, ref.tenantId, (c) =>
          c.query<{ message_id: string | null }>(
            'select message_id from sendgrid_events where tenant_id = $1 and send_key = $2 and message_id is not null limit 1',
            [ref.tenantId, sendKey],
          ),
        );
        if (seen.rows[0]?.message_id) {
          await finishSend(ref, sendKey, row, seen.rows[0].message_id, at);
          return { status: 'sent', messageId: seen.rows[0].message_id };
        }
        if (row.claimed_at && Date.now() - row.claimed_at.getTime() < UNKNOWN_SEND_GRACE_MS) {
          throw ApplicationFailure.retryable(
            `the outcome of send ${sendKey} is not known yet; waiting for SendGrid's events before sending again`,
            'SendOutcomeUnknown',
          );
        }
      } else {
        // One transaction stores a fresh draft, checks the campaign and the suppression list, reserves the caps and claims the send.
        const claimed = await withTenant(pool, ref.tenantId, async (c) => {
          if (draft) {
            await storeDraft(c, ref, input.stepIndex!, at, lead.email!, campaign, draft, false);
            row = (await selectSend(c)).rows[0]!;
            if (row.status !== 'drafted') return { status: 'retry' } as const; // another attempt got further meanwhile
          }
          const current = row!;
          const status = (
            await c.query<{ status: string }>('select status from campaigns where tenant_id = $1 and id = $2', [
              ref.tenantId,
              ref.campaignId,
            ])
          ).rows[0]?.status;
          if (status === 'paused' || status === 'cancelled') return { status } as const;
          if (
            await contactBlocked(c, {
              tenantId: ref.tenantId,
              channel: 'email',
              email: current.to_email,
              phone: lead.phone,
              contactId: lead.contact_id,
            })
          ) {
            await c.query(`update email_sends set status = 'suppressed' where tenant_id = $1 and send_key = $2`, [
              ref.tenantId,
              sendKey,
            ]);
            await appendEvents(c, ref, [
              {
                kind: 'email-suppressed',
                stepIndex: current.step_index,
                at,
                key: eventKey(ref, 'suppressed', sendKey),
                data: { sendKey, to: current.to_email },
              },
            ]);
            return { status: 'suppressed' } as const;
          }
          // A full cap undoes only the reservation; the draft stays for the next attempt.
          await c.query('savepoint caps');
          try {
            // Reserved once: a send released after a failed attempt keeps the reservation it had.
            const buckets = current.hour_bucket
              ? null
              : await reserveCaps(c, ref.tenantId, current.from_email, campaign.settings.policy.caps, at, sendKey);
            await c.query(
              `update email_sends set status = 'sending', claimed_at = clock_timestamp(), sent_at = to_timestamp($3 / 1000.0),
                      hour_bucket = coalesce(hour_bucket, $4), day_bucket = coalesce(day_bucket, $5::date)
                where tenant_id = $1 and send_key = $2`,
              [
                ref.tenantId,
                sendKey,
                at,
                buckets?.hour ?? null,
                buckets ? buckets.day.toISOString().slice(0, 10) : null,
              ],
            );
            return { status: 'claimed' } as const;
          } catch (err) {
            if (!(err instanceof CapReached)) throw err;
            await c.query('rollback to savepoint caps');
            await appendEvents(c, ref, [
              {
                kind: 'send-deferred',
                stepIndex: current.step_index,
                at,
                key: eventKey(ref, 'deferred', sendKey, err.cap, err.retryAt),
                data: { sendKey, cap: err.cap, retryAt: new Date(err.retryAt).toISOString() },
              },
            ]);
            return { status: 'deferred', retryAt: err.retryAt, reason: err.cap } as const;
          }
        });
        if (claimed.status === 'retry')
          throw ApplicationFailure.retryable(`send ${sendKey} changed while drafting`, 'SendChanged');
        if (claimed.status === 'deferred') return claimed;
        if (claimed.status !== 'claimed') return { status: claimed.status };
      }
      const sendRow = row!;

      const startedAt = Date.now();
      const sender = campaign.settings.sender;
      const [local, domain] = (sender.replyTo ?? '').split('@');
      // RFC 8058 one-click unsubscribe on every email, and the CAN-SPAM footer (who sends, from where, how to stop).
      const unsubscribeUrl = `${deps.publicUrl().replace(/\/+$/, '')}/u/${unsubscribeToken(deps.masterKey, ref)}`;
      const footer = [
        '--',
        [sender.name ?? sender.email, sender.postalAddress].filter(Boolean).join(', '),
        // Worded so a reply quoting the footer does not read as an opt-out (domain/suppression.ts).
        `No longer want these emails? ${unsubscribeUrl}`,
      ].join('\n');
      let messageId: string;
      try {
        ({ messageId } = await (
          await mailerFor(ref.tenantId)
        ).send({
          to: sendRow.to_email,
          from: { email: sendRow.from_email, ...(sender.name ? { name: sender.name } : {}) },
          ...(local && domain ? { replyTo: `${local}+${sendRow.reply_token}@${domain}` } : {}),
          subject: sendRow.subject,
          text: `${sendRow.body}\n\n${footer}`,
          headers: {
            'List-Unsubscribe': `<${unsubscribeUrl}>`,
            'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          },
          customArgs: {
            sb_tenant: ref.tenantId,
            sb_campaign: ref.campaignId,
            sb_lead: ref.leadId,
            sb_send_key: sendKey,
          },
        }));
      } catch (err) {
        const failure = err instanceof SendgridError ? err : new SendgridError(undefined, String(err), true);
        // Not sent: the claim is released so the retry sends (the caps stay reserved for it).
        await withTenant(pool, ref.tenantId, async (c) => {
          await c.query(
            `update email_sends set status = 'drafted', claimed_at = null where tenant_id = $1 and send_key = $2 and status = 'sending'`,
            [ref.tenantId, sendKey],
          );
          await insertAudit(c, {
            tenantId: ref.tenantId,
            workflowId: workflowId(),
            activity: 'sendEmail',
            tool: 'sendgrid.mail.send',
            status: 'error',
            durationMs: Date.now() - startedAt,
            source: access.mode('sendgrid'),
            params: { sendKey },
            error: failure.message,
          });
        });
        if (!failure.retryable) throw ApplicationFailure.nonRetryable(failure.message, 'SendgridRejected');
        throw ApplicationFailure.retryable(failure.message, 'SendgridUnavailable');
      }
      await finishSend(ref, sendKey, sendRow, messageId, at, { startedAt });
      return { status: 'sent', messageId };
    },

    /** Classifies a stored inbound reply; an unsubscribe suppresses the contact at once, everywhere. */
    async classifyLeadReply(
      input: LeadRef & { inboundId: string; at: number },
    ): Promise<{ category: ReplyCategory; preferredTime: string | null }> {
      const ref: LeadRef = input;
      const inbound = await withTenant(pool, ref.tenantId, (c) =>
        c.query<{ text: string; category: string | null }>(
          'select text, category from inbound_emails where tenant_id = $1 and id = $2',
          [ref.tenantId, input.inboundId],
        ),
      );
      const reply = inbound.rows[0];
      if (!reply) throw ApplicationFailure.nonRetryable(`inbound email ${input.inboundId} not found`, 'NoInbound');
      const startedAt = Date.now();
      // The conversation is bounded (replies and text so far, this one included): past it a person takes over.
      const { conversation } = (await campaignOf(ref)).settings.policy;
      const history = (
        await withTenant(pool, ref.tenantId, (c) =>
          c.query<{ n: number; chars: number }>(
            `select count(*)::int as n, coalesce(sum(length(text)), 0)::int as chars from inbound_emails
              where tenant_id = $1 and campaign_id = $2 and lead_id = $3 and verdict = 'accepted' and id <= $4`,
            [ref.tenantId, ref.campaignId, ref.leadId, input.inboundId],
          ),
        )
      ).rows[0]!;
      const overLimit = history.n > conversation.maxReplies || history.chars > conversation.maxHistoryChars;
      const result: Awaited<ReturnType<typeof classifyReply>> =
        overLimit && !isOptOutText(newReplyText(reply.text))
          ? { category: 'handoff', preferredTime: null, origin: 'rule', usage: null }
          : // Past the day's Claude tokens the reply waits for the reset (an opt-out is still honoured now).
            await classifyReply(() => llmFor(ref.tenantId).catch(waitForQuotaReset), reply.text);
      await withTenant(pool, ref.tenantId, async (c) => {
        if (result.origin !== 'rule')
          await auditLlm(c, ref.tenantId, 'classifyReply', startedAt, result.usage, result.error);
        await c.query('update inbound_emails set category = $3 where tenant_id = $1 and id = $2', [
          ref.tenantId,
          input.inboundId,
          result.category,
        ]);
        await c.query(
          `update campaign_leads set state = 'replied', updated_at = now() where tenant_id = $1 and campaign_id = $2 and id = $3 and state = 'active'`,
          [ref.tenantId, ref.campaignId, ref.leadId],
        );
        await appendEvents(c, ref, [
          {
            kind: 'reply-classified',
            at: input.at,
            key: eventKey(ref, 'reply', input.inboundId),
            data: {
              inboundId: input.inboundId,
              category: result.category,
              origin: result.origin,
              preferredTime: result.preferredTime,
              ...(result.error ? { error: result.error } : {}),
              ...(result.usage ? { usage: result.usage, costUsd: costOf(result.usage) } : {}),
            },
          },
        ]);
        if (result.category === 'unsubscribe') await suppressLeadIn(c, ref, 'unsubscribe', input.at);
        if (result.category === 'handoff')
          await appendEvents(c, ref, [
            {
              kind: 'handed-off',
              at: input.at,
              key: eventKey(ref, 'handoff'),
              data: {
                inboundId: input.inboundId,
                replies: history.n,
                chars: history.chars,
                reason: 'the conversation reached its limits (policy.conversation): a person takes over',
              },
            },
          ]);
      });
      return { category: result.category, preferredTime: result.preferredTime };
    },

    /** Drafts the answer to a question (and, in review mode, its approval); sent later by sendEmail. */
    async draftAnswer(
      input: LeadRef & { inboundId: string; at: number; review: boolean },
    ): Promise<{ sendKey: string; approvalId: string | null }> {
      const ref: LeadRef = input;
      const sendKey = `${ref.campaignId}:${ref.leadId}:answer:${input.inboundId}`;
      const { lead, campaign, inbound } = await withTenant(pool, ref.tenantId, async (c) => ({
        lead: await loadLead(c, ref),
        campaign: await loadCampaign(c, ref.tenantId, ref.campaignId),
        inbound: (
          await c.query<{ text: string; subject: string | null }>(
            'select text, subject from inbound_emails where tenant_id = $1 and id = $2',
            [ref.tenantId, input.inboundId],
          )
        ).rows[0],
      }));
      if (!inbound || !lead.email)
        throw ApplicationFailure.nonRetryable(`nothing to answer for ${sendKey}`, 'NoQuestion');
      const startedAt = Date.now();
      // Past the day's Claude tokens the answer waits for the reset rather than failing the lead.
      const answer = await answerQuestion(await llmFor(ref.tenantId).catch(waitForQuotaReset), {
        goal: campaign.goal,
        question: inbound.text,
        brief: lead.brief ?? '',
        sender: campaign.settings.sender,
        firstName: lead.first_name,
      });
      const subject = inbound.subject?.startsWith('Re:') ? inbound.subject : `Re: ${inbound.subject ?? campaign.name}`;
      return withTenant(pool, ref.tenantId, async (c) => {
        await auditLlm(c, ref.tenantId, 'answerQuestion', startedAt, answer.usage, answer.error);
        await c.query(
          `insert into email_sends (tenant_id, send_key, campaign_id, lead_id, kind, to_email, from_email, subject, body, origin, reply_token)
           values ($1, $2, $3, $4, 'answer', $5, $6, $7, $8, $9, $10) on conflict do nothing`,
          [
            ref.tenantId,
            sendKey,
            ref.campaignId,
            ref.leadId,
            lead.email,
            campaign.settings.sender.email,
            subject,
            answer.body,
            answer.origin,
            newToken(),
          ],
        );
        const approvalId = input.review
          ? await createApproval(c, ref, {
              sendKey,
              stepIndex: null,
              kind: 'reply',
              draft: { subject, body: answer.body },
            })
          : null;
        await appendEvents(c, ref, [
          {
            kind: 'answer-drafted',
            at: input.at,
            key: eventKey(ref, 'answer', input.inboundId),
            data: {
              sendKey,
              origin: answer.origin,
              approvalId,
              ...(answer.usage ? { usage: answer.usage, costUsd: costOf(answer.usage) } : {}),
            },
          },
        ]);
        return { sendKey, approvalId };
      });
    },

    /** The booking confirmation email (sent like any other, through sendEmail). */
    async draftConfirmation(
      input: LeadRef & { appointmentId: string; startTime: string; timezone: string; at: number },
    ): Promise<{ sendKey: string }> {
      const ref: LeadRef = input;
      const sendKey = `${ref.campaignId}:${ref.leadId}:confirm:${input.appointmentId}`;
      await withTenant(pool, ref.tenantId, async (c) => {
        const lead = await loadLead(c, ref);
        const campaign = await loadCampaign(c, ref.tenantId, ref.campaignId);
        if (!lead.email) return;
        const when = new Intl.DateTimeFormat('en-US', {
          dateStyle: 'full',
          timeStyle: 'short',
          timeZone: input.timezone,
        }).format(new Date(input.startTime));
        const sender = campaign.settings.sender;
        await c.query(
          `insert into email_sends (tenant_id, send_key, campaign_id, lead_id, kind, to_email, from_email, subject, body, origin, reply_token)
           values ($1, $2, $3, $4, 'confirmation', $5, $6, $7, $8, 'template', $9) on conflict do nothing`,
          [
            ref.tenantId,
            sendKey,
            ref.campaignId,
            ref.leadId,
            lead.email,
            sender.email,
            `Confirmed: ${when}`,
            `Hi ${lead.first_name ?? 'there'},\n\nYou're booked for ${when} (${input.timezone}). If that time stops working, just reply to this email.\n\n${sender.name ?? sender.email}`,
            newToken(),
          ],
        );
      });
      return { sendKey };
    },

    /** Whether the lead may still be contacted (the suppression list is global per tenant). */
    async leadSuppressed(input: LeadRef): Promise<boolean> {
      return withTenant(pool, input.tenantId, async (c) => {
        const lead = await loadLead(c, input);
        return Boolean(
          await contactBlocked(c, {
            tenantId: input.tenantId,
            channel: 'sms',
            email: lead.email,
            phone: lead.phone,
            contactId: lead.contact_id,
          }),
        );
      });
    },

    /**
     * A slot among the tenant's concurrent campaign calls, taken once per key (a retry finds its own
     * slot); refused while `max` calls are in flight, or when the lead is suppressed.
     */
    async acquireCallSlot(
      input: LeadRef & { slotKey: string; max: number },
    ): Promise<'acquired' | 'busy' | 'suppressed'> {
      return withTenant(pool, input.tenantId, async (c) => {
        const lead = await loadLead(c, input);
        if (
          await contactBlocked(c, {
            tenantId: input.tenantId,
            channel: 'call',
            email: lead.email,
            phone: lead.phone,
            contactId: lead.contact_id,
          })
        )
          return 'suppressed';
        await c.query('select pg_advisory_xact_lock(hashtext($1))', [`campaign-call-slots:${input.tenantId}`]);
        const mine = await c.query('select 1 from campaign_call_slots where tenant_id = $1 and slot_key = $2', [
          input.tenantId,
          input.slotKey,
        ]);
        if (mine.rowCount) return 'acquired';
        const { rows } = await c.query<{ n: number }>(
          'select count(*)::int as n from campaign_call_slots where tenant_id = $1',
          [input.tenantId],
        );
        if (rows[0]!.n >= input.max) return 'busy';
        await c.query('insert into campaign_call_slots (tenant_id, slot_key) values ($1, $2)', [
          input.tenantId,
          input.slotKey,
        ]);
        return 'acquired';
      });
    },

    async releaseCallSlot(input: LeadRef & { slotKey: string }): Promise<void> {
      await withTenant(pool, input.tenantId, (c) =>
        c.query('delete from campaign_call_slots where tenant_id = $1 and slot_key = $2', [
          input.tenantId,
          input.slotKey,
        ]),
      );
    },

    /** Appends workflow-side facts (waiting for a window, paused, approval decided, booking) to the timeline. */
    async recordLeadEvents(input: LeadRef & { events: LeadEvent[] }): Promise<void> {
      await withTenant(pool, input.tenantId, (c) => appendEvents(c, input, input.events));
    },

    /** Sets the lead's final state and appends the closing event. */
    async finishLead(input: LeadRef & { outcome: LeadOutcome; at: number; detail?: string }): Promise<void> {
      const ref: LeadRef = input;
      await withTenant(pool, ref.tenantId, async (c) => {
        // Outcomes are lead states by name.
        await c.query(
          'update campaign_leads set state = $4, updated_at = now() where tenant_id = $1 and campaign_id = $2 and id = $3',
          [ref.tenantId, ref.campaignId, ref.leadId, input.outcome],
        );
        await appendEvents(c, ref, [
          {
            kind: 'finished',
            at: input.at,
            key: eventKey(ref, 'finished'),
            data: { outcome: input.outcome, ...(input.detail ? { detail: input.detail } : {}) },
          },
        ]);
      });
    },
  };

  async function suppressLeadIn(c: PoolClient, ref: LeadRef, reason: 'unsubscribe', at: number) {
    const lead = await loadLead(c, ref);
    await suppress(c, {
      tenantId: ref.tenantId,
      email: lead.email,
      phone: lead.phone,
      contactId: lead.contact_id,
      reason,
      source: `campaign:${ref.campaignId}`,
    });
    await c.query(
      `update email_sends set status = 'suppressed' where tenant_id = $1 and lead_id = $2 and campaign_id = $3 and status = 'drafted'`,
      [ref.tenantId, ref.leadId, ref.campaignId],
    );
    await appendEvents(c, ref, [
      {
        kind: 'suppressed',
        at,
        key: eventKey(ref, 'suppressed'),
        data: { reason, email: lead.email, phone: lead.phone, contactId: lead.contact_id },
      },
    ]);
  }
}

const newToken = () => randomBytes(10).toString('base64url').replace(/[-_]/g, 'x').toLowerCase();

export type OutreachActivities = ReturnType<typeof createOutreachActivities>;
