import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../sandbox/server.js';
import { json, startTestSandbox } from './helpers.js';

let sb: RunningSandbox;
let client: Anthropic;

beforeAll(async () => {
  sb = await startTestSandbox();
  client = new Anthropic({ apiKey: 'sk-ant-sandbox', baseURL: `${sb.url}/anthropic`, maxRetries: 0 });
});
afterAll(async () => {
  await sb.close();
});

const tools: Anthropic.Tool[] = [
  {
    name: 'book_appointment',
    description: 'Book an appointment for the caller at a given start time',
    input_schema: {
      type: 'object',
      properties: {
        startTime: { type: 'string', description: 'ISO start time' },
        phone: { type: 'string' },
        reason: { type: 'string' },
      },
      required: ['startTime', 'phone'],
    },
  },
  {
    name: 'lookup_order',
    description: 'Find the status of an order by its number',
    input_schema: { type: 'object', properties: { orderNumber: { type: 'integer' } }, required: ['orderNumber'] },
  },
];

describe('Anthropic Messages through the official SDK', () => {
  it('answers a plain message, labelled as the sandbox, with usage', async () => {
    const msg = await client.messages.create({
      model: 'claude-sonnet-5-5',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'What are your opening hours?' }],
    });
    expect(msg.type).toBe('message');
    expect(msg.model).toBe('sandbox-claude-sonnet-5-5');
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.content[0]).toMatchObject({ type: 'text' });
    expect((msg.content[0] as Anthropic.TextBlock).text).toContain('opening hours');
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    expect(msg.usage.output_tokens).toBeGreaterThan(0);
    expect(msg.id).toMatch(/^msg_01/);
  });

  it('summarises a transcript mentioning what was said', async () => {
    const transcript = [
      'AI: Thanks for calling Bright Smile Dental, how can I help?',
      'User: Hi, I need a cleaning appointment next Tuesday around 3pm.',
      'AI: I have 3:00 PM available on Tuesday. Shall I book it?',
      'User: Yes please, my number is 415 555 0100.',
    ].join('\n');
    const msg = await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 300,
      system: 'You write call summaries.',
      messages: [{ role: 'user', content: `Summarize this call:\n${transcript}` }],
    });
    const text = (msg.content[0] as Anthropic.TextBlock).text;
    expect(text).toMatch(/^Summary:/);
    expect(text).toMatch(/cleaning appointment|Tuesday/);
  });

  it('streams text with SSE events', async () => {
    const stream = client.messages.stream({
      model: 'claude-sonnet-5-5',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Tell me about your services, please.' }],
    });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe((final.content[0] as Anthropic.TextBlock).text);
    expect(final.model).toBe('sandbox-claude-sonnet-5-5');
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    expect(final.stop_reason).toBe('end_turn');
  });

  it('calls the declared tool that matches the request, then answers from the tool result (plain and streamed)', async () => {
    const messages: Anthropic.MessageParam[] = [
      {
        role: 'user',
        content: 'Please book an appointment for 2026-12-01T15:00:00-05:00, my phone is (415) 555-0100.',
      },
    ];
    const first = await client.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 300, tools, messages });
    expect(first.stop_reason).toBe('tool_use');
    const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')!;
    expect(use.name).toBe('book_appointment');
    expect(use.input).toMatchObject({ startTime: '2026-12-01T15:00:00-05:00', phone: '+14155550100' });

    messages.push({ role: 'assistant', content: first.content });
    messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Booked for Tuesday 3 PM, confirmation B-42' }],
    });
    const second = await client.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 300, tools, messages });
    expect(second.stop_reason).toBe('end_turn');
    expect((second.content[0] as Anthropic.TextBlock).text).toContain('B-42');

    const streamed = await client.messages
      .stream({
        model: 'claude-sonnet-5-5',
        max_tokens: 300,
        tools,
        messages: [{ role: 'user', content: 'What is the status of order 1234?' }],
      })
      .finalMessage();
    const streamedUse = streamed.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')!;
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamedUse).toMatchObject({ name: 'lookup_order', input: { orderNumber: 1234 } });

    const forced = await client.messages.create({
      model: 'claude-sonnet-5-5',
      max_tokens: 300,
      tools,
      tool_choice: { type: 'tool', name: 'lookup_order' },
      messages: [{ role: 'user', content: 'hello' }],
    });
    expect(forced.content.some((b) => b.type === 'tool_use' && b.name === 'lookup_order')).toBe(true);

    const none = await client.messages.create({
      model: 'claude-sonnet-5-5',
      max_tokens: 300,
      tools,
      messages: [{ role: 'user', content: 'Good morning!' }],
    });
    expect(none.stop_reason).toBe('end_turn');
  });

  it('honours max_tokens', async () => {
    const msg = await client.messages.create({
      model: 'x',
      max_tokens: 3,
      messages: [{ role: 'user', content: 'Write me a long story about a dental practice in Denver.' }],
    });
    expect(msg.stop_reason).toBe('max_tokens');
    expect(msg.usage.output_tokens).toBeLessThanOrEqual(3);
  });

  it('rejects like the real API: 401 without a key, 400 on malformed bodies', async () => {
    const noKey = await fetch(`${sb.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(noKey.status).toBe(401);
    expect(await json(noKey)).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'x-api-key header is required' },
    });

    const err = await client.messages.create({ model: 'm', max_tokens: 10, messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error' },
    });

    const missing = await fetch(`${sb.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(missing.status).toBe(400);
    expect(await json(missing)).toMatchObject({
      error: { type: 'invalid_request_error', message: 'max_tokens: Field required' },
    });

    const orphan = await client.messages
      .create({
        model: 'm',
        max_tokens: 10,
        messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }] }],
      })
      .catch((e: unknown) => e);
    expect(orphan).toBeInstanceOf(Anthropic.BadRequestError);

    const garbage = await fetch(`${sb.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k' },
      body: '{"model":',
    });
    expect(garbage.status).toBe(400);
    expect(await json(garbage)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });

  it('turns an injected 529 into the SDK’s overloaded error', async () => {
    await fetch(`${sb.url}/__sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'anthropic', route: 'POST /v1/messages', status: 529, count: 1 }),
    });
    const err = await client.messages
      .create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
  });
});
