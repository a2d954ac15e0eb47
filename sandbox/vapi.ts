import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { summarize } from './anthropic/model.js';
import { registerCallControl } from './callControl.js';
import {
  CallScript,
  defaultSteps,
  E164,
  outcomeForNumber,
  recordDelivery,
  speakingSeconds,
  type Delivery,
  type Outcome,
} from './calls.js';
import { issueLines, ProviderHttpError, sleep, type ProviderModule, type SandboxContext } from './context.js';
import { post } from './delivery.js';
import { deriveSeed, IdFactory, Rng } from './random.js';

/**
 * Vapi: REST (`POST /call`, `GET /call`, `GET /call/{id}`) and a call simulator that plays a call
 * against our server URL the way Vapi does, authenticating each message with the tenant's chosen
 * credential, and recording what we answered and how fast.
 */

const DEMO_ASSISTANT = 'asst_demo';
const DEMO_PHONE_NUMBER = { id: 'pn_demo', number: '+15555550123', name: 'Sandbox demo line' };
const ORG_ID = 'org_sandbox';
const ASSISTANT_REQUEST_TIMEOUT_MS = 7_500;
const TOOL_CALLS_TIMEOUT_MS = 20_000;
const MESSAGE_TIMEOUT_MS = 20_000;

export const VapiCredential = z.union([
  z
    .string()
    .min(1)
    .transform((secret) => ({ type: 'x-vapi-secret' as const, secret })),
  z.object({ type: z.enum(['x-vapi-secret', 'bearer', 'hmac']), secret: z.string().min(1) }),
  z.object({ type: z.literal('none') }),
]);
export type VapiCredential = z.infer<typeof VapiCredential>;

const SimulateBody = z.object({
  serverUrl: z.string().url(),
  credential: VapiCredential.default({ type: 'none' }),
  direction: z.enum(['inbound', 'outbound']).default('inbound'),
  from: z.string().regex(E164, 'expected an E.164 number').default('+15555550100'),
  to: z.string().regex(E164, 'expected an E.164 number').default(DEMO_PHONE_NUMBER.number),
  /** Set: the number has a fixed assistant, so no `assistant-request` is sent. */
  assistantId: z.string().optional(),
  script: CallScript.default(CallScript.parse({})),
  /** Answer the control request only when the call has been played. */
  wait: z.boolean().default(false),
});

const ConfigBody = z.object({
  serverUrl: z.string().url().nullable(),
  credential: VapiCredential.default({ type: 'none' }),
  script: CallScript.optional(),
});

const CreateCall = z
  .object({
    assistantId: z.string().optional(),
    assistant: z.record(z.string(), z.unknown()).optional(),
    assistantOverrides: z.record(z.string(), z.unknown()).optional(),
    squadId: z.string().optional(),
    phoneNumberId: z.string().optional(),
    phoneNumber: z.record(z.string(), z.unknown()).optional(),
    customer: z.object({ number: z.string().optional(), name: z.string().optional() }).loose().optional(),
    customerId: z.string().optional(),
    name: z.string().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

const ListQuery = z.object({
  id: z.string().optional(),
  assistantId: z.string().optional(),
  phoneNumberId: z.string().optional(),
  limit: z.coerce.number().int().min(0).max(1000).default(100),
  createdAtGt: z.string().optional(),
  createdAtLt: z.string().optional(),
  createdAtGe: z.string().optional(),
  createdAtLe: z.string().optional(),
});

export interface VapiCall {
  id: string;
  orgId: string;
  type: 'inboundPhoneCall' | 'outboundPhoneCall';
  status: 'queued' | 'ringing' | 'in-progress' | 'forwarding' | 'ended';
  endedReason?: string;
  phoneNumberId: string;
  assistantId?: string;
  assistantOverrides?: Record<string, unknown>;
  customer: { number: string; name?: string };
  phoneCallProvider: 'twilio';
  phoneCallTransport: 'pstn';
  monitor: { listenUrl: string; controlUrl: string };
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  endedAt?: string;
  cost?: number;
  costs?: { type: string; cost: number }[];
  transcript?: string;
  summary?: string;
  recordingUrl?: string;
  messages?: ArtifactMessage[];
  analysis?: { summary: string; structuredData: Record<string, unknown>; successEvaluation: string };
  metadata?: Record<string, unknown>;
  name?: string;
}

interface ArtifactMessage {
  role: 'system' | 'bot' | 'user' | 'tool_calls' | 'tool_call_result';
  message?: string;
  time: number;
  endTime?: number;
  secondsFromStart: number;
  duration?: number;
  toolCalls?: unknown[];
  name?: string;
  result?: string;
  toolCallId?: string;
}

export interface VapiSimulation {
  id: string;
  provider: 'vapi';
  direction: 'inbound' | 'outbound';
  serverUrl: string | null;
  credentialType: string;
  state: 'running' | 'done';
  outcome: Outcome;
  call: VapiCall;
  deliveries: Delivery[];
  /** Problems found in any of our answers (copied from the deliveries). */
  problems: string[];
  /** What our server sent to `call.monitor.controlUrl` (live call control). */
  controls: { at: string; body: unknown }[];
  finishedAt?: string;
}

const ControlMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('end-call') }).loose(),
  z.object({ type: z.literal('say'), content: z.string().min(1), endCallAfterSpoken: z.boolean().optional() }).loose(),
  z
    .object({
      type: z.literal('add-message'),
      message: z.object({ role: z.string(), content: z.string() }).loose(),
      triggerResponseEnabled: z.boolean().optional(),
    })
    .loose(),
  z.object({ type: z.literal('control'), control: z.string() }).loose(),
  z.object({ type: z.literal('transfer'), destination: z.record(z.string(), z.unknown()) }).loose(),
]);

