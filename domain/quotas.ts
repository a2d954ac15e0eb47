import { z } from 'zod';
import { asSystem, withTenant, type Pool, type PoolClient } from '../lib/db.js';

/**
 * Quotas on paid actions, per tenant. Each paid action consumes from its quota in one place; past
 * the limit it is refused with QuotaExceeded (REST: 429; workflows wait or skip). Counters live per
 * window (UTC day or hour) in `quota_counters`; a consumption with a key is recorded once in
 * `quota_consumptions`, so a retried activity counts once.
 */

export const QUOTAS = [
  'calls_per_day',
  'sms_per_day',
  'emails_per_day',
  'claude_tokens_per_day',
  'contact_analyses_per_hour',
] as const;
export const QuotaName = z.enum(QUOTAS);
export type QuotaName = z.infer<typeof QuotaName>;
export type QuotaLimits = Record<QuotaName, number>;

/** Safe defaults when the environment sets none (lib/config.ts `QUOTA_*`). */
export const DEFAULT_QUOTA_LIMITS: QuotaLimits = {
  calls_per_day: 200,
  sms_per_day: 500,
  emails_per_day: 2000,
  claude_tokens_per_day: 2_000_000,
  contact_analyses_per_hour: 60,
};

/** What the platform admin may set for a tenant: any subset, whole numbers (0 = the action is off). */
export const QuotaLimitsPatch = z
  .object(Object.fromEntries(QUOTAS.map((q) => [q, z.number().int().min(0).max(1_000_000_000).optional()])))
  .strict() as z.ZodType<Partial<QuotaLimits>>;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const windowMs = (quota: QuotaName) => (quota.endsWith('_per_hour') ? HOUR : DAY);

/** The window `at` falls in: its start and when the quota resets. */
export function quotaWindow(quota: QuotaName, at = Date.now()): { start: Date; resetsAt: Date } {
  const ms = windowMs(quota);
  const start = Math.floor(at / ms) * ms;
  return { start: new Date(start), resetsAt: new Date(start + ms) };
}

/** The one consumption of `calls_per_day` a call makes, whoever asks first (REST or placeCall). */
export const callQuotaKey = (workflowId: string) => `call:${workflowId}`;

export class QuotaExceeded extends Error {
  override readonly name = 'QuotaExceeded';
  constructor(
    readonly quota: QuotaName,
    readonly limit: number,
    readonly resetsAt: Date,
  ) {
    super(`quota '${quota}' reached (${limit}); resets at ${resetsAt.toISOString()}`);
  }
}

/** The tenant's limits: the admin's settings over the platform defaults. */
export async function quotaLimits(c: PoolClient, tenantId: string, defaults: QuotaLimits): Promise<QuotaLimits> {
  const { rows } = await c.query<{ limits: Record<string, unknown> }>(
    'select limits from quota_limits where tenant_id = $1',
    [tenantId],
  );
  return limitsOf(rows[0]?.limits, defaults);
}

function limitsOf(set: unknown, defaults: QuotaLimits): QuotaLimits {
  const parsed = QuotaLimitsPatch.safeParse(set ?? {});
  return { ...defaults, ...(parsed.success ? parsed.data : {}) };
}

/** The tenant's settings (`quota_limits.limits`, null when none) as a subquery of a statement on $1. */
const LIMITS_OF_TENANT = '(select limits from quota_limits where tenant_id = $1)';

export interface ConsumeOptions {
  /** The platform defaults (ProviderAccess `quotaDefaults`). */
  defaults: QuotaLimits;
  /** Consumed once per key: a retry with the same key is not counted again. */
  key?: string;
  /** Record the amount even past the limit (usage known only afterwards, e.g. Claude tokens). */
  record?: boolean;
}

/**
 * Consumes `amount` of the tenant's quota, or throws QuotaExceeded (nothing counted). Inside a
 * transaction (`c`), the consumption commits or rolls back with the action's own writes.
 */
