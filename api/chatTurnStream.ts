import type { FastifyReply, FastifyRequest } from 'fastify';
import { withTenant, type Pool } from '../lib/db.js';
import { readDeltas } from '../domain/agents/conversations.js';
import type { ChatReply } from '../workflows/conversation.contract.js';
import type { ChatNotifier } from './chatStream.js';
import { errorBody, serviceErrorBody } from './http/errors.js';
import { runTurn, type ChatDeps, type PreparedTurn } from './services/agents.js';
import { asServiceError } from './services/errors.js';

/** A relay polls this often besides waking on NOTIFY (a missed notification costs at most this). */
const RELAY_POLL_MS = 500;

export function wantsEventStream(req: FastifyRequest): boolean {
  return (req.headers.accept ?? '').includes('text/event-stream');
}

/**
 * One chat turn as SSE, for the owner's chats and the website widget alike: each delta as it lands
 * (`id` = its seq, so Last-Event-ID resumes after it), then `reply` with the workflow's final
 * answer — the source of truth, as `present` shows it to this caller — and the stream ends.
 */
export async function streamChatTurn(
  ctx: { pool: Pool; notifier: ChatNotifier; chat: ChatDeps },
  req: FastifyRequest,
  reply: FastifyReply,
  turn: PreparedTurn,
  present: (r: ChatReply) => unknown = (r) => r,
): Promise<void> {
  const { pool, notifier } = ctx;
  const { tenantId } = turn.start;
  const lastId = Number(req.headers['last-event-id']);
  let last = Number.isInteger(lastId) && lastId > 0 ? lastId : 0;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': req.id,
    'x-conversation-id': turn.conversationId,
    'x-message-id': turn.messageId,
  });
  const write = (event: string, data: unknown, id?: number) =>
    res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  write('start', { conversationId: turn.conversationId, messageId: turn.messageId });

  let sending: Promise<void> = Promise.resolve();
  const relay = () =>
    (sending = sending.then(async () => {
      const deltas = await withTenant(pool, tenantId, (c) =>
        readDeltas(c, tenantId, turn.conversationId, turn.messageId, last),
      );
      for (const d of deltas) {
        if (d.kind !== 'done') write(d.kind, { step: d.step ?? 0, text: d.text }, d.seq);
        last = d.seq;
      }
    }));
  const unsubscribe = await notifier.subscribe(tenantId, turn.conversationId, turn.messageId, () => void relay());
  const poll = setInterval(() => void relay(), RELAY_POLL_MS);
  let closed = false;
  res.on('close', () => (closed = true));
  try {
    const result: ChatReply = await runTurn(ctx.chat, turn);
    await relay();
    await sending;
    write('reply', present(result));
  } catch (err) {
    const refused = asServiceError(err);
    if (refused) write('error', serviceErrorBody(refused, req.routeOptions.schema));
    else {
      req.log.error({ err }, 'chat turn failed');
      write('error', errorBody(500, 'internal error; see the server log for this request id'));
    }
  } finally {
    clearInterval(poll);
    unsubscribe();
    if (!closed) res.end();
  }
}