function vapiError(status: number, message: string | string[]) {
  const error = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    503: 'Service Unavailable',
  }[status];
  return { message, error: error ?? 'Error', statusCode: status };
}
const fail = (status: number, message: string | string[]): never => {
  throw new ProviderHttpError(status, vapiError(status, message));
};

function authHeaders(credential: VapiCredential, body: string): Record<string, string> {
  switch (credential.type) {
    case 'x-vapi-secret':
      return { 'x-vapi-secret': credential.secret };
    case 'bearer':
      return { authorization: `Bearer ${credential.secret}` };
    case 'hmac': {
      const timestamp = String(Date.now());
      return {
        'x-timestamp': timestamp,
        'x-signature': createHmac('sha256', credential.secret).update(`${timestamp}.${body}`).digest('hex'),
      };
    }
    case 'none':
      return {};
  }
}

/** The answer to `tool-calls` must be 200 `{results:[{toolCallId, name?, result|error}]}` in call order, one-line strings. */
export function checkToolCallsAnswer(
  status: number | undefined,
  body: unknown,
  calls: { id: string; name: string }[],
): string[] {
  const problems: string[] = [];
  if (status !== 200) problems.push(`expected HTTP 200, got ${status ?? 'no answer'}`);
  const results = (body as { results?: unknown } | undefined)?.results;
  if (!Array.isArray(results)) return [...problems, 'answer has no results array'];
  if (results.length !== calls.length) problems.push(`expected ${calls.length} results, got ${results.length}`);
  results.forEach((r: unknown, i) => {
    const item = (r ?? {}) as Record<string, unknown>;
    const call = calls[i];
    if (call && item.toolCallId !== call.id)
      problems.push(
        `results[${i}].toolCallId should be ${call.id} (calls answered in order), got ${JSON.stringify(item.toolCallId)}`,
      );
    if (item.name !== undefined && call && item.name !== call.name)
      problems.push(`results[${i}].name should be ${call.name}, got ${JSON.stringify(item.name)}`);
    const hasResult = 'result' in item;
    const hasError = 'error' in item;
    if (hasResult === hasError) problems.push(`results[${i}] must have exactly one of result or error`);
    const value = hasResult ? item.result : item.error;
    if (typeof value !== 'string') problems.push(`results[${i}].${hasResult ? 'result' : 'error'} must be a string`);
    else if (/[\r\n]/.test(value))
      problems.push(`results[${i}].${hasResult ? 'result' : 'error'} must be a single line (no newlines)`);
  });
  return problems;
}

function checkAssistantRequestAnswer(
  status: number | undefined,
  body: unknown,
): { problems: string[]; kind?: 'assistantId' | 'assistant' | 'destination' | 'error'; value?: unknown } {
  if (status === undefined) return { problems: ['no answer to assistant-request within 7.5 s'] };
  if (status < 200 || status >= 300) return { problems: [`assistant-request answered with HTTP ${status}`] };
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b.assistantId === 'string' && b.assistantId)
    return { problems: [], kind: 'assistantId', value: b.assistantId };
  if (b.assistant && typeof b.assistant === 'object') return { problems: [], kind: 'assistant', value: b.assistant };
  if (b.destination && typeof b.destination === 'object')
    return { problems: [], kind: 'destination', value: b.destination };
  if (typeof b.error === 'string') return { problems: [], kind: 'error', value: b.error };
  return { problems: ['assistant-request answer needs one of assistantId, assistant, destination or error'] };
}

