import { createAuditWriter, type AuditEntry, type AuditWriter } from '../../domain/audit.js';
import { tenantReads, type Pool, type PoolClient, type TenantReads } from '../../lib/db.js';

/**
 * The fast path of cached reads (REST and MCP alike): the read in one round trip on a tenant read
 * session (lib/db.ts tenantReads), its audit row by group commit (domain/audit.ts createAuditWriter).
 */
export interface CachedReads {
  reads: TenantReads;
  audit: AuditWriter;
  end(): Promise<void>;
}

export function createCachedReads(pool: Pool): CachedReads {
  const reads = tenantReads(pool);
  return { reads, audit: createAuditWriter(pool), end: () => reads.end() };
}

/**
 * Runs one single-statement read of the tenant's cache and writes its audit row (`audit`, given the
 * read's result and duration); resolves only once the row is committed, so every answered read has
 * its row. A read that throws has no row here (the caller records the failure if it answers one).
 */
export async function auditedRead<T>(
  cached: CachedReads,
  tenantId: string,
  fn: (c: PoolClient) => Promise<T>,
  audit: (result: T, durationMs: number) => AuditEntry,
): Promise<T> {
  const started = performance.now();
  const result = await cached.reads.run(tenantId, fn);
  await cached.audit.write(audit(result, Math.round(performance.now() - started)));
  return result;
}
