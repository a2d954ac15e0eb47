import { z } from 'zod';
import { CampaignDefinition } from '../../../lib/campaign.js';
import { workflowIds } from '../../../lib/ids.js';
import {
  Approval,
  ApprovalQuery,
  decideApproval,
  DecisionFields,
  getApproval,
  listApprovals,
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
import { conflict, notFound } from '../../services/errors.js';
import { FollowSeconds, followWorkflow } from '../follow.js';
import { defineTool, READ_ONLY, ToolError, type Ask } from '../tool.js';

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

/** A decision on a held draft; without `decision` the user is asked in a form (see `askDecision`). */
const DecideInput = z
  .strictObject({
    approvalId: z.string().trim().min(1).max(64),
    ...DecisionFields,
    decision: DecisionFields.decision
      .optional()
      .describe('leave it out to let the user decide in a form (clients that declared elicitation)'),
  })
  // The REST rules (withDecisionRules), with the decision possibly still to come from the form.
  .refine((d) => d.decision !== 'edit' || d.subject || d.body, {
    message: 'an edit needs a subject or a body',
    path: ['body'],
  })
  .refine((d) => d.decision === 'edit' || (!d.subject && !d.body), {
    message: 'subject and body are only taken with decision "edit"',
    path: ['decision'],
  });
type DecideInput = z.output<typeof DecideInput>;

/** Lines of the draft's body shown in the form (the full body is in the editable field). */
const PREVIEW_LINES = 6;
const PREVIEW_CHARS = 600;

const text = (v: unknown) => (typeof v === 'string' && v.trim() ? v : undefined);

const askDecision: Ask<DecideInput> = {
  field: 'decision',
  needed: (args) => args.decision === undefined,
  async form({ approvalId }, c, tenantId) {
    const found = await getApproval(c, tenantId, approvalId);
    if (!found) throw notFound(`no approval ${approvalId}`);
    const { approval, lead } = found;
    if (approval.status !== 'pending') throw conflict(`approval ${approval.id} was already ${approval.status}`);
    const lines = approval.draft.body.split('\n');
    let preview = lines.slice(0, PREVIEW_LINES).join('\n');
    if (preview.length > PREVIEW_CHARS) preview = preview.slice(0, PREVIEW_CHARS);
    const more = preview.length < approval.draft.body.length ? '\n…' : '';
    const to = approval.to ?? lead.email ?? 'no address';
    return {
      message:
        `Draft ${approval.kind === 'reply' ? 'reply' : 'email'} to ${lead.name ? `${lead.name} <${to}>` : to} ` +
        `(lead ${approval.leadId}, campaign ${approval.campaignId})\n\nSubject: ${approval.draft.subject}\n\n${preview}${more}\n\n` +
        'Approve it as is, send it with your edits (subject/body below), or reject it (optionally with a note).',
      requestedSchema: {
        type: 'object',
        properties: {
          decision: {
            type: 'string',
            title: 'Decision',
            oneOf: [
              { const: 'approve', title: 'Approve and send as is' },
              { const: 'edit', title: 'Send with my edits' },
              { const: 'reject', title: 'Reject (nothing is sent)' },
            ],
          },
          subject: {
            type: 'string',
            title: 'Subject (used when editing)',
            maxLength: 200,
            default: approval.draft.subject,
          },
          body: { type: 'string', title: 'Body (used when editing)', maxLength: 20_000, default: approval.draft.body },
          note: { type: 'string', title: 'Note (optional, e.g. why it was rejected)', maxLength: 2000 },
        },
        required: ['decision'],
      },
    };
  },
  // Only an edit takes the text fields (forms send their defaults back with any choice).
  merge: (args, answer) => ({
    ...args,
    decision: answer.decision,
    ...(answer.decision === 'edit' ? { subject: text(answer.subject), body: text(answer.body) } : {}),
    note: text(answer.note),
  }),
};

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
      "Decide on a held draft: approve it as is, edit its subject/body (then it is sent as edited), or reject it. The lead's workflow continues at once. Leave out `decision` to let the user decide: clients that can show a form (elicitation) are shown the draft and asked.",
    scope: 'act',
    input: DecideInput,
    output: Approval,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    ask: askDecision,
    run: async ({ approvalId, decision, ...fields }, call) => {
      // invoke asks for a missing decision (or refuses the call) before run.
      if (!decision) throw new ToolError('decision: required');
      const { approval, signalError } = await decideApproval(
        call.deps,
        call.tenantId,
        approvalId,
        { decision, ...fields },
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
