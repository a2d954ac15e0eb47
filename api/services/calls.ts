import { loadTransfer, transferOutcome } from '../../domain/voice/transfer.js';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { OutboundRefused, prepareOutbound } from '../../domain/voice/outbound.js';
import type { Pool, PoolClient } from '../../lib/db.js';
import { taskPriority } from '../../lib/taskPriority.js';
import { voiceCall } from '../../workflows/voiceCall.js';
import { conflict } from './errors.js';

/** Phone calls: outbound calls start a voiceCall workflow; reads come from the Postgres read model. */

export const CallSummary = z.object({
  id: z.string().describe('the workflow id'),
  provider: z.enum(['vapi', 'retell']),
  direction: z.enum(['inbound', 'outbound']),
  providerCallId: z.string().nullable(),
  phone: z.string().nullable(),
  contactId: z.string().nullable(),
  purpose: z.string().nullable(),
  status: z.string(),
  endedReason: z.string().nullable(),
  attempts: z.number(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  cost: z.number().nullable(),
  summary: z.string().nullable(),
  sentiment: z.string().nullable(),
  outcome: z.string().nullable(),
  createdAt: z.string(),
});
export type CallSummary = z.infer<typeof CallSummary>;

export const CallDetail = CallSummary.extend({
  recordingUrl: z.string().nullable(),
  nextAction: z.string().nullable(),
  crmEffects: z.record(z.string(), z.unknown()),
  transcript: z.array(
    z.object({ seq: z.number(), role: z.string(), text: z.string(), secondsFromStart: z.number().nullable() }),
  ),
  toolCalls: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      arguments: z.unknown(),
      result: z.string().nullable(),
      error: z.string().nullable(),
      latencyMs: z.number(),
      at: z.string(),
    }),
  ),
  providerCallIds: z.array(z.string()),
  webUiUrl: z.string().nullable(),
  /** What transfer_to_human did: put through (and whether the call ended forwarded), or a message taken. */
  transfer: z
    .object({
      status: z.enum(['pending', 'requested', 'message-taken', 'failed']),
      outcome: z.enum(['forwarded', 'transferring', 'not-forwarded', 'message-taken', 'failed']),
      destination: z.string().nullable(),
      reason: z.string().nullable(),
      taskId: z.string().nullable(),
      detail: z.string().nullable(),
      at: z.string(),
    })
    .nullable(),
});
export type CallDetail = z.infer<typeof CallDetail>;

