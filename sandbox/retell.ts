import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
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
import { isSuccess, post } from './delivery.js';
import { deriveSeed, IdFactory, Rng } from './random.js';

/**
 * Retell: REST (`POST /v2/create-phone-call`, `GET /v2/get-call/{id}`, `POST /v3/list-calls`) and a
 * simulator for Retell's webhooks (`call_inbound`, `call_started`, `transcript_updated`,
 * `call_ended`, `call_analyzed`) and custom functions, each signed with `x-retell-signature` and
 * re-delivered like Retell does (non-2xx or timeout → up to 3 more attempts; functions 2).
 */

const DEMO_AGENT = 'agent_demo';
const DEMO_NUMBER = '+15555550124';
const WEBHOOK_TIMEOUT_MS = 10_000;
const FUNCTION_TIMEOUT_MS = 120_000;
const WEBHOOK_RETRIES = 3;
const FUNCTION_RETRIES = 2;
const MAX_FUNCTION_RESULT = 15_000;

/** `v=<unix ms>,d=<hex HMAC-SHA256(key = API key, rawBody + ms)>`, as `retell-sdk`'s `sign`. */
export function retellSignature(body: string, apiKey: string, timestamp = Date.now()): string {
  return `v=${timestamp},d=${createHmac('sha256', apiKey)
    .update(body + timestamp)
    .digest('hex')}`;
}

const SimulateBody = z.object({
  /** The agent's webhook URL (call events). */
  serverUrl: z.string().url(),
  /** Retell signs with the account's API key. */
  credential: z.string().min(1).default('retell-sandbox-key'),
  direction: z.enum(['inbound', 'outbound']).default('inbound'),
  from: z.string().regex(E164, 'expected an E.164 number').default('+15555550100'),
  to: z.string().regex(E164, 'expected an E.164 number').default(DEMO_NUMBER),
  agentId: z.string().default(DEMO_AGENT),
  /** Inbound: where `call_inbound` goes (the number's inbound webhook); omitted = no inbound webhook. */
  inboundWebhookUrl: z.string().url().optional(),
  /** Custom functions' URL; default serverUrl. */
  functionUrl: z.string().url().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  script: CallScript.default(CallScript.parse({})),
  wait: z.boolean().default(false),
});
type SimulateBody = z.infer<typeof SimulateBody>;

const ConfigBody = z.object({
  serverUrl: z.string().url().nullable(),
  functionUrl: z.string().url().optional(),
  script: CallScript.optional(),
});

const CreatePhoneCall = z
  .object({
    from_number: z.string(),
    to_number: z.string(),
    override_agent_id: z.string().optional(),
    override_agent_version: z.union([z.string(), z.number()]).optional(),
    metadata: z.unknown().optional(),
    retell_llm_dynamic_variables: z.record(z.string(), z.string()).optional(),
    custom_sip_headers: z.record(z.string(), z.string()).optional(),
    ignore_e164_validation: z.boolean().optional(),
  })
  .loose();

const StringOrEnum = z.union([
  z
    .object({ type: z.literal('string').optional(), op: z.enum(['eq', 'ne', 'sw', 'ew', 'co']), value: z.string() })
    .loose(),
  z.object({ type: z.literal('enum').optional(), op: z.literal('in'), value: z.array(z.string()) }).loose(),
]);
const ListCalls = z
  .object({
    filter_criteria: z
      .object({
        agent: z.array(z.object({ agent_id: z.string() }).loose()).optional(),
        call_status: StringOrEnum.optional(),
        direction: StringOrEnum.optional(),
        from_number: StringOrEnum.optional(),
        to_number: StringOrEnum.optional(),
        call_id: StringOrEnum.optional(),
      })
      .loose()
      .optional(),
    limit: z.number().int().min(1).max(1000).default(50),
    pagination_key: z.string().optional(),
    skip: z.number().int().min(0).optional(),
    sort_order: z.enum(['ascending', 'descending']).default('descending'),
    include_total: z.boolean().optional(),
  })
  .loose();

