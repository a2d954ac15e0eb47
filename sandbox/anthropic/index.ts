import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ProviderHttpError, type ProviderModule, type SandboxContext } from '../context.js';
import { deriveSeed, IdFactory, Rng } from '../random.js';
import { answer, countTokens, type ModelMessage, type ModelTool, type OutputBlock } from './model.js';
import { agentAnswer } from './agentScript.js';

/** Anthropic Messages API: `POST /v1/messages` (plain and SSE) and `POST /v1/messages/count_tokens`. */

const errorTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

const TextBlock = z.object({ type: z.literal('text'), text: z.string() }).loose();
const ImageBlock = z.object({ type: z.literal('image'), source: z.record(z.string(), z.unknown()) }).loose();
const DocumentBlock = z.object({ type: z.literal('document'), source: z.record(z.string(), z.unknown()) }).loose();
const ToolUseBlock = z
  .object({
    type: z.literal('tool_use'),
    id: z.string().min(1),
    name: z.string().min(1),
    input: z.record(z.string(), z.unknown()),
  })
  .loose();
const ToolResultBlock = z
  .object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1),
    content: z.union([z.string(), z.array(z.union([TextBlock, ImageBlock]))]).optional(),
    is_error: z.boolean().optional(),
  })
  .loose();
const ThinkingBlock = z.object({ type: z.enum(['thinking', 'redacted_thinking']) }).loose();
const ContentBlock = z.discriminatedUnion('type', [
  TextBlock,
  ImageBlock,
  DocumentBlock,
  ToolUseBlock,
  ToolResultBlock,
  ThinkingBlock,
]);
const Message = z.object({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(ContentBlock)]),
});
const Tool = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,128}$/, 'String should match pattern ^[a-zA-Z0-9_-]{1,128}$'),
    description: z.string().optional(),
    input_schema: z.object({ type: z.literal('object') }).loose(),
  })
  .loose();
const ToolChoice = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('tool'), name: z.string(), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('none') }),
]);
const MessagesBody = z
  .object({
    model: z.string().min(1),
    max_tokens: z.number().int().min(1),
    messages: z.array(Message),
    system: z.union([z.string(), z.array(TextBlock)]).optional(),
    tools: z.array(Tool).optional(),
    tool_choice: ToolChoice.optional(),
    stream: z.boolean().optional(),
    stop_sequences: z.array(z.string()).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().optional(),
    top_k: z.number().int().optional(),
    metadata: z.object({ user_id: z.string().nullish() }).optional(),
  })
  .loose();
type MessagesBody = z.infer<typeof MessagesBody>;

export function anthropicError(status: number, message: string) {
  return {
    type: 'error',
    error: { type: errorTypes[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message },
  };
}

function invalid(message: string): never {
  throw new ProviderHttpError(400, anthropicError(400, message));
}

/** Like the real API: `messages.1.content.0.tool_use_id: Field required`. */
function zodMessage(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string; input?: unknown; code?: string }>,
): string {
  const i = issues[0]!;
  const path = i.path.map(String).join('.');
  const text = i.input === undefined && i.code === 'invalid_type' ? 'Field required' : i.message;
  return path ? `${path}: ${text}` : text;
}

