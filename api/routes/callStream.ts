import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { withTenant, type Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import { callsChangedSince } from '../services/calls.js';

/**
 * The live call list as Server-Sent Events: `event: call` with a call's summary whenever it is
 * created or changes (status, attempts, outcome). Each stream polls Postgres (`calls.updated_at`,
 * indexed) for its tenant every `pollMs`, so a change made through any API replica or worker shows
 * on every replica's streams; nothing is held in process memory across requests.
 */

export interface CallStreamOptions {
  pool: Pool;
  pollMs?: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs?: number;
}

// A change is looked for this far behind the newest one seen: a transaction that began earlier
// (so its now() is older) may commit after a newer one was already read.
const OVERLAP_MS = 5_000;
const BATCH = 200;

export const callStreamRoutes: FastifyPluginAsyncZod<CallStreamOptions> = async (app, opts) => {
  const pollMs = opts.pollMs ?? 1000;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  // Open streams end when the API closes: before the server waits for its connections (preClose),
  // or a hijacked response would hold close() open until the browser went away.
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  app.get(
    '/v1/calls/stream',
    {
      preHandler: app.requireScope('read'),
      // One long request per open console: not counted against the per-minute request budget.
      config: {
        rateLimit: false,
        openapi: { responses: { 200: { description: 'the event stream', types: ['text/event-stream'] } } },
      },
      schema: {
        summary: 'Live calls (Server-Sent Events): `event: call` with the call summary on every new call and change',
        tags: ['calls'],
        querystring: z.strictObject({
          since: z.iso
            .datetime({ offset: true })
            .optional()
            .describe('also send calls changed since then (default: only changes from now on)'),
        }),
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      const start = req.query.since ? new Date(req.query.since) : new Date();
      let cursor = start;
      // What each call looked like when last sent (its updated_at): inside the overlap a call is
      // seen again, and is sent again only if it changed. Pruned to the overlap window.
      const sent = new Map<string, number>();
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': req.id,
      });
      res.write(`retry: 2000\n: connected\n\n`);
      let closed = false;
      let timer: NodeJS.Timeout | undefined;
      const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
      const close = () => {
        closed = true;
        open.delete(end);
        clearInterval(heartbeat);
        if (timer) clearTimeout(timer);
      };
      const end = () => {
        close();
        res.end();
      };
      open.add(end);
      req.raw.on('close', close);
      res.on('error', close);

      let full = false;
      const poll = async () => {
        if (closed) return;
        try {
          // After a full batch, page on from the cursor (no overlap) so a burst cannot stall the stream.
          const from = new Date(cursor.getTime() - (full ? 0 : OVERLAP_MS));
          const changed = await withTenant(opts.pool, tenantId, (c) =>
            callsChangedSince(c, tenantId, from < start ? start : from, BATCH),
          );
          full = changed.length === BATCH;
          for (const { call, updatedAt } of changed) {
            const at = updatedAt.getTime();
            if (sent.get(call.id) === at) continue;
            sent.set(call.id, at);
            if (at > cursor.getTime()) cursor = updatedAt;
            if (!closed) res.write(`event: call\nid: ${at}\ndata: ${JSON.stringify(call)}\n\n`);
          }
          const horizon = cursor.getTime() - OVERLAP_MS * 2;
          for (const [id, at] of sent) if (at < horizon) sent.delete(id);
        } catch (err) {
          req.log.warn({ err }, 'call stream poll failed; trying again');
        }
        if (!closed) timer = setTimeout(() => void poll(), pollMs);
      };
      void poll();
    },
  );
};
