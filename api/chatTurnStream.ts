import type { FastifyReply, FastifyRequest } from 'fastify';
import { withTenant, type Pool } from '../lib/db.js';
import {
  CHAT_NOTIFY_CHANNEL,
  deltaNoticeKey,
  parseDeltaNotice,
  readDeltas,
  type Delta,
} from '../domain/agents/conversations.js';
import type { ChatReply } from '../workflows/conversation.contract.js';
import type { PgNotifications } from './notifications.js';
import { errorBody, serviceErrorBody } from './http/errors.js';
import { runTurn, type ChatDeps, type PreparedTurn } from './services/agents.js';
import { asServiceError } from './services/errors.js';

/** While the LISTEN connection is down, a relay polls this often. */
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
  ctx: { pool: Pool; notifier: PgNotifications; chat: ChatDeps },
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
  let ended = false;
  const show = (deltas: Delta[]) => {
    for (const d of deltas) {
      if (d.seq <= last) continue;
      if (d.kind === 'done') ended = true;
      else write(d.kind, { step: d.step ?? 0, text: d.text }, d.seq);
      last = d.seq;
    }
  };
  /** Deltas a notification carried are written at once when they follow on; otherwise (a gap, none carried) read. */
  const relay = (carried?: Delta[]) =>
    (sending = sending.then(async () => {
      if (carried?.length && carried[0]!.seq <= last + 1) return show(carried);
      show(await withTenant(pool, tenantId, (c) => readDeltas(c, tenantId, turn.conversationId, turn.messageId, last)));
    }));
  const unsubscribe = await notifier.subscribe(
    CHAT_NOTIFY_CHANNEL,
    deltaNoticeKey(tenantId, turn.conversationId, turn.messageId),
    (payload) => void relay(payload === undefined ? undefined : parseDeltaNotice(payload).deltas),
  );
  // A resumed or re-sent message starts with what is already there; a fresh one has nothing yet.
  if (last > 0 || turn.resent) void relay();
  const poll = setInterval(() => {
    if (!notifier.listening) void relay();
  }, RELAY_POLL_MS);
  let closed = false;
  res.on('close', () => (closed = true));
  try {
    const result: ChatReply = await runTurn(ctx.chat, turn);
    await sending;
    // The end of the stream was not notified (yet): the rows are committed before the reply, so read them.
    if (!ended) await relay();
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