/** Checks the conversation the way the API does before the model sees it. */
function checkConversation(body: MessagesBody): void {
  if (body.messages.length === 0) invalid('messages: at least one message is required');
  if (body.messages[0]!.role !== 'user') invalid('messages: first message must use the "user" role');
  const toolNames = new Set((body.tools ?? []).map((t) => t.name));
  if (body.tools && toolNames.size !== body.tools.length) invalid('tools: Tool names must be unique.');
  if (body.tool_choice?.type === 'tool' && !toolNames.has(body.tool_choice.name))
    invalid(`tool_choice.name: Tool '${body.tool_choice.name}' not found in tools`);
  if (body.tool_choice && body.tool_choice.type !== 'none' && body.tool_choice.type !== 'auto' && toolNames.size === 0)
    invalid('tool_choice: tool_choice may only be specified while providing tools.');
  body.messages.forEach((m, i) => {
    if (typeof m.content === 'string' || m.role !== 'user') return;
    const results = m.content.flatMap((b, j) => (b.type === 'tool_result' ? [{ id: b.tool_use_id, j }] : []));
    if (!results.length) return;
    const prev = body.messages[i - 1];
    const uses = new Set(
      prev && typeof prev.content !== 'string'
        ? prev.content.flatMap((b) => (b.type === 'tool_use' ? [b.id] : []))
        : [],
    );
    for (const r of results) {
      if (!uses.has(r.id)) {
        invalid(
          `messages.${i}.content.${r.j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${r.id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
        );
      }
    }
  });
  body.messages.forEach((m, i) => {
    if (m.role !== 'assistant' || typeof m.content === 'string') return;
    const uses = m.content.flatMap((b) => (b.type === 'tool_use' ? [b.id] : []));
    if (!uses.length) return;
    const next = body.messages[i + 1];
    if (!next) return; // the caller may be continuing an assistant turn
    const answered = new Set(
      typeof next.content === 'string'
        ? []
        : next.content.flatMap((b) => (b.type === 'tool_result' ? [b.tool_use_id] : [])),
    );
    const missing = uses.filter((id) => !answered.has(id));
    if (missing.length) {
      invalid(
        `messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
      );
    }
  });
}

function inputTokens(body: MessagesBody): number {
  const system = typeof body.system === 'string' ? body.system : (body.system ?? []).map((b) => b.text).join('\n');
  return countTokens(system + JSON.stringify(body.messages) + JSON.stringify(body.tools ?? []));
}

function authenticate(req: FastifyRequest): void {
  const key = req.headers['x-api-key'];
  const bearer = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7).trim() : '';
  if (!key && !bearer) throw new ProviderHttpError(401, anthropicError(401, 'x-api-key header is required'));
  if (typeof key === 'string' && key.trim() === '')
    throw new ProviderHttpError(401, anthropicError(401, 'invalid x-api-key'));
  const version = req.headers['anthropic-version'];
  if (!version) invalid('anthropic-version: header is required');
  if (typeof version !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(version))
    invalid(`anthropic-version: invalid version ${String(version)}`);
}

function parseBody(req: FastifyRequest): MessagesBody {
  if (req.body === undefined || req.body === null || typeof req.body !== 'object')
    invalid('There was an issue with the request body: expected a JSON object');
  const parsed = MessagesBody.safeParse(req.body);
  if (!parsed.success) invalid(zodMessage(parsed.error.issues));
  return parsed.data!;
}

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** Splits text into small deltas, as the real stream does. */
function chunks(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length ? out : [''];
}

