import {
  acceptedContent,
  type ClientCapabilities,
  inputRequired,
  ResourceTemplate,
  type CallToolResult,
  type InputRequests,
  type McpServer,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { clientCapabilities, type ToolOutcome, type ToolTable } from './dispatch.js';
import { advertisedSchema } from './tool.js';

/**
 * The conformance profile: the diagnostic tools, resources and prompts through which the official
 * MCP conformance suite drives protocol features (content types, progress, logging, errors,
 * `input_required` rounds, signed request state). They are registered on the same McpServer as the
 * tenant's tools, behind the same transport, envelope checks, cache hints and request-state codec,
 * so the suite measures our server and not a stand-in.
 *
 * Only `buildApi({ mcp: { conformanceProfile: true } })` turns this on, and only the conformance
 * test passes that: no config key or env var reaches it, so a normal start never serves these names.
 */

/** 1×1 red PNG and a minimal WAV, the payloads the suite checks for shape only. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

const NO_ARGS = z.object({}).passthrough();
const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const nameForm = (message: string, field = 'name') =>
  inputRequired.elicit({
    message,
    requestedSchema: { type: 'object', properties: { [field]: { type: 'string' } }, required: [field] },
  });

/** Names of the profile's tools, so the HTTP route can answer their 2025-era calls on an SSE stream. */
export const CONFORMANCE_STREAMING_TOOLS = new Set(['test_tool_with_logging', 'test_tool_with_progress']);

type Fixture = (args: Record<string, unknown>, ctx: ServerContext) => Promise<ToolOutcome>;

const READ_ONLY_HINTS = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

const NO_ARGS_SCHEMA = advertisedSchema(NO_ARGS, 'input');

export function registerConformanceProfile(
  server: McpServer,
  table: ToolTable,
  mint: (payload: unknown, ctx: ServerContext) => Promise<string>,
): void {
  const tool = (name: string, description: string, run: Fixture, requires?: ClientCapabilities) =>
    table.add(name, {
      title: name,
      description,
      inputSchema: NO_ARGS_SCHEMA,
      annotations: READ_ONLY_HINTS,
      ...(requires ? { requires: () => requires } : {}),
      run,
    });

  tool('test_simple_text', 'Simple text content', async () => text('This is a simple text response for testing.'));
  tool('test_image_content', 'Image content', async () => ({
    content: [{ type: 'image', data: PNG, mimeType: 'image/png' }],
  }));
  tool('test_audio_content', 'Audio content', async () => ({
    content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }],
  }));
  tool('test_embedded_resource', 'Embedded resource content', async () => ({
    content: [
      {
        type: 'resource',
        resource: {
          uri: 'test://embedded-resource',
          mimeType: 'text/plain',
          text: 'This is an embedded resource content.',
        },
      },
    ],
  }));
  tool('test_multiple_content_types', 'Text, image and resource content', async () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG, mimeType: 'image/png' },
      {
        type: 'resource',
        resource: {
          uri: 'test://mixed-content-resource',
          mimeType: 'application/json',
          text: JSON.stringify({ test: 'data', value: 123 }),
        },
      },
    ],
  }));
  const logging: Fixture = async (_args, ctx) => {
    // ctx.mcpReq.log honours the request's log level (2026: none unless _meta asks for it).
    for (const step of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
      await ctx.mcpReq.log('info', step, 'switchboard-conformance');
      await sleep(50);
    }
    return text('Tool with logging executed successfully');
  };
  tool('test_tool_with_logging', 'Sends log messages while it runs', logging);
  tool('test_logging_tool', 'Sends log messages while it runs', logging);
  tool('test_tool_with_progress', 'Reports progress', async (_args, ctx) => {
    const progressToken = ctx.mcpReq._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (progressToken !== undefined)
        await ctx.mcpReq.notify({
          method: 'notifications/progress',
          params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
        });
      if (progress !== 100) await sleep(50);
    }
    return text(String(progressToken ?? 'no progress token'));
  });
  tool('test_error_handling', 'Fails on purpose', async () => ({
    content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
    isError: true,
  }));

  const caps = (ctx: ServerContext) => clientCapabilities(server, ctx);
  // Our dispatch answers -32021 (HTTP 400) before the tool runs when sampling was not declared.
  tool('test_missing_capability', 'Needs the sampling capability', async () => text('sampling declared'), {
    sampling: {},
  });
  tool('test_streaming_elicitation', 'Asks for input on the response stream', async (_args, ctx) => {
    const name = acceptedContent<{ name?: string }>(ctx.mcpReq.inputResponses, 'user_name');
    if (!name?.name) return inputRequired({ inputRequests: { user_name: nameForm('What is your name?') } });
    return text(`Hello, ${name.name}!`);
  });

  // input_required (SEP-2322), 2026-07-28; the SDK's legacy shim serves the same handlers to 2025 clients.
  tool('test_input_required_result_elicitation', 'Asks for a name', async (_args, ctx) => {
    const answer = acceptedContent<{ name?: unknown }>(ctx.mcpReq.inputResponses, 'user_name');
    if (typeof answer?.name !== 'string')
      return inputRequired({ inputRequests: { user_name: nameForm('What is your name?') } });
    return text(`Hello, ${answer.name}!`);
  });
  tool('test_input_required_result_sampling', 'Asks the client model a question', async (_args, ctx) => {
    const answer = ctx.mcpReq.inputResponses?.capital_question as { content?: { text?: string } } | undefined;
    if (!answer)
      return inputRequired({
        inputRequests: {
          capital_question: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
            maxTokens: 100,
          }),
        },
      });
    return text(`The model answered: ${answer.content?.text ?? ''}`);
  });
  tool('test_input_required_result_list_roots', 'Asks for the client roots', async (_args, ctx) => {
    const answer = ctx.mcpReq.inputResponses?.client_roots as { roots?: { uri: string }[] } | undefined;
    if (!answer?.roots) return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    return text(`Roots: ${answer.roots.map((r) => r.uri).join(', ')}`);
  });
  const confirm = inputRequired.elicit({
    message: 'Please confirm',
    requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
  });
  tool('test_input_required_result_request_state', 'Round-trips signed request state', async (_args, ctx) => {
    const state = ctx.mcpReq.requestState<{ round?: number }>();
    if (!ctx.mcpReq.inputResponses?.confirm || state?.round !== 1)
      return inputRequired({ inputRequests: { confirm }, requestState: await mint({ round: 1 }, ctx) });
    return text('state-ok: confirmation received');
  });
  tool('test_input_required_result_tampered_state', 'Rejects tampered request state', async (_args, ctx) => {
    if (!ctx.mcpReq.inputResponses?.confirm)
      return inputRequired({ inputRequests: { confirm }, requestState: await mint({ round: 1 }, ctx) });
    return text('state-ok');
  });
  tool('test_input_required_result_multiple_inputs', 'Asks for three inputs at once', async (_args, ctx) => {
    const r = ctx.mcpReq.inputResponses ?? {};
    const requests: InputRequests = {
      user_name: nameForm('What is your name?'),
      greeting: inputRequired.createMessage({
        messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
        maxTokens: 50,
      }),
      client_roots: inputRequired.listRoots(),
    };
    const missing = Object.fromEntries(Object.entries(requests).filter(([k]) => !(k in r)));
    if (Object.keys(missing).length)
      return inputRequired({ inputRequests: missing, requestState: await mint({ round: 1 }, ctx) });
    return text('All inputs received.');
  });
  tool('test_input_required_result_multi_round', 'Asks in two rounds', async (_args, ctx) => {
    const state = ctx.mcpReq.requestState<{ step?: number; name?: string }>();
    const step1 = acceptedContent<{ name?: string }>(ctx.mcpReq.inputResponses, 'step1');
    const step2 = acceptedContent<{ color?: string }>(ctx.mcpReq.inputResponses, 'step2');
    if (state?.step === 2 && step2?.color) return text(`${state.name ?? 'You'} likes ${step2.color}.`);
    if (state?.step === 1 && step1?.name)
      return inputRequired({
        inputRequests: { step2: nameForm('Step 2: What is your favorite color?', 'color') },
        requestState: await mint({ step: 2, name: step1.name }, ctx),
      });
    return inputRequired({
      inputRequests: { step1: nameForm('Step 1: What is your name?') },
      requestState: await mint({ step: 1 }, ctx),
    });
  });
  tool('test_input_required_result_capabilities', 'Asks only for what the client can answer', async (_args, ctx) => {
    const c = caps(ctx);
    const requests: InputRequests = {};
    if (c.sampling)
      requests.summary = inputRequired.createMessage({
        messages: [{ role: 'user', content: { type: 'text', text: 'Summarise the day' } }],
        maxTokens: 50,
      });
    if (c.elicitation) requests.user_name = nameForm('What is your name?');
    if (ctx.mcpReq.inputResponses || Object.keys(requests).length === 0)
      return text('Declared capabilities respected.');
    return inputRequired({ inputRequests: requests });
  });

  // Resources and prompts of the suite's fixture set.
  server.registerResource(
    'static-text',
    'test://static-text',
    { title: 'Static Text Resource', description: 'A static text resource', mimeType: 'text/plain' },
    async () => ({
      contents: [
        { uri: 'test://static-text', mimeType: 'text/plain', text: 'This is the content of the static text resource.' },
      ],
    }),
  );
  server.registerResource(
    'static-binary',
    'test://static-binary',
    { title: 'Static Binary Resource', description: 'A static binary resource', mimeType: 'image/png' },
    async () => ({ contents: [{ uri: 'test://static-binary', mimeType: 'image/png', blob: PNG }] }),
  );
  server.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { title: 'Resource Template', description: 'Parameter substitution', mimeType: 'application/json' },
    async (uri, variables) => ({
      contents: [
        {
          uri: uri.toString(),
          mimeType: 'application/json',
          text: JSON.stringify({ id: variables.id, templateTest: true, data: `Data for ID: ${String(variables.id)}` }),
        },
      ],
    }),
  );
  server.registerPrompt(
    'test_simple_prompt',
    { title: 'Simple Test Prompt', description: 'A prompt without arguments' },
    async () => ({
      messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
    }),
  );
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt With Arguments',
      description: 'A prompt with required arguments',
      argsSchema: z.object({
        arg1: z.string().describe('First test argument'),
        arg2: z.string().describe('Second test argument'),
      }),
    },
    async (args) => ({
      messages: [
        {
          role: 'user',
          content: { type: 'text', text: `Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'` },
        },
      ],
    }),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt With Embedded Resource',
      description: 'A prompt that embeds a resource',
      argsSchema: z.object({ resourceUri: z.string().describe('URI of the resource to embed') }),
    },
    async (args) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: args.resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
          },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );
  server.registerPrompt(
    'test_prompt_with_image',
    { title: 'Prompt With Image', description: 'A prompt with an image' },
    async () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
        { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
      ],
    }),
  );
  server.registerPrompt(
    'test_input_required_result_prompt',
    { title: 'Prompt needing input', description: 'Asks for context before it answers' },
    async (ctx) => {
      const answer = acceptedContent<{ context?: string }>(ctx.mcpReq.inputResponses, 'user_context');
      if (!answer?.context)
        return inputRequired({
          inputRequests: { user_context: nameForm('What context should the prompt use?', 'context') },
        });
      return { messages: [{ role: 'user', content: { type: 'text', text: `Context: ${answer.context}` } }] };
    },
  );
}
