import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { CrmDeps } from '../../domain/crm/callerLookup.js';
import type { Pool } from '../../lib/db.js';
import { tenantOf } from '../auth.js';
import { ErrorBody } from '../http/errors.js';
import { provisionVapi, ProvisionResult } from '../services/voiceProvision.js';
import type { TenantVoiceCache } from '../voiceTenants.js';

/**
 * `POST /v1/voice/provision`: the tenant's Vapi account set up for Switchboard in one call
 * (api/services/voiceProvision.ts). Safe to repeat: only differences are written.
 */
export const voiceProvisionRoutes: FastifyPluginAsyncZod<{
  pool: Pool;
  voice: TenantVoiceCache;
  crm: CrmDeps;
  /** Where Vapi reaches us; unset: derived from the request. */
  publicUrl: string | undefined;
}> = async (app, deps) => {
  app.post(
    '/v1/voice/provision',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary:
          "Point the tenant's Vapi numbers at our webhook and create or update its assistant with our tools (idempotent)",
        tags: ['calls'],
        response: { 200: ProvisionResult, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      const base = (deps.publicUrl ?? `${req.protocol}://${req.headers.host ?? 'localhost'}`).replace(/\/+$/, '');
      return provisionVapi(deps, tenantId, `${base}/webhooks/vapi/${tenantId}`);
    },
  );
};
