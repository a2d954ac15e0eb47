import { z } from 'zod';
import type { DeliveryResult } from './delivery.js';

/**
 * What the Vapi and Retell call simulators share: the script format (what the caller says, what
 * the assistant says, which tools it calls), outcomes, and the record of every message sent to
 * our server with what it answered and how long that took.
 */

const Args = z.record(z.string(), z.unknown());
export const ScriptStep = z.union([
  z.object({ user: z.string().min(1) }).strict(),
  z.object({ assistant: z.string().min(1) }).strict(),
  /** One tool call. `arguments` default to {}. */
  z.object({ tool: z.string().min(1), arguments: Args.optional() }).strict(),
  /** Several tool calls in one message (Vapi) or one after the other (Retell). */
  z.object({ tools: z.array(z.object({ name: z.string().min(1), arguments: Args.optional() })).min(1) }).strict(),
  /** Vapi's legacy `function-call` message, answered with `{result}`. */
  z.object({ functionCall: z.string().min(1), parameters: Args.optional() }).strict(),
  z.object({ pauseMs: z.number().int().min(0).max(60_000) }).strict(),
  /**
   * The assistant's own transfer tool, with no fixed number. Vapi: a `transfer-destination-request`
   * (an answered destination forwards the call; an error is spoken and the call goes on). Retell: the
   * agent's transfer_call tool, with the number the last function answer gave (`transfer_number`).
   */
  z.object({ transferCall: z.literal(true) }).strict(),
  /** Any other message type (Vapi: `hang`, `user-interrupted`, …; Retell: an event name) with extra fields: our server must acknowledge unknown types with 200. */
  z.object({ message: z.string().min(1), fields: Args.optional() }).strict(),
]);
export type ScriptStep = z.infer<typeof ScriptStep>;

export const outcomes = ['answered', 'no-answer', 'busy', 'voicemail'] as const;
export type Outcome = (typeof outcomes)[number];

export const defaultSteps: ScriptStep[] = [
  { assistant: 'Thanks for calling, this is the front desk. How can I help you today?' },
  { user: 'Hi, I would like to book a cleaning appointment next week, in the afternoon if possible.' },
  { assistant: 'Of course. Let me check what we have available next week in the afternoon.' },
  { user: 'Great, thank you. That is all for now, bye.' },
];

export const CallScript = z.object({
  /** Outbound calls only; inbound calls are always answered. */
  outcome: z.enum(outcomes).optional(),
  steps: z.array(ScriptStep).max(500).optional(),
  endedBy: z.enum(['customer', 'assistant']).default('customer'),
  /** Real-time pause between messages (0 = as fast as our server answers). */
  messageDelayMs: z.number().int().min(0).max(10_000).default(0),
  /** Sandbox knobs to keep tests fast; defaults are the provider's. */
  toolTimeoutMs: z.number().int().min(1).max(300_000).optional(),
  webhookTimeoutMs: z.number().int().min(1).max(60_000).optional(),
  retryDelayMs: z.number().int().min(0).max(60_000).optional(),
  /** Vapi: only these message types are sent (like `serverMessages`); default all. */
  serverMessages: z.array(z.string()).optional(),
  /** Vapi: how tool arguments are encoded in `toolCallList` (Vapi sends objects; JSON strings occur too). */
  argumentsAs: z.enum(['object', 'string']).default('object'),
  /** Retell: also send `transcript_updated` events. */
  transcriptUpdates: z.boolean().default(false),
  analysis: z
    .object({
      summary: z.string().optional(),
      successful: z.boolean().optional(),
      sentiment: z.enum(['Positive', 'Negative', 'Neutral', 'Unknown']).optional(),
      structuredData: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
});
export type CallScript = z.infer<typeof CallScript>;

/** Outbound outcome by the callee's number, documented for demos: …0002 no answer, …0003 busy, …0004 voicemail. */
export function outcomeForNumber(number: string | undefined): Outcome {
  if (number?.endsWith('0002')) return 'no-answer';
  if (number?.endsWith('0003')) return 'busy';
  if (number?.endsWith('0004')) return 'voicemail';
  return 'answered';
}

export interface Delivery {
  seq: number;
  type: string;
  url: string;
  attempt: number;
  sentAt: string;
  headers: Record<string, string>;
  request: unknown;
  response: { status: number | undefined; body: unknown } | undefined;
  ms: number;
  error?: string;
  /** What was wrong with our answer (shape, timeout, status). Empty = fine. */
  problems: string[];
}

export function recordDelivery(
  list: Delivery[],
  d: {
    type: string;
    url: string;
    attempt?: number;
    headers: Record<string, string>;
    request: unknown;
    result: DeliveryResult;
    problems: string[];
  },
): Delivery {
  const headers = Object.fromEntries(
    Object.entries(d.headers).filter(([k]) => k !== 'content-type' && k !== 'user-agent'),
  );
  const delivery: Delivery = {
    seq: list.length + 1,
    type: d.type,
    url: d.url,
    attempt: d.attempt ?? 1,
    sentAt: new Date(Date.now() - d.result.ms).toISOString(),
    headers,
    request: d.request,
    response: d.result.status === undefined ? undefined : { status: d.result.status, body: d.result.body },
    ms: d.result.ms,
    ...(d.result.error ? { error: d.result.error } : {}),
    problems: d.problems,
  };
  list.push(delivery);
  return delivery;
}

/** Simulated speaking time of a line: ~2.5 words per second plus a beat. */
export function speakingSeconds(text: string): number {
  return Math.round((text.split(/\s+/).length / 2.5 + 0.6) * 100) / 100;
}

export const E164 = /^\+[1-9]\d{6,14}$/;