export function createAnthropic(ctx: SandboxContext): ProviderModule {
  let ids = new IdFactory(new Rng(deriveSeed(ctx.seed(), 'anthropic')));
  const counters = { messages: 0, streamed: 0, toolUses: 0, inputTokens: 0, outputTokens: 0 };

  function respond(req: FastifyRequest, reply: FastifyReply) {
    authenticate(req);
    const body = parseBody(req);
    checkConversation(body);
    const system = typeof body.system === 'string' ? body.system : (body.system ?? []).map((b) => b.text).join('\n');
    const modelRequest = {
      system,
      messages: body.messages as ModelMessage[],
      tools: (body.tools ?? []) as ModelTool[],
      toolChoice: body.tool_choice
        ? { type: body.tool_choice.type, ...('name' in body.tool_choice ? { name: body.tool_choice.name } : {}) }
        : { type: 'auto' as const },
    };
    const newToolUseId = () => `toolu_01${ids.alnum(22)}`;
    // Switchboard's persona agents get the tool-use script (agentScript.ts); everything else the generic model.
    const result = agentAnswer(modelRequest, newToolUseId) ?? answer(modelRequest, newToolUseId);

    // max_tokens and stop_sequences cut the text like the real model would.
    let stopReason: string = result.stopReason;
    let stopSequence: string | null = null;
    let budget = body.max_tokens;
    const content: OutputBlock[] = [];
    for (const block of result.content) {
      if (block.type === 'text') {
        let text = block.text;
        for (const s of body.stop_sequences ?? []) {
          const at = s ? text.indexOf(s) : -1;
          if (at >= 0) {
            text = text.slice(0, at);
            stopReason = 'stop_sequence';
            stopSequence = s;
          }
        }
        if (countTokens(text) > budget) {
          text = text.slice(0, budget * 4);
          content.push({ type: 'text', text });
          stopReason = 'max_tokens';
          break;
        }
        budget -= countTokens(text);
        content.push({ type: 'text', text });
        if (stopSequence) break;
      } else {
        if (countTokens(JSON.stringify(block.input)) > budget) {
          stopReason = 'max_tokens';
          break;
        }
        content.push(block);
      }
    }
    if (stopReason === 'tool_use' && !content.some((b) => b.type === 'tool_use')) stopReason = 'max_tokens';

    const usage = {
      input_tokens: inputTokens(body),
      output_tokens: content.reduce((n, b) => n + countTokens(b.type === 'text' ? b.text : JSON.stringify(b.input)), 0),
    };
    counters.messages++;
    counters.toolUses += content.filter((b) => b.type === 'tool_use').length;
    counters.inputTokens += usage.input_tokens;
    counters.outputTokens += usage.output_tokens;
    const message = {
      id: `msg_01${ids.alnum(22)}`,
      type: 'message',
      role: 'assistant',
      // Plainly labelled: this is the sandbox's scripted model, not Claude.
      model: body.model.startsWith('sandbox-') ? body.model : `sandbox-${body.model}`,
      content,
      stop_reason: stopReason,
      stop_sequence: stopSequence,
      usage: { ...usage, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, service_tier: 'standard' },
    };
    const requestId = `req_01${ids.alnum(22)}`;
    reply.header('request-id', requestId).header('anthropic-organization-id', 'sandbox');
    if (!body.stream) return reply.send(message);

    counters.streamed++;
    const events: string[] = [
      sse('message_start', {
        type: 'message_start',
        message: {
          ...message,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...message.usage, output_tokens: 1 },
        },
      }),
    ];
    content.forEach((block, index) => {
      if (block.type === 'text') {
        events.push(
          sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }),
        );
        if (index === 0) events.push(sse('ping', { type: 'ping' }));
        for (const piece of chunks(block.text, 24))
          events.push(
            sse('content_block_delta', {
              type: 'content_block_delta',
              index,
              delta: { type: 'text_delta', text: piece },
            }),
          );
      } else {
        events.push(
          sse('content_block_start', {
            type: 'content_block_start',
            index,
            content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
          }),
        );
        for (const piece of chunks(JSON.stringify(block.input), 16)) {
          events.push(
            sse('content_block_delta', {
              type: 'content_block_delta',
              index,
              delta: { type: 'input_json_delta', partial_json: piece },
            }),
          );
        }
      }
      events.push(sse('content_block_stop', { type: 'content_block_stop', index }));
    });
    events.push(
      sse('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: stopSequence },
        usage: { output_tokens: usage.output_tokens },
      }),
    );
    events.push(sse('message_stop', { type: 'message_stop' }));
    // A model named `…paced-N…` streams its events N ms apart (tests watch a reply being written).
    const pace = Math.min(1000, Number(/paced-(\d+)/.exec(body.model)?.[1] ?? 0));
    const paced = async function* () {
      for (const e of events) {
        yield e;
        await new Promise((r) => setTimeout(r, pace));
      }
    };
    return reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(Readable.from(pace > 0 ? paced() : events));
  }

  return {
    name: 'anthropic',
    errorBody: (status, message) => anthropicError(status, message),
    faultHeaders: (status): Record<string, string> => (status === 429 || status === 529 ? { 'retry-after': '1' } : {}),
    routes(app: FastifyInstance) {
      app.post('/v1/messages', async (req, reply) => respond(req, reply));
      app.post('/v1/messages/count_tokens', async (req) => {
        authenticate(req);
        const body = MessagesBody.omit({ max_tokens: true }).safeParse(req.body);
        if (!body.success) invalid(zodMessage(body.error.issues));
        return { input_tokens: inputTokens({ ...body.data!, max_tokens: 1 }) };
      });
      app.get('/v1/models', async (req) => {
        authenticate(req);
        return {
          data: [
            {
              type: 'model',
              id: 'sandbox-claude',
              display_name: 'Sandbox scripted model',
              created_at: '2026-01-01T00:00:00Z',
            },
          ],
          has_more: false,
          first_id: 'sandbox-claude',
          last_id: 'sandbox-claude',
        };
      });
    },
    reset(seed: number) {
      ids = new IdFactory(new Rng(deriveSeed(seed, 'anthropic')));
      for (const k of Object.keys(counters) as (keyof typeof counters)[]) counters[k] = 0;
    },
    counts: () => ({ ...counters }),
  };
}
