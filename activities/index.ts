import { createPostgresActivities, type PostgresActivityDeps } from './postgres.js';

export type ActivityDeps = PostgresActivityDeps;

/** All activities, built from injected dependencies (pool, provider clients, clock). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createPostgresActivities(deps),
  };
}
