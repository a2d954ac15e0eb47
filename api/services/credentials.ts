import { z } from 'zod';
import { CredentialProvider, VapiAuthMode } from '../../domain/credentials.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { encryptSecret } from '../../lib/secrets.js';
import type { TenantVoiceCache } from '../voiceTenants.js';
import { badInput } from './errors.js';

/** The tenant's own Vapi / Retell credentials: the secret goes in sealed and never comes back out. */

export const CredentialInfo = z.object({
  provider: CredentialProvider,
  authMode: VapiAuthMode.nullable(),
  secretHint: z.string().describe('last 4 characters of the secret'),
  updatedAt: z.string(),
});
export type CredentialInfo = z.infer<typeof CredentialInfo>;

/**
 * Seals and stores a provider credential; the webhook cache of this process drops the tenant at
 * once. Vapi needs to know how it authenticates to us; Retell always signs with the API key.
 */
export async function setCredential(
  deps: { pool: Pool; masterKey: Buffer; voice?: TenantVoiceCache },
  tenantId: string,
  provider: CredentialProvider,
  req: { secret: string; authMode?: VapiAuthMode },
): Promise<CredentialInfo> {
  const { secret, authMode } = req;
  if (provider === 'vapi' && !authMode) {
    throw badInput('authMode', `required for vapi (one of ${VapiAuthMode.options.join(', ')})`);
  }
  if (provider === 'retell' && authMode) throw badInput('authMode', 'not used by retell (it signs with the API key)');
  const row = await withTenant(
    deps.pool,
    tenantId,
    async (c) =>
      (
        await c.query<{ updated_at: Date }>(
          `insert into tenant_credentials (tenant_id, provider, settings, secret_sealed, secret_hint) values ($1, $2, $3, $4, $5)
       on conflict (tenant_id, provider) do update set settings = excluded.settings, secret_sealed = excluded.secret_sealed,
         secret_hint = excluded.secret_hint, updated_at = now()
       returning updated_at`,
          [
            tenantId,
            provider,
            authMode ? { authMode } : {},
            encryptSecret(deps.masterKey, tenantId, secret),
            secret.slice(-4),
          ],
        )
      ).rows[0]!,
  );
  deps.voice?.forget(tenantId);
  return {
    provider,
    authMode: authMode ?? null,
    secretHint: secret.slice(-4),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The tenant's credentials, never the secrets. */
export async function listCredentials(pool: Pool, tenantId: string): Promise<CredentialInfo[]> {
  const rows = await withTenant(
    pool,
    tenantId,
    async (c) =>
      (
        await c.query<{
          provider: CredentialProvider;
          settings: { authMode?: string };
          secret_hint: string;
          updated_at: Date;
        }>(
          'select provider, settings, secret_hint, updated_at from tenant_credentials where tenant_id = $1 order by provider',
          [tenantId],
        )
      ).rows,
  );
  return rows.map((r) => ({
    provider: r.provider,
    authMode: VapiAuthMode.safeParse(r.settings.authMode).data ?? null,
    secretHint: r.secret_hint,
    updatedAt: r.updated_at.toISOString(),
  }));
}
