import { z } from 'zod';
import { withTenant, type Pool } from '../lib/db.js';
import { decryptSecret } from '../lib/secrets.js';

export const CredentialProvider = z.enum(['vapi', 'retell']);
export type CredentialProvider = z.infer<typeof CredentialProvider>;
/** How Vapi authenticates its server messages to us (CONTRACTS.md). */
export const VapiAuthMode = z.enum(['x-vapi-secret', 'bearer', 'hmac']);
export type VapiAuthMode = z.infer<typeof VapiAuthMode>;

export interface StoredCredential {
  secret: string;
  authMode: VapiAuthMode | null;
}

/**
 * A tenant's provider credential, unsealed: Vapi's webhook secret, or the Retell API key (which both
 * signs Retell's webhooks and places the tenant's Retell calls). Set through the admin API.
 */
export async function readCredential(
  pool: Pool,
  masterKey: Buffer,
  tenantId: string,
  provider: CredentialProvider,
): Promise<StoredCredential | undefined> {
  const row = await withTenant(
    pool,
    tenantId,
    async (c) =>
      (
        await c.query<{ secret_sealed: string; settings: { authMode?: string } }>(
          'select secret_sealed, settings from tenant_credentials where tenant_id = $1 and provider = $2',
          [tenantId, provider],
        )
      ).rows[0],
  );
  if (!row) return undefined;
  const authMode = VapiAuthMode.safeParse(row.settings.authMode);
  return {
    secret: decryptSecret(masterKey, tenantId, row.secret_sealed),
    authMode: authMode.success ? authMode.data : null,
  };
}
