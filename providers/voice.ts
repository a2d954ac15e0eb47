import { z } from 'zod';
import type { ProviderConfig } from '../lib/config.js';

/**
 * Vapi and Retell REST clients (plain fetch, configurable base URL: the live API or the sandbox)
 * and one normalised view of a finished call, whichever provider and whichever form it came in
 * (Vapi end-of-call report, new or legacy; Vapi or Retell call object from REST).
 */

export type VoiceProvider = 'vapi' | 'retell';

export class VoiceApiError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    /** 408/429/5xx and network errors: the same call may work later. */
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'VoiceApiError';
  }
}

async function requestJson(
  provider: VoiceProvider,
  base: string,
  token: string,
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  body?: unknown,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base.replace(/\/+$/, '')}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new VoiceApiError(undefined, `${provider} ${method} ${path}: ${(err as Error).message}`, true);
  }
  const text = await res.text();
  if (!res.ok) {
    throw new VoiceApiError(
      res.status,
      `${provider} ${method} ${path} failed (${res.status}): ${text.slice(0, 300)}`,
      res.status === 408 || res.status === 429 || res.status >= 500,
    );
  }
  return text ? JSON.parse(text) : null;
}

const CallId = z.looseObject({ id: z.string() });
const RetellCallId = z.looseObject({ call_id: z.string() });

export interface PlaceCallRequest {
  to: string;
  customerName?: string;
  /** Our reference, sent as call metadata so webhooks and REST listings lead back to the workflow. */
  metadata: Record<string, string>;
  /** Values the assistant's prompt may use ({{purpose}}, {{name}} …). */
  variables: Record<string, string>;
  /** Where the provider sends this call's server messages. */
  serverUrl: string;
}

/** An assistant or phone number as Vapi answers it (we read the fields we set; Vapi adds more). */
export const VapiResource = z.looseObject({ id: z.string() });
export type VapiResource = z.infer<typeof VapiResource>;

export function vapiApi(cfg: ProviderConfig) {
  const call = (method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown) =>
    requestJson('vapi', cfg.baseUrl, cfg.apiKey, method, path, body);
  const enc = encodeURIComponent;
  return {
    async listAssistants(): Promise<VapiResource[]> {
      return z.array(VapiResource).parse(await call('GET', '/assistant?limit=1000'));
    },
    /** `null` when the key's org has no such assistant. */
    async getAssistant(id: string): Promise<VapiResource | null> {
      try {
        return VapiResource.parse(await call('GET', `/assistant/${enc(id)}`));
      } catch (err) {
        if (err instanceof VoiceApiError && err.status === 404) return null;
        throw err;
      }
    },
    async createAssistant(body: Record<string, unknown>): Promise<VapiResource> {
      return VapiResource.parse(await call('POST', '/assistant', body));
    },
    async updateAssistant(id: string, body: Record<string, unknown>): Promise<VapiResource> {
      return VapiResource.parse(await call('PATCH', `/assistant/${enc(id)}`, body));
    },
    async listPhoneNumbers(): Promise<VapiResource[]> {
      return z.array(VapiResource).parse(await call('GET', '/phone-number?limit=1000'));
    },
    async updatePhoneNumber(id: string, body: Record<string, unknown>): Promise<VapiResource> {
      return VapiResource.parse(await call('PATCH', `/phone-number/${enc(id)}`, body));
    },
    async createCall(input: PlaceCallRequest & { assistantId: string; phoneNumberId: string }): Promise<string> {
      const created = CallId.parse(
        await call('POST', '/call', {
          assistantId: input.assistantId,
          phoneNumberId: input.phoneNumberId,
          customer: { number: input.to, ...(input.customerName ? { name: input.customerName } : {}) },
          assistantOverrides: {
            variableValues: input.variables,
            server: { url: input.serverUrl },
            metadata: input.metadata,
          },
          metadata: input.metadata,
        }),
      );
      return created.id;
    },
    async getCall(id: string): Promise<Record<string, unknown>> {
      return z.record(z.string(), z.unknown()).parse(await call('GET', `/call/${encodeURIComponent(id)}`));
    },
    /**
     * A call created since `createdAtGt` (ISO) carrying this metadata value: finds a call a crashed
     * attempt already placed. Pages back through every call of the account in that window.
     */
    async findCall(createdAtGt: string, key: string, value: string): Promise<string | undefined> {
      const Page = z.array(
        z.looseObject({
          id: z.string(),
          createdAt: z.string().optional(),
          metadata: z.record(z.string(), z.unknown()).nullish(),
        }),
      );
      let before: string | undefined;
      for (let page = 0; page < 200; page++) {
        const query = `limit=100&createdAtGt=${encodeURIComponent(createdAtGt)}${before ? `&createdAtLt=${encodeURIComponent(before)}` : ''}`;
        const list = Page.parse(await call('GET', `/call?${query}`));
        const hit = list.find((c) => c.metadata?.[key] === value);
        if (hit) return hit.id;
        const oldest = list.at(-1)?.createdAt;
        if (list.length < 100 || !oldest || oldest === before) return undefined;
        before = oldest;
      }
      return undefined;
    },
  };
}

