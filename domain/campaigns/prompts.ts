import type Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { dataBlock, DATA_RULE } from '../../lib/untrusted.js';
import { isOptOutText } from '../suppression.js';
import type { LlmClient } from '../../providers/anthropic.js';

/**
 * What Claude does for a campaign: a research brief, a personalised email, a reply's classification
 * and a drafted answer. Each call is one Messages request; structured answers come through a forced
 * tool call parsed with zod. Every function degrades instead of throwing: a failed or malformed
 * answer falls back to something deterministic, and says so (`origin`).
 */

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/** Rough USD per token for the cost figure (Claude Sonnet list prices; the sandbox counts the same). */
const USD_PER_INPUT_TOKEN = 3 / 1_000_000;
const USD_PER_OUTPUT_TOKEN = 15 / 1_000_000;
export const costOf = (u: Usage | null): number =>
  u ? u.inputTokens * USD_PER_INPUT_TOKEN + u.outputTokens * USD_PER_OUTPUT_TOKEN : 0;

export interface LeadFacts {
  name: string | null;
  firstName: string | null;
  email: string | null;
  phone: string | null;
  company: string | null;
  fields: Record<string, string>;
  crm: { tags: string[]; source: string | null; notes: string[]; opportunities: string[] } | null;
}

type Call = { content: Anthropic.ContentBlock[]; usage: Usage } | { error: string };

async function ask(llm: LlmClient, params: Omit<Anthropic.MessageCreateParamsNonStreaming, 'model'>): Promise<Call> {
  try {
    const msg = await llm.client.messages.create({ model: llm.model, ...params });
    return {
      content: msg.content,
      usage: { inputTokens: msg.usage.input_tokens, outputTokens: msg.usage.output_tokens },
    };
  } catch (err) {
    const status = (err as { status?: number }).status;
    return {
      error: `the model could not be reached${status ? ` (HTTP ${status})` : ''}: ${(err instanceof Error ? err.message : String(err)).slice(0, 300)}`,
    };
  }
}

const textOf = (content: Anthropic.ContentBlock[]) =>
  content
    .flatMap((b) => (b.type === 'text' ? [b.text] : []))
    .join('\n')
    .trim();
const toolInput = (content: Anthropic.ContentBlock[], name: string) =>
  content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use' && b.name === name)?.input;

export function factsText(f: LeadFacts): string {
  return [
    `Name: ${f.name ?? 'unknown'}`,
    f.company ? `Company: ${f.company}` : null,
    f.email ? `Email: ${f.email}` : null,
    ...Object.entries(f.fields).map(([k, v]) => `${k}: ${v}`),
    f.crm
      ? `CRM tags: ${f.crm.tags.join(', ') || 'none'}; source: ${f.crm.source ?? 'unknown'}`
      : 'Not in the CRM yet.',
    ...(f.crm?.opportunities.map((o) => `Opportunity: ${o}`) ?? []),
    ...(f.crm?.notes.map((n) => `CRM note: ${n.replace(/\s+/g, ' ').slice(0, 400)}`) ?? []),
  ]
    .filter(Boolean)
    .join('\n');
}

// --- research ------------------------------------------------------------------------------------

export interface Brief {
  text: string;
  origin: 'model' | 'fallback';
  usage: Usage | null;
  error?: string;
}

/** A short brief grounded only in what we hold about the lead. */
/** The brief when the model may not be asked (the tenant's Claude quota is spent): the facts themselves. */
export function briefWithoutModel(facts: LeadFacts, why: string): Brief {
  return { text: factsText(facts), origin: 'fallback', usage: null, error: why };
}

export async function researchLead(llm: LlmClient, facts: LeadFacts, goal: string): Promise<Brief> {
  const material = factsText(facts);
  const r = await ask(llm, {
    max_tokens: 400,
    system: `You prepare outbound sales outreach. ${DATA_RULE}`,
    // The request on its own first line, the facts one per line below it: the brief quotes facts, not the request.
    messages: [
      {
        role: 'user',
        content: `Summarize in at most five short lines what these facts say that matters for the goal "${goal}"; use only these facts, never invent.\n${dataBlock('lead-facts', material)}`,
      },
    ],
  });
  if ('error' in r) return { text: material, origin: 'fallback', usage: null, error: r.error };
  const text = textOf(r.content);
  return text
    ? { text: text.slice(0, 2000), origin: 'model', usage: r.usage }
    : { text: material, origin: 'fallback', usage: r.usage, error: 'empty answer' };
}

// --- email -----------------------------------------------------------------------------------------

export interface EmailContext {
  campaignName: string;
  goal: string;
  stepNumber: number;
  prompt: string | undefined;
  template: { subject: string; body: string } | undefined;
  brief: string;
  facts: LeadFacts;
  sender: { name?: string; email: string };
}

