import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { insertAudit } from '../../domain/audit.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import { ErrorBody, fail } from '../http/errors.js';
import { ContactPage, ContactSearch, ContactWithTimeline, getContact, searchContacts } from '../services/contacts.js';

/**
 * Cached CRM reads (api/services/contacts.ts): straight from Postgres, no provider call. Each read
 * is audited under the name of its MCP tool, with source `cache`.
 */
export const contactRoutes: FastifyPluginAsyncZod<{ pool: Pool }> = async (app, { pool }) => {
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
      const started = performance.now();
      // The read and its audit row share one transaction (one round of pool checkout, begin, commit).
      const page = await withTenant(
        pool,
        tenantId,
        async (c) => {
          const found = await searchContacts(c, tenantId, q);
          await insertAudit(c, {
            tenantId,
            tool: 'crm_search_contacts',
            status: 'ok',
            source: 'cache',
            durationMs: Math.round(performance.now() - started),
            params: { q: q.q, phone: q.phone, email: q.email, tag: q.tag, limit: q.limit },
          });
          return found;
        },
        { asyncCommit: true },
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
      const started = performance.now();
      const found = await withTenant(
        pool,
        tenantId,
        async (c) => {
          const hit = await getContact(c, tenantId, req.params.id);
          await insertAudit(c, {
            tenantId,
            tool: 'crm_get_contact',
            status: hit ? 'ok' : 'error',
            source: 'cache',
            durationMs: Math.round(performance.now() - started),
            params: { id: req.params.id },
            ...(hit ? {} : { error: 'not found' }),
          });
          return hit;
        },
        { asyncCommit: true },
      );
      if (!found) return fail(reply, 404, `no contact '${req.params.id}' in the cache`);
      return { ...found, source: 'cache' as const };
    },
  );
};
