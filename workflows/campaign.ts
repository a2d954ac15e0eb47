import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { CampaignFeedActivities } from '../activities/campaigns/feed.js';
import type { LeadOutcome } from '../activities/campaigns/outreach.js';
import { workflowIds } from '../lib/workflowIds.js';
import { CampaignIdKey, TenantIdKey, WorkflowKindKey } from '../lib/searchAttributes.js';
import {
  campaignProgressQuery,
  cancelCampaignSignal,
  leadFinishedSignal,
  leadsAddedSignal,
  pauseCampaignSignal,
  resumeCampaignSignal,
  type CampaignCarry,
  type CampaignInput,
  type CampaignProgress,
} from './campaign.contract.js';
import type { leadOutreach } from './leadOutreach.js';
import { pauseLeadSignal, resumeLeadSignal } from './leadOutreach.contract.js';

const { nextLeads, closeCampaign } = proxyLocalActivities<CampaignFeedActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', backoffCoefficient: 2 },
});

/** Leads started per run before continuing as new (each start is ~3 history events, each finish 1–2). */
const STARTS_PER_RUN = 500;
/**
 * The same once leads report by their result: a run waits for its leads before it continues as new,
 * so fewer, longer runs (each lead is 3 events: start initiated, started, closed).
 */
const STARTS_PER_RUN_BY_RESULT = 1_000;
/** Leads read per feed activity. */
const PAGE = 100;

/**
 * One campaign: feeds its leads, in the order they were added, to `leadOutreach` children with at
 * most `maxActiveLeads` in flight; relays pause/resume/cancel to them; continues as new every few
 * hundred starts so a 10,000-lead campaign's history stays small. Ends when every lead is done.
 */