interface CallRow {
  workflow_id: string;
  provider: 'vapi' | 'retell';
  direction: 'inbound' | 'outbound';
  provider_call_id: string | null;
  customer_phone: string | null;
  contact_id: string | null;
  purpose: string | null;
  status: string;
  ended_reason: string | null;
  attempts: number;
  started_at: Date | null;
  ended_at: Date | null;
  cost: string | null;
  summary: string | null;
  sentiment: string | null;
  outcome: string | null;
  created_at: Date;
  recording_url: string | null;
  next_action: string | null;
  crm_effects: Record<string, unknown>;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const summaryOf = (r: CallRow): CallSummary => ({
  id: r.workflow_id,
  provider: r.provider,
  direction: r.direction,
  providerCallId: r.provider_call_id,
  phone: r.customer_phone,
  contactId: r.contact_id,
  purpose: r.purpose,
  status: r.status,
  endedReason: r.ended_reason,
  attempts: r.attempts,
  startedAt: iso(r.started_at),
  endedAt: iso(r.ended_at),
  cost: r.cost === null ? null : Number(r.cost),
  summary: r.summary,
  sentiment: r.sentiment,
  outcome: r.outcome,
  createdAt: r.created_at.toISOString(),
});

export interface CallDeps {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  /** The tenant's own voice accounts: a call starts only on one, with an assistant of its own. */
  access: ProviderAccess;
}

/** An outbound call request; `to` is already E.164 (each adapter parses its own input). */
export interface OutboundCallRequest {
  to: string;
  purpose: string;
  contactId?: string;
  assistant?: string;
  provider?: 'vapi' | 'retell';
  idempotencyKey?: string;
}

/**
 * Places an outbound call: one voiceCall workflow per idempotency key (a repeat finds the first).
 * A suppressed number (or contact) is refused with a conflict: no call is placed.
 */
export async function startOutboundCall(
  deps: CallDeps,
  tenantId: string,
  req: OutboundCallRequest,
): Promise<{ workflowId: string; existing: boolean }> {
  const prepared = await prepareOutbound(deps, tenantId, {
    ...req,
    callRef: `out-${req.idempotencyKey ?? randomUUID()}`,
  }).catch((err: unknown) => {
    if (err instanceof OutboundRefused) throw conflict(err.message);
    throw err;
  });
  const { workflowId } = prepared;
  let existing = false;
  try {
    await deps.temporal.workflow.start(voiceCall, {
      taskQueue: deps.taskQueue,
      workflowId,
      // The same idempotency key never places a second call, even after the first has finished.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      priority: taskPriority.liveCall,
      args: [prepared.input],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    existing = true;
  }
  return { workflowId, existing };
}

/** Calls, newest first (phone already E.164). */
export async function listCalls(
  c: PoolClient,
  tenantId: string,
  q: { phone?: string; status?: string; since?: string; limit: number },
): Promise<CallSummary[]> {
  const { rows } = await c.query<CallRow>(
    `select * from calls where tenant_id = $1 and ($2::text is null or customer_phone = $2) and ($3::text is null or status = $3)
       and ($4::timestamptz is null or created_at >= $4) order by created_at desc limit $5`,
    [tenantId, q.phone ?? null, q.status ?? null, q.since ?? null, q.limit],
  );
  return rows.map(summaryOf);
}

/**
 * Calls changed at or after `since` (the live list's feed), oldest change first, each with the
 * change time it was seen at (`updated_at`), so a follower can move its cursor.
 */
export async function callsChangedSince(
  c: PoolClient,
  tenantId: string,
  since: Date,
  limit: number,
): Promise<{ call: CallSummary; updatedAt: Date }[]> {
  const { rows } = await c.query<CallRow & { updated_at: Date }>(
    `select * from calls where tenant_id = $1 and updated_at >= $2 order by updated_at, workflow_id limit $3`,
    [tenantId, since, limit],
  );
  return rows.map((r) => ({ call: summaryOf(r), updatedAt: r.updated_at }));
}

/**
 * One call by workflow id or provider call id, with transcript and tool calls; null when unknown
 * (each adapter words "not found" its own way).
 */
export async function getCall(
  c: PoolClient,
  tenantId: string,
  id: string,
  ui: { namespace: string; webUiUrl: string | undefined },
): Promise<CallDetail | null> {
  const { rows } = await c.query<CallRow>(
    `select * from calls where tenant_id = $1 and workflow_id = coalesce(
       (select workflow_id from call_provider_ids where tenant_id = $1 and provider_call_id = $2 limit 1), $2)`,
    [tenantId, id],
  );
  const call = rows[0];
  if (!call) return null;
  // One connection: the queries go one after another.
  const utterances = await c.query<{ seq: number; role: string; text: string; seconds_from_start: number | null }>(
    'select seq, role, text, seconds_from_start from call_utterances where tenant_id = $1 and workflow_id = $2 order by seq',
    [tenantId, call.workflow_id],
  );
  const tools = await c.query<{
    tool_call_id: string;
    name: string;
    arguments: unknown;
    result: string | null;
    error: string | null;
    latency_ms: number;
    created_at: Date;
  }>(
    `select tool_call_id, name, arguments, result, error, latency_ms, created_at from call_tool_calls
      where tenant_id = $1 and workflow_id = $2 order by created_at, tool_call_id`,
    [tenantId, call.workflow_id],
  );
  const ids = await c.query<{ provider_call_id: string }>(
    'select provider_call_id from call_provider_ids where tenant_id = $1 and workflow_id = $2 order by attempt, created_at',
    [tenantId, call.workflow_id],
  );
  const transfer = await loadTransfer(c, tenantId, call.workflow_id);
  const ns = encodeURIComponent(ui.namespace);
  return {
    ...summaryOf(call),
    recordingUrl: call.recording_url,
    nextAction: call.next_action,
    crmEffects: call.crm_effects,
    transcript: utterances.rows.map((u) => ({
      seq: u.seq,
      role: u.role,
      text: u.text,
      secondsFromStart: u.seconds_from_start,
    })),
    toolCalls: tools.rows.map((t) => ({
      id: t.tool_call_id,
      name: t.name,
      arguments: t.arguments,
      result: t.result,
      error: t.error,
      latencyMs: t.latency_ms,
      at: t.created_at.toISOString(),
    })),
    providerCallIds: ids.rows.map((r) => r.provider_call_id),
    webUiUrl: ui.webUiUrl
      ? `${ui.webUiUrl.replace(/\/+$/, '')}/namespaces/${ns}/workflows/${encodeURIComponent(call.workflow_id)}`
      : null,
    transfer: transfer
      ? {
          status: transfer.status,
          outcome: transferOutcome(transfer, { status: call.status, endedReason: call.ended_reason }),
          destination: transfer.destination,
          reason: transfer.reason,
          taskId: transfer.taskId,
          detail: transfer.detail,
          at: transfer.at,
        }
      : null,
  };
}
