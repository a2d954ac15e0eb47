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

export function createAnthropicClient(provider: ProviderConfig, opts: LlmClientOptions = {}): LlmClient {
  return {
    client: new Anthropic({
      apiKey: provider.apiKey,
      baseURL: provider.baseUrl,
      maxRetries: opts.maxRetries ?? 2,
      timeout: opts.timeoutMs ?? 60_000,
    }),
    model: opts.model ?? DEFAULT_ANTHROPIC_MODEL,
    source: provider.mode,
  };
}
