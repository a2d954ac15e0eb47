import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { loadVoiceSettings } from '../../domain/voice/settings.js';
import { withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import { workflowIds } from '../../lib/ids.js';
import { toE164 } from '../../lib/phone.js';
import { isSuppressed } from '../../domain/suppression.js';
import { VoiceSettings } from '../../lib/voice.js';
import type { voiceCall } from '../../workflows/voiceCall.js';
import { tenantOf } from '../auth.js';
import type { TenantVoiceCache } from '../voiceTenants.js';

const ErrorBody = z.object({ statusCode: z.number(), error: z.string(), message: z.string() });

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
export const CallDetail = CallSummary.extend({
  recordingUrl: z.string().nullable(),
  nextAction: z.string().nullable(),
  crmEffects: z.record(z.string(), z.unknown()),
  transcript: z.array(z.object({ seq: z.number(), role: z.string(), text: z.string(), secondsFromStart: z.number().nullable() })),
  toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.unknown(), result: z.string().nullable(), error: z.string().nullable(), latencyMs: z.number(), at: z.string() })),
  providerCallIds: z.array(z.string()),
  webUiUrl: z.string().nullable(),
});

interface CallRow {
  workflow_id: string; provider: 'vapi' | 'retell'; direction: 'inbound' | 'outbound'; provider_call_id: string | null; customer_phone: string | null;
  contact_id: string | null; purpose: string | null; status: string; ended_reason: string | null; attempts: number; started_at: Date | null;
  ended_at: Date | null; cost: string | null; summary: string | null; sentiment: string | null; outcome: string | null; created_at: Date;
  recording_url: string | null; next_action: string | null; crm_effects: Record<string, unknown>;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const summaryOf = (r: CallRow): z.infer<typeof CallSummary> => ({
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

/** The number (or contact) opted out of contact: no call is placed. */
export class SuppressedError extends Error {
  constructor(to: string) {
    super(`${to} opted out of contact (suppression list); no call placed`);
  }
}

/** Places an outbound call: one voiceCall workflow per idempotency key (a repeat finds the first); never to a suppressed number. */
export async function startOutboundCall(
  deps: { pool: Pool; temporal: Client; taskQueue: string },
  tenantId: string,
  req: { to: string; purpose: string; contactId?: string; assistant?: string; provider?: 'vapi' | 'retell'; idempotencyKey?: string },
): Promise<{ workflowId: string; existing: boolean }> {
  const { settings, suppressed } = await withTenant(deps.pool, tenantId, async (c) => ({
    settings: await loadVoiceSettings(c, tenantId),
    suppressed: await isSuppressed(c, { tenantId, phone: req.to, contactId: req.contactId }),
  }));
  if (suppressed) throw new SuppressedError(req.to);
  const provider = req.provider ?? settings.defaultProvider;
  const callRef = `out-${req.idempotencyKey ?? randomUUID()}`;
  const workflowId = workflowIds.voiceCall(tenantId, provider, callRef);
  let existing = false;
  try {
    await deps.temporal.workflow.start<typeof voiceCall>('voiceCall', {
      taskQueue: deps.taskQueue,
      workflowId,
      // The same idempotency key never places a second call, even after the first has finished.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      args: [{ direction: 'outbound', tenantId, provider, callRef, to: req.to, purpose: req.purpose, ...(req.contactId ? { contactId: req.contactId } : {}), ...(req.assistant ? { assistant: req.assistant } : {}) }],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    existing = true;
  }
  return { workflowId, existing };
}

/** Calls, newest first (phone already E.164). */
export async function listCalls(c: PoolClient, tenantId: string, q: { phone?: string; status?: string; since?: string; limit: number }): Promise<z.infer<typeof CallSummary>[]> {
  const { rows } = await c.query<CallRow>(
    `select * from calls where tenant_id = $1 and ($2::text is null or customer_phone = $2) and ($3::text is null or status = $3)
       and ($4::timestamptz is null or created_at >= $4) order by created_at desc limit $5`,
    [tenantId, q.phone ?? null, q.status ?? null, q.since ?? null, q.limit],
  );
  return rows.map(summaryOf);
}

/** One call by workflow id or provider call id, with transcript and tool calls; null when unknown. */
export async function getCall(c: PoolClient, tenantId: string, id: string, ui: { namespace: string; webUiUrl: string | undefined }): Promise<z.infer<typeof CallDetail> | null> {
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
  const tools = await c.query<{ tool_call_id: string; name: string; arguments: unknown; result: string | null; error: string | null; latency_ms: number; created_at: Date }>(
    'select tool_call_id, name, arguments, result, error, latency_ms, created_at from call_tool_calls where tenant_id = $1 and workflow_id = $2 order by created_at, tool_call_id',
    [tenantId, call.workflow_id],
  );
  const ids = await c.query<{ provider_call_id: string }>('select provider_call_id from call_provider_ids where tenant_id = $1 and workflow_id = $2 order by attempt, created_at', [tenantId, call.workflow_id]);
  return {
    ...summaryOf(call),
    recordingUrl: call.recording_url,
    nextAction: call.next_action,
    crmEffects: call.crm_effects,
    transcript: utterances.rows.map((u) => ({ seq: u.seq, role: u.role, text: u.text, secondsFromStart: u.seconds_from_start })),
    toolCalls: tools.rows.map((t) => ({ id: t.tool_call_id, name: t.name, arguments: t.arguments, result: t.result, error: t.error, latencyMs: t.latency_ms, at: t.created_at.toISOString() })),
    providerCallIds: ids.rows.map((r) => r.provider_call_id),
    webUiUrl: ui.webUiUrl ? `${ui.webUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(call.workflow_id)}` : null,
  };
}

/**
 * Calls: place an outbound call (a voiceCall workflow), list and read calls (Postgres read model),
 * and the tenant's voice settings.
 */
export const callRoutes: FastifyPluginAsyncZod<{ pool: Pool; temporal: Client; taskQueue: string; namespace: string; webUiUrl: string | undefined; voice: TenantVoiceCache }> = async (
  app,
  { pool, temporal, taskQueue, namespace, webUiUrl, voice },
) => {
  app.post(
    '/v1/calls',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Place an outbound call; returns the workflow id at once (retries no-answer/busy/voicemail within calling hours)',
        tags: ['calls'],
        body: z.strictObject({
          to: z.string().trim().min(5).max(32).describe('E.164 number to call'),
          contactId: z.string().trim().min(1).max(100).optional(),
          purpose: z.string().trim().min(1).max(1000),
          assistant: z.string().trim().min(1).max(100).optional().describe('provider assistant / agent id instead of the tenant default'),
          provider: z.enum(['vapi', 'retell']).optional(),
          idempotencyKey: z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore').optional(),
        }),
        response: { 202: z.object({ callId: z.string(), workflowId: z.string(), statusUrl: z.string(), existing: z.boolean() }), 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      const to = toE164(req.body.to);
      if (!to) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `body.to: not a phone number: ${JSON.stringify(req.body.to)}` });
      try {
        const { workflowId, existing } = await startOutboundCall({ pool, temporal, taskQueue }, tenantId, { ...req.body, to });
        return reply.code(202).send({ callId: workflowId, workflowId, statusUrl: `/v1/calls/${encodeURIComponent(workflowId)}`, existing });
      } catch (err) {
        if (err instanceof SuppressedError) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: err.message });
        throw err;
      }
    },
  );

  app.get(
    '/v1/calls',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Calls, newest first',
        tags: ['calls'],
        querystring: z.strictObject({
          phone: z.string().trim().min(5).max(32).optional(),
          status: z.string().trim().min(1).max(40).optional(),
          since: z.iso.datetime({ offset: true }).optional(),
          limit: z.coerce.number().int().min(1).max(200).default(50),
        }),
        response: { 200: z.object({ calls: z.array(CallSummary) }), 400: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      const phone = req.query.phone === undefined ? undefined : toE164(req.query.phone);
      if (req.query.phone !== undefined && !phone) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `querystring.phone: not a phone number` });
      const calls = await withTenant(pool, tenantId, (c) => listCalls(c, tenantId, { ...req.query, phone: phone ?? undefined }));
      return { calls };
    },
  );

  app.get(
    '/v1/calls/:id',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'One call: status, transcript, tool calls with results and latency, summary, CRM effects, Web UI link',
        tags: ['calls'],
        params: z.object({ id: z.string().min(1).max(300).describe('workflow id or provider call id') }),
        response: { 200: CallDetail, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      const detail = await withTenant(pool, tenantId, (c) => getCall(c, tenantId, req.params.id, { namespace, webUiUrl }));
      if (!detail) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no call ${req.params.id}` });
      return detail;
    },
  );

  app.put(
    '/v1/voice/settings',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "The tenant's voice setup: assistant, tools it may call, calendar, calling hours, retries, deadlines",
        tags: ['calls'],
        body: VoiceSettings,
        response: { 200: VoiceSettings, 400: ErrorBody },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      await withTenant(pool, tenantId, (c) =>
        c.query(
          `insert into voice_settings (tenant_id, settings) values ($1, $2) on conflict (tenant_id) do update set settings = excluded.settings, updated_at = now()`,
          [tenantId, JSON.stringify(req.body)],
        ),
      );
      voice.forget(tenantId);
      return req.body;
    },
  );

  app.get(
    '/v1/voice/settings',
    { preHandler: app.requireScope('read'), schema: { summary: "The tenant's voice settings (defaults when never set)", tags: ['calls'], response: { 200: VoiceSettings } } },
    async (req) => {
      const { tenantId } = tenantOf(req);
      return withTenant(pool, tenantId, (c) => loadVoiceSettings(c, tenantId));
    },
  );
};