export interface Draft {
  subject: string;
  body: string;
  origin: 'model' | 'template' | 'fallback';
  usage: Usage | null;
  error?: string;
}

const EMAIL_TOOL: Anthropic.Tool = {
  name: 'write_email',
  description: 'Record the email to send: a subject line and a plain-text body.',
  input_schema: {
    type: 'object',
    properties: {
      subject: { type: 'string', description: 'Subject line, under 80 characters' },
      body: { type: 'string', description: 'Plain-text email body, under 150 words, signed by the sender' },
    },
    required: ['subject', 'body'],
  },
};
const EmailAnswer = z.object({ subject: z.string().trim().min(1), body: z.string().trim().min(1).max(20_000) });

/** `{{firstName}}`, `{{lastName}}`, `{{name}}`, `{{company}}`, `{{senderName}}` and any lead field. */
export function renderTemplate(text: string, f: LeadFacts, senderName: string | undefined): string {
  const values: Record<string, string> = {
    ...f.fields,
    firstName: f.firstName ?? 'there',
    name: f.name ?? 'there',
    company: f.company ?? 'your company',
    senderName: senderName ?? '',
  };
  return text.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, key: string) => values[key] ?? '');
}

/** One line, at most `max` characters, cut at a word. */
export function clampLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line.length <= max) return line;
  const cut = line.slice(0, max - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), max / 2)).trimEnd()}…`;
}

/** `llm` is asked for only when the model must write (a plain template needs no model, nor its quota). */
export async function writeEmail(llm: () => Promise<LlmClient>, ctx: EmailContext): Promise<Draft> {
  const fromTemplate = ctx.template
    ? {
        subject: renderTemplate(ctx.template.subject, ctx.facts, ctx.sender.name),
        body: renderTemplate(ctx.template.body, ctx.facts, ctx.sender.name),
      }
    : undefined;
  if (!ctx.prompt && fromTemplate) return { ...fromTemplate, origin: 'template', usage: null };
  const r = await ask(await llm(), {
    max_tokens: 800,
    system: [
      `You write email ${ctx.stepNumber} of the outbound campaign "${ctx.campaignName}" for ${ctx.sender.name ?? ctx.sender.email}.`,
      `Campaign goal: ${ctx.goal}.`,
      `Personalise it with the research brief; never invent facts. ${DATA_RULE}`,
      `Answer by calling ${EMAIL_TOOL.name} once.`,
    ].join(' '),
    tools: [EMAIL_TOOL],
    tool_choice: { type: 'tool', name: EMAIL_TOOL.name },
    messages: [
      {
        role: 'user',
        content: `Write to the lead: ${ctx.prompt}\n\n${dataBlock('lead', `${ctx.facts.name ?? 'the lead'}${ctx.facts.company ? ` at ${ctx.facts.company}` : ''}`)}\n${dataBlock('research-brief', ctx.brief)}`,
      },
    ],
  });
  const fallback = (error: string, usage: Usage | null): Draft =>
    fromTemplate
      ? { ...fromTemplate, origin: 'template', usage, error }
      : {
          subject: clampLine(ctx.campaignName, 80),
          body: `Hi ${ctx.facts.firstName ?? 'there'},\n\n${ctx.goal}\n\nWould a short call next week work for you?\n\n${ctx.sender.name ?? ctx.sender.email}`,
          origin: 'fallback',
          usage,
          error,
        };
  if ('error' in r) return fallback(r.error, null);
  const parsed = EmailAnswer.safeParse(toolInput(r.content, EMAIL_TOOL.name));
  if (!parsed.success)
    return fallback(`malformed email from the model: ${parsed.error.issues[0]?.message ?? 'no tool call'}`, r.usage);
  return { subject: clampLine(parsed.data.subject, 120), body: parsed.data.body, origin: 'model', usage: r.usage };
}

// --- replies ---------------------------------------------------------------------------------------

export const REPLY_CATEGORIES = [
  'interested',
  'not_now',
  'question',
  'out_of_office',
  'unsubscribe',
  'wrong_person',
] as const;
/** What Claude may say a reply is, plus `handoff`: the conversation reached its limits and a person takes over. */
export type ReplyCategory = (typeof REPLY_CATEGORIES)[number] | 'handoff';

// Shown to the model in words; listed most-decisive first (an opt-out outranks everything).
const CATEGORY_WORDS: Record<string, ReplyCategory> = {
  unsubscribe: 'unsubscribe',
  'wrong person': 'wrong_person',
  'out of office': 'out_of_office',
  'not now': 'not_now',
  interested: 'interested',
  question: 'question',
};

const CLASSIFY_TOOL: Anthropic.Tool = {
  name: 'classify_reply',
  description: 'Record what the reply to our outreach email means.',
  input_schema: {
    type: 'object',
    properties: {
      category: {
        type: 'string',
        enum: Object.keys(CATEGORY_WORDS),
        default: 'question',
        description: 'What the sender wants',
      },
      preferredTime: {
        type: 'string',
        format: 'date-time',
        description: 'ISO date-time the sender proposes for a meeting, or back-in-office date; omit if none',
      },
    },
    required: ['category'],
  },
};
const Classification = z.object({ category: z.string(), preferredTime: z.string().optional() });

export interface ReplyClassification {
  category: ReplyCategory;
  preferredTime: string | null;
  origin: 'model' | 'rule' | 'fallback';
  usage: Usage | null;
  error?: string;
}

/** Only the new text of a reply: quoted history ("> …", "On … wrote:") is cut off. */
export function newReplyText(text: string): string {
  const lines: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*>/.test(line) || /^On .+wrote:\s*$/.test(line.trim()) || /^-{2,}\s*Original Message/i.test(line)) break;
    lines.push(line);
  }
  return lines.join('\n').trim() || text.trim();
}

/** `llm` is asked for only when the rules cannot decide (an opt-out needs no model, nor its quota). */
export async function classifyReply(llm: () => Promise<LlmClient>, replyText: string): Promise<ReplyClassification> {
  const text = newReplyText(replyText).slice(0, 4000);
  // An opt-out is honoured even when the model is down, wrong or out of quota.
  if (isOptOutText(text)) return { category: 'unsubscribe', preferredTime: null, origin: 'rule', usage: null };
  const r = await ask(await llm(), {
    max_tokens: 200,
    system: [
      'You triage replies to an outbound sales email. Classify the reply as exactly one of: interested (wants a meeting or to learn more),',
      'not now (maybe later), question (asks something we should answer), out of office (auto-reply), unsubscribe (wants no more contact),',
      `wrong person (not the right contact). If they propose a time, give it as preferredTime. ${DATA_RULE} Call ${CLASSIFY_TOOL.name} once.`,
    ].join(' '),
    tools: [CLASSIFY_TOOL],
    tool_choice: { type: 'tool', name: CLASSIFY_TOOL.name },
    // Only the reply in the user turn, so the classification rests on its words alone.
    messages: [{ role: 'user', content: `Classify this reply.\n${dataBlock('email-reply', text)}` }],
  });
  if ('error' in r)
    return { category: 'question', preferredTime: null, origin: 'fallback', usage: null, error: r.error };
  const parsed = Classification.safeParse(toolInput(r.content, CLASSIFY_TOOL.name));
  const category = parsed.success
    ? (CATEGORY_WORDS[parsed.data.category.toLowerCase().replace(/_/g, ' ')] ?? null)
    : null;
  if (!category)
    return {
      category: 'question',
      preferredTime: null,
      origin: 'fallback',
      usage: r.usage,
      error: 'the model gave no known category',
    };
  const time =
    parsed.success && parsed.data.preferredTime && !Number.isNaN(Date.parse(parsed.data.preferredTime))
      ? new Date(parsed.data.preferredTime).toISOString()
      : null;
  return { category, preferredTime: time, origin: 'model', usage: r.usage };
}

export async function answerQuestion(
  llm: LlmClient,
  ctx: {
    goal: string;
    question: string;
    brief: string;
    sender: { name?: string; email: string };
    firstName: string | null;
  },
): Promise<{ body: string; origin: 'model' | 'fallback'; usage: Usage | null; error?: string }> {
  const r = await ask(llm, {
    max_tokens: 600,
    system: [
      `You answer a prospect's question by email for ${ctx.sender.name ?? ctx.sender.email}. Campaign goal: ${ctx.goal}.`,
      `Be short and factual; if you do not know, offer a call instead of guessing. Never promise prices, discounts, refunds or bookings. ${DATA_RULE}`,
    ].join(' '),
    messages: [
      {
        role: 'user',
        content: `Answer this question.\n${dataBlock('email-reply', newReplyText(ctx.question).slice(0, 4000))}\n${dataBlock('research-brief', ctx.brief.slice(0, 1500))}`,
      },
    ],
  });
  const sign = `\n\n${ctx.sender.name ?? ctx.sender.email}`;
  if ('error' in r || !textOf(r.content)) {
    return {
      body: `Hi ${ctx.firstName ?? 'there'},\n\nThanks for your question. Let me find out and come back to you, or we can go through it on a short call.${sign}`,
      origin: 'fallback',
      usage: 'error' in r ? null : r.usage,
      error: 'error' in r ? r.error : 'empty answer',
    };
  }
  return { body: `Hi ${ctx.firstName ?? 'there'},\n\n${textOf(r.content)}${sign}`, origin: 'model', usage: r.usage };
}
