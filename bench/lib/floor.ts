/**
 * The same-run floor of a cached contact read: a bare Fastify route (no auth, validation, tenant
 * transaction or audit row) doing only the indexed select by phone on the platform's pool.
 */
import Fastify from 'fastify';
import type { Pool } from '../../lib/db.js';

export async function startBareLookup(pool: Pool, tenantId: string): Promise<{ url: string; close(): Promise<void> }> {
  const bare = Fastify();
  bare.get(
    '/v1/contacts',
    async (req) =>
      (
        await pool.query('select * from contacts where tenant_id = $1 and phone = $2 limit 26', [
          tenantId,
          (req.query as { phone?: string }).phone,
        ])
      ).rows,
  );
  const url = await bare.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => bare.close() };
}