export interface RetellCall {
  call_type: 'phone_call';
  call_id: string;
  agent_id: string;
  agent_version: number;
  call_status: 'registered' | 'not_connected' | 'ongoing' | 'ended' | 'error';
  direction: 'inbound' | 'outbound';
  from_number: string;
  to_number: string;
  metadata?: unknown;
  retell_llm_dynamic_variables?: Record<string, string>;
  start_timestamp?: number;
  end_timestamp?: number;
  duration_ms?: number;
  transcript?: string;
  transcript_object?: { role: 'agent' | 'user'; content: string; words: unknown[] }[];
  transcript_with_tool_calls?: unknown[];
  recording_url?: string;
  public_log_url?: string;
  disconnection_reason?: string;
  /** Where transfer_call sent the caller. */
  transfer_destination?: string;
  call_analysis?: {
    call_summary: string;
    user_sentiment: string;
    call_successful: boolean;
    in_voicemail: boolean;
    custom_analysis_data: Record<string, unknown>;
  };
  call_cost?: {
    combined_cost: number;
    total_duration_seconds: number;
    product_costs: { product: string; cost: number }[];
  };
}

export interface RetellSimulation {
  id: string;
  provider: 'retell';
  direction: 'inbound' | 'outbound';
  serverUrl: string | null;
  state: 'running' | 'done';
  outcome: Outcome;
  call: RetellCall;
  deliveries: Delivery[];
  problems: string[];
  /** Set when the agent's transfer_call tool forwarded the call. */
  transfer?: { destination: string; at: string };
  finishedAt?: string;
}

const retellError = (status: number, message: string | string[]) => ({
  status: 'error',
  message: Array.isArray(message) ? message.join('; ') : message,
});
const fail = (status: number, message: string | string[]): never => {
  throw new ProviderHttpError(status, retellError(status, message));
};

function matches(filter: z.infer<typeof StringOrEnum> | undefined, value: string): boolean {
  if (!filter) return true;
  if (Array.isArray(filter.value)) return filter.value.includes(value);
  const v = filter.value;
  switch (filter.op) {
    case 'eq':
      return value === v;
    case 'ne':
      return value !== v;
    case 'sw':
      return value.startsWith(v);
    case 'ew':
      return value.endsWith(v);
    default:
      return value.includes(v);
  }
}