export async function campaign(input: CampaignInput): Promise<CampaignProgress> {
  const { tenantId, campaignId } = input;
  const c: CampaignCarry = input.carry ?? {
    cursor: 0,
    active: [],
    started: 0,
    finished: 0,
    outcomes: {},
    paused: false,
    cancelled: false,
  };
  const active = new Set(c.active);
  let feedExhausted = false;
  let startedThisRun = 0;
  const leadWorkflowId = (leadId: string) => workflowIds.leadOutreach(tenantId, campaignId, leadId);
  const progress = (state?: CampaignProgress['state']): CampaignProgress => ({
    state: state ?? (c.cancelled ? 'cancelling' : c.paused ? 'paused' : 'running'),
    started: c.started,
    finished: c.finished,
    active: active.size,
    outcomes: { ...c.outcomes },
  });

  // The leads this run started, settled when each closes. A lead reports back by signal and closes
  // just after; the campaign waits for those closes before it closes itself, so it never ends with
  // a child of its own still running (Temporal's time-skipping test server stops skipping time for
  // good when a child closes after its parent: its "notify the parent" lock is never released).
  const children: Promise<unknown>[] = [];
  const close = async (status: 'completed' | 'cancelled') => {
    if (patched('campaign-outlived-by-no-lead')) await Promise.all(children);
    await closeCampaign({ tenantId, campaignId, status });
    return progress(status);
  };

  // Pause and resume reach the leads already running (they hold their next send); the feed stops too.
  const relay = async (signal: typeof pauseLeadSignal | typeof resumeLeadSignal) => {
    await Promise.all(
      [...active].map((id) =>
        getExternalWorkflowHandle(leadWorkflowId(id))
          .signal(signal)
          .catch(() => undefined),
      ),
    );
  };
  setHandler(pauseCampaignSignal, async () => {
    c.paused = true;
    await relay(pauseLeadSignal);
  });
  setHandler(resumeCampaignSignal, async () => {
    c.paused = false;
    await relay(resumeLeadSignal);
  });
  setHandler(cancelCampaignSignal, () => {
    c.cancelled = true;
  });
  setHandler(leadsAddedSignal, () => {
    feedExhausted = false;
  });
  const finish = (leadId: string, outcome: LeadOutcome) => {
    if (!active.delete(leadId)) return; // a duplicate, or not ours
    c.finished++;
    c.outcomes[outcome] = (c.outcomes[outcome] ?? 0) + 1;
  };
  // Leads started before leads reported by result (and by runs before that) still report by signal.
  setHandler(leadFinishedSignal, ({ leadId, outcome }) => finish(leadId, outcome));
  setHandler(campaignProgressQuery, () => progress());

  const canStart = () => !c.cancelled && !c.paused && !feedExhausted && active.size < input.maxActiveLeads;
  // Leads report by their result: no signal (and no workflow task of ours, nor two of the lead's) per
  // lead, and the next page of leads is fed without waiting for the previous page's starts.
  const byResult = patched('campaign-leads-report-by-result');
  const startsPerRun = byResult ? STARTS_PER_RUN_BY_RESULT : STARTS_PER_RUN;
  /** Starts whose answer has not come back yet; a start that failed (not "already started") ends the run. */
  let starting = 0;
  let startFailed: unknown;
  const startLead = async (lead: { id: string }) => {
    try {
      const child = await startChild<typeof leadOutreach>('leadOutreach', {
        workflowId: leadWorkflowId(lead.id),
        args: [
          {
            tenantId,
            campaignId,
            leadId: lead.id,
            campaignWorkflowId: workflowInfo().workflowId,
            paused: c.paused,
            ...(byResult ? { reportsByResult: true } : {}),
          },
        ],
        // Leads outlive this run (continue-as-new) and report back by signal.
        parentClosePolicy: 'ABANDON',
        typedSearchAttributes: [
          { key: TenantIdKey, value: tenantId },
          { key: CampaignIdKey, value: campaignId },
          { key: WorkflowKindKey, value: 'leadOutreach' },
        ],
      });
      const closed = byResult
        ? child.result().then(
            (r) => finish(lead.id, r.outcome),
            (err: unknown) => finish(lead.id, isCancellation(err) ? 'cancelled' : 'failed'),
          )
        : child.result().catch(() => undefined);
      children.push(closed);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // Started by an earlier run of this campaign and finished since: not in flight.
      active.delete(lead.id);
      c.started--;
    }
  };
  for (;;) {
    if (startFailed !== undefined) throw startFailed;
    if (c.cancelled) {
      await Promise.all(
        [...active].map((id) =>
          getExternalWorkflowHandle(leadWorkflowId(id))
            .cancel()
            .catch(() => undefined),
        ),
      );
      return close('cancelled');
    }
    if (canStart() && startedThisRun < startsPerRun) {
      const limit = Math.min(PAGE, input.maxActiveLeads - active.size, startsPerRun - startedThisRun);
      const { leads } = await nextLeads({ tenantId, campaignId, afterSeq: c.cursor, limit });
      if (!leads.length) {
        feedExhausted = true;
        continue;
      }
      // Counted as active before the start completes, so an early leadFinished always finds it.
      for (const lead of leads) active.add(lead.id);
      c.cursor = leads.at(-1)!.seq;
      c.started += leads.length;
      startedThisRun += leads.length;
      const started = Promise.all(leads.map(startLead));
      if (!byResult) {
        await started;
        continue;
      }
      starting += leads.length;
      started.then(
        () => void (starting -= leads.length),
        (err: unknown) => void (startFailed ??= err),
      );
      continue;
    }
    if (feedExhausted && active.size === 0) {
      return close('completed');
    }
    if (startedThisRun >= startsPerRun || workflowInfo().continueAsNewSuggested) {
      if (byResult && (active.size > 0 || starting > 0)) {
        // This run's leads report to this run: it waits for them (or a cancel) before continuing as new.
        await condition(() => c.cancelled || startFailed !== undefined || (active.size === 0 && starting === 0));
        continue;
      }
      await condition(allHandlersFinished);
      await continueAsNew<typeof campaign>({ ...input, carry: { ...c, active: [...active] } });
    }
    await condition(
      () => c.cancelled || startFailed !== undefined || canStart() || (feedExhausted && active.size === 0),
    );
  }
}