export async function consume(
  c: PoolClient | Pool,
  tenantId: string,
  quota: QuotaName,
  amount: number,
  opts: ConsumeOptions,
): Promise<{ used: number; limit: number; resetsAt: Date }> {
  if (!('release' in c)) return withTenant(c, tenantId, (tx) => consume(tx, tenantId, quota, amount, opts));
  const { start, resetsAt } = quotaWindow(quota);
  if (opts.key && opts.record) {
    // Recorded whatever the limit (nothing to refuse): the key, the counter and the limits in one
    // statement, so the counter row — every consumer of the tenant's quota wants it — is locked
    // only from here to the caller's commit. A key seen before adds nothing.
    const { rows } = await c.query<{ used: string | null; before: string | null; limits: unknown }>(
      `with fresh as (
         insert into quota_consumptions (tenant_id, key, quota, amount, window_start) values ($1, $4, $2, $5, $3)
         on conflict (tenant_id, key) do nothing returning amount
       ), bumped as (
         insert into quota_counters (tenant_id, quota, window_start, used)
         select $1, $2, $3, amount from fresh
         on conflict (tenant_id, quota, window_start) do update set used = quota_counters.used + excluded.used
         returning used
       )
       select (select used from bumped) as used,
              (select used from quota_counters where tenant_id = $1 and quota = $2 and window_start = $3) as before,
              ${LIMITS_OF_TENANT} as limits`,
      [tenantId, quota, start, opts.key, amount],
    );
    const r = rows[0]!;
    return { used: Number(r.used ?? r.before ?? 0), limit: limitsOf(r.limits, opts.defaults)[quota], resetsAt };
  }
  const limit = (await quotaLimits(c, tenantId, opts.defaults))[quota];
  // A savepoint: a refusal undoes the key's record, and the caller's transaction goes on.
  await c.query('savepoint quota_consume');
  if (opts.key) {
    const fresh = await c.query(
      `insert into quota_consumptions (tenant_id, key, quota, amount, window_start) values ($1, $2, $3, $4, $5)
       on conflict (tenant_id, key) do nothing`,
      [tenantId, opts.key, quota, amount, start],
    );
    if (!fresh.rowCount) {
      await c.query('release savepoint quota_consume');
      return { used: await usedNow(c, tenantId, quota, start), limit, resetsAt };
    }
  }
  // One statement: the row lock serialises concurrent consumers, and the where clause is judged
  // on the locked row, so concurrent consumption never passes the limit.
  const bumped = await c.query<{ used: string }>(
    `insert into quota_counters (tenant_id, quota, window_start, used)
     select $1, $2, $3, $4::bigint where $5::boolean or $4::bigint <= $6::bigint
     on conflict (tenant_id, quota, window_start) do update set used = quota_counters.used + excluded.used
       where $5::boolean or quota_counters.used + excluded.used <= $6::bigint
     returning used`,
    [tenantId, quota, start, amount, opts.record === true, limit],
  );
  if (!bumped.rows[0]) {
    await c.query('rollback to savepoint quota_consume');
    await c.query('release savepoint quota_consume');
    throw new QuotaExceeded(quota, limit, resetsAt);
  }
  await c.query('release savepoint quota_consume');
  return { used: Number(bumped.rows[0].used), limit, resetsAt };
}

/** Refuses when the quota is already used up (for amounts known only afterwards). */
export async function ensureRemaining(
  c: PoolClient | Pool,
  tenantId: string,
  quota: QuotaName,
  defaults: QuotaLimits,
): Promise<void> {
  if (!('release' in c)) return withTenant(c, tenantId, (tx) => ensureRemaining(tx, tenantId, quota, defaults));
  const { start, resetsAt } = quotaWindow(quota);
  // One round trip: the tenant's settings and what is used.
  const { rows } = await c.query<{ used: string | null; limits: unknown }>(
    `select (select used from quota_counters where tenant_id = $1 and quota = $2 and window_start = $3) as used,
            ${LIMITS_OF_TENANT} as limits`,
    [tenantId, quota, start],
  );
  const limit = limitsOf(rows[0]?.limits, defaults)[quota];
  if (Number(rows[0]?.used ?? 0) >= limit) throw new QuotaExceeded(quota, limit, resetsAt);
}

async function usedNow(c: PoolClient, tenantId: string, quota: QuotaName, start: Date): Promise<number> {
  const { rows } = await c.query<{ used: string }>(
    'select used from quota_counters where tenant_id = $1 and quota = $2 and window_start = $3',
    [tenantId, quota, start],
  );
  return Number(rows[0]?.used ?? 0);
}

export const QuotaStatus = z.object({
  quota: QuotaName,
  limit: z.number(),
  used: z.number(),
  resetsAt: z.string(),
});
export type QuotaStatus = z.infer<typeof QuotaStatus>;

/** Every quota's limit, use in the current window and reset time. */
export async function quotaStatus(c: PoolClient, tenantId: string, defaults: QuotaLimits): Promise<QuotaStatus[]> {
  const limits = await quotaLimits(c, tenantId, defaults);
  const out: QuotaStatus[] = [];
  for (const quota of QUOTAS) {
    const { start, resetsAt } = quotaWindow(quota);
    out.push({
      quota,
      limit: limits[quota],
      used: await usedNow(c, tenantId, quota, start),
      resetsAt: resetsAt.toISOString(),
    });
  }
  return out;
}

/** Sets some of a tenant's limits (platform admin only: tenants have no write grant on quota_limits). */
export async function setQuotaLimits(pool: Pool, tenantId: string, patch: Partial<QuotaLimits>): Promise<void> {
  // Cross-tenant by role: only the system role may write limits, so no tenant raises its own.
  await asSystem(pool, (c) =>
    c.query(
      `insert into quota_limits (tenant_id, limits) values ($1, $2)
       on conflict (tenant_id) do update set limits = quota_limits.limits || excluded.limits, updated_at = now()`,
      [tenantId, JSON.stringify(patch)],
    ),
  );
}