export function createRetell(ctx: SandboxContext): ProviderModule {
  let ids = new IdFactory(new Rng(deriveSeed(ctx.seed(), 'retell')));
  let calls = new Map<string, RetellCall>();
  let simulations = new Map<string, RetellSimulation>();
  let agents = new Set([DEMO_AGENT]);
  let config: z.infer<typeof ConfigBody> | undefined;
  const finished = new WeakMap<RetellSimulation, Promise<void>>();

  function newCall(input: {
    direction: 'inbound' | 'outbound';
    from: string;
    to: string;
    agentId: string;
    metadata?: unknown;
    dynamicVariables?: Record<string, string>;
  }): RetellCall {
    const call: RetellCall = {
      call_type: 'phone_call',
      call_id: `call_${ids.hex(28)}`,
      agent_id: input.agentId,
      agent_version: 1,
      call_status: 'registered',
      direction: input.direction,
      from_number: input.from,
      to_number: input.to,
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
      ...(input.dynamicVariables ? { retell_llm_dynamic_variables: input.dynamicVariables } : {}),
    };
    calls.set(call.call_id, call);
    return call;
  }

  function start(
    call: RetellCall,
    opts: {
      serverUrl: string | null;
      apiKey: string;
      script: CallScript;
      inboundWebhookUrl?: string;
      functionUrl?: string;
    },
  ): RetellSimulation {
    const outcome: Outcome =
      call.direction === 'inbound' ? 'answered' : (opts.script.outcome ?? outcomeForNumber(call.to_number));
    const sim: RetellSimulation = {
      id: call.call_id,
      provider: 'retell',
      direction: call.direction,
      serverUrl: opts.serverUrl,
      state: 'running',
      outcome,
      call,
      deliveries: [],
      problems: [],
    };
    simulations.set(call.call_id, sim);
    finished.set(
      sim,
      play(sim, opts).catch((err: unknown) => ctx.logger.error({ err, callId: sim.id }, 'retell simulation failed')),
    );
    return sim;
  }

  async function play(
    sim: RetellSimulation,
    opts: {
      serverUrl: string | null;
      apiKey: string;
      script: CallScript;
      inboundWebhookUrl?: string;
      functionUrl?: string;
    },
  ): Promise<void> {
    const { call } = sim;
    const script = opts.script;
    const transcript: { role: 'agent' | 'user'; content: string; words: unknown[] }[] = [];
    /** The number a function answer gave the agent's transfer_call tool. */
    let transferTo: string | undefined;
    const withTools: unknown[] = [];
    let clock = 0;
    const webhookTimeout = script.webhookTimeoutMs ?? WEBHOOK_TIMEOUT_MS;
    const retryDelay = script.retryDelayMs ?? 1000;

    /** One signed POST, re-delivered on non-2xx or timeout. Returns the last delivery. */
    async function deliver(
      url: string | null | undefined,
      type: string,
      payload: unknown,
      retries: number,
      timeoutMs: number,
    ): Promise<Delivery | undefined> {
      if (!url) return undefined;
      let last: Delivery | undefined;
      for (let attempt = 1; attempt <= retries + 1 && !ctx.shutdown.aborted; attempt++) {
        if (attempt > 1) await sleep(retryDelay, ctx.shutdown);
        else if (script.messageDelayMs) await sleep(script.messageDelayMs, ctx.shutdown);
        const body = JSON.stringify(payload);
        const headers = {
          'content-type': 'application/json',
          'user-agent': 'Retell-Sandbox/1.0',
          'x-retell-signature': retellSignature(body, opts.apiKey),
        };
        const result = await post(url, body, headers, { timeoutMs, shutdown: ctx.shutdown });
        const problems = result.error ? [result.error] : isSuccess(result) ? [] : [`answered HTTP ${result.status}`];
        last = recordDelivery(sim.deliveries, { type, url, attempt, headers, request: payload, result, problems });
        if (isSuccess(result)) break;
      }
      return last;
    }
    const event = (name: string) =>
      deliver(opts.serverUrl, name, { event: name, call: { ...call } }, WEBHOOK_RETRIES, webhookTimeout);
    const say = async (role: 'agent' | 'user', content: string) => {
      transcript.push({ role, content, words: [] });
      withTools.push({ role, content, words: [] });
      clock += speakingSeconds(content);
      if (script.transcriptUpdates) {
        refresh();
        await deliver(
          opts.serverUrl,
          'transcript_updated',
          { event: 'transcript_updated', call: { ...call } },
          0,
          webhookTimeout,
        );
      }
    };
    const refresh = () => {
      call.transcript = transcript.map((t) => `${t.role === 'agent' ? 'Agent' : 'User'}: ${t.content}`).join('\n');
      call.transcript_object = [...transcript];
      call.transcript_with_tool_calls = [...withTools];
    };

    try {
      if (call.direction === 'inbound' && opts.inboundWebhookUrl) {
        const payload = {
          event: 'call_inbound',
          call_inbound: { from_number: call.from_number, to_number: call.to_number, agent_id: call.agent_id },
        };
        const d = await deliver(opts.inboundWebhookUrl, 'call_inbound', payload, 0, webhookTimeout);
        const answer = (d?.response?.body as { call_inbound?: Record<string, unknown> } | undefined)?.call_inbound;
        if (d && isSuccess({ status: d.response?.status, ms: 0, body: undefined })) {
          if (!answer || typeof answer !== 'object')
            d.problems.push('answer should be {call_inbound: {override_agent_id?, dynamic_variables?, metadata?}}');
          else {
            if (typeof answer.override_agent_id === 'string') call.agent_id = answer.override_agent_id;
            const vars = answer.dynamic_variables;
            if (vars !== undefined) {
              if (!vars || typeof vars !== 'object' || Object.values(vars).some((v) => typeof v !== 'string'))
                d.problems.push('call_inbound.dynamic_variables values must be strings');
              else call.retell_llm_dynamic_variables = vars as Record<string, string>;
            }
            if (answer.metadata !== undefined) call.metadata = answer.metadata;
          }
        }
      }

      if (sim.outcome === 'no-answer' || sim.outcome === 'busy') {
        call.call_status = 'not_connected';
        return await end(sim.outcome === 'busy' ? 'dial_busy' : 'dial_no_answer');
      }
      call.call_status = 'ongoing';
      call.start_timestamp = Date.now();
      await event('call_started');
      if (sim.outcome === 'voicemail') {
        await say('user', "Hi, you've reached my voicemail. Please leave a message after the tone.");
        return await end('voicemail_reached');
      }
      for (const step of script.steps ?? defaultSteps) {
        if (ctx.shutdown.aborted) return;
        if (transferTo) return await transfer(transferTo);
        if ('transferCall' in step) {
          if (transferTo) return await transfer(transferTo);
          await say('agent', 'I have no number to transfer you to.');
          continue;
        }
        if ('user' in step) await say('user', step.user);
        else if ('assistant' in step) await say('agent', step.assistant);
        else if ('pauseMs' in step) await sleep(step.pauseMs, ctx.shutdown);
        else if ('message' in step)
          await deliver(
            opts.serverUrl,
            step.message,
            { event: step.message, ...step.fields, call: { ...call } },
            WEBHOOK_RETRIES,
            webhookTimeout,
          );
        else {
          const list =
            'tool' in step
              ? [{ name: step.tool, arguments: step.arguments }]
              : 'tools' in step
                ? step.tools
                : [{ name: step.functionCall, arguments: step.parameters }];
          for (const t of list) await customFunction(t.name, t.arguments ?? {});
        }
      }
      if (transferTo) return await transfer(transferTo);
      await end(script.endedBy === 'assistant' ? 'agent_hangup' : 'user_hangup');
    } finally {
      sim.state = 'done';
      sim.finishedAt = new Date().toISOString();
      sim.problems = sim.deliveries.flatMap((d) => d.problems.map((p) => `${d.type}#${d.seq}: ${p}`));
    }

    async function customFunction(name: string, args: Record<string, unknown>) {
      const toolCallId = `tool_call_${ids.hex(12)}`;
      withTools.push({ role: 'tool_call_invocation', tool_call_id: toolCallId, name, arguments: JSON.stringify(args) });
      refresh();
      const d = await deliver(
        opts.functionUrl ?? opts.serverUrl,
        'custom_function',
        { name, args, call: { ...call } },
        FUNCTION_RETRIES,
        script.toolTimeoutMs ?? FUNCTION_TIMEOUT_MS,
      );
      if (!d) return;
      const body = d.response?.body;
      const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
      if (text.length > MAX_FUNCTION_RESULT)
        d.problems.push(`function result is ${text.length} characters; Retell keeps at most ${MAX_FUNCTION_RESULT}`);
      withTools.push({
        role: 'tool_call_result',
        tool_call_id: toolCallId,
        content: text.slice(0, MAX_FUNCTION_RESULT),
        successful: isSuccess({ status: d.response?.status, ms: 0, body }),
      });
      const spoken =
        typeof body === 'object' && body && 'result' in body ? String((body as { result: unknown }).result) : text;
      // The agent's transfer_call tool is set to the dynamic number `{{transfer_number}}`: a function
      // answer that fills it (a response variable) has the agent transfer the caller next.
      const number =
        typeof body === 'object' && body ? (body as { transfer_number?: unknown }).transfer_number : undefined;
      if (typeof number === 'string') {
        if (E164.test(number)) transferTo = number;
        else d.problems.push('transfer_number must be an E.164 number');
      }
      await say('agent', spoken.replace(/\s+/g, ' ').slice(0, 500) || 'Done.');
    }

    async function transfer(destination: string) {
      call.transfer_destination = destination;
      sim.transfer = { destination, at: new Date().toISOString() };
      await say('agent', 'Transferring you now.');
      await end('call_transfer');
    }

    async function end(reason: string) {
      refresh();
      const connected = call.call_status !== 'not_connected';
      if (connected) {
        call.call_status = 'ended';
        call.end_timestamp = (call.start_timestamp ?? Date.now()) + Math.round(clock * 1000);
        call.duration_ms = Math.round(clock * 1000);
        call.recording_url = `${ctx.baseUrl()}/vapi/recordings/${call.call_id}.wav`;
      }
      call.disconnection_reason = reason;
      call.public_log_url = `${ctx.baseUrl()}/__sandbox/retell/calls/${call.call_id}`;
      const seconds = Math.round(clock);
      call.call_cost = {
        combined_cost: Math.round(seconds * 0.12 * 100) / 100,
        total_duration_seconds: seconds,
        product_costs: [{ product: 'retell_platform', cost: Math.round(seconds * 0.12 * 100) / 100 }],
      };
      await event('call_ended');
      const userTurns = transcript.filter((t) => t.role === 'user').length;
      call.call_analysis = {
        call_summary:
          script.analysis?.summary ??
          (transcript.length ? summarize(call.transcript ?? '') : `The call was not connected (${reason}).`),
        user_sentiment: script.analysis?.sentiment ?? (userTurns ? 'Neutral' : 'Unknown'),
        call_successful: script.analysis?.successful ?? (connected && reason !== 'voicemail_reached'),
        in_voicemail: reason === 'voicemail_reached',
        custom_analysis_data: script.analysis?.structuredData ?? {},
      };
      await event('call_analyzed');
    }
  }

  return {
    name: 'retell',
    errorBody: (status, message) => retellError(status, message),
    routes(app: FastifyInstance) {
      app.addHook('preHandler', async (req) => {
        const auth = req.headers.authorization;
        if (!auth?.startsWith('Bearer ') || !auth.slice(7).trim()) fail(401, 'API key is missing or invalid.');
      });

      app.post('/v2/create-phone-call', async (req, reply) => {
        const parsed = CreatePhoneCall.safeParse(req.body ?? {});
        if (!parsed.success) return fail(400, issueLines(parsed.error.issues));
        const b = parsed.data;
        if (!b.ignore_e164_validation && (!E164.test(b.from_number) || !E164.test(b.to_number)))
          fail(400, 'from_number and to_number must be in E.164 format.');
        const agentId = b.override_agent_id ?? DEMO_AGENT;
        if (!agents.has(agentId)) fail(404, `Agent ${agentId} not found.`);
        const call = newCall({
          direction: 'outbound',
          from: b.from_number,
          to: b.to_number,
          agentId,
          metadata: b.metadata,
          dynamicVariables: b.retell_llm_dynamic_variables,
        });
        const snapshot = { ...call };
        const apiKey = req.headers.authorization!.slice(7).trim();
        start(call, {
          serverUrl: config?.serverUrl ?? null,
          apiKey,
          script: config?.script ?? CallScript.parse({}),
          functionUrl: config?.functionUrl,
        });
        return reply.status(201).send(snapshot);
      });

      app.get('/v2/get-call/:callId', async (req) => {
        const call = calls.get((req.params as { callId: string }).callId);
        if (!call) return fail(404, 'Call not found.');
        return call;
      });

      app.post('/v3/list-calls', async (req) => {
        const parsed = ListCalls.safeParse(req.body ?? {});
        if (!parsed.success) return fail(400, issueLines(parsed.error.issues));
        const b = parsed.data;
        const f = b.filter_criteria ?? {};
        let all = [...calls.values()].filter(
          (c) =>
            (!f.agent?.length || f.agent.some((a) => a.agent_id === c.agent_id)) &&
            matches(f.call_status, c.call_status) &&
            matches(f.direction, c.direction) &&
            matches(f.from_number, c.from_number) &&
            matches(f.to_number, c.to_number) &&
            matches(f.call_id, c.call_id),
        );
        // Insertion order is creation order; start_timestamp is unset until a call connects.
        if (b.sort_order === 'descending') all = all.reverse();
        let from = b.skip ?? 0;
        if (b.pagination_key) {
          const i = all.findIndex((c) => c.call_id === b.pagination_key);
          from = i < 0 ? all.length : i + 1;
        }
        const items = all.slice(from, from + b.limit);
        const hasMore = from + items.length < all.length;
        return {
          items,
          has_more: hasMore,
          ...(hasMore ? { pagination_key: items.at(-1)!.call_id } : {}),
          ...(b.include_total ? { total: all.length } : {}),
        };
      });
    },
    control(app: FastifyInstance) {
      registerCallControl(app, {
        simulateBody: SimulateBody,
        simulate(b) {
          const call = newCall({
            direction: b.direction,
            from: b.from,
            to: b.to,
            agentId: b.agentId,
            metadata: b.metadata,
          });
          return start(call, {
            serverUrl: b.serverUrl,
            apiKey: b.credential,
            script: b.script,
            inboundWebhookUrl: b.inboundWebhookUrl,
            functionUrl: b.functionUrl,
          });
        },
        finished: (sim) => finished.get(sim),
        simulations: () => simulations,
        callStatus: (sim) => sim.call.call_status,
        configBody: ConfigBody,
        configure(c) {
          config = c;
        },
        agents: { path: '/agents', idField: 'agent_id', add: (id) => agents.add(id) },
      });
    },
    reset(seed: number) {
      ids = new IdFactory(new Rng(deriveSeed(seed, 'retell')));
      calls = new Map();
      simulations = new Map();
      agents = new Set([DEMO_AGENT]);
      config = undefined;
    },
    counts: () => ({
      calls: calls.size,
      simulations: simulations.size,
      running: [...simulations.values()].filter((s) => s.state === 'running').length,
    }),
  };
}
