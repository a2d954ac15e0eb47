import { z } from 'zod';
import { WorkflowNotFoundError, type WorkflowExecutionInfo } from '@temporalio/client';
import protos from '@temporalio/proto';
import {
  CampaignIdKey,
  CallStatusKey,
  ContactPhoneKey,
  TenantIdKey,
  WorkflowKindKey,
} from '../../../lib/searchAttributes.js';
import { PhoneNumber } from '../../../lib/phone.js';
import { campaignProgressQuery } from '../../../workflows/campaign.contract.js';
import { syncProgressQuery } from '../../../workflows/crmSync.contract.js';
import { leadProgressQuery } from '../../../workflows/leadOutreach.contract.js';
import { callStateQuery } from '../../../workflows/voiceCall.contract.js';
import { defineTool, READ_ONLY, ToolError, type ToolCall } from '../tool.js';

/**
 * Ops: the tenant's workflows through Temporal visibility (search attributes from
 * lib/searchAttributes.ts) and describe + query. Every answer is confined to the caller's tenant.
 */

export const WORKFLOW_KINDS = [
  'voiceCall',
  'campaign',
  'leadOutreach',
  'crmSync',
  'conversation',
  'crmAction',
] as const;
const STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'] as const;

/** The query each family answers with its live state (families register theirs here as they land). */
const STATE_QUERIES: Record<string, string> = {
  crmSync: syncProgressQuery.name,
  voiceCall: callStateQuery.name,
  campaign: campaignProgressQuery.name,
  leadOutreach: leadProgressQuery.name,
};
const QUERY_TIMEOUT_MS = 3_000;

const Summary = z.object({
  workflowId: z.string(),
  runId: z.string(),
  type: z.string(),
  kind: z.string().nullable(),
  status: z.string(),
  startTime: z.string(),
  closeTime: z.string().nullable(),
  contactPhone: z.string().nullable(),
  campaignId: z.string().nullable(),
  callStatus: z.string().nullable(),
});

