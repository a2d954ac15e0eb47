import type { Pool } from '../../lib/db.js';
import { listConnectedClients, revokeClientGrants, type ConnectedClient } from '../oauth/store.js';
import { notFound } from './errors.js';

/**
 * The OAuth clients a tenant's users connected to /mcp (Claude, Claude Desktop, …), and their
 * revocation. A revoked client's tokens stop at once on every replica: /mcp reads the grant
 * from Postgres on every request (api/oauth/store.ts findLiveAccessToken).
 */

export async function listOAuthClients(pool: Pool, tenantId: string): Promise<ConnectedClient[]> {
  return listConnectedClients(pool, tenantId);
}

export async function revokeOAuthClient(
  pool: Pool,
  tenantId: string,
  clientId: string,
): Promise<{ revokedGrants: number }> {
  const revokedGrants = await revokeClientGrants(pool, tenantId, clientId);
  if (!revokedGrants) throw notFound(`no connected OAuth client '${clientId}' in this tenant`);
  return { revokedGrants };
}
