/**
 * The scripted "model": deterministic answers driven by the request alone.
 * - After tool results: a short answer grounded in those results.
 * - With tools declared: calls the tool whose name/description best matches what the user asks
 *   (or the forced one), with arguments pulled from the conversation and shaped by its schema.
 * - Asked to summarise: a summary quoting what was said in the material.
 * - Otherwise: a short reply that restates the request.
 */

export interface TextBlock {
  type: 'text';
  text: string;
}
export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}
export type OutputBlock = TextBlock | ToolUseBlock;

export interface ToolResultInput {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | { type: string; text?: string }[];
  is_error?: boolean;
}
export type InputBlock = { type: string; text?: string; name?: string; id?: string; input?: unknown } | ToolResultInput;

export interface ModelMessage {
  role: 'user' | 'assistant';
  content: string | InputBlock[];
}

export interface ModelTool {
  name: string;
  description?: string;
  input_schema?: JsonSchema;
}

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  items?: JsonSchema;
  format?: string;
  description?: string;
  default?: unknown;
}

export interface ModelRequest {
  system: string;
  messages: ModelMessage[];
  tools: ModelTool[];
  toolChoice: { type: 'auto' | 'any' | 'tool' | 'none'; name?: string };
}

export interface ModelAnswer {
  content: OutputBlock[];
  stopReason: 'end_turn' | 'tool_use';
}

const STOPWORDS = new Set(
  'a an the and or but of to for in on at by with from into about as is are was were be been being do does did have has had i you he she it we they me my your our their this that these those what which who whom when where why how can could would should will shall may might must please tool get set use using call return returns given any some all each per if then than so not no yes just also there here'.split(
    ' ',
  ),
);

export function blockText(content: string | InputBlock[]): string {
  if (typeof content === 'string') return content;
  return content
    .map((b) => {
      if (b.type === 'text' && 'text' in b && typeof b.text === 'string') return b.text;
      if (b.type === 'tool_result') return toolResultText(b as ToolResultInput);
      return '';
    })
    .filter(Boolean)
    .join('\n');
}

function toolResultText(b: ToolResultInput): string {
  if (typeof b.content === 'string') return b.content;
  return (b.content ?? []).map((c) => (c.type === 'text' ? (c.text ?? '') : '')).join(' ');
}

function stem(word: string): string {
  return word.replace(/(ing|ed|es|s)$/, '');
}

export function words(text: string): Set<string> {
  const out = new Set<string>();
  for (const w of text
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)) {
    if (w.length > 1 && !STOPWORDS.has(w)) out.add(stem(w));
  }
  return out;
}

/** How well a tool matches the request: its name words count triple, description words once. */
function toolScore(tool: ModelTool, asked: Set<string>): number {
  let score = 0;
  for (const w of words(tool.name)) if (asked.has(w)) score += 3;
  for (const w of words(tool.description ?? '')) if (asked.has(w)) score += 1;
  return score;
}

export function answer(req: ModelRequest, newToolUseId: () => string): ModelAnswer {
  const last = req.messages.at(-1);
  const lastBlocks = last && typeof last.content !== 'string' ? last.content : [];
  const toolResults = lastBlocks.filter((b): b is ToolResultInput => b.type === 'tool_result');
  if (toolResults.length)
    return { content: [{ type: 'text', text: afterToolResults(req, toolResults) }], stopReason: 'end_turn' };

  const userText = last ? blockText(last.content) : '';
  if (req.tools.length && req.toolChoice.type !== 'none') {
    const tool = chooseTool(req, userText);
    if (tool) {
      const context = req.messages.map((m) => blockText(m.content)).join('\n');
      return {
        content: [
          { type: 'text', text: `I'll use ${tool.name} for that.` },
          {
            type: 'tool_use',
            id: newToolUseId(),
            name: tool.name,
            input: buildInput(tool.input_schema, userText, context),
          },
        ],
        stopReason: 'tool_use',
      };
    }
  }
  return { content: [{ type: 'text', text: textAnswer(req, userText) }], stopReason: 'end_turn' };
}

function chooseTool(req: ModelRequest, userText: string): ModelTool | undefined {
  if (req.toolChoice.type === 'tool') return req.tools.find((t) => t.name === req.toolChoice.name);
  const asked = words(userText);
  let best: ModelTool | undefined;
  let bestScore = 0;
  for (const tool of req.tools) {
    const s = toolScore(tool, asked);
    if (s > bestScore) {
      best = tool;
      bestScore = s;
    }
  }
  if (req.toolChoice.type === 'any') return best ?? req.tools[0];
  // auto: a name word (3) or two description words must match.
  return bestScore >= 2 ? best : undefined;
}

function afterToolResults(req: ModelRequest, results: ToolResultInput[]): string {
  const names = new Map<string, string>();
  for (const m of req.messages) {
    if (m.role !== 'assistant' || typeof m.content === 'string') continue;
    for (const b of m.content) if (b.type === 'tool_use' && b.id && b.name) names.set(b.id, b.name);
  }
  const parts = results.map((r) => {
    const name = names.get(r.tool_use_id) ?? 'the tool';
    const text = oneLine(toolResultText(r), 300);
    return r.is_error ? `${name} failed: ${text || 'no details'}` : `${name} returned: ${text || '(nothing)'}`;
  });
  return `${parts.join(' ')} ${results.some((r) => r.is_error) ? 'I could not complete that step.' : 'That is done.'}`;
}

const SUMMARY_CUE = /\b(summar\w*|recap|tl;?dr|sum up|brief overview)\b/i;
const JSON_CUE = /\bjson\b/i;

