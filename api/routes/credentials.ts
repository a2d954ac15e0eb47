import { z } from 'zod';
import { ApiKeyField } from '../services/connections.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { CredentialProvider, VapiAuthMode } from '../../domain/credentials.js';
import type { Pool } from '../../lib/db.js';
import { TenantId } from '../../lib/ids.js';
import { assertTenantAccess } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import { CredentialInfo, listCredentials, setCredential } from '../services/credentials.js';
import type { TenantVoiceCache } from '../voiceTenants.js';

const Params = z.object({ tenantId: TenantId, provider: CredentialProvider });

interface CredentialDeps {
  pool: Pool;
  masterKey: Buffer;
  voice?: TenantVoiceCache;
}

/**
 * The tenant's own Vapi / Retell credentials, set by the platform admin or the tenant's admin key
 * (api/services/credentials.ts).
 */
export const credentialRoutes: FastifyPluginAsyncZod<CredentialDeps> = async (app, deps) => {
  app.put(
    '/v1/admin/tenants/:tenantId/credentials/:provider',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "Set a tenant's voice-provider credential (Vapi: secret + auth mode; Retell: API key)",
        tags: ['admin'],
        params: Params,
        body: z.strictObject({
          secret: ApiKeyField.describe('Vapi server secret / HMAC key, or the Retell API key'),
          authMode: VapiAuthMode.optional().describe('Vapi only: how Vapi authenticates to us'),
        }),
        response: { 200: CredentialInfo, 400: ErrorBody, 403: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId, provider } = req.params;
      if (!assertTenantAccess(req, reply, tenantId)) return reply;
      return setCredential(deps, tenantId, provider, req.body);
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/credentials',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "A tenant's voice-provider credentials (never the secrets)",
        tags: ['admin'],
        params: Params.pick({ tenantId: true }),
        response: { 200: z.object({ credentials: z.array(CredentialInfo) }), 403: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!assertTenantAccess(req, reply, req.params.tenantId)) return reply;
      return { credentials: await listCredentials(deps.pool, req.params.tenantId) };
    },
  );
};