export function createVapi(ctx: SandboxContext): ProviderModule {
  let ids = new IdFactory(new Rng(deriveSeed(ctx.seed(), 'vapi')));
  let calls = new Map<string, VapiCall>();
  let simulations = new Map<string, VapiSimulation>();
  let assistants = new Set([DEMO_ASSISTANT]);
  let phoneNumbers = new Map([[DEMO_PHONE_NUMBER.id, DEMO_PHONE_NUMBER]]);
  let orgServer: z.infer<typeof ConfigBody> | undefined;
  const finished = new WeakMap<VapiSimulation, Promise<void>>();

  function newCall(input: {
    type: VapiCall['type'];
    customer: VapiCall['customer'];
    phoneNumberId: string;
    assistantId?: string;
    extra?: Partial<VapiCall>;
  }): VapiCall {
    const id = ids.uuid();
    const now = new Date().toISOString();
    const call: VapiCall = {
      id,
      orgId: ORG_ID,
      type: input.type,
      status: 'queued',
      phoneNumberId: input.phoneNumberId,
      ...(input.assistantId ? { assistantId: input.assistantId } : {}),
      customer: input.customer,
      phoneCallProvider: 'twilio',
      phoneCallTransport: 'pstn',
      monitor: {
        listenUrl: `wss://sandbox.vapi.invalid/${id}/listen`,
        controlUrl: `${ctx.baseUrl()}/vapi/call/${id}/control`,
      },
      createdAt: now,
      updatedAt: now,
      ...input.extra,
    };
    calls.set(id, call);
    return call;
  }

  function startSimulation(
    call: VapiCall,
    opts: {
      serverUrl: string | null;
      credential: VapiCredential;
      direction: 'inbound' | 'outbound';
      script: CallScript;
      askAssistant: boolean;
    },
  ): VapiSimulation {
    const outcome: Outcome =
      opts.direction === 'inbound' ? 'answered' : (opts.script.outcome ?? outcomeForNumber(call.customer.number));
    const sim: VapiSimulation = {
      id: call.id,
      provider: 'vapi',
      direction: opts.direction,
      serverUrl: opts.serverUrl,
      credentialType: opts.credential.type,
      state: 'running',
      outcome,
      call,
      deliveries: [],
      problems: [],
      controls: [],
    };
    simulations.set(call.id, sim);
    finished.set(
      sim,
      play(sim, opts).catch((err: unknown) => ctx.logger.error({ err, callId: sim.id }, 'vapi simulation failed')),
    );
    return sim;
  }

  async function play(
    sim: VapiSimulation,
    opts: { serverUrl: string | null; credential: VapiCredential; script: CallScript; askAssistant: boolean },
  ): Promise<void> {
    const { call } = sim;
    const script = opts.script;
    const phoneNumber = phoneNumbers.get(call.phoneNumberId) ?? {
      id: call.phoneNumberId,
      number: DEMO_PHONE_NUMBER.number,
    };
    const artifact: ArtifactMessage[] = [];
    let applied = 0; // control messages already taken into account
    let clock = 0; // simulated seconds from start
    const startedMs = Date.now();

    const send = async (type: string, fields: Record<string, unknown>, timeoutMs = MESSAGE_TIMEOUT_MS) => {
      if (!opts.serverUrl || ctx.shutdown.aborted) return undefined;
      if (script.serverMessages && !script.serverMessages.includes(type)) return undefined;
      if (script.messageDelayMs) await sleep(script.messageDelayMs, ctx.shutdown);
      call.updatedAt = new Date().toISOString();
      const payload = {
        message: {
          type,
          timestamp: Date.now(),
          ...fields,
          call: { ...call },
          phoneNumber,
          customer: call.customer,
          ...(call.assistantId ? { assistant: { id: call.assistantId, name: 'Sandbox assistant' } } : {}),
        },
      };
      const body = JSON.stringify(payload);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Vapi-Sandbox/1.0',
        ...authHeaders(opts.credential, body),
      };
      const result = await post(opts.serverUrl, body, headers, { timeoutMs, shutdown: ctx.shutdown });
      const problems: string[] = [];
      if (result.error) problems.push(result.error);
      else if (result.status !== undefined && (result.status < 200 || result.status >= 300))
        problems.push(`answered HTTP ${result.status}`);
      const d = recordDelivery(sim.deliveries, {
        type,
        url: opts.serverUrl,
        headers,
        request: payload,
        result,
        problems,
      });
      return d;
    };
    const finish = (d: Delivery | undefined, extra: string[]) => {
      if (!d) return;
      d.problems.push(...extra.filter((p) => !d.problems.includes(p)));
    };
    const setStatus = async (status: VapiCall['status'], extra: Record<string, unknown> = {}) => {
      call.status = status;
      await send('status-update', { status, ...extra });
    };
    const say = async (role: 'user' | 'assistant', text: string) => {
      const duration = speakingSeconds(text);
      const at = startedMs + clock * 1000;
      artifact.push({
        role: role === 'user' ? 'user' : 'bot',
        message: text,
        time: at,
        endTime: at + duration * 1000,
        secondsFromStart: clock,
        duration: duration * 1000,
      });
      clock += duration;
      await send('speech-update', { status: 'started', role, turn: artifact.length });
      await send('transcript', { role, transcriptType: 'final', transcript: text });
      await send('conversation-update', conversation());
    };
    const conversation = () => ({
      messages: artifact,
      messagesOpenAIFormatted: artifact
        .filter((m) => m.role === 'user' || m.role === 'bot')
        .map((m) => ({ role: m.role === 'bot' ? 'assistant' : 'user', content: m.message ?? '' })),
    });

    try {
      // Inbound numbers without a fixed assistant ask us which assistant takes the call.
      if (opts.askAssistant) {
        const d = await send('assistant-request', {}, ASSISTANT_REQUEST_TIMEOUT_MS);
        if (d) {
          const check = checkAssistantRequestAnswer(d.response?.status, d.response?.body);
          finish(d, check.problems);
          if (check.kind === 'assistantId') call.assistantId = String(check.value);
          if (check.kind === 'assistant') {
            const overrides = (d.response?.body as { assistantOverrides?: Record<string, unknown> }).assistantOverrides;
            if (overrides) call.assistantOverrides = overrides;
          }
          const failedReason = check.problems.length
            ? 'assistant-request-failed'
            : check.kind === 'error'
              ? 'assistant-request-returned-error'
              : undefined;
          if (failedReason) return await end(failedReason, check.kind === 'error' ? [String(check.value)] : []);
          if (check.kind === 'destination') {
            // Transferred straight away: Vapi forwards the caller and the assistant never speaks.
            call.startedAt = new Date().toISOString();
            await setStatus('forwarding', { destination: check.value });
            return await end('assistant-forwarded-call');
          }
        }
      }
      await setStatus('ringing');
      if (sim.outcome === 'no-answer') return await end('customer-did-not-answer');
      if (sim.outcome === 'busy') return await end('customer-busy');
      call.startedAt = new Date().toISOString();
      await setStatus('in-progress');
      if (sim.outcome === 'voicemail') {
        await say('user', "Hi, you've reached my voicemail. Please leave a message after the tone.");
        return await end('voicemail');
      }
      const steps = script.steps ?? defaultSteps;
      for (const step of steps) {
        if (ctx.shutdown.aborted) return;
        const hangUp = takeControls();
        if (hangUp) return await end(hangUp);
        if ('user' in step) await say('user', step.user);
        else if ('assistant' in step) await say('assistant', step.assistant);
        else if ('pauseMs' in step) await sleep(step.pauseMs, ctx.shutdown);
        else if ('functionCall' in step) await functionCall(step);
        else if ('message' in step) await send(step.message, step.fields ?? {});
        else await toolCalls('tool' in step ? [{ name: step.tool, arguments: step.arguments }] : step.tools);
      }
      await end(takeControls() ?? (script.endedBy === 'assistant' ? 'assistant-ended-call' : 'customer-ended-call'));
    } finally {
      sim.state = 'done';
      sim.finishedAt = new Date().toISOString();
      sim.problems = sim.deliveries.flatMap((d) => d.problems.map((p) => `${d.type}#${d.seq}: ${p}`));
    }

    /** Applies what our server sent to the control URL since the last step; returns an endedReason to hang up. */
    function takeControls(): string | undefined {
      let reason: string | undefined;
      while (applied < sim.controls.length) {
        const parsed = ControlMessage.safeParse(sim.controls[applied++]!.body);
        if (!parsed.success) continue;
        const c = parsed.data;
        if (c.type === 'say') {
          artifact.push({ role: 'bot', message: c.content, time: startedMs + clock * 1000, secondsFromStart: clock });
          clock += speakingSeconds(c.content);
          if (c.endCallAfterSpoken) reason = 'assistant-said-end-call-phrase';
        }
        if (c.type === 'end-call') reason = 'assistant-ended-call';
        if (c.type === 'transfer') reason = 'assistant-forwarded-call';
      }
      return reason;
    }

    async function toolCalls(list: { name: string; arguments?: Record<string, unknown> }[]) {
      const items = list.map((t) => ({ id: `call_${ids.alnum(24)}`, name: t.name, args: t.arguments ?? {} }));
      const toolCall = (t: (typeof items)[number], as: 'object' | 'string') => ({
        id: t.id,
        type: 'function',
        function: { name: t.name, arguments: as === 'string' ? JSON.stringify(t.args) : t.args },
      });
      const at = startedMs + clock * 1000;
      artifact.push({
        role: 'tool_calls',
        time: at,
        secondsFromStart: clock,
        toolCalls: items.map((t) => toolCall(t, 'string')),
      });
      const d = await send(
        'tool-calls',
        {
          toolCallList: items.map((t) => toolCall(t, script.argumentsAs)),
          toolCalls: items.map((t) => toolCall(t, 'string')),
          toolWithToolCallList: items.map((t) => ({
            type: 'function',
            function: { name: t.name, parameters: { type: 'object', properties: {} } },
            server: { url: opts.serverUrl },
            messages: [],
            toolCall: toolCall(t, script.argumentsAs),
          })),
          artifact: conversation(),
        },
        script.toolTimeoutMs ?? TOOL_CALLS_TIMEOUT_MS,
      );
      if (!d) return;
      finish(
        d,
        d.response
          ? checkToolCallsAnswer(d.response.status, d.response.body, items)
          : [`no answer within ${script.toolTimeoutMs ?? TOOL_CALLS_TIMEOUT_MS} ms`],
      );
      const results = (
        (d.response?.body as { results?: { toolCallId?: string; result?: unknown; error?: unknown }[] } | undefined)
          ?.results ?? []
      ).filter(Boolean);
      for (const t of items) {
        const r = results.find((x) => x.toolCallId === t.id);
        const text = r ? String(r.result ?? r.error ?? '') : 'No result returned.';
        artifact.push({
          role: 'tool_call_result',
          time: startedMs + clock * 1000,
          secondsFromStart: clock,
          name: t.name,
          result: text,
          toolCallId: t.id,
        });
        await say('assistant', text.replace(/\s+/g, ' ').slice(0, 500) || 'Done.');
      }
    }

    async function functionCall(step: { functionCall: string; parameters?: Record<string, unknown> }) {
      const d = await send(
        'function-call',
        { functionCall: { name: step.functionCall, parameters: step.parameters ?? {} } },
        script.toolTimeoutMs ?? TOOL_CALLS_TIMEOUT_MS,
      );
      if (!d) return;
      const result = (d.response?.body as { result?: unknown } | undefined)?.result;
      finish(d, result === undefined ? ['function-call answer needs a result'] : []);
      await say('assistant', typeof result === 'string' ? result : JSON.stringify(result ?? 'Done.'));
    }

    async function end(endedReason: string, spokenError: string[] = []) {
      for (const e of spokenError)
        artifact.push({ role: 'bot', message: e, time: Date.now(), secondsFromStart: clock });
      const durationSeconds = Math.round(clock * 100) / 100;
      call.status = 'ended';
      call.endedReason = endedReason;
      call.endedAt = new Date(
        (call.startedAt ? Date.parse(call.startedAt) : Date.now()) + durationSeconds * 1000,
      ).toISOString();
      const minutes = durationSeconds / 60;
      const costs = [
        { type: 'transport', cost: round4(minutes * 0.01) },
        { type: 'stt', cost: round4(minutes * 0.01) },
        { type: 'llm', cost: round4(minutes * 0.02) },
        { type: 'tts', cost: round4(minutes * 0.03) },
        { type: 'vapi', cost: round4(minutes * 0.05) },
      ];
      call.costs = costs;
      call.cost = round4(costs.reduce((n, c) => n + c.cost, 0));
      const spoken = artifact.filter((m) => m.role === 'user' || m.role === 'bot');
      call.transcript = spoken.map((m) => `${m.role === 'bot' ? 'AI' : 'User'}: ${m.message}`).join('\n');
      call.messages = artifact;
      call.recordingUrl = call.startedAt ? `${ctx.baseUrl()}/vapi/recordings/${call.id}.wav` : undefined;
      const summary =
        script.analysis?.summary ??
        (spoken.length ? summarize(call.transcript) : `Call ended without conversation (${endedReason}).`);
      call.summary = summary;
      call.analysis = {
        summary,
        structuredData: script.analysis?.structuredData ?? {},
        successEvaluation: String(
          script.analysis?.successful ??
            (endedReason === 'customer-ended-call' || endedReason === 'assistant-ended-call'),
        ),
      };
      call.updatedAt = new Date().toISOString();
      await send('status-update', { status: 'ended', endedReason });
      await send('end-of-call-report', {
        endedReason,
        cost: call.cost,
        costs,
        durationSeconds,
        durationMs: Math.round(durationSeconds * 1000),
        startedAt: call.startedAt ?? call.createdAt,
        endedAt: call.endedAt,
        artifact: {
          transcript: call.transcript,
          messages: artifact,
          messagesOpenAIFormatted: conversation().messagesOpenAIFormatted,
          recordingUrl: call.recordingUrl,
        },
        analysis: call.analysis,
        // Older payloads carried these at the top level; Vapi still sends both.
        transcript: call.transcript,
        summary,
        messages: artifact,
        recordingUrl: call.recordingUrl,
      });
    }
  }

  function requireAuth(req: FastifyRequest) {
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer ') || !auth.slice(7).trim()) {
      fail(401, 'Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.');
    }
  }

  return {
    name: 'vapi',
    errorBody: (status, message) => vapiError(status, message),
    routes(app: FastifyInstance) {
      app.addHook('preHandler', async (req) => {
        // Recordings and the live-call control URL are capability URLs, as at Vapi.
        if (!req.url.includes('/recordings/') && !req.url.endsWith('/control')) requireAuth(req);
      });

      app.post('/call', async (req, reply) => {
        const parsed = CreateCall.safeParse(req.body ?? {});
        if (!parsed.success) return fail(400, issueLines(parsed.error.issues));
        const body = parsed.data;
        if (!body.assistantId && !body.assistant && !body.squadId)
          fail(400, 'Need Either `assistant` Or `assistantId` Or `squad` Or `squadId`.');
        if (body.assistantId && !assistants.has(body.assistantId))
          fail(400, `Couldn't Get Assistant. \`assistantId\` ${body.assistantId} Does Not Exist.`);
        if (!body.phoneNumberId && !body.phoneNumber) fail(400, 'Need Either `phoneNumberId` Or `phoneNumber`.');
        if (body.phoneNumberId && !phoneNumbers.has(body.phoneNumberId))
          fail(400, `Couldn't Get Phone Number. \`phoneNumberId\` ${body.phoneNumberId} Does Not Exist.`);
        const number = body.customer?.number;
        if (!number) fail(400, ['customer.number should not be empty']);
        if (!E164.test(number!))
          fail(400, ['customer.number must be a valid phone number in the E.164 format (e.g. +14155552671)']);
        const call = newCall({
          type: 'outboundPhoneCall',
          customer: { number: number!, ...(body.customer?.name ? { name: body.customer.name } : {}) },
          phoneNumberId: body.phoneNumberId ?? 'pn_inline',
          assistantId: body.assistantId,
          extra: {
            ...(body.assistantOverrides ? { assistantOverrides: body.assistantOverrides } : {}),
            ...(body.metadata ? { metadata: body.metadata } : {}),
            ...(body.name ? { name: body.name } : {}),
          },
        });
        const snapshot = { ...call };
        // Our server hears about it through the assistant's server URL, else the org's (control API).
        const inlineServer =
          (body.assistant?.server as { url?: unknown } | undefined)?.url ??
          (body.assistantOverrides?.server as { url?: unknown } | undefined)?.url;
        const serverUrl = typeof inlineServer === 'string' ? inlineServer : (orgServer?.serverUrl ?? null);
        startSimulation(call, {
          serverUrl,
          credential: orgServer?.credential ?? { type: 'none' },
          direction: 'outbound',
          script: orgServer?.script ?? CallScript.parse({}),
          askAssistant: false,
        });
        return reply.status(201).send(snapshot);
      });

      app.get('/call', async (req) => {
        const q = ListQuery.safeParse(req.query);
        if (!q.success) return fail(400, issueLines(q.error.issues));
        const f = q.data;
        const t = (s: string | undefined) => (s ? Date.parse(s) : undefined);
        const [gt, lt, ge, le] = [t(f.createdAtGt), t(f.createdAtLt), t(f.createdAtGe), t(f.createdAtLe)];
        return [...calls.values()]
          .filter((c) => {
            const at = Date.parse(c.createdAt);
            return (
              (!f.id || c.id === f.id) &&
              (!f.assistantId || c.assistantId === f.assistantId) &&
              (!f.phoneNumberId || c.phoneNumberId === f.phoneNumberId) &&
              (gt === undefined || at > gt) &&
              (lt === undefined || at < lt) &&
              (ge === undefined || at >= ge) &&
              (le === undefined || at <= le)
            );
          })
          .reverse()
          .slice(0, f.limit);
      });

      app.get('/call/:id', async (req) => {
        const { id } = req.params as { id: string };
        const call = calls.get(id);
        if (!call) return fail(404, 'Call not found');
        return call;
      });

      app.post('/call/:id/control', async (req, reply) => {
        const sim = simulations.get((req.params as { id: string }).id);
        if (!sim) return fail(404, 'Call not found');
        const parsed = ControlMessage.safeParse(req.body);
        if (!parsed.success) return fail(400, issueLines(parsed.error.issues));
        if (sim.state === 'done') return fail(400, 'Call has already ended.');
        sim.controls.push({ at: new Date().toISOString(), body: parsed.data });
        return reply.status(200).send({ status: 'ok' });
      });

      app.get('/recordings/:file', async (req, reply) => {
        return reply.header('content-type', 'audio/wav').send(silentWav());
      });
    },
    control(app: FastifyInstance) {
      registerCallControl(app, {
        simulateBody: SimulateBody,
        simulate(b) {
          const inbound = b.direction === 'inbound';
          const phoneNumber =
            [...phoneNumbers.values()].find((p) => p.number === (inbound ? b.to : b.from)) ?? DEMO_PHONE_NUMBER;
          const call = newCall({
            type: inbound ? 'inboundPhoneCall' : 'outboundPhoneCall',
            customer: { number: inbound ? b.from : b.to },
            phoneNumberId: phoneNumber.id,
            assistantId: b.assistantId ?? (inbound ? undefined : DEMO_ASSISTANT),
          });
          return startSimulation(call, {
            serverUrl: b.serverUrl,
            credential: b.credential,
            direction: b.direction,
            script: b.script,
            askAssistant: inbound && !b.assistantId,
          });
        },
        finished: (sim) => finished.get(sim),
        simulations: () => simulations,
        callStatus: (sim) => sim.call.status,
        configBody: ConfigBody,
        configure(config) {
          orgServer = config;
        },
        agents: { path: '/assistants', idField: 'id', add: (id) => assistants.add(id) },
      });
    },
    reset(seed: number) {
      ids = new IdFactory(new Rng(deriveSeed(seed, 'vapi')));
      calls = new Map();
      simulations = new Map();
      assistants = new Set([DEMO_ASSISTANT]);
      phoneNumbers = new Map([[DEMO_PHONE_NUMBER.id, DEMO_PHONE_NUMBER]]);
      orgServer = undefined;
    },
    counts: () => ({
      calls: calls.size,
      simulations: simulations.size,
      running: [...simulations.values()].filter((s) => s.state === 'running').length,
    }),
  };
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

let wav: Buffer | undefined;
/** One second of 8 kHz 8-bit silence: enough for a player to open the recording URL. */
function silentWav(): Buffer {
  if (wav) return wav;
  const samples = 8000;
  const b = Buffer.alloc(44 + samples, 0x80);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + samples, 4);
  b.write('WAVE', 8);
  b.write('fmt ', 12);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(8000, 28);
  b.writeUInt16LE(1, 32);
  b.writeUInt16LE(8, 34);
  b.write('data', 36);
  b.writeUInt32LE(samples, 40);
  wav = b;
  return b;
}