function textAnswer(req: ModelRequest, userText: string): string {
  const everything = [req.system, ...req.messages.map((m) => blockText(m.content))].join('\n');
  if (SUMMARY_CUE.test(userText) || SUMMARY_CUE.test(req.system)) {
    const summary = summarize(longestMaterial(req, userText));
    if (JSON_CUE.test(everything)) return JSON.stringify({ summary, sentiment: sentiment(everything) });
    return summary;
  }
  const gist = oneLine(userText, 160);
  if (JSON_CUE.test(req.system) || JSON_CUE.test(userText))
    return JSON.stringify({ reply: `Sandbox answer to: ${gist}` });
  return gist ? `Sandbox answer: you asked "${gist}". I can help with that.` : 'Sandbox answer: how can I help?';
}

/** The transcript or document to summarise: the longest text in the request. */
function longestMaterial(req: ModelRequest, userText: string): string {
  let best = userText;
  for (const t of [req.system, ...req.messages.map((m) => blockText(m.content))]) if (t.length > best.length) best = t;
  return best;
}

/** Up to three informative lines or sentences of the material, quoted, so a summary mentions what was said. */
export function summarize(material: string): string {
  const lines = material
    .split(/\n+/)
    .map((l) => l.trim())
    .filter((l) => l && !SUMMARY_CUE.test(l));
  const units = lines.length >= 2 ? lines : material.split(/(?<=[.!?])\s+/).map((s) => s.trim());
  const scored = units
    .map((u, i) => ({ u, i, score: words(u).size + (/\d/.test(u) ? 3 : 0) + (/[?]/.test(u) ? 1 : 0) }))
    .filter((x) => x.score > 1);
  const picked = scored
    .sort((a, b) => b.score - a.score || a.i - b.i)
    .slice(0, 3)
    .sort((a, b) => a.i - b.i)
    .map((x) => oneLine(x.u, 140));
  if (!picked.length) return 'Summary: nothing of substance was said.';
  return `Summary: ${picked.map((p) => `"${p}"`).join('; ')}.`;
}

function sentiment(text: string): 'positive' | 'negative' | 'neutral' {
  const t = text.toLowerCase();
  const pos = (t.match(/\b(great|thanks|thank you|perfect|good|love|happy|yes)\b/g) ?? []).length;
  const neg = (t.match(/\b(bad|angry|cancel|refund|terrible|no|not happy|complain)\b/g) ?? []).length;
  return pos > neg ? 'positive' : neg > pos ? 'negative' : 'neutral';
}

export function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

// --- tool arguments -----------------------------------------------------------------------------

const EMAIL = /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/;
const PHONE = /\+?\d[\d\s().-]{7,}\d/;
const ISO_DATE = /\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b/;
const NUMBER = /-?\b\d+(?:\.\d+)?\b/;

function typeOf(s: JsonSchema | undefined): string {
  const t = s?.type;
  return Array.isArray(t) ? (t.find((x) => x !== 'null') ?? 'string') : (t ?? (s?.properties ? 'object' : 'string'));
}

export function buildInput(schema: JsonSchema | undefined, userText: string, context: string): Record<string, unknown> {
  const props = schema?.properties ?? {};
  const required = new Set(schema?.required ?? []);
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(props)) {
    const value = valueFor(name, prop, userText, context);
    if (value !== undefined) out[name] = value;
    else if (required.has(name)) out[name] = fallback(name, prop, userText);
  }
  return out;
}

function valueFor(name: string, prop: JsonSchema, userText: string, context: string): unknown {
  const key = `${name} ${prop.description ?? ''}`.toLowerCase();
  const type = typeOf(prop);
  const find = (re: RegExp) => re.exec(userText)?.[0] ?? re.exec(context)?.[0];
  if (prop.enum?.length) {
    const lower = userText.toLowerCase();
    return prop.enum.find((e) => typeof e === 'string' && lower.includes(e.toLowerCase()));
  }
  if (type === 'string') {
    if (/e-?mail/.test(key) || prop.format === 'email') return find(EMAIL);
    if (/phone|number|mobile|caller|\bto\b|\bfrom\b/.test(key)) return findPhone(userText) ?? findPhone(context);
    if (/date|time|when|start|slot/.test(key) || prop.format === 'date-time' || prop.format === 'date')
      return find(ISO_DATE);
    if (/query|question|text|message|request|reason|summary|note|body|description|topic/.test(key))
      return oneLine(userText, 500) || undefined;
    return undefined;
  }
  if (type === 'number' || type === 'integer') {
    const n = find(NUMBER);
    if (n === undefined) return undefined;
    return type === 'integer' ? Math.trunc(Number(n)) : Number(n);
  }
  return undefined;
}

/** The first phone-like run of 10–15 digits, dates removed first, as E.164 (10 digits → +1). */
function findPhone(text: string): string | undefined {
  const withoutDates = text.replace(new RegExp(ISO_DATE.source, 'g'), ' ');
  for (const m of withoutDates.matchAll(new RegExp(PHONE.source, 'g'))) {
    const digits = m[0].replace(/[^\d]/g, '');
    if (digits.length >= 10 && digits.length <= 15) return `+${digits.length === 10 ? `1${digits}` : digits}`;
  }
  return undefined;
}

function fallback(name: string, prop: JsonSchema, userText: string): unknown {
  if (prop.default !== undefined) return prop.default;
  if (prop.enum?.length) return prop.enum[0];
  switch (typeOf(prop)) {
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return false;
    case 'array':
      return [];
    case 'object':
      return buildInput(prop, userText, userText);
    default:
      return oneLine(userText, 200) || name;
  }
}

/** ~4 characters per token, like the usual rule of thumb; deterministic. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}
