import { z } from 'zod';
import { CampaignDefinition } from '../../../lib/campaign.js';
import { workflowIds } from '../../../lib/ids.js';
import {
  Approval,
  ApprovalQuery,
  decideApproval,
  DecisionFields,
  listApprovals,
  withDecisionRules,
} from '../../services/approvals.js';
import {
  campaignProgress,
  createCampaign,
  ImportResult,
  Progress,
  startCampaign,
  transitionCampaign,
  type CampaignTransition,
} from '../../services/campaigns.js';
import { FollowSeconds, followWorkflow } from '../follow.js';
import { defineTool, READ_ONLY } from '../tool.js';

/**
 * Campaigns and review-mode approvals: the same service as /v1/campaigns and /v1/approvals (every
 * change goes through the campaign workflow, or a signal to the lead's workflow).
 */

const CampaignId = z.string().trim().min(1).max(64);

function transitionTool(action: CampaignTransition, title: string, description: string) {
  return defineTool({
    name: `campaign_${action}`,
    title,
    description,
    scope: 'act',
    input: z.strictObject({ campaignId: CampaignId }),
    output: z.object({ status: z.string(), workflowId: z.string() }),
    annotations: {
      readOnlyHint: false,
      destructiveHint: action === 'cancel',
      idempotentHint: true,
      openWorldHint: false,
    },
    run: async ({ campaignId }, call) => {
      const workflowId = workflowIds.campaign(call.tenantId, campaignId);
      call.note({ workflowId, source: 'live' });
      const { status } = await transitionCampaign(call.deps, call.tenantId, campaignId, action);
      return { status, workflowId };
    },
  });
}

export const campaignTools = [
  defineTool({
    name: 'campaign_create',
    title: 'Create a campaign',
    description:
      'Create a draft outbound campaign: a sequence of email / call / SMS / wait steps, the sender, the policy (review mode, limits) and an audience (explicit leads, a CSV, or CRM contacts with a tag). Bad audience rows are reported per row, not imported. Start it with campaign_start.',
    scope: 'act',
    input: CampaignDefinition,
    output: z.object({ id: z.string(), status: z.string(), workflowId: z.string(), leads: ImportResult }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    run: async (def, call) => {
      const created = await createCampaign(call.deps, call.tenantId, def);
      call.note({ workflowId: created.workflowId });
      return created;
    },
  }),
  defineTool({
    name: 'campaign_start',
    title: 'Start a campaign',
    description:
      "Start a draft campaign's workflow: it reaches every lead in its sequence (within each lead's local sending hours and the policy's limits). Returns the workflow id at once (starting again answers with the same one); follow with campaign_status. With a progress token the call first streams lead states (followSeconds, default 20 s).",
    scope: 'act',
    input: z.strictObject({ campaignId: CampaignId, followSeconds: FollowSeconds }),
    output: z.object({
      workflowId: z.string(),
      status: z.string(),
      progress: Progress,
      followWith: z.literal('campaign_status'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    run: async ({ campaignId, followSeconds }, call) => {
      const started = await startCampaign(call.deps, call.tenantId, campaignId);
      call.note({ workflowId: started.workflowId, source: 'live' });
      const read = () => campaignProgress(call.deps, call.tenantId, campaignId);
      const progress = call.wantsProgress
        ? await followWorkflow(
            call,
            started,
            async () => {
              const p = await read();
              const states = Object.entries(p.leads.byState)
                .map(([state, n]) => `${n} ${state}`)
                .join(', ');
              const done = p.leads.total - (p.leads.byState.pending ?? 0) - (p.leads.byState.active ?? 0);
              return {
                snapshot: p,
                message: `${p.status}: ${states || 'no leads'}`,
                progress: done,
                total: p.leads.total,
              };
            },
            followSeconds,
          )
        : await read();
      return { ...started, progress, followWith: 'campaign_status' as const };
    },
  }),
  transitionTool('pause', 'Pause a campaign', 'Pause a running campaign: no lead is contacted until campaign_resume.'),
  transitionTool('resume', 'Resume a campaign', 'Resume a paused campaign.'),
  transitionTool('cancel', 'Cancel a campaign', 'Cancel a campaign for good: every lead still in progress stops.'),
  defineTool({
    name: 'campaign_status',
    title: 'Campaign progress',
    description:
      'A campaign: status, leads per state, emails sent (today and in all), replies, meetings booked, pending approvals, engagement, cost.',
    scope: 'read',
    input: z.strictObject({ campaignId: CampaignId }),
    output: Progress.extend({ source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async ({ campaignId }, call) => ({
      ...(await campaignProgress(call.deps, call.tenantId, campaignId)),
      source: 'cache' as const,
    }),
  }),
  defineTool({
    name: 'approvals_list',
    title: 'Drafts awaiting review',
    description:
      'Campaign drafts held for a person (review mode), oldest first: pending by default, or by status and campaign.',
    scope: 'read',
    input: ApprovalQuery.extend({ limit: z.number().int().min(1).max(500).default(100) }).strict(),
    output: z.object({ approvals: z.array(Approval), source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (args, call) => ({
      approvals: await call.read((c) => listApprovals(c, call.tenantId, args)),
      source: 'cache' as const,
    }),
  }),
  defineTool({
    name: 'approval_decide',
    title: 'Approve, edit or reject a draft',
    description:
      "Decide on a held draft: approve it as is, edit its subject/body (then it is sent as edited), or reject it. The lead's workflow continues at once.",
    scope: 'act',
    input: withDecisionRules(z.strictObject({ approvalId: z.string().trim().min(1).max(64), ...DecisionFields })),
    output: Approval,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    run: async ({ approvalId, ...decision }, call) => {
      const { approval, signalError } = await decideApproval(
        call.deps,
        call.tenantId,
        approvalId,
        decision,
        call.apiKeyId,
      );
      call.note({
        workflowId: workflowIds.leadOutreach(call.tenantId, approval.campaignId, approval.leadId),
        source: 'live',
      });
      if (signalError)
        call.deps.log.warn({ err: signalError, approvalId }, 'the lead workflow could not be told of the decision');
      return approval;
    },
  }),
];
