import type Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import type { LlmClient } from '../providers/anthropic.js';
import { DATA_RULE, dataBlock } from '../lib/untrusted.js';

/**
 * Claude's reading of one finished call: summary, sentiment, outcome and the next action, through a
 * forced tool call (structured JSON) parsed with zod. Fields the model leaves out or gets wrong are
 * filled from the facts we hold (an appointment booked is a booking whatever the model says).
 */

export const CALL_OUTCOMES = [
  'booked',
  'callback-requested',
  'question-answered',
  'not-interested',
  'voicemail',
  'wrong-number',
  'other',
] as const;
/** Outcomes of calls without a conversation (decided from the provider's ended reason, not by Claude). */
export type CallOutcomeLabel = (typeof CALL_OUTCOMES)[number] | 'no-answer' | 'busy' | 'failed' | 'no-conversation';
export const SENTIMENTS = ['positive', 'neutral', 'negative'] as const;

export const CallAnalysis = z.object({
  summary: z.string().trim().min(1).max(2000),
  sentiment: z.enum(SENTIMENTS),
  outcome: z.enum(CALL_OUTCOMES),
  nextAction: z.string().trim().min(1).max(500),
  followUp: z.boolean(),
});
export type CallAnalysis = Omit<z.infer<typeof CallAnalysis>, 'outcome'> & { outcome: CallOutcomeLabel };

const TOOL: Anthropic.Tool = {
  name: 'record_call_analysis',
  description: 'Record the analysis of one phone call between a business and a caller.',
  input_schema: {
    type: 'object',
    properties: {
      summary: {
        type: 'string',
        description: 'Two or three sentences: who called, what they wanted, what was agreed (a summary)',
      },
      sentiment: { type: 'string', enum: [...SENTIMENTS], description: "The caller's sentiment" },
      outcome: { type: 'string', enum: [...CALL_OUTCOMES], description: 'What the call achieved' },
      nextAction: { type: 'string', description: 'What the business should do next, one sentence' },
      followUp: { type: 'boolean', description: 'Whether a person at the business has to follow up' },
    },
    required: ['summary', 'sentiment', 'outcome', 'nextAction', 'followUp'],
  },
};

export interface CallFacts {
  transcript: { role: string; text: string }[];
  appointmentIds: string[];
  providerSummary: string | null;
}

export async function analyzeCallTranscript(llm: LlmClient, facts: CallFacts): Promise<CallAnalysis> {
  const transcript = facts.transcript
    .map((u) => `${u.role === 'user' ? 'Caller' : 'Agent'}: ${u.text}`)
    .join('\n')
    .slice(-60_000);
  const msg = await llm.client.messages.create({
    model: llm.model,
    max_tokens: 800,
    system: `You summarize phone calls for a small business front office. Summarize the call: be factual, use only the transcript. ${DATA_RULE}`,
    tools: [TOOL],
    tool_choice: { type: 'tool', name: TOOL.name },
    messages: [
      {
        role: 'user',
        // The caller's words are data: they arrive in a labelled block, never as instructions.
        content: `Summarize this call.\n${facts.appointmentIds.length ? `Appointments booked during the call: ${facts.appointmentIds.join(', ')}.\n` : ''}${dataBlock('transcript', transcript)}`,
      },
    ],
  });
  const input = msg.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')?.input;
  const raw = z.looseObject({}).safeParse(input).data ?? {};
  const parsed = CallAnalysis.partial().safeParse(raw);
  const got = parsed.success ? parsed.data : {};
  const booked = facts.appointmentIds.length > 0;
  const outcome = booked ? 'booked' : (got.outcome ?? 'other');
  return {
    summary: got.summary ?? facts.providerSummary ?? transcript.slice(0, 300),
    sentiment: got.sentiment ?? 'neutral',
    outcome,
    nextAction:
      got.nextAction ?? (booked ? 'Confirm the appointment the day before.' : 'Review the call and follow up.'),
    followUp: got.followUp ?? !booked,
  };
}
