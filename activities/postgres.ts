import type { Pool } from '../lib/db.js';

export interface PostgresActivityDeps {
  pool: Pool;
}

/** Activities that only touch our own database. */
export function createPostgresActivities({ pool }: PostgresActivityDeps) {
  return {
    /**
     * Writes the probe's row and reads it back. An upsert, so a retried attempt counts instead of
     * duplicating; rows older than a day are pruned in the same statement (probe rows are scratch).
     */
    async recordProbe(probeId: string): Promise<{ writes: number; writtenAt: string }> {
      await pool.query(
        `with pruned as (delete from readiness_probes where created_at < now() - interval '1 day')
         insert into readiness_probes (probe_id) values ($1)
         on conflict (probe_id) do update set writes = readiness_probes.writes + 1`,
        [probeId],
      );
      const { rows } = await pool.query<{ writes: number; created_at: Date }>(
        'select writes, created_at from readiness_probes where probe_id = $1',
        [probeId],
      );
      const row = rows[0];
      if (!row) throw new Error(`probe row ${probeId} was written but cannot be read back`);
      return { writes: row.writes, writtenAt: row.created_at.toISOString() };
    },
  };
}

export type PostgresActivities = ReturnType<typeof createPostgresActivities>;
