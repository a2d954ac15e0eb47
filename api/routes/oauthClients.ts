import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import { ErrorBody, fail } from '../http/errors.js';
import { listOAuthClients, revokeOAuthClient } from '../services/oauthClients.js';

const ConnectedClient = z.object({
  clientId: z.string(),
  clientName: z.string().nullable(),
  users: z.array(
    z.object({
      userId: z.string(),
      email: z.string().nullable(),
      scopes: z.array(z.string()),
      connectedAt: z.string(),
      expiresAt: z.string().nullable(),
    }),
  ),
});

/** Owners (admin scope: an owner's session or an admin API key) list and revoke connected OAuth clients. */
const notTenant = (reply: FastifyReply) =>
  fail(reply, 403, 'the platform admin key is not bound to a tenant; use an owner session or a tenant admin key');

export const oauthClientRoutes: FastifyPluginAsyncZod<{ pool: Pool }> = async (app, { pool }) => {
  app.get(
    '/v1/oauth/clients',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'The OAuth clients (e.g. Claude) connected to this tenant’s /mcp, with who connected them and scopes',
        tags: ['oauth'],
        response: { 200: z.object({ clients: z.array(ConnectedClient) }), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (req, reply) => {
      if (req.principal?.kind !== 'tenant') return notTenant(reply);
      return { clients: await listOAuthClients(pool, tenantOf(req).tenantId) };
    },
  );

  app.delete(
    '/v1/oauth/clients/:clientId',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Disconnect an OAuth client: every grant and token of it in this tenant stops working at once',
        tags: ['oauth'],
        params: z.object({ clientId: z.string().min(1).max(2048) }),
        response: { 200: z.object({ revokedGrants: z.number() }), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      if (req.principal?.kind !== 'tenant') return notTenant(reply);
      return revokeOAuthClient(pool, tenantOf(req).tenantId, req.params.clientId);
    },
  );
};