export function retellApi(cfg: ProviderConfig, apiKey: string) {
  const call = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    requestJson('retell', cfg.baseUrl, apiKey, method, path, body);
  return {
    async createCall(input: PlaceCallRequest & { fromNumber: string; agentId?: string }): Promise<string> {
      return RetellCallId.parse(
        await call('POST', '/v2/create-phone-call', {
          from_number: input.fromNumber,
          to_number: input.to,
          ...(input.agentId ? { override_agent_id: input.agentId } : {}),
          metadata: input.metadata,
          retell_llm_dynamic_variables: input.variables,
        }),
      ).call_id;
    },
    async getCall(id: string): Promise<Record<string, unknown>> {
      return z.record(z.string(), z.unknown()).parse(await call('GET', `/v2/get-call/${encodeURIComponent(id)}`));
    },
    /** A call to `to` carrying this metadata value, paging through every such call of the account. */
    async findCall(to: string, key: string, value: string): Promise<string | undefined> {
      const Page = z.looseObject({
        items: z.array(z.looseObject({ call_id: z.string(), metadata: z.unknown() })),
        pagination_key: z.string().optional(),
      });
      let after: string | undefined;
      for (let page = 0; page < 200; page++) {
        const list = Page.parse(
          await call('POST', '/v3/list-calls', {
            filter_criteria: { to_number: [to] },
            limit: 100,
            sort_order: 'descending',
            ...(after ? { pagination_key: after } : {}),
          }),
        );
        const hit = list.items.find((c) => (c.metadata as Record<string, unknown> | null | undefined)?.[key] === value);
        if (hit) return hit.call_id;
        if (!list.pagination_key || list.pagination_key === after) return undefined;
        after = list.pagination_key;
      }
      return undefined;
    },
  };
}

// --- one view of a finished call -----------------------------------------------------------------

export type CallOutcome = 'completed' | 'no-answer' | 'busy' | 'voicemail' | 'failed';

export interface Utterance {
  role: 'user' | 'assistant';
  text: string;
  secondsFromStart: number | null;
}

export interface CallRecord {
  /** The provider still has the call going: nothing to finish from yet. */
  ended: boolean;
  outcome: CallOutcome;
  endedReason: string | null;
  startedAt: string | null;
  endedAt: string | null;
  cost: number | null;
  recordingUrl: string | null;
  utterances: Utterance[];
  /** The provider's own summary, if it made one. */
  providerSummary: string | null;
}

const num = z.coerce.number().finite();
const str = z.string().min(1);
const VapiMessage = z.looseObject({
  role: z.string(),
  message: z.string().optional(),
  secondsFromStart: z.number().optional(),
});
const VapiShape = z.looseObject({
  status: z.string().optional(),
  endedReason: str.nullish(),
  startedAt: str.nullish(),
  endedAt: str.nullish(),
  cost: num.nullish(),
  recordingUrl: str.nullish(),
  messages: z.array(VapiMessage).nullish(),
  summary: z.string().nullish(),
  artifact: z.looseObject({ messages: z.array(VapiMessage).nullish(), recordingUrl: str.nullish() }).nullish(),
  analysis: z.looseObject({ summary: z.string().nullish() }).nullish(),
});
const RetellShape = z.looseObject({
  call_status: z.string().optional(),
  disconnection_reason: str.nullish(),
  start_timestamp: num.nullish(),
  end_timestamp: num.nullish(),
  recording_url: str.nullish(),
  transcript_object: z.array(z.looseObject({ role: z.string(), content: z.string() })).nullish(),
  call_cost: z.looseObject({ combined_cost: num.nullish() }).nullish(),
  call_analysis: z.looseObject({ call_summary: z.string().nullish() }).nullish(),
});

export function outcomeOf(provider: VoiceProvider, endedReason: string | null): CallOutcome {
  const r = (endedReason ?? '').toLowerCase();
  if (provider === 'vapi') {
    if (r === 'customer-did-not-answer') return 'no-answer';
    if (r === 'customer-busy') return 'busy';
    if (r === 'voicemail') return 'voicemail';
  } else {
    if (r === 'dial_no_answer') return 'no-answer';
    if (r === 'dial_busy') return 'busy';
    if (r === 'voicemail_reached') return 'voicemail';
  }
  return /error|failed|fault/.test(r) ? 'failed' : 'completed';
}

/** A Vapi end-of-call report or call object, or a Retell call object, as a CallRecord. */
export function toCallRecord(provider: VoiceProvider, payload: unknown): CallRecord {
  if (provider === 'vapi') {
    const v = VapiShape.parse(payload);
    const messages = v.artifact?.messages ?? v.messages ?? [];
    const endedReason = v.endedReason ?? null;
    return {
      ended: Boolean(endedReason) || v.status === 'ended',
      outcome: outcomeOf('vapi', endedReason),
      endedReason,
      startedAt: v.startedAt ?? null,
      endedAt: v.endedAt ?? null,
      cost: v.cost ?? null,
      recordingUrl: v.artifact?.recordingUrl ?? v.recordingUrl ?? null,
      utterances: messages
        .filter((m) => (m.role === 'user' || m.role === 'bot' || m.role === 'assistant') && m.message)
        .map((m) => ({
          role: m.role === 'user' ? 'user' : 'assistant',
          text: m.message!,
          secondsFromStart: m.secondsFromStart ?? null,
        })),
      providerSummary: v.analysis?.summary ?? v.summary ?? null,
    };
  }
  const r = RetellShape.parse(payload);
  const endedReason = r.disconnection_reason ?? null;
  return {
    ended: r.call_status === 'ended' || r.call_status === 'not_connected' || r.call_status === 'error',
    outcome: r.call_status === 'error' ? 'failed' : outcomeOf('retell', endedReason),
    endedReason,
    startedAt: r.start_timestamp ? new Date(r.start_timestamp).toISOString() : null,
    endedAt: r.end_timestamp ? new Date(r.end_timestamp).toISOString() : null,
    cost: r.call_cost?.combined_cost != null ? r.call_cost.combined_cost / 100 : null,
    recordingUrl: r.recording_url ?? null,
    utterances: (r.transcript_object ?? []).map((u) => ({
      role: u.role === 'user' ? 'user' : 'assistant',
      text: u.content,
      secondsFromStart: null,
    })),
    providerSummary: r.call_analysis?.call_summary ?? null,
  };
}
