import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import { workflowIds } from '../../lib/ids.js';
import { TenantIdKey, WorkflowKindKey } from '../../lib/searchAttributes.js';
import { crmSync } from '../../workflows/crmSync.js';
import { tenantOf } from '../auth.js';
import { ensureSyncSchedule } from '../crmSchedules.js';

const Connection = z.object({ locationId: z.string(), syncEveryMinutes: z.number(), updatedAt: z.string() });
export const SyncStatus = z.object({
  state: z.enum(['never', 'running', 'completed', 'failed']),
  kind: z.enum(['full', 'incremental']).nullable(),
  reason: z.string().nullable(),
  workflowId: z.string().nullable(),
  pages: z.number(),
  contacts: z.number().describe('contacts written by the current (or last) run'),
  total: z.number().nullable().describe('contacts GHL reports for this run'),
  contactsPerS: z.number().nullable(),
  etaS: z.number().nullable(),
  removed: z.number().nullable().describe('contacts removed because GHL no longer has them (full runs)'),
  cachedContacts: z.number(),
  highWater: z.string().nullable().describe('latest dateUpdated synced'),
  lastFinishedAt: z.string().nullable(),
  lastError: z.string().nullable(),
});
const ErrorBody = z.object({ statusCode: z.number(), error: z.string(), message: z.string() });

export const SyncMode = z.enum(['auto', 'full', 'incremental']);
export type SyncStatus = z.infer<typeof SyncStatus>;

/** Why a sync cannot start (the REST route answers 409, the MCP tool an error result). */
export class NotConnectedError extends Error {
  constructor() {
    super('no CRM connection: PUT /v1/crm/connection first');
  }
}

/** Starts the tenant's sync, or returns the one already running (same workflow id). */
export async function startCrmSync(
  deps: { pool: Pool; temporal: Client; taskQueue: string },
  tenantId: string,
  mode: z.infer<typeof SyncMode>,
): Promise<{ workflowId: string; runId: string }> {
  const connected = await deps.pool.query('select 1 from crm_connections where tenant_id = $1', [tenantId]);
  if (!connected.rowCount) throw new NotConnectedError();
  const handle = await deps.temporal.workflow.start(crmSync, {
    taskQueue: deps.taskQueue,
    workflowId: workflowIds.crmSync(tenantId, 'ghl'),
    args: [{ tenantId, mode }],
    // A second request while a sync runs gets that sync, not a new one.
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [
      { key: TenantIdKey, value: tenantId },
      { key: WorkflowKindKey, value: 'crmSync' },
    ],
  });
  return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
}

/** The tenant's sync as stored by the workflow's activities (no Temporal round trip). */
export async function readSyncStatus(c: PoolClient, tenantId: string): Promise<SyncStatus> {
  const { rows } = await c.query<{
    progress: Record<string, unknown> | null; running_workflow_id: string | null; high_water: Date | null;
    last_finished_at: Date | null; last_error: string | null; last_status: string | null; cached: number;
  }>(
    `select s.progress, s.running_workflow_id, s.high_water, s.last_finished_at, s.last_error, s.last_status,
            (select count(*)::int from contacts where tenant_id = $1) as cached
       from (select 1) one left join crm_sync_state s on s.tenant_id = $1 and s.source = 'ghl'`,
    [tenantId],
  );
  const r = rows[0]!;
  const p = (r.progress ?? {}) as { kind?: 'full' | 'incremental'; reason?: string; pages?: number; contacts?: number; total?: number | null; contactsPerS?: number; removed?: number };
  const running = r.running_workflow_id !== null;
  const rate = p.contactsPerS ?? null;
  const remaining = p.total != null && p.contacts != null ? Math.max(0, p.total - p.contacts) : null;
  return {
    state: running ? 'running' : ((r.last_status as 'completed' | 'failed' | null) ?? 'never'),
    kind: p.kind ?? null,
    reason: p.reason ?? null,
    workflowId: r.running_workflow_id,
    pages: p.pages ?? 0,
    contacts: p.contacts ?? 0,
    total: p.total ?? null,
    contactsPerS: rate,
    etaS: running && rate && remaining !== null ? Math.round(remaining / rate) : null,
    removed: p.removed ?? null,
    cachedContacts: r.cached,
    highWater: r.high_water?.toISOString() ?? null,
    lastFinishedAt: r.last_finished_at?.toISOString() ?? null,
    lastError: r.last_error,
  };
}

export const crmSyncRoutes: FastifyPluginAsyncZod<{ pool: Pool; temporal: Client; taskQueue: string }> = async (app, { pool, temporal, taskQueue }) => {
  app.put(
    '/v1/crm/connection',
    {
      preHandler: app.requireScope('admin'),
      schema: {
        summary: 'Connect the tenant to its GoHighLevel location and schedule its sync',
        tags: ['crm'],
        body: z.strictObject({
          locationId: z.string().trim().min(1).max(100),
          syncEveryMinutes: z.number().int().min(1).max(1440).default(15),
        }),
        response: { 200: Connection, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      const { rows } = await pool.query<{ tenant_id: string; location_id: string; sync_every_minutes: number; updated_at: Date }>(
        `insert into crm_connections (tenant_id, location_id, sync_every_minutes) values ($1, $2, $3)
         on conflict (tenant_id) do update set location_id = excluded.location_id, sync_every_minutes = excluded.sync_every_minutes, updated_at = now()
         returning tenant_id, location_id, sync_every_minutes, updated_at`,
        [tenantId, req.body.locationId, req.body.syncEveryMinutes],
      ).catch((err: { code?: string }) => {
        if (err.code === '23505') return { rows: [] };
        throw err;
      });
      const row = rows[0];
      if (!row) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: `location '${req.body.locationId}' is connected to another tenant` });
      await ensureSyncSchedule(temporal, taskQueue, tenantId, row.sync_every_minutes);
      return { locationId: row.location_id, syncEveryMinutes: row.sync_every_minutes, updatedAt: row.updated_at.toISOString() };
    },
  );

  app.post(
    '/v1/sync',
    {
      preHandler: app.requireScope('act'),
      schema: {
        summary: 'Sync the CRM now; returns the workflow id at once (the running sync, if there is one)',
        tags: ['crm'],
        body: z.strictObject({ mode: SyncMode.default('auto') }).default({ mode: 'auto' }),
        response: { 202: z.object({ workflowId: z.string(), runId: z.string(), statusUrl: z.string() }), 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const { tenantId } = tenantOf(req);
      try {
        const started = await startCrmSync({ pool, temporal, taskQueue }, tenantId, req.body.mode);
        return reply.code(202).send({ ...started, statusUrl: '/v1/sync/status' });
      } catch (err) {
        if (err instanceof NotConnectedError) return reply.code(409).send({ statusCode: 409, error: 'Conflict', message: err.message });
        throw err;
      }
    },
  );

  app.get(
    '/v1/sync/status',
    {
      preHandler: app.requireScope('read'),
      schema: { summary: "The tenant's CRM sync: state, pages, contacts, rate, ETA, last error", tags: ['crm'], response: { 200: SyncStatus } },
    },
    async (req) => {
      const { tenantId } = tenantOf(req);
      return withTenant(pool, tenantId, (c) => readSyncStatus(c, tenantId));
    },
  );
};
