import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { CredentialProvider, VapiAuthMode } from '../../domain/credentials.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { TenantId } from '../../lib/ids.js';
import { encryptSecret } from '../../lib/secrets.js';
import { assertTenantAccess } from '../auth.js';
import type { TenantVoiceCache } from '../voiceTenants.js';

const CredentialInfo = z.object({
  provider: CredentialProvider,
  authMode: VapiAuthMode.nullable(),
  secretHint: z.string().describe('last 4 characters of the secret'),
  updatedAt: z.string(),
});
const ErrorBody = z.object({ statusCode: z.number(), error: z.string(), message: z.string() });
const Params = z.object({ tenantId: TenantId, provider: CredentialProvider });

/**
 * The tenant's own Vapi / Retell credentials, set by the platform admin or the tenant's admin key.
 * The secret goes in, sealed; it never comes back out through the API.
 */
export const credentialRoutes: FastifyPluginAsyncZod<{ pool: Pool; masterKey: Buffer; voice?: TenantVoiceCache }> = async (app, { pool, masterKey, voice }) => {
  app.put(
    '/v1/admin/tenants/:tenantId/credentials/:provider',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: "Set a tenant's voice-provider credential (Vapi: secret + auth mode; Retell: API key)",
        tags: ['admin'],
        params: Params,
        body: z.strictObject({
          secret: z.string().trim().min(8).max(512).describe('Vapi server secret / HMAC key, or the Retell API key'),
          authMode: VapiAuthMode.optional().describe('Vapi only: how Vapi authenticates to us'),
        }),
        response: { 200: CredentialInfo, 400: ErrorBody, 403: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId, provider } = req.params;
      if (!assertTenantAccess(req, reply, tenantId)) return reply;
      const { secret, authMode } = req.body;
      if (provider === 'vapi' && !authMode) {
        return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `body.authMode: required for vapi (one of ${VapiAuthMode.options.join(', ')})` });
      }
      if (provider === 'retell' && authMode) {
        return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'body.authMode: not used by retell (it signs with the API key)' });
      }
      const row = await withTenant(pool, tenantId, async (c) =>
        (await c.query<{ updated_at: Date }>(
          `insert into tenant_credentials (tenant_id, provider, settings, secret_sealed, secret_hint) values ($1, $2, $3, $4, $5)
           on conflict (tenant_id, provider) do update set settings = excluded.settings, secret_sealed = excluded.secret_sealed,
             secret_hint = excluded.secret_hint, updated_at = now()
           returning updated_at`,
          [tenantId, provider, authMode ? { authMode } : {}, encryptSecret(masterKey, tenantId, secret), secret.slice(-4)],
        )).rows[0]!,
      );
      voice?.forget(tenantId);
      return { provider, authMode: authMode ?? null, secretHint: secret.slice(-4), updatedAt: row.updated_at.toISOString() };
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
      const rows = await withTenant(pool, req.params.tenantId, async (c) =>
        (await c.query<{ provider: CredentialProvider; settings: { authMode?: string }; secret_hint: string; updated_at: Date }>(
          'select provider, settings, secret_hint, updated_at from tenant_credentials where tenant_id = $1 order by provider',
          [req.params.tenantId],
        )).rows,
      );
      return {
        credentials: rows.map((r) => ({
          provider: r.provider,
          authMode: VapiAuthMode.safeParse(r.settings.authMode).data ?? null,
          secretHint: r.secret_hint,
          updatedAt: r.updated_at.toISOString(),
        })),
      };
    },
  );
};
