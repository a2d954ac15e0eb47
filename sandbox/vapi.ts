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
 * Vapi: REST (`POST /call`, `GET /call`, `GET /call/{id}`, assistants and phone numbers) and a call
 * simulator that plays a call against our server URL the way Vapi does, authenticating each message
 * with the tenant's chosen credential, and recording what we answered and how fast. As at Vapi, every
 * API key belongs to one org and sees only that org's assistants, numbers and calls; keys nobody
 * registered act as the default org, which owns the demo fixtures.
 */

const DEMO_ASSISTANT = 'asst_demo';
const DEMO_PHONE_NUMBER = { id: 'pn_demo', number: '+15555550123', name: 'Sandbox demo line' };
const ORG_ID = 'org_sandbox';
const ASSISTANT_NAME = 'Sandbox assistant';
/** Bulk calls are spread evenly over this window before now. */
const BULK_WINDOW_MS = 5 * 60_000;
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
  /** Default (inbound): the server the called number was given (`PATCH /phone-number/{id}`), with its secret. */
  serverUrl: z.string().url().optional(),
  credential: VapiCredential.default({ type: 'none' }),
  direction: z.enum(['inbound', 'outbound']).default('inbound'),
  /** Default: the org owning the number called (inbound), else the default org. */
  orgId: z.string().min(1).optional(),
  from: z.string().regex(E164, 'expected an E.164 number').default('+15555550100'),
  /** Inbound default: the org's first number; outbound default: the demo number. */
  to: z.string().regex(E164, 'expected an E.164 number').optional(),
  /** Set: the number has a fixed assistant, so no `assistant-request` is sent. */
  assistantId: z.string().optional(),
  script: CallScript.default(CallScript.parse({})),
  /** Answer the control request only when the call has been played. */
  wait: z.boolean().default(false),
});

const ConfigBody = z
  .object({
    /** Default: the default org. */
    orgId: z.string().min(1).optional(),
    /** Given: replaces the org's server (URL, credential, script) as a whole. */
    serverUrl: z.string().url().nullable().optional(),
    credential: VapiCredential.optional(),
    script: CallScript.optional(),
    /** `POST /call` answers this long after the call was created and started (kept unless given). */
    answerDelayMs: z.number().int().min(0).max(300_000).optional(),
  })
  .refine((b) => b.serverUrl !== undefined || b.answerDelayMs !== undefined, 'serverUrl or answerDelayMs is required')
  .refine((b) => b.serverUrl !== undefined || (b.credential === undefined && b.script === undefined), {
    message: 'credential and script go with serverUrl',
    path: ['serverUrl'],
  });

const OrgBody = z.object({
  orgId: z.string().min(1).max(200),
  apiKey: z.string().trim().min(1),
  name: z.string().min(1).optional(),
  assistants: z
    .array(z.union([z.string().min(1), z.object({ id: z.string().min(1), name: z.string().min(1).optional() })]))
    .max(1000)
    .default([]),
  phoneNumbers: z
    .array(
      z.object({
        id: z.string().min(1),
        number: z.string().regex(E164, 'expected an E.164 number'),
        name: z.string().min(1).optional(),
        /** Inbound calls to this number go to this assistant (no `assistant-request`). */
        assistantId: z.string().min(1).optional(),
      }),
    )
    .max(1000)
    .default([]),
});

const ServerBody = z
  .object({
    url: z.string().url(),
    secret: z.string().min(1).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    timeoutSeconds: z.number().int().min(1).max(300).optional(),
  })
  .strict();
