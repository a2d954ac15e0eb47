import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { Pool, PoolClient } from '../../lib/db.js';
import { workflowIds } from '../../lib/ids.js';
import { TenantIdKey, WorkflowKindKey } from '../../lib/searchAttributes.js';
import { crmSync } from '../../workflows/crmSync.js';
import { describeSyncSchedule, ensureSyncSchedule } from '../crmSchedules.js';
import { connectGhlByToken, type ConnectDeps } from '../../domain/connections/connect.js';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { NotConnectedError, readConnection } from '../../domain/connections/store.js';
import { withTenant } from '../../lib/db.js';
import { conflict } from './errors.js';

/** The tenant's GoHighLevel connection and the crmSync workflow that mirrors it into the contacts cache. */

export const CrmConnection = z.object({ locationId: z.string(), syncEveryMinutes: z.number(), updatedAt: z.string() });
export type CrmConnection = z.infer<typeof CrmConnection>;

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
export type SyncStatus = z.infer<typeof SyncStatus>;

export const SyncMode = z.enum(['auto', 'full', 'incremental']);
export type SyncMode = z.infer<typeof SyncMode>;

export interface CrmSyncDeps {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  /** The tenant's own GHL connection decides the location; nothing here takes one on trust. */
  connect: ConnectDeps;
}

/**
 * The sync settings of the tenant's connected location (`PUT /v1/crm/connection`). The location is
 * the one the tenant's own connection covers; only the platform tenant (whose location answers to
 * the environment's GHL token) may name one here.
 */
export async function connectCrm(
  deps: CrmSyncDeps,
  tenantId: string,
  req: { locationId: string; syncEveryMinutes: number },
): Promise<CrmConnection> {
  const own = await readConnection(deps.pool, deps.connect.masterKey, tenantId, 'ghl');
  if (own) {
    if (req.locationId !== own.accountId) {
      throw conflict(
        `location '${req.locationId}' is not the one this tenant connected ('${own.accountId}'): PUT /v1/connections/ghl to change it`,
      );
    }
  } else if (deps.connect.access.isPlatformTenant(tenantId)) {
    await connectGhlByToken(deps.connect, tenantId, { locationId: req.locationId });
  } else {
    throw new NotConnectedError('ghl', 'missing');
  }
  return applySyncSettings(deps, tenantId, req.syncEveryMinutes);
}

/** Sets how often the connected location syncs (kept when omitted) and (re)starts its schedule. */
export async function applySyncSettings(
  deps: CrmSyncDeps,
  tenantId: string,
  syncEveryMinutes?: number,
): Promise<CrmConnection> {
  const { rows } = await withTenant(deps.pool, tenantId, (c) =>
    c.query<{ location_id: string; sync_every_minutes: number; updated_at: Date }>(
      `update crm_connections set sync_every_minutes = coalesce($2, sync_every_minutes), updated_at = now()
        where tenant_id = $1 returning location_id, sync_every_minutes, updated_at`,
      [tenantId, syncEveryMinutes ?? null],
    ),
  );
  const row = rows[0];
  if (!row) throw new NotConnectedError('ghl', 'missing');
  await ensureSyncSchedule(deps.temporal, deps.taskQueue, tenantId, row.sync_every_minutes);
  return {
    locationId: row.location_id,
    syncEveryMinutes: row.sync_every_minutes,
    updatedAt: row.updated_at.toISOString(),
  };
}

export const SyncSchedule = CrmConnection.extend({
  paused: z.boolean().describe('scheduled syncs stopped (a disconnected CRM)'),
  nextRunAt: z.string().nullable(),
});

/** The connected location's sync schedule: every how many minutes, and when the next sync starts. */
export async function readSyncSchedule(
  deps: Pick<CrmSyncDeps, 'pool' | 'temporal'>,
  tenantId: string,
): Promise<z.infer<typeof SyncSchedule>> {
  const { rows } = await withTenant(deps.pool, tenantId, (c) =>
    c.query<{ location_id: string; sync_every_minutes: number; updated_at: Date }>(
      'select location_id, sync_every_minutes, updated_at from crm_connections where tenant_id = $1',
      [tenantId],
    ),
  );
  const row = rows[0];
  if (!row) throw new NotConnectedError('ghl', 'missing');
  const schedule = await describeSyncSchedule(deps.temporal, tenantId);
  return {
    locationId: row.location_id,
    syncEveryMinutes: row.sync_every_minutes,
    updatedAt: row.updated_at.toISOString(),
    paused: schedule?.paused ?? true,
    nextRunAt: schedule?.nextRunAt ?? null,
  };
}

/** Starts the tenant's sync, or returns the one already running (same workflow id). */
export async function startCrmSync(
  deps: { temporal: Client; taskQueue: string; access: ProviderAccess },
  tenantId: string,
  mode: SyncMode,
): Promise<{ workflowId: string; runId: string }> {
  // NotConnectedError (409) for a tenant without a usable GHL connection of its own.
  await deps.access.ghl(tenantId);
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
    progress: Record<string, unknown> | null;
    running_workflow_id: string | null;
    high_water: Date | null;
    last_finished_at: Date | null;
    last_error: string | null;
    last_status: string | null;
    cached: number;
  }>(
    `select s.progress, s.running_workflow_id, s.high_water, s.last_finished_at, s.last_error, s.last_status,
            (select count(*)::int from contacts where tenant_id = $1) as cached
       from (select 1) one left join crm_sync_state s on s.tenant_id = $1 and s.source = 'ghl'`,
    [tenantId],
  );
  const r = rows[0]!;
  const p = (r.progress ?? {}) as {
    kind?: 'full' | 'incremental';
    reason?: string;
    pages?: number;
    contacts?: number;
    total?: number | null;
    contactsPerS?: number;
    removed?: number;
  };
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
