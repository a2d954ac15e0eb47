import { z } from 'zod';
import { Instant } from '../../lib/instant.js';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { CrmDeps } from '../../domain/crm/callerLookup.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { PhoneInput, toE164 } from '../../lib/phone.js';
import { VoiceSettings } from '../../lib/voice.js';
import { tenantOf } from '../auth.js';
import { ErrorBody, fail } from '../http/errors.js';
import { CallDetail, CallSummary, getCall, listCalls, startOutboundCall } from '../services/calls.js';
import { readVoiceSettings, saveVoiceSettings } from '../services/voiceSettings.js';
import type { TenantVoiceCache } from '../voiceTenants.js';

const StartCall = z.strictObject({
  to: PhoneInput.describe('the number to call, any common format (E.164 best)'),
  contactId: z.string().trim().min(1).max(100).optional(),
  purpose: z.string().trim().min(1).max(1000),
  assistant: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .optional()
    .describe('provider assistant / agent id instead of the tenant default'),
  provider: z.enum(['vapi', 'retell']).optional(),
  idempotencyKey: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore')
    .optional(),
});
const CallQuery = z.strictObject({
  phone: PhoneInput.optional(),
  status: z.string().trim().min(1).max(40).optional(),
  since: Instant.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

interface CallRouteOptions {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  namespace: string;
  webUiUrl: string | undefined;
  voice: TenantVoiceCache;
  crm: CrmDeps;
}

/**
 * Calls: place an outbound call (a voiceCall workflow), list and read calls (Postgres read model),
 * and the tenant's voice settings (api/services/calls.ts, voiceSettings.ts).
 */
export const callRoutes: FastifyPluginAsyncZod<CallRouteOptions> = async (app, opts) => {
  const { pool, temporal, taskQueue, namespace, webUiUrl, voice, crm } = opts;
  app.post(
    '/v1/calls',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary:
          'Place an outbound call; returns the workflow id at once (retries no-answer/busy/voicemail within calling hours)',
        tags: ['calls'],
        body: StartCall,
        response: {
          202: z.object({ callId: z.string(), workflowId: z.string(), statusUrl: z.string(), existing: z.boolean() }),
          400: ErrorBody,
          409: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      const to = toE164(req.body.to);
      if (!to) return fail(reply, 400, `body.to: not a phone number: ${JSON.stringify(req.body.to)}`);
      const { workflowId, existing } = await startOutboundCall(
        { pool, temporal, taskQueue, access: crm.access },
        tenantId,
        { ...req.body, to },
      );
      const statusUrl = `/v1/calls/${encodeURIComponent(workflowId)}`;
      return reply.code(202).send({ callId: workflowId, workflowId, statusUrl, existing });
    },
  );

  app.get(
    '/v1/calls',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Calls, newest first',
        tags: ['calls'],
        querystring: CallQuery,
        response: { 200: z.object({ calls: z.array(CallSummary) }), 400: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      const phone = req.query.phone === undefined ? undefined : toE164(req.query.phone);
      if (req.query.phone !== undefined && !phone) return fail(reply, 400, 'querystring.phone: not a phone number');
      const q = { ...req.query, phone: phone ?? undefined };
      const calls = await withTenant(pool, tenantId, (c) => listCalls(c, tenantId, q));
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
      const ui = { namespace, webUiUrl };
      const detail = await withTenant(pool, tenantId, (c) => getCall(c, tenantId, req.params.id, ui));
      if (!detail) return fail(reply, 404, `no call ${req.params.id}`);
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
        response: { 200: VoiceSettings, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => saveVoiceSettings({ pool, voice, crm }, tenantOf(req).tenantId, req.body),
  );

  app.get(
    '/v1/voice/settings',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: "The tenant's voice settings (defaults when never set)",
        tags: ['calls'],
        response: { 200: VoiceSettings },
      },
    },
    async (req) => readVoiceSettings(pool, tenantOf(req).tenantId),
  );
};
