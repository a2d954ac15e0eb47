import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { tenantOf } from '../auth.js';
import { ErrorBody, fail } from '../http/errors.js';
import { auditedRead, type CachedReads } from '../services/cachedReads.js';
import { ContactPage, ContactSearch, ContactWithTimeline, getContact, searchContacts } from '../services/contacts.js';

/**
 * Cached CRM reads (api/services/contacts.ts): straight from Postgres, no provider call, one round
 * trip (api/services/cachedReads.ts). Each read is audited under the name of its MCP tool, with
 * source `cache`, and answered once its audit row is committed.
 */
export const contactRoutes: FastifyPluginAsyncZod<{ cached: CachedReads }> = async (app, { cached }) => {
  app.get(
    '/v1/contacts',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'Search cached contacts: full text and fuzzy on names, exact on phone (E.164), email, tag',
        tags: ['crm'],
        querystring: ContactSearch,
        response: { 200: ContactPage.extend({ source: z.literal('cache') }) },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      const q = req.query;
      const page = await auditedRead(
        cached,
        tenantId,
        (c) => searchContacts(c, tenantId, q),
        (_found, durationMs) => ({
          tenantId,
          tool: 'crm_search_contacts',
          status: 'ok',
          source: 'cache',
          durationMs,
          params: { q: q.q, phone: q.phone, email: q.email, tag: q.tag, limit: q.limit },
        }),
      );
      return { ...page, source: 'cache' as const };
    },
  );

  app.get(
    '/v1/contacts/:id',
    {
      preHandler: app.requireScope('read'),
      schema: {
        summary: 'One cached contact with its timeline',
        tags: ['crm'],
        params: z.object({ id: z.string().min(1).max(100) }),
        response: { 200: ContactWithTimeline.extend({ source: z.literal('cache') }), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      const found = await auditedRead(
        cached,
        tenantId,
        (c) => getContact(c, tenantId, req.params.id),
        (hit, durationMs) => ({
          tenantId,
          tool: 'crm_get_contact',
          status: hit ? 'ok' : 'error',
          source: 'cache',
          durationMs,
          params: { id: req.params.id },
          ...(hit ? {} : { error: 'not found' }),
        }),
      );
      if (!found) return fail(reply, 404, `no contact '${req.params.id}' in the cache`);
      return { ...found, source: 'cache' as const };
    },
  );
};
