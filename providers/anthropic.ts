import Anthropic from '@anthropic-ai/sdk';
import type { ProviderConfig } from '../lib/config.js';

/**
 * The one place an Anthropic client is made: the official SDK pointed at the configured base URL
 * (the live API, or the provider sandbox's `/anthropic` when no key is set). Activities and the
 * read-only API analysis both take their client from here.
 */

export const DEFAULT_ANTHROPIC_MODEL = 'claude-sonnet-5-5';

export interface LlmClient {
  client: Anthropic;
  model: string;
  /** What the audit trail records for calls made with this client. */
  source: 'live' | 'sandbox';
}

export interface LlmClientOptions {
  model?: string;
  /** SDK retries on 429 / 529 / 5xx / timeouts (default 2). */
  maxRetries?: number;
  timeoutMs?: number;
}

/**
 * `meter` hears the tokens of every answer (input + output), for the tenant's daily quota. It reads
 * a clone of the response, so the SDK gets the body untouched; a failed count never fails the call.
 */
export function createAnthropicClient(
  provider: ProviderConfig,
  opts: LlmClientOptions = {},
  meter?: (tokens: number) => Promise<void>,
): LlmClient {
  const metered: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (meter && res.ok && res.headers.get('content-type')?.includes('application/json')) {
      const body = (await res
        .clone()
        .json()
        .catch(() => undefined)) as { usage?: { input_tokens?: number; output_tokens?: number } } | undefined;
      const tokens = (body?.usage?.input_tokens ?? 0) + (body?.usage?.output_tokens ?? 0);
      if (tokens > 0) await meter(tokens).catch(() => undefined);
    }
    return res;
  };
  return {
    client: new Anthropic({
      fetch: metered,
      apiKey: provider.apiKey,
      baseURL: provider.baseUrl,
      maxRetries: opts.maxRetries ?? 2,
      timeout: opts.timeoutMs ?? 60_000,
    }),
    model: opts.model ?? DEFAULT_ANTHROPIC_MODEL,
    source: provider.mode,
  };
}
