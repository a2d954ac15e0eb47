import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { CrmActionDeps } from '../../activities/crm/actions.js';
import { lookupCallerContact, type CallerLookup } from '../../domain/crm/callerLookup.js';
import { CALL_REF_KEY } from '../../domain/voice/settings.js';
import type { VoiceProvider } from '../../providers/voice.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { TenantId, workflowIds } from '../../lib/ids.js';
import { taskPriority } from '../../lib/taskPriority.js';
import { assistantFor } from '../services/voiceProvision.js';
import type { VoiceSettings } from '../../lib/voice.js';
import { voiceCall } from '../../workflows/voiceCall.js';
import {
  callEventSignal,
  toolCallsSignal,
  type CallEvent,
  type ToolCallAnswer,
  type ToolCallRequest,
  type VoiceCallInput,
} from '../../workflows/voiceCall.contract.js';
import { fail } from '../http/errors.js';
import { loadTransfer, saveTransfer, transferHoursText, transferOpen } from '../../domain/voice/transfer.js';
import type { TenantVoice, TenantVoiceCache } from '../voiceTenants.js';
import type { PgNotifications } from '../notifications.js';
import { findToolAnswers, TOOL_ANSWER_CHANNEL, toolAnswerKey } from '../../domain/voice/toolCalls.js';

/**
 * Vapi and Retell webhooks. Thin by design: authenticate with the tenant's credential, parse, store
 * the bodies worth keeping, and hand each event to the call's workflow (signal-with-start, or an
 * update for tool calls). All call state lives in the workflow.
 */

const SIGNATURE_MAX_SKEW_MS = 5 * 60_000;
// One answer for an unknown tenant and for a known one with a bad credential: the URL alone must
// not tell which tenant ids exist. The log keeps the real reason.
const REFUSED = 'webhook authentication failed';
const STILL_WORKING = 'Still working on that; please give me a moment and ask again.';
/** While the LISTEN connection is down, a tool call's answer is looked for this often. */
const TOOL_ANSWER_POLL_MS = 100;

