import { z } from 'zod';
import { Instant } from '../../../lib/instant.js';
import { withTenant } from '../../../lib/db.js';
import { PhoneNumber } from '../../../lib/phone.js';
import { CallDetail, CallSummary, getCall, listCalls, startOutboundCall } from '../../services/calls.js';
import { IdempotencyKey } from '../crmActions.js';
import { FollowSeconds, followWorkflow } from '../follow.js';
import { Confirm, defineTool, READ_ONLY, ToolError, type ToolCall } from '../tool.js';

/** Phone calls: start an outbound voiceCall workflow, read calls from the Postgres read model (api/services/calls.ts). */

const readCall = (call: ToolCall, id: string) =>
  withTenant(call.deps.pool, call.tenantId, (c) =>
    getCall(c, call.tenantId, id, { namespace: call.deps.namespace, webUiUrl: call.deps.temporalUiUrl }),
  );

export const voiceTools = [
  defineTool({
    name: 'voice_start_call',
    title: 'Start an outbound call',
    description:
      "Have the tenant's voice agent call a number for a purpose (Vapi or Retell). Returns the call's workflow id at once — no answer, busy and voicemail are retried inside calling hours — follow it with voice_get_call. With a progress token the call first streams its status (followSeconds, default 20 s). Pass idempotencyKey so a retry never dials twice.",
    scope: 'act',
    input: z.strictObject({
      to: PhoneNumber.describe('the number to call, any common format'),
      purpose: z.string().trim().min(1).max(1000).describe('what the call is for; the agent is told'),
      contactId: z.string().trim().min(1).max(100).optional(),
      assistant: z
        .string()
        .trim()
        .min(1)
        .max(100)
        .optional()
        .describe('provider assistant / agent id instead of the tenant default'),
      provider: z.enum(['vapi', 'retell']).optional(),
      idempotencyKey: IdempotencyKey.optional(),
      followSeconds: FollowSeconds,
      confirm: Confirm,
    }),
    output: z.object({
      callId: z.string(),
      workflowId: z.string(),
      existing: z.boolean().describe('true when this idempotencyKey already placed the call: nothing new was dialed'),
      call: CallSummary.nullable().describe('the call as stored so far (null until its workflow has recorded it)'),
      followWith: z.literal('voice_get_call'),
    }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    confirm: (a) => `Call ${a.to}${a.contactId ? ` (contact ${a.contactId})` : ''} now: ${a.purpose}?`,
    run: async (args, call) => {
      const { followSeconds, ...request } = args;
      const started = await startOutboundCall(call.deps, call.tenantId, request);
      call.note({ workflowId: started.workflowId, source: 'live' });
      const state = call.wantsProgress
        ? await followWorkflow(
            call,
            started,
            async () => {
              const now = await readCall(call, started.workflowId);
              return { snapshot: now, message: now ? `call ${now.status} (attempt ${now.attempts})` : 'call starting' };
            },
            followSeconds,
          )
        : await readCall(call, started.workflowId);
      const summary = state ? CallSummary.parse(state) : null;
      return {
        callId: started.workflowId,
        workflowId: started.workflowId,
        existing: started.existing,
        call: summary,
        followWith: 'voice_get_call' as const,
      };
    },
  }),
  defineTool({
    name: 'voice_list_calls',
    title: 'List calls',
    description: "The tenant's calls, newest first, by phone, status or since.",
    scope: 'read',
    input: z.strictObject({
      phone: PhoneNumber.optional(),
      status: z
        .string()
        .trim()
        .min(1)
        .max(40)
        .optional()
        .describe('e.g. in-progress, completed, no-answer, busy, voicemail, failed'),
      since: Instant.optional(),
      limit: z.number().int().min(1).max(200).default(50),
    }),
    output: z.object({ calls: z.array(CallSummary), source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (args, call) => ({
      calls: await call.read((c) => listCalls(c, call.tenantId, args)),
      source: 'cache' as const,
    }),
  }),
  defineTool({
    name: 'voice_get_call',
    title: 'Get a call',
    description:
      'One call by its id (workflow id) or the provider call id: status, attempts, transcript, tool calls with results and latency, summary, sentiment, outcome, next action, CRM effects.',
    scope: 'read',
    input: z.strictObject({ callId: z.string().trim().min(1).max(300) }),
    output: CallDetail.extend({ source: z.literal('cache') }),
    annotations: READ_ONLY,
    run: async (args, call) => {
      const found = await call.read(async (c) => {
        const hit = await getCall(c, call.tenantId, args.callId, {
          namespace: call.deps.namespace,
          webUiUrl: call.deps.temporalUiUrl,
        });
        if (!hit) throw new ToolError(`no call '${args.callId}' for this tenant`);
        return hit;
      });
      call.note({ workflowId: found.id });
      return { ...found, source: 'cache' as const };
    },
  }),
];