/** Visibility query values are quoted; the schemas below keep them to plain characters as well. */
const quote = (v: string) => `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

function summarize(
  info: Pick<
    WorkflowExecutionInfo,
    'workflowId' | 'runId' | 'type' | 'status' | 'startTime' | 'closeTime' | 'typedSearchAttributes'
  >,
): z.infer<typeof Summary> {
  const sa = info.typedSearchAttributes;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    kind: sa.get(WorkflowKindKey) ?? null,
    status: info.status.name,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString() ?? null,
    contactPhone: sa.get(ContactPhoneKey) ?? null,
    campaignId: sa.get(CampaignIdKey) ?? null,
    callStatus: sa.get(CallStatusKey) ?? null,
  };
}

/** A workflow belongs to the caller's tenant by its TenantId search attribute, else by the tenant segment of its id. */
function ownedBy(tenantId: string, workflowId: string, saTenant: string | undefined): boolean {
  return saTenant !== undefined ? saTenant === tenantId : workflowId.split(':')[1] === tenantId;
}

function uiLink(call: ToolCall, workflowId: string, runId: string): string | null {
  const base = call.deps.temporalUiUrl;
  return base
    ? `${base}/namespaces/${encodeURIComponent(call.deps.namespace)}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`
    : null;
}

const PendingActivityState = protos.temporal.api.enums.v1.PendingActivityState;

export const opsTools = [
  defineTool({
    name: 'workflow_list',
    title: 'List workflows',
    description:
      "This tenant's workflows (calls, campaigns, leads, syncs, …) newest first, filtered by kind, status, contact phone or campaign, via Temporal visibility.",
    scope: 'read',
    input: z.strictObject({
      kind: z.enum(WORKFLOW_KINDS).optional(),
      status: z.enum(STATUSES).optional(),
      phone: PhoneNumber.optional().describe('the contact phone the workflow is about (any format)'),
      campaignId: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,100}$/, 'letters, digits, _ or -')
        .optional(),
      limit: z.number().int().min(1).max(100).default(20),
    }),
    output: z.object({ workflows: z.array(Summary), query: z.string(), source: z.literal('live') }),
    annotations: READ_ONLY,
    run: async (args, call) => {
      const clauses = [`${TenantIdKey.name} = ${quote(call.tenantId)}`];
      if (args.kind) clauses.push(`${WorkflowKindKey.name} = ${quote(args.kind)}`);
      if (args.status) clauses.push(`ExecutionStatus = ${quote(args.status)}`);
      if (args.phone) clauses.push(`${ContactPhoneKey.name} = ${quote(args.phone)}`);
      if (args.campaignId) clauses.push(`${CampaignIdKey.name} = ${quote(args.campaignId)}`);
      const query = clauses.join(' AND ');
      const workflows: z.infer<typeof Summary>[] = [];
      for await (const info of call.deps.temporal.workflow.list({ query, pageSize: args.limit })) {
        workflows.push(summarize(info));
        if (workflows.length >= args.limit) break;
      }
      call.note({ source: 'live' });
      return { workflows, query, source: 'live' as const };
    },
  }),
  defineTool({
    name: 'workflow_describe',
    title: 'Describe a workflow',
    description:
      'One workflow of this tenant: status, its live state (from its query, while running), pending activities with attempts and last failure, and a link to the Temporal Web UI.',
    scope: 'read',
    input: z.strictObject({ workflowId: z.string().min(1).max(300), runId: z.string().max(100).optional() }),
    output: Summary.extend({
      historyLength: z.number(),
      state: z
        .unknown()
        .nullable()
        .describe("the workflow's own view of its progress (null when closed or it has no state query)"),
      stateError: z.string().nullable(),
      pendingActivities: z.array(
        z.object({
          activityType: z.string(),
          state: z.string(),
          attempt: z.number(),
          lastFailure: z.string().nullable(),
          lastHeartbeatAt: z.string().nullable(),
        }),
      ),
      uiUrl: z.string().nullable(),
      source: z.literal('live'),
    }),
    annotations: READ_ONLY,
    run: async (args, call) => {
      call.note({ source: 'live', workflowId: args.workflowId });
      const notFound = new ToolError(`no workflow '${args.workflowId}' for this tenant`);
      const handle = call.deps.temporal.workflow.getHandle(args.workflowId, args.runId);
      const d = await handle.describe().catch((err: unknown) => {
        throw err instanceof WorkflowNotFoundError ? notFound : err;
      });
      if (!ownedBy(call.tenantId, d.workflowId, d.typedSearchAttributes.get(TenantIdKey))) throw notFound;
      let state: unknown = null;
      let stateError: string | null = null;
      const queryName = STATE_QUERIES[d.type];
      if (queryName && d.status.name === 'RUNNING') {
        try {
          state = await Promise.race([
            handle.query(queryName),
            new Promise((_, reject) =>
              setTimeout(
                () =>
                  reject(
                    new Error(`no answer to query '${queryName}' within ${QUERY_TIMEOUT_MS} ms (is a worker running?)`),
                  ),
                QUERY_TIMEOUT_MS,
              ).unref(),
            ),
          ]);
        } catch (err) {
          stateError = (err as Error).message;
        }
      }
      const pendingActivities = (d.raw.pendingActivities ?? []).map((a) => ({
        activityType: a.activityType?.name ?? 'unknown',
        state: PendingActivityState[a.state ?? 0]?.replace('PENDING_ACTIVITY_STATE_', '') ?? 'UNKNOWN',
        attempt: a.attempt ?? 0,
        lastFailure: a.lastFailure?.message ?? null,
        lastHeartbeatAt: a.lastHeartbeatTime?.seconds
          ? new Date(Number(a.lastHeartbeatTime.seconds) * 1000).toISOString()
          : null,
      }));
      return {
        ...summarize(d),
        historyLength: d.historyLength,
        state,
        stateError,
        pendingActivities,
        uiUrl: uiLink(call, d.workflowId, d.runId),
        source: 'live' as const,
      };
    },
  }),
];