export interface VoiceWebhookDeps {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  voice: TenantVoiceCache;
  crm: CrmActionDeps;
  /** Wakes a webhook waiting for a tool call's answer (LISTEN on TOOL_ANSWER_CHANNEL). */
  notifier: PgNotifications;
  /** Where providers reach us; unset: derived from the request. */
  publicUrl: string | undefined;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Constant-time equality of two strings of any length (hashes first, so lengths leak nothing). */
function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

/** Vapi's message.timestamp: epoch milliseconds (a number, or digits, or an ISO date). */
function messageTime(ts: number | string | undefined): number | undefined {
  if (ts === undefined) return undefined;
  if (typeof ts === 'number') return ts;
  return /^\d+$/.test(ts) ? Number(ts) : Date.parse(ts);
}

function freshTimestamp(ms: number): boolean {
  return Number.isFinite(ms) && Math.abs(Date.now() - ms) <= SIGNATURE_MAX_SKEW_MS;
}

function verifyVapi(req: FastifyRequest, raw: Buffer, tenant: TenantVoice): string | undefined {
  const cred = tenant.vapi;
  if (!cred) return 'no Vapi credential is configured for this tenant';
  switch (cred.authMode ?? 'x-vapi-secret') {
    case 'x-vapi-secret':
      return sameSecret(header(req, 'x-vapi-secret'), cred.secret) ? undefined : 'invalid or missing X-Vapi-Secret';
    case 'bearer':
      return sameSecret(header(req, 'authorization'), `Bearer ${cred.secret}`)
        ? undefined
        : 'invalid or missing Authorization: Bearer';
    case 'hmac': {
      const ts = header(req, 'x-timestamp');
      const sig = header(req, 'x-signature');
      if (!ts || !sig) return 'missing x-signature / x-timestamp';
      // Vapi sends milliseconds; accept seconds too.
      const ms = Number(ts) < 1e12 ? Number(ts) * 1000 : Number(ts);
      if (!freshTimestamp(ms)) return 'x-timestamp is more than 5 minutes off';
      const expected = createHmac('sha256', cred.secret).update(`${ts}.`).update(raw).digest('hex');
      return sameSecret(sig.toLowerCase(), expected) ? undefined : 'invalid x-signature';
    }
  }
}

function verifyRetell(req: FastifyRequest, raw: Buffer, tenant: TenantVoice): string | undefined {
  if (!tenant.retell) return 'no Retell API key is configured for this tenant';
  const sig = header(req, 'x-retell-signature');
  const m = sig ? /^v=(\d+),d=([0-9a-f]+)$/i.exec(sig) : null;
  if (!m) return 'missing or malformed x-retell-signature';
  if (!freshTimestamp(Number(m[1]))) return 'x-retell-signature timestamp is more than 5 minutes off';
  const expected = createHmac('sha256', tenant.retell.secret).update(raw).update(m[1]!).digest('hex');
  return sameSecret(m[2]!.toLowerCase(), expected) ? undefined : 'invalid x-retell-signature';
}

function parseJson(raw: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

const issues = (e: z.ZodError, prefix: string) =>
  e.issues.map((i) => `${prefix}${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`).join('; ');

// --- Vapi -------------------------------------------------------------------------------------------

const Metadata = z.record(z.string(), z.unknown()).nullish();
const VapiCall = z.looseObject({
  id: z.string().min(1),
  type: z.string().optional(),
  metadata: Metadata,
  assistantOverrides: z.looseObject({ metadata: Metadata }).nullish(),
  customer: z.looseObject({ number: z.string().nullish() }).nullish(),
});
const VapiMessage = z.looseObject({
  type: z.string().min(1),
  timestamp: z.union([z.number(), z.string()]).optional(),
  call: z.unknown().optional(),
  status: z.string().optional(),
  endedReason: z.string().optional(),
  transcriptType: z.string().optional(),
  customer: z.looseObject({ number: z.string().nullish() }).nullish(),
  phoneNumber: z.looseObject({ number: z.string().nullish() }).nullish(),
});
const VapiEnvelope = z.looseObject({ message: VapiMessage });

const ToolFn = z.looseObject({
  name: z.string().min(1),
  arguments: z.unknown().optional(),
  parameters: z.unknown().optional(),
});
const ToolCallItem = z.looseObject({ id: z.string().min(1), function: ToolFn });
const ToolCallForms = z.looseObject({
  toolCallList: z.array(ToolCallItem).optional(),
  toolCalls: z.array(ToolCallItem).optional(),
  toolWithToolCallList: z.array(z.looseObject({ toolCall: ToolCallItem })).optional(),
  functionCall: z.looseObject({ name: z.string().min(1), parameters: z.unknown().optional() }).optional(),
});

/** Arguments arrive as a JSON string or an object; a string that is not JSON is the tool's problem to report. */
function toolArgs(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw ?? {};
  try {
    return JSON.parse(raw);
  } catch {
    return { arguments: raw };
  }
}

/** Vapi's three tool-call forms (all carry the same calls): the first one present, in call order. */
function vapiToolCalls(message: unknown): ToolCallRequest[] {
  const forms = ToolCallForms.parse(message);
  const list = forms.toolCallList?.length
    ? forms.toolCallList
    : forms.toolCalls?.length
      ? forms.toolCalls
      : (forms.toolWithToolCallList ?? []).map((t) => t.toolCall);
  return list.map((c) => ({
    id: c.id,
    name: c.function.name,
    args: toolArgs(c.function.arguments ?? c.function.parameters),
  }));
}

function callRefOf(call: {
  metadata?: Record<string, unknown> | null;
  assistantOverrides?: { metadata?: Record<string, unknown> | null } | null;
}): string | undefined {
  const ref = call.metadata?.[CALL_REF_KEY] ?? call.assistantOverrides?.metadata?.[CALL_REF_KEY];
  return typeof ref === 'string' && ref.length > 0 && ref.length <= 200 ? ref : undefined;
}

function variablesFor(lookup: CallerLookup, phone: string | undefined): Record<string, string> {
  const c = lookup.contact;
  return {
    customerPhone: phone ?? '',
    knownCaller: c ? 'yes' : 'no',
    customerName: c?.name ?? '',
    customerFirstName: c?.firstName ?? '',
    customerEmail: c?.email ?? '',
    contactId: c?.id ?? '',
  };
}

/** The assistant we hand Vapi when the tenant has no saved one: its tools are the tenant's list. */
const transientAssistant = (settings: VoiceSettings, serverUrl: string) => assistantFor(settings, { url: serverUrl });

export const voiceWebhookRoutes: FastifyPluginAsync<VoiceWebhookDeps> = async (app, deps) => {
  const { pool, temporal, taskQueue, voice, notifier } = deps;
  // Signatures are over the raw bytes: this scope keeps them.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const baseUrl = (req: FastifyRequest) => deps.publicUrl ?? `${req.protocol}://${req.headers.host ?? 'localhost'}`;

  /** Records a Vapi message as received; false if it was already (receipts outlive the freshness window). */
  async function firstReceipt(tenantId: string, messageKey: string): Promise<boolean> {
    return withTenant(pool, tenantId, async (c) => {
      const first = await c.query(
        'insert into vapi_message_receipts (tenant_id, message_key) values ($1, $2) on conflict do nothing',
        [tenantId, messageKey.slice(0, 500)],
      );
      // Now and then, the tenant's receipts older than any fresh message go.
      if (Math.random() < 0.02)
        await c.query(
          `delete from vapi_message_receipts where tenant_id = $1 and received_at < now() - interval '15 minutes'`,
          [tenantId],
        );
      return first.rowCount === 1;
    });
  }

  /** Stores a body worth keeping (reports, final call objects) once per key. */
  async function storeEvent(
    tenantId: string,
    workflowId: string,
    event: CallEvent,
    type: string,
    payload: unknown,
  ): Promise<void> {
    await withTenant(pool, tenantId, (c) =>
      c.query(
        `insert into call_events (tenant_id, workflow_id, event_key, type, provider_call_id, payload) values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
        [tenantId, workflowId, event.key, type, event.providerCallId, JSON.stringify(payload)],
      ),
    );
  }

  /**
   * Hands an event to its call's workflow. Inbound calls start here (signal-with-start); outbound
   * calls already have a workflow, so an event naming one that is gone is dropped. A call whose
   * workflow has finished is never started again (a late duplicate has no effect).
   */
  async function deliver(
    log: FastifyBaseLogger,
    workflowId: string,
    start: VoiceCallInput | undefined,
    event: CallEvent,
  ): Promise<void> {
    try {
      if (start) {
        await temporal.workflow.signalWithStart(voiceCall, {
          workflowId,
          taskQueue,
          args: [start],
          signal: callEventSignal,
          signalArgs: [event],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          priority: taskPriority.liveCall,
        });
      } else {
        await temporal.workflow.getHandle(workflowId).signal(callEventSignal, event);
      }
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError || err instanceof WorkflowNotFoundError) {
        log.info({ workflowId, key: event.key }, 'event for a finished or unknown call ignored');
        return;
      }
      throw err;
    }
  }

  /**
   * Tool calls: signalled to the call's workflow (signal-with-start for an inbound call's first
   * message), answered from the rows its worker writes, each one's wake-up a NOTIFY. An answer
   * already written (the provider sent the message again) is given without signalling. Past the
   * tenant's deadline the caller hears "still working"; the tools go on and are recorded.
   */
  async function answerTools(
    log: FastifyBaseLogger,
    tenantId: string,
    workflowId: string,
    start: VoiceCallInput | undefined,
    calls: ToolCallRequest[],
    deadlineMs: number,
  ): Promise<ToolCallAnswer[]> {
    const answers = new Map<string, ToolCallAnswer>();
    const answered = () => calls.every((c) => answers.has(c.id));
    const collect = async () => {
      const waiting = calls.filter((c) => !answers.has(c.id));
      if (!waiting.length) return;
      const rows = await withTenant(pool, tenantId, (c) =>
        findToolAnswers(
          c,
          tenantId,
          workflowId,
          waiting.map((w) => w.id),
        ),
      );
      for (const w of waiting) {
        const row = rows.get(w.id);
        if (row)
          answers.set(
            w.id,
            row.error !== null
              ? { toolCallId: w.id, name: w.name, error: row.error }
              : { toolCallId: w.id, name: w.name, result: row.result ?? '' },
          );
      }
    };
    // A wake that comes while the rows are being read is kept, so the next wait is skipped.
    let woken = false;
    let stopWaiting: (() => void) | undefined;
    const wake = () => {
      woken = true;
      stopWaiting?.();
    };
    const unsubscribe = await Promise.all(
      calls.map((c) => notifier.subscribe(TOOL_ANSWER_CHANNEL, toolAnswerKey(tenantId, workflowId, c.id), wake)),
    );
    const deadlineAt = Date.now() + deadlineMs;
    try {
      await collect();
      if (answered()) return calls.map((c) => answers.get(c.id)!);
      const signal = { calls };
      if (start)
        await temporal.workflow.signalWithStart(voiceCall, {
          workflowId,
          taskQueue,
          args: [start],
          signal: toolCallsSignal,
          signalArgs: [signal],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          priority: taskPriority.liveCall,
        });
      else await temporal.workflow.getHandle(workflowId).signal(toolCallsSignal, signal);
      while (!answered()) {
        const left = deadlineAt - Date.now();
        if (left <= 0) {
          log.warn(
            { workflowId, tools: calls.filter((c) => !answers.has(c.id)).map((c) => c.name), deadlineMs },
            'tool calls passed the deadline; answered "still working"',
          );
          break;
        }
        // Woken by a NOTIFY, or polling while the LISTEN connection is down.
        if (!woken) {
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            stopWaiting = resolve;
            timer = setTimeout(resolve, notifier.listening ? left : Math.min(left, TOOL_ANSWER_POLL_MS));
          });
          clearTimeout(timer);
          stopWaiting = undefined;
        }
        woken = false;
        await collect();
      }
      return calls.map((c) => answers.get(c.id) ?? { toolCallId: c.id, name: c.name, error: STILL_WORKING });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError || err instanceof WorkflowNotFoundError)
        log.info({ workflowId }, 'tool calls for a finished or unknown call');
      else log.error({ err, workflowId }, 'tool calls could not be handed to the call');
      return calls.map((c) => ({
        toolCallId: c.id,
        name: c.name,
        error: 'Sorry, that did not work; please try again.',
      }));
    } finally {
      for (const stop of unsubscribe) stop();
    }
  }

  async function authenticate(
    req: FastifyRequest,
    reply: FastifyReply,
    provider: VoiceProvider,
  ): Promise<{ tenantId: string; tenant: TenantVoice; json: unknown } | undefined> {
    const params = z.object({ tenantId: TenantId }).safeParse(req.params);
    if (!params.success) return void fail(reply, 401, REFUSED);
    const raw = req.body;
    if (!Buffer.isBuffer(raw)) return void fail(reply, 415, 'expected application/json');
    const tenantId = params.data.tenantId;
    const tenant = await voice.get(tenantId);
    const problem = tenant.exists
      ? provider === 'vapi'
        ? verifyVapi(req, raw, tenant)
        : verifyRetell(req, raw, tenant)
      : 'unknown tenant';
    if (problem) {
      req.log.warn({ tenantId, provider, problem }, 'voice webhook refused');
      return void fail(reply, 401, REFUSED);
    }
    const json = parseJson(raw);
    if (!json.ok) return void fail(reply, 400, 'body is not valid JSON');
    return { tenantId, tenant, json: json.value };
  }

  const routeOpts = (summary: string, ok: 200 | 204 = 200) => ({
    config: {
      rateLimit: false as const,
      openapi: {
        requestBody: { contentType: 'application/json' },
        errors: [401, 404],
        responses: (ok === 204 ? { 204: 'received', 200: 'received' } : { 200: 'the answer' }) as Record<
          number,
          string
        >,
      },
    },
    schema: { summary, tags: ['webhooks'] },
  });

  app.post('/webhooks/vapi/:tenantId', routeOpts('Vapi server messages'), async (req, reply) => {
    const auth = await authenticate(req, reply, 'vapi');
    if (!auth) return reply;
    const { tenantId, tenant } = auth;
    const envelope = VapiEnvelope.safeParse(auth.json);
    if (!envelope.success) return fail(reply, 400, issues(envelope.error, 'body'));
    const message = envelope.data.message;
    const handled = [
      'assistant-request',
      'status-update',
      'end-of-call-report',
      'tool-calls',
      'function-call',
      'transcript',
      'hang',
      'transfer-destination-request',
    ];
    if (!handled.includes(message.type)) return reply.code(200).send({});
    const parsedCall = VapiCall.safeParse(message.call);
    if (!parsedCall.success) return fail(reply, 400, issues(parsedCall.error, 'body.message.call'));
    const call = parsedCall.data;
    // A shared secret or bearer token signs nothing: without this, a captured message could be
    // replayed forever. Fresh only within the skew HMAC mode allows; a repeat inside it is recognised below.
    const sentAt = messageTime(message.timestamp);
    if (sentAt === undefined || !freshTimestamp(sentAt))
      return fail(reply, 401, 'body.message.timestamp: missing or more than 5 minutes off (stale or replayed message)');
    const ref = callRefOf(call);
    const workflowId = ref
      ? workflowIds.voiceCall(tenantId, 'vapi', ref)
      : workflowIds.voiceCall(tenantId, 'vapi', call.id);
    const customerPhone = call.customer?.number ?? message.customer?.number ?? undefined;
    const start: VoiceCallInput | undefined = ref
      ? undefined
      : {
          direction: 'inbound',
          tenantId,
          provider: 'vapi',
          providerCallId: call.id,
          settings: tenant.settings,
          ...(customerPhone ? { customerPhone } : {}),
          ...(message.phoneNumber?.number ? { ourPhone: message.phoneNumber.number } : {}),
        };
    // Vapi's idempotency key: the message type and its timestamp (re-sent bodies differ byte for byte).
    const key = `${message.type}:${message.timestamp ?? message.status ?? ''}`;
    const log = req.log.child({ tenantId, workflowId, type: message.type });
    // Events are applied once: a repeat inside the window (a replay, or Vapi re-sending) is
    // acknowledged and not delivered. Tool calls and assistant requests still get their answer:
    // the workflow answers a repeated tool call id from what it already did.
    if (!['assistant-request', 'tool-calls', 'function-call', 'transfer-destination-request'].includes(message.type)) {
      if (!(await firstReceipt(tenantId, `${call.id}:${key}`))) {
        log.info({ key }, 'repeated Vapi message acknowledged, not applied');
        return { duplicate: true };
      }
    }

    switch (message.type) {
      case 'assistant-request': {
        // Answer fast: the lookup is time-boxed, and the workflow start does not hold the answer.
        void deliver(log, workflowId, start, {
          key,
          providerCallId: call.id,
          kind: 'activity',
          status: 'ringing',
        }).catch((err: unknown) => log.error({ err }, 'could not start the call workflow'));
        const lookup = customerPhone
          ? await lookupCallerContact(deps.crm, tenantId, customerPhone, tenant.settings.lookupTimeoutMs)
          : ({ found: false, source: 'none' } as CallerLookup);
        if (lookup.degraded)
          log.warn({ reason: lookup.degraded }, 'caller lookup degraded; answering as unknown caller');
        const variableValues = variablesFor(lookup, customerPhone);
        const serverUrl = `${baseUrl(req)}/webhooks/vapi/${tenantId}`;
        const assistantId = tenant.settings.vapi.assistantId;
        return assistantId
          ? { assistantId, assistantOverrides: { variableValues, server: { url: serverUrl } } }
          : { assistant: transientAssistant(tenant.settings, serverUrl), assistantOverrides: { variableValues } };
      }
      case 'tool-calls': {
        const calls = vapiToolCalls(message);
        if (!calls.length) return { results: [] };
        const results = await answerTools(log, tenantId, workflowId, start, calls, tenant.settings.toolDeadlineMs);
        return {
          results: results.map((r) =>
            r.error !== undefined
              ? { toolCallId: r.toolCallId, name: r.name, error: r.error }
              : { toolCallId: r.toolCallId, name: r.name, result: r.result ?? '' },
          ),
        };
      }
      case 'function-call': {
        const fn = ToolCallForms.parse(message).functionCall;
        if (!fn) return fail(reply, 400, 'body.message.functionCall: required for function-call');
        const [answer] = await answerTools(
          log,
          tenantId,
          workflowId,
          start,
          [{ id: `fn:${key}`, name: fn.name, args: toolArgs(fn.parameters) }],
          tenant.settings.toolDeadlineMs,
        );
        return { result: answer?.error !== undefined ? `Error: ${answer.error}` : (answer?.result ?? '') };
      }
      case 'transfer-destination-request': {
        // The assistant's own transfer tool has no fixed number: ours, inside the transfer hours.
        const settings = tenant.settings;
        if (!settings.transferNumber || !transferOpen(settings)) {
          const why = settings.transferNumber
            ? `nobody can take the call now (transfer hours ${transferHoursText(settings)})`
            : 'nobody is available to take the call';
          return { error: `${why}; take a message with take_message instead` };
        }
        await saveTransfer(pool, tenantId, workflowId, {
          provider: 'vapi',
          providerCallId: call.id,
          status: 'requested',
          destination: settings.transferNumber,
          reason: null,
          taskId: null,
          detail: 'transfer-destination-request',
        });
        return { destination: { type: 'number', number: settings.transferNumber, message: 'Connecting you now.' } };
      }
      case 'end-of-call-report': {
        const event: CallEvent = {
          key,
          providerCallId: call.id,
          kind: 'report',
          status: 'ended',
          ...(message.endedReason ? { endedReason: message.endedReason } : {}),
        };
        await storeEvent(tenantId, workflowId, event, message.type, envelope.data);
        await deliver(log, workflowId, start, event);
        return {};
      }
      case 'status-update': {
        await deliver(log, workflowId, start, {
          key,
          providerCallId: call.id,
          kind: 'status',
          ...(message.status ? { status: message.status } : {}),
          ...(message.endedReason ? { endedReason: message.endedReason } : {}),
        });
        return {};
      }
      default: {
        // transcript / hang: the call is alive; the transcript itself comes whole with the report.
        if (message.type === 'transcript' && message.transcriptType === 'partial') return {};
        await deliver(log, workflowId, start, { key, providerCallId: call.id, kind: 'activity' });
        return {};
      }
    }
  });

  // --- Retell ---------------------------------------------------------------------------------------
  const RetellCall = z.looseObject({
    call_id: z.string().min(1),
    direction: z.string().optional(),
    from_number: z.string().nullish(),
    to_number: z.string().nullish(),
    call_status: z.string().optional(),
    disconnection_reason: z.string().nullish(),
    metadata: Metadata,
    transcript_object: z.array(z.unknown()).nullish(),
  });
  const RetellEvent = z.looseObject({ event: z.string().min(1), call: z.unknown().optional() });

  function retellTarget(
    tenantId: string,
    settings: VoiceSettings,
    call: z.infer<typeof RetellCall>,
  ): { workflowId: string; start: VoiceCallInput | undefined } {
    const ref = callRefOf(call);
    if (ref) return { workflowId: workflowIds.voiceCall(tenantId, 'retell', ref), start: undefined };
    const inbound = call.direction !== 'outbound';
    const customerPhone = (inbound ? call.from_number : call.to_number) ?? undefined;
    const ourPhone = (inbound ? call.to_number : call.from_number) ?? undefined;
    return {
      workflowId: workflowIds.voiceCall(tenantId, 'retell', call.call_id),
      start: {
        direction: 'inbound',
        tenantId,
        provider: 'retell',
        providerCallId: call.call_id,
        settings,
        ...(customerPhone ? { customerPhone } : {}),
        ...(ourPhone ? { ourPhone } : {}),
      },
    };
  }

  app.post('/webhooks/retell/:tenantId', routeOpts('Retell call events', 204), async (req, reply) => {
    const auth = await authenticate(req, reply, 'retell');
    if (!auth) return reply;
    const { tenantId } = auth;
    const parsed = RetellEvent.safeParse(auth.json);
    if (!parsed.success) return fail(reply, 400, issues(parsed.error, 'body'));
    const { event: type } = parsed.data;
    if (!['call_started', 'call_ended', 'call_analyzed', 'transcript_updated'].includes(type))
      return reply.code(204).send();
    const callParsed = RetellCall.safeParse(parsed.data.call);
    if (!callParsed.success) return fail(reply, 400, issues(callParsed.error, 'body.call'));
    const call = callParsed.data;
    const { workflowId, start } = retellTarget(tenantId, auth.tenant.settings, call);
    const log = req.log.child({ tenantId, workflowId, type });
    // Retell's idempotency key is event + call id; transcript updates differ by how much they hold.
    const key =
      type === 'transcript_updated'
        ? `${type}:${call.call_id}:${call.transcript_object?.length ?? 0}`
        : `${type}:${call.call_id}`;
    const reason = call.disconnection_reason ? { endedReason: call.disconnection_reason } : {};
    const event: CallEvent =
      type === 'call_started'
        ? { key, providerCallId: call.call_id, kind: 'status', status: 'in-progress' }
        : type === 'call_ended'
          ? { key, providerCallId: call.call_id, kind: 'status', status: 'ended', final: true, ...reason }
          : type === 'call_analyzed'
            ? { key, providerCallId: call.call_id, kind: 'report', status: 'ended', ...reason }
            : { key, providerCallId: call.call_id, kind: 'activity' };
    if (event.final || event.kind === 'report') await storeEvent(tenantId, workflowId, event, type, parsed.data);
    await deliver(log, workflowId, start, event);
    return reply.code(204).send();
  });

  app.post('/webhooks/retell/:tenantId/inbound', routeOpts("Retell's inbound-call webhook"), async (req, reply) => {
    const auth = await authenticate(req, reply, 'retell');
    if (!auth) return reply;
    const body = z
      .looseObject({
        call_inbound: z.looseObject({
          from_number: z.string().min(1),
          to_number: z.string().nullish(),
          agent_id: z.string().nullish(),
        }),
      })
      .safeParse(auth.json);
    if (!body.success) return fail(reply, 400, issues(body.error, 'body'));
    const { from_number: from } = body.data.call_inbound;
    const settings = auth.tenant.settings;
    const lookup = await lookupCallerContact(deps.crm, auth.tenantId, from, settings.lookupTimeoutMs);
    if (lookup.degraded)
      req.log.warn({ reason: lookup.degraded }, 'caller lookup degraded; answering as unknown caller');
    return {
      call_inbound: {
        ...(settings.retell.agentId ? { override_agent_id: settings.retell.agentId } : {}),
        dynamic_variables: variablesFor(lookup, from),
        metadata: { tenantId: auth.tenantId, ...(lookup.contact ? { contactId: lookup.contact.id } : {}) },
      },
    };
  });

  const functionHandler = async (req: FastifyRequest, reply: FastifyReply) => {
    const auth = await authenticate(req, reply, 'retell');
    if (!auth) return reply;
    const body = z
      .looseObject({ name: z.string().min(1).optional(), args: z.unknown().optional(), call: RetellCall })
      .safeParse(auth.json);
    if (!body.success) return fail(reply, 400, issues(body.error, 'body'));
    const name = (req.params as { name?: string }).name ?? body.data.name;
    if (!name) return fail(reply, 400, 'body.name: the function name is required (or use /functions/:name)');
    const { workflowId, start } = retellTarget(auth.tenantId, auth.tenant.settings, body.data.call);
    const args = body.data.args ?? {};
    // Retell retries a function call with the same body: the same id gets the first answer.
    const id = `retell:${name}:${createHash('sha256').update(JSON.stringify(args)).digest('hex').slice(0, 16)}`;
    const [answer] = await answerTools(
      req.log.child({ tenantId: auth.tenantId, workflowId, fn: name }),
      auth.tenantId,
      workflowId,
      start,
      [{ id, name, args }],
      auth.tenant.settings.toolDeadlineMs,
    );
    if (name === 'transfer_to_human' && answer?.error === undefined) {
      // Retell transfers through the agent's transfer_call tool: our answer hands it the number
      // (a response variable `transfer_number`), once the tool has recorded the transfer.
      const t = await withTenant(pool, auth.tenantId, (c) => loadTransfer(c, auth.tenantId, workflowId));
      if (t?.status === 'requested' && t.destination)
        return reply.send({ result: answer?.result ?? '', transfer_number: t.destination });
    }
    return reply
      .type('text/plain; charset=utf-8')
      .send(answer?.error !== undefined ? `Error: ${answer.error}` : (answer?.result ?? ''));
  };
  app.post(
    '/webhooks/retell/:tenantId/functions',
    routeOpts('Retell custom functions (name in the body)'),
    functionHandler,
  );
  app.post('/webhooks/retell/:tenantId/functions/:name', routeOpts('Retell custom functions'), functionHandler);
};