/** The assistant fields the sandbox checks; anything else (voice, transcriber, …) is kept as given. */
const AssistantBody = z
  .object({
    name: z.string().min(1).max(40).optional(),
    firstMessage: z.string().optional(),
    model: z
      .object({
        provider: z.string().min(1),
        model: z.string().min(1),
        messages: z.array(z.object({ role: z.string(), content: z.string() }).loose()).optional(),
        tools: z.array(z.object({ type: z.string() }).loose()).optional(),
      })
      .loose()
      .optional(),
    server: ServerBody.optional(),
    serverMessages: z.array(z.string()).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();
const PhoneNumberPatch = z
  .object({
    name: z.string().min(1).max(40).optional(),
    assistantId: z.string().min(1).nullable().optional(),
    server: ServerBody.nullable().optional(),
  })
  .strict();

const BulkBody = z.object({
  count: z.number().int().min(1).max(5000),
  metadata: z.record(z.string(), z.unknown()).optional(),
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

/** Vapi's list filters (`GET /call`, `/assistant`, `/phone-number`): limit and time bounds. */
const PageQuery = z.object({
  limit: z.coerce.number().int().min(0).max(1000).default(100),
  createdAtGt: z.string().optional(),
  createdAtLt: z.string().optional(),
  createdAtGe: z.string().optional(),
  createdAtLe: z.string().optional(),
  updatedAtGt: z.string().optional(),
  updatedAtLt: z.string().optional(),
  updatedAtGe: z.string().optional(),
  updatedAtLe: z.string().optional(),
});
const ListQuery = PageQuery.extend({
  id: z.string().optional(),
  assistantId: z.string().optional(),
  phoneNumberId: z.string().optional(),
});

/** `createdAt*` / `updatedAt*` bounds as a predicate; an unparsable bound matches nothing (as before). */
function timeFilter(q: z.infer<typeof PageQuery>): (item: { createdAt: string; updatedAt: string }) => boolean {
  const bounds: [field: 'createdAt' | 'updatedAt', op: 'Gt' | 'Lt' | 'Ge' | 'Le', at: number][] = [];
  for (const field of ['createdAt', 'updatedAt'] as const)
    for (const op of ['Gt', 'Lt', 'Ge', 'Le'] as const) {
      const v = q[`${field}${op}`];
      if (v) bounds.push([field, op, Date.parse(v)]);
    }
  return (item) =>
    bounds.every(([field, op, at]) => {
      const t = Date.parse(item[field]);
      return op === 'Gt' ? t > at : op === 'Lt' ? t < at : op === 'Ge' ? t >= at : t <= at;
    });
}

export interface VapiAssistant {
  id: string;
  orgId: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  /** Whatever else `POST /assistant` / `PATCH /assistant/{id}` set (model, tools, server, metadata …). */
  [field: string]: unknown;
}

/** Where Vapi sends a number's or an assistant's server messages, and how it proves itself. */
export interface VapiServer {
  url: string;
  secret?: string;
  headers?: Record<string, string>;
  timeoutSeconds?: number;
}

export interface VapiPhoneNumber {
  id: string;
  orgId: string;
  provider: 'twilio';
  number: string;
  name?: string;
  assistantId?: string;
  /** Set through `PATCH /phone-number/{id}`: inbound calls' server messages go here. */
  server?: VapiServer;
  status: 'active';
  twilioAccountSid: string;
  createdAt: string;
  updatedAt: string;
}

interface OrgServer {
  serverUrl: string | null;
  credential: VapiCredential;
  script?: CallScript;
}

/** One call in an org's list, with what sorting needs. */
interface CallEntry {
  call: VapiCall;
  at: number;
  seq: number;
}

interface Org {
  id: string;
  name: string;
  assistants: Map<string, VapiAssistant>;
  phoneNumbers: Map<string, VapiPhoneNumber>;
  server?: OrgServer;
  answerDelayMs: number;
  /** Oldest first by (createdAt, creation order) once `sorted`; bulk calls land in the past and unsort it. */
  calls: CallEntry[];
  sorted: boolean;
}

export interface VapiCall {
  id: string;
  orgId: string;
  type: 'inboundPhoneCall' | 'outboundPhoneCall';
  status: 'queued' | 'ringing' | 'in-progress' | 'forwarding' | 'ended';
  endedReason?: string;
  /** Where the call was forwarded (a transfer). */
  destination?: Record<string, unknown>;
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
  /** Set when the call was forwarded: to where, and what asked for it. */
  transfer?: {
    destination: Record<string, unknown>;
    via: 'control-url' | 'transfer-destination-request' | 'assistant-request';
    at: string;
  };
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
  let bulkRng = new Rng(deriveSeed(ctx.seed(), 'vapi-bulk'));
  let calls = new Map<string, VapiCall>();
  let simulations = new Map<string, VapiSimulation>();
  let orgs = new Map<string, Org>();
  /** API key → orgId; keys not in here act as the default org. */
  let keys = new Map<string, string>();
  let callSeq = 0;
  const finished = new WeakMap<VapiSimulation, Promise<void>>();
  const controlError = (status: number, error: string): never => {
    throw new ProviderHttpError(status, { error });
  };

  function newOrg(id: string, name: string): Org {
    const org: Org = {
      id,
      name,
      assistants: new Map(),
      phoneNumbers: new Map(),
      answerDelayMs: 0,
      calls: [],
      sorted: true,
    };
    orgs.set(id, org);
    return org;
  }

  function addAssistant(org: Org, id: string, name?: string): void {
    const now = new Date().toISOString();
    const known = org.assistants.get(id);
    if (known) {
      if (name && name !== known.name) Object.assign(known, { name, updatedAt: now });
      return;
    }
    org.assistants.set(id, { id, orgId: org.id, name: name ?? ASSISTANT_NAME, createdAt: now, updatedAt: now });
  }

  function addPhoneNumber(org: Org, p: { id: string; number: string; name?: string; assistantId?: string }): void {
    const now = new Date().toISOString();
    const known = org.phoneNumbers.get(p.id);
    const fields = {
      number: p.number,
      ...(p.name ? { name: p.name } : {}),
      ...(p.assistantId ? { assistantId: p.assistantId } : {}),
    };
    if (known) return void Object.assign(known, fields, { updatedAt: now });
    org.phoneNumbers.set(p.id, {
      id: p.id,
      orgId: org.id,
      provider: 'twilio',
      status: 'active',
      twilioAccountSid: twilioSid(org.id),
      createdAt: now,
      updatedAt: now,
      ...fields,
    });
  }

  function resetOrgs(): void {
    orgs = new Map();
    keys = new Map();
    const org = newOrg(ORG_ID, 'Sandbox org');
    addAssistant(org, DEMO_ASSISTANT);
    addPhoneNumber(org, DEMO_PHONE_NUMBER);
  }
  resetOrgs();

  const defaultOrg = () => orgs.get(ORG_ID)!;
  const orgById = (id: string | undefined): Org =>
    id === undefined ? defaultOrg() : (orgs.get(id) ?? controlError(404, `no such org: ${id}`));
  /** The org of the request's API key (auth has been checked by then). */
  function orgOf(req: FastifyRequest): Org {
    const key = (req.headers.authorization ?? '').slice(7).trim();
    return orgs.get(keys.get(key) ?? ORG_ID) ?? defaultOrg();
  }
  const ownerOf = <K extends 'assistants' | 'phoneNumbers'>(kind: K, id: string) =>
    [...orgs.values()].find((o) => o[kind].has(id));
  const numberOwner = (number: string) =>
    [...orgs.values()].flatMap((o) => [...o.phoneNumbers.values()]).find((p) => p.number === number);

  function addCall(org: Org, call: VapiCall): void {
    calls.set(call.id, call);
    const entry = { call, at: Date.parse(call.createdAt), seq: callSeq++ };
    const last = org.calls.at(-1);
    if (last && last.at > entry.at) org.sorted = false;
    org.calls.push(entry);
  }

  /** The org's calls, oldest first. */
  function callsOf(org: Org): CallEntry[] {
    if (!org.sorted) {
      org.calls.sort((a, b) => a.at - b.at || a.seq - b.seq);
      org.sorted = true;
    }
    return org.calls;
  }

  function newCall(input: {
    org: Org;
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
      orgId: input.org.id,
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
    addCall(input.org, call);
    return call;
  }

  /** `count` ended calls spread over the last minutes, each at its own millisecond so time-cursor paging sees them all. */
  function bulkCalls(org: Org, count: number, metadata?: Record<string, unknown>) {
    const now = Date.now();
    const step = BULK_WINDOW_MS / count;
    const taken = new Set(org.calls.map((e) => e.at));
    const phoneNumberId = org.phoneNumbers.keys().next().value ?? 'pn_inline';
    const assistantId = org.assistants.keys().next().value;
    let prev = -Infinity;
    const made: number[] = [];
    for (let i = 0; i < count; i++) {
      let at = Math.max(now - BULK_WINDOW_MS + Math.floor(i * step), prev + 1);
      while (taken.has(at)) at++;
      prev = at;
      made.push(at);
      const seconds = 5 + bulkRng.int(Math.max(1, Math.min(120, Math.floor(step / 1000))));
      const endedMs = Math.max(at, Math.min(at + seconds * 1000, now));
      const id = ids.uuid();
      const createdAt = new Date(at).toISOString();
      const cost = round4(((endedMs - at) / 60_000) * 0.12);
      addCall(org, {
        id,
        orgId: org.id,
        type: 'outboundPhoneCall',
        status: 'ended',
        endedReason: 'customer-ended-call',
        phoneNumberId,
        ...(assistantId ? { assistantId } : {}),
        customer: { number: `+1415555${String(1000 + bulkRng.int(9000))}` },
        phoneCallProvider: 'twilio',
        phoneCallTransport: 'pstn',
        monitor: {
          listenUrl: `wss://sandbox.vapi.invalid/${id}/listen`,
          controlUrl: `${ctx.baseUrl()}/vapi/call/${id}/control`,
        },
        createdAt,
        updatedAt: new Date(endedMs).toISOString(),
        startedAt: createdAt,
        endedAt: new Date(endedMs).toISOString(),
        cost,
        costs: [{ type: 'vapi', cost }],
        ...(metadata ? { metadata } : {}),
      });
    }
    return {
      orgId: org.id,
      count,
      oldestCreatedAt: new Date(made[0]!).toISOString(),
      newestCreatedAt: new Date(made.at(-1)!).toISOString(),
    };
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
    const org = orgs.get(call.orgId);
    const phoneNumber = org?.phoneNumbers.get(call.phoneNumberId) ?? {
      id: call.phoneNumberId,
      orgId: call.orgId,
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
          ...(call.assistantId
            ? { assistant: org?.assistants.get(call.assistantId) ?? { id: call.assistantId, name: ASSISTANT_NAME } }
            : {}),
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
            forwardTo(check.value as Record<string, unknown>, 'assistant-request');
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
        else if ('transferCall' in step) {
          if (await transferRequest()) return await end('assistant-forwarded-call');
        } else await toolCalls('tool' in step ? [{ name: step.tool, arguments: step.arguments }] : step.tools);
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
        if (c.type === 'transfer') {
          forwardTo(c.destination, 'control-url');
          reason = 'assistant-forwarded-call';
        }
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

    /** Records where the call goes; `end` tells our server it is forwarding before it ends. */
    function forwardTo(destination: Record<string, unknown>, via: NonNullable<VapiSimulation['transfer']>['via']) {
      call.destination = destination;
      sim.transfer = { destination, via, at: new Date().toISOString() };
    }

    /** The assistant's transfer tool without a number: asks our server where to (true: forwarded). */
    async function transferRequest(): Promise<boolean> {
      const d = await send('transfer-destination-request', {}, TOOL_CALLS_TIMEOUT_MS);
      if (!d) return false;
      const body = (d.response?.body ?? {}) as { destination?: unknown; error?: unknown };
      const dest = body.destination as Record<string, unknown> | undefined;
      if (dest && typeof dest === 'object' && (typeof dest.number === 'string' || typeof dest.sipUri === 'string')) {
        if (typeof dest.number === 'string' && !E164.test(dest.number))
          d.problems.push('destination.number must be E.164');
        forwardTo(dest, 'transfer-destination-request');
        return true;
      }
      if (typeof body.error === 'string') await say('assistant', body.error);
      else d.problems.push('transfer-destination-request answer needs destination {type, number|sipUri} or error');
      return false;
    }

    async function end(endedReason: string, spokenError: string[] = []) {
      if (call.destination && call.status !== 'forwarding')
        await setStatus('forwarding', { destination: call.destination });
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
        const org = orgOf(req);
        // Another org's assistant or number is as unknown to this key as one that does not exist.
        if (!body.assistantId && !body.assistant && !body.squadId)
          fail(400, 'Need Either `assistant` Or `assistantId` Or `squad` Or `squadId`.');
        if (body.assistantId && !org.assistants.has(body.assistantId))
          fail(400, `Couldn't Get Assistant. \`assistantId\` ${body.assistantId} Does Not Exist.`);
        if (!body.phoneNumberId && !body.phoneNumber) fail(400, 'Need Either `phoneNumberId` Or `phoneNumber`.');
        if (body.phoneNumberId && !org.phoneNumbers.has(body.phoneNumberId))
          fail(400, `Couldn't Get Phone Number. \`phoneNumberId\` ${body.phoneNumberId} Does Not Exist.`);
        const number = body.customer?.number;
        if (!number) fail(400, ['customer.number should not be empty']);
        if (!E164.test(number!))
          fail(400, ['customer.number must be a valid phone number in the E.164 format (e.g. +14155552671)']);
        const call = newCall({
          org,
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
        const serverUrl = typeof inlineServer === 'string' ? inlineServer : (org.server?.serverUrl ?? null);
        startSimulation(call, {
          serverUrl,
          credential: org.server?.credential ?? { type: 'none' },
          direction: 'outbound',
          script: org.server?.script ?? CallScript.parse({}),
          askAssistant: false,
        });
        // Accepted but slow to answer: a client that gives up meanwhile leaves a call that is already dialling.
        if (org.answerDelayMs) await sleep(org.answerDelayMs, ctx.shutdown);
        return reply.status(201).send(snapshot);
      });

      app.get('/call', async (req) => {
        const q = ListQuery.safeParse(req.query);
        if (!q.success) return fail(400, issueLines(q.error.issues));
        const f = q.data;
        const inTime = timeFilter(f);
        const entries = callsOf(orgOf(req));
        const out: VapiCall[] = [];
        // Newest first, as Vapi lists them.
        for (let i = entries.length - 1; i >= 0 && out.length < f.limit; i--) {
          const c = entries[i]!.call;
          if (
            (!f.id || c.id === f.id) &&
            (!f.assistantId || c.assistantId === f.assistantId) &&
            (!f.phoneNumberId || c.phoneNumberId === f.phoneNumberId) &&
            inTime(c)
          )
            out.push(c);
        }
        return out;
      });

      app.get('/call/:id', async (req) => {
        const { id } = req.params as { id: string };
        const call = calls.get(id);
        if (!call || call.orgId !== orgOf(req).id) return fail(404, 'Call not found');
        return call;
      });

      const listOf = <T extends { createdAt: string; updatedAt: string }>(items: Iterable<T>, query: unknown): T[] => {
        const q = PageQuery.safeParse(query);
        if (!q.success) return fail(400, issueLines(q.error.issues));
        const inTime = timeFilter(q.data);
        return [...items]
          .filter(inTime)
          .reverse()
          .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))
          .slice(0, q.data.limit);
      };
      app.get('/assistant', async (req) => listOf(orgOf(req).assistants.values(), req.query));
      app.get('/assistant/:id', async (req) => {
        const { id } = req.params as { id: string };
        return (
          orgOf(req).assistants.get(id) ?? fail(404, `Couldn't Get Assistant. \`assistantId\` ${id} Does Not Exist.`)
        );
      });
      // Assistants and numbers are configured as at Vapi: create, update (only a real change moves updatedAt).
      app.post('/assistant', async (req, reply) => {
        const parsed = AssistantBody.safeParse(req.body ?? {});
        if (!parsed.success) return fail(400, issueLines(parsed.error.issues));
        const org = orgOf(req);
        const now = new Date().toISOString();
        const a: VapiAssistant = {
          ...parsed.data,
          id: ids.uuid(),
          orgId: org.id,
          name: parsed.data.name ?? ASSISTANT_NAME,
          createdAt: now,
          updatedAt: now,
        };
        org.assistants.set(a.id, a);
        return reply.status(201).send(a);
      });
      app.patch('/assistant/:id', async (req) => {
        const { id } = req.params as { id: string };
        const a =
          orgOf(req).assistants.get(id) ?? fail(404, `Couldn't Get Assistant. \`assistantId\` ${id} Does Not Exist.`);
        const parsed = AssistantBody.safeParse(req.body ?? {});
        if (!parsed.success) return fail(400, issueLines(parsed.error.issues));
        if (changes(a, parsed.data)) Object.assign(a, parsed.data, { updatedAt: new Date().toISOString() });
        return a;
      });
      app.patch('/phone-number/:id', async (req) => {
        const { id } = req.params as { id: string };
        const org = orgOf(req);
        const p =
          org.phoneNumbers.get(id) ?? fail(404, `Couldn't Get Phone Number. \`phoneNumberId\` ${id} Does Not Exist.`);
        const parsed = PhoneNumberPatch.safeParse(req.body ?? {});
        if (!parsed.success) return fail(400, issueLines(parsed.error.issues));
        const b = parsed.data;
        if (b.assistantId && !org.assistants.has(b.assistantId))
          fail(400, `Couldn't Get Assistant. \`assistantId\` ${b.assistantId} Does Not Exist.`);
        const next: Partial<VapiPhoneNumber> = {
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.assistantId !== undefined ? { assistantId: b.assistantId ?? undefined } : {}),
          ...(b.server !== undefined ? { server: b.server ?? undefined } : {}),
        };
        if (changes(p, next)) {
          Object.assign(p, next, { updatedAt: new Date().toISOString() });
          for (const k of ['assistantId', 'server'] as const) if (p[k] === undefined) delete p[k];
        }
        return p;
      });
      app.get('/phone-number', async (req) => listOf(orgOf(req).phoneNumbers.values(), req.query));
      app.get('/phone-number/:id', async (req) => {
        const { id } = req.params as { id: string };
        return (
          orgOf(req).phoneNumbers.get(id) ??
          fail(404, `Couldn't Get Phone Number. \`phoneNumberId\` ${id} Does Not Exist.`)
        );
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
          // An inbound call reaches the org that owns the number dialled.
          const org =
            b.orgId !== undefined
              ? orgById(b.orgId)
              : (inbound && b.to && orgs.get(numberOwner(b.to)?.orgId ?? '')) || defaultOrg();
          const numbers = [...org.phoneNumbers.values()];
          const ours = inbound ? b.to : b.from;
          const phoneNumber =
            numbers.find((p) => p.number === ours) ??
            numbers[0] ??
            controlError(400, `org ${org.id} has no phone number to ${inbound ? 'call' : 'call from'}`);
          const assistantId =
            b.assistantId ??
            (inbound ? phoneNumber.assistantId : (org.assistants.keys().next().value ?? phoneNumber.assistantId));
          const call = newCall({
            org,
            type: inbound ? 'inboundPhoneCall' : 'outboundPhoneCall',
            customer: { number: inbound ? b.from : (b.to ?? DEMO_PHONE_NUMBER.number) },
            phoneNumberId: phoneNumber.id,
            assistantId,
          });
          // Not given: where the number was pointed, authenticated the way its server says.
          const server = inbound ? phoneNumber.server : undefined;
          const serverUrl = b.serverUrl ?? server?.url ?? org.server?.serverUrl ?? null;
          const credential: VapiCredential =
            b.serverUrl || b.credential.type !== 'none'
              ? b.credential
              : server?.secret
                ? { type: 'x-vapi-secret', secret: server.secret }
                : server?.headers?.authorization?.startsWith('Bearer ')
                  ? { type: 'bearer', secret: server.headers.authorization.slice(7) }
                  : (org.server?.credential ?? { type: 'none' });
          return startSimulation(call, {
            serverUrl,
            credential,
            direction: b.direction,
            script: b.script,
            askAssistant: inbound && !assistantId,
          });
        },
        finished: (sim) => finished.get(sim),
        simulations: () => simulations,
        callStatus: (sim) => sim.call.status,
        configBody: ConfigBody,
        configure(config) {
          const org = orgById(config.orgId);
          if (config.serverUrl !== undefined)
            org.server = {
              serverUrl: config.serverUrl,
              credential: config.credential ?? { type: 'none' },
              ...(config.script ? { script: config.script } : {}),
            };
          if (config.answerDelayMs !== undefined) org.answerDelayMs = config.answerDelayMs;
        },
        agents: {
          path: '/assistants',
          idField: 'id',
          add(id) {
            const owner = ownerOf('assistants', id);
            if (owner && owner.id !== ORG_ID) controlError(409, `assistant ${id} belongs to org ${owner.id}`);
            addAssistant(defaultOrg(), id);
          },
        },
      });

      app.post('/orgs', async (req, reply) => {
        const parsed = OrgBody.safeParse(req.body);
        if (!parsed.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
        const b = parsed.data;
        // Check everything before changing anything: a refused registration leaves no trace.
        const boundTo = keys.get(b.apiKey);
        if (boundTo !== undefined && boundTo !== b.orgId)
          controlError(409, `apiKey is already bound to org ${boundTo}`);
        const assistants = b.assistants.map((a) => (typeof a === 'string' ? { id: a } : a));
        for (const a of assistants) {
          const owner = ownerOf('assistants', a.id);
          if (owner && owner.id !== b.orgId) controlError(409, `assistant ${a.id} belongs to org ${owner.id}`);
        }
        const known = new Set([...(orgs.get(b.orgId)?.assistants.keys() ?? []), ...assistants.map((a) => a.id)]);
        for (const p of b.phoneNumbers) {
          const owner = ownerOf('phoneNumbers', p.id);
          if (owner && owner.id !== b.orgId) controlError(409, `phone number ${p.id} belongs to org ${owner.id}`);
          const sameNumber = numberOwner(p.number);
          if (sameNumber && sameNumber.id !== p.id)
            controlError(409, `number ${p.number} is already phone number ${sameNumber.id} of org ${sameNumber.orgId}`);
          if (b.phoneNumbers.some((q) => q.number === p.number && q.id !== p.id))
            controlError(400, `number ${p.number} is listed twice`);
          if (p.assistantId && !known.has(p.assistantId))
            controlError(400, `phone number ${p.id}: assistant ${p.assistantId} is not the org's`);
        }
        const org = orgs.get(b.orgId) ?? newOrg(b.orgId, b.name ?? b.orgId);
        if (b.name) org.name = b.name;
        keys.set(b.apiKey, org.id);
        for (const a of assistants) addAssistant(org, a.id, a.name);
        for (const p of b.phoneNumbers) addPhoneNumber(org, p);
        return reply.status(201).send(orgSummary(org));
      });

      app.get('/orgs', async () => ({ orgs: [...orgs.values()].map(orgSummary) }));

      app.post('/orgs/:orgId/calls/bulk', async (req, reply) => {
        const org = orgById((req.params as { orgId: string }).orgId);
        const parsed = BulkBody.safeParse(req.body);
        if (!parsed.success)
          return reply.status(400).send({ error: 'invalid body', issues: issueLines(parsed.error.issues) });
        return reply.status(201).send(bulkCalls(org, parsed.data.count, parsed.data.metadata));
      });
    },
    reset(seed: number) {
      ids = new IdFactory(new Rng(deriveSeed(seed, 'vapi')));
      bulkRng = new Rng(deriveSeed(seed, 'vapi-bulk'));
      calls = new Map();
      simulations = new Map();
      callSeq = 0;
      resetOrgs();
    },
    counts: () => ({
      calls: calls.size,
      simulations: simulations.size,
      running: [...simulations.values()].filter((s) => s.state === 'running').length,
      orgs: orgs.size,
    }),
  };

  function orgSummary(org: Org) {
    return {
      orgId: org.id,
      name: org.name,
      apiKeys: [...keys.values()].filter((id) => id === org.id).length,
      assistants: [...org.assistants.keys()],
      phoneNumbers: [...org.phoneNumbers.values()].map((p) => ({ id: p.id, number: p.number })),
      calls: org.calls.length,
      serverUrl: org.server?.serverUrl ?? null,
      answerDelayMs: org.answerDelayMs,
    };
  }
}

/** Would `patch` change `target`? (Compared as JSON, key order aside.) */
function changes(target: object, patch: object): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .filter(([, x]) => x !== undefined)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, canon(x)]),
          )
        : v;
  const t = target as Record<string, unknown>;
  return Object.entries(patch).some(([k, v]) => JSON.stringify(canon(t[k])) !== JSON.stringify(canon(v)));
}

/** A stable, Twilio-looking account SID per org (not drawn from the seeded stream, so ids elsewhere stay put). */
function twilioSid(orgId: string): string {
  return `AC${[0, 1, 2, 3].map((i) => deriveSeed(i, orgId).toString(16).padStart(8, '0')).join('')}`;
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
