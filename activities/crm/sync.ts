import { ApplicationFailure, Context, activityInfo, heartbeat } from '@temporalio/activity';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import type { QueryResultRow } from 'pg';
import { withTenant, type Pool } from '../../lib/db.js';
import { toContactRow, UPSERT_CONTACTS } from '../../domain/contactCache.js';
import { NotConnectedError } from '../../domain/connections/store.js';
import { tenantGhl } from '../../domain/crm/callerLookup.js';
import type { GhlBudget } from '../../providers/ghl/budget.js';

export interface CrmSyncDeps {
  pool: Pool;
  /** The tenant's own GHL connection; the sync reads through its token. */
  access: ProviderAccess;
  ghlBudget: GhlBudget;
}

export type SyncMode = 'auto' | 'full' | 'incremental';
type SearchAfter = (string | number | null)[];

/** What a sync run does; decided once, carried across continue-as-new. */
export interface SyncPlan {
  tenantId: string;
  locationId: string;
  kind: 'full' | 'incremental';
  /** Incremental: contacts updated at or after this instant (the last high-water mark minus an overlap). */
  since: string | null;
  /** Workflow id + first run id: marks the contacts this run saw. */
  syncKey: string;
  startedAt: string;
  /** Why this kind was chosen, for the status endpoint and the Web UI. */
  reason: string;
}

export type PlanResult = { plan: SyncPlan } | { skipped: { runningWorkflowId: string | null } };

export interface SyncCursor {
  cursor: SearchAfter | null;
  pages: number;
  contacts: number;
  /** Largest dateUpdated seen so far. */
  highWater: string | null;
  total: number | null;
}

export interface SyncChunk extends SyncCursor {
  done: boolean;
}

export const PAGE_SIZE = 500;
/** Search results lag writes by seconds; incremental runs re-read this much before the mark. */
const OVERLAP_MS = 2 * 60_000;
/** A full pass (which also removes contacts deleted upstream) at least this often. */
const FULL_EVERY_MS = 24 * 3_600_000;
/** A claimed sync with no progress for this long is presumed dead and may be taken over. */
const STALE_CLAIM = '15 minutes';

export function createCrmSyncActivities({ pool, access, ghlBudget }: CrmSyncDeps) {
  /** The tenant's own connection, or a non-retryable failure the sync status shows as its reason. */
  // The sync's state is the tenant's own row: each statement runs under its row-level security
  // (the tenant is the first parameter of every one).
  const stateQuery = <R extends QueryResultRow = QueryResultRow>(sql: string, params: [string, ...unknown[]]) =>
    withTenant(pool, params[0], (c) => c.query<R>(sql, params));
  const bulkClient = async (tenantId: string) => {
    try {
      return (await tenantGhl({ access, ghlBudget }, tenantId, { priority: 'bulk' })).ghl;
    } catch (err) {
      if (err instanceof NotConnectedError) throw ApplicationFailure.nonRetryable(err.message, 'NotConnected');
      throw err;
    }
  };

  /** Why the cache cannot equal GHL (their contact counts differ), or null when the counts agree. */
  const countsDiffer = async (tenantId: string, locationId: string): Promise<string | null> => {
    const ghl = await bulkClient(tenantId);
    const upstream = await ghl.searchContacts({ locationId, pageLimit: 1 });
    const local = await withTenant(pool, tenantId, (c) =>
      c.query<{ n: number }>('select count(*)::int as n from contacts where tenant_id = $1 and location_id = $2', [
        tenantId,
        locationId,
      ]),
    );
    const cached = local.rows[0]!.n;
    return upstream.total === cached ? null : `contact count differs (GHL ${upstream.total}, cache ${cached})`;
  };

  return {
    /** Claims the tenant's sync slot and decides between a full and an incremental pass. */
    async planSync(input: {
      tenantId: string;
      mode: SyncMode;
      workflowId: string;
      syncKey: string;
      /** Why a full pass was asked for, when the workflow asks for one itself (a reconcile). */
      reason?: string;
    }): Promise<PlanResult> {
      const { tenantId, mode, workflowId, syncKey } = input;
      await bulkClient(tenantId); // a tenant without a GHL connection fails here, before claiming the slot
      const { locationId } = await access.ghl(tenantId);

      await stateQuery(`insert into crm_sync_state (tenant_id, source) values ($1, 'ghl') on conflict do nothing`, [
        tenantId,
      ]);
      const claimed = await stateQuery<{ high_water: Date | null; last_full_at: Date | null }>(
        `update crm_sync_state set running_workflow_id = $2, running_sync_key = $3, running_since = coalesce(running_since, now())
          where tenant_id = $1 and source = 'ghl'
            and (running_sync_key is null or running_sync_key = $3
                 or coalesce((progress->>'updatedAt')::timestamptz, running_since) < now() - interval '${STALE_CLAIM}')
          returning high_water, last_full_at`,
        [tenantId, workflowId, syncKey],
      );
      const state = claimed.rows[0];
      if (!state) {
        const running = await stateQuery<{ running_workflow_id: string | null }>(
          `select running_workflow_id from crm_sync_state where tenant_id = $1 and source = 'ghl'`,
          [tenantId],
        );
        return { skipped: { runningWorkflowId: running.rows[0]?.running_workflow_id ?? null } };
      }

      let kind: SyncPlan['kind'] = 'incremental';
      let reason = 'changes since the last sync';
      if (mode === 'full') [kind, reason] = ['full', input.reason ?? 'full sync requested'];
      else if (!state.high_water) [kind, reason] = ['full', 'first sync'];
      else if (mode === 'auto' && (!state.last_full_at || Date.now() - state.last_full_at.getTime() > FULL_EVERY_MS)) {
        [kind, reason] = ['full', 'daily full pass (removes contacts deleted upstream)'];
      } else if (mode === 'auto') {
        // Deletions never show up in an incremental search; a differing count means we missed some.
        const differs = await countsDiffer(tenantId, locationId);
        if (differs) [kind, reason] = ['full', differs];
      }
      const plan: SyncPlan = {
        tenantId,
        locationId,
        kind,
        since:
          kind === 'incremental' && state.high_water
            ? new Date(state.high_water.getTime() - OVERLAP_MS).toISOString()
            : null,
        syncKey,
        startedAt: new Date().toISOString(),
        reason,
      };
      await stateQuery(
        `update crm_sync_state set progress = $3 where tenant_id = $1 and source = 'ghl' and running_sync_key = $2`,
        [
          tenantId,
          syncKey,
          {
            state: 'running',
            kind,
            reason,
            startedAt: plan.startedAt,
            pages: 0,
            contacts: 0,
            total: null,
            updatedAt: plan.startedAt,
          },
        ],
      );
      return { plan };
    },

    /**
     * Fetches up to `maxPages` pages and upserts each in one statement, in the same transaction
     * as the cursor. A retried attempt (worker crash) resumes from that stored cursor, not from
     * the start; the heartbeat lets Temporal notice a dead worker quickly.
     */
    async syncContactPages(input: { plan: SyncPlan; from: SyncCursor; maxPages: number }): Promise<SyncChunk> {
      const { plan } = input;
      let position: SyncCursor = input.from;
      if (activityInfo().attempt > 1) {
        const saved = await stateQuery<{ progress: (SyncCursor & { syncKey?: string }) | null }>(
          `select progress from crm_sync_state where tenant_id = $1 and source = 'ghl' and running_sync_key = $2`,
          [plan.tenantId, plan.syncKey],
        );
        const p = saved.rows[0]?.progress;
        if (p && p.pages > position.pages)
          position = { cursor: p.cursor, pages: p.pages, contacts: p.contacts, highWater: p.highWater, total: p.total };
      }
      const client = await bulkClient(plan.tenantId);
      const started = Date.parse(plan.startedAt);
      const fetchPage = (cursor: SearchAfter | null) => {
        const request = client.searchContacts({
          locationId: plan.locationId,
          pageLimit: PAGE_SIZE,
          sort: [{ field: 'dateUpdated', direction: 'asc' }],
          ...(plan.since
            ? { filters: [{ field: 'dateUpdated', operator: 'range' as const, value: { gte: plan.since } }] }
            : {}),
          ...(cursor ? { searchAfter: cursor } : {}),
        });
        request.catch(() => undefined); // awaited below; never an unhandled rejection while we write
        return request;
      };
      // Heartbeat on a timer, not per page: a page waiting on GHL's budget or a 429 is still alive.
      // A cancelled (or timed-out and superseded) attempt stops at the next page.
      const { cancellationSignal } = Context.current();
      const beat = setInterval(() => heartbeat(position), 2_000);
      try {
        let pending = fetchPage(position.cursor);
        for (let page = 0; page < input.maxPages; page++) {
          heartbeat(position);
          cancellationSignal.throwIfAborted();
          const result = await pending;
          const rows = result.contacts.map(toContactRow);
          const last = result.contacts.at(-1);
          const highWater = rows.reduce<string | null>(
            (hw, r) => (r.date_updated && (!hw || r.date_updated > hw) ? r.date_updated : hw),
            position.highWater,
          );
          const next: SyncCursor = {
            cursor: last ? (last.searchAfter ?? [last.dateUpdated ?? null, last.id]) : position.cursor,
            pages: position.pages + 1,
            contacts: position.contacts + rows.length,
            highWater,
            total: result.total,
          };
          const done = rows.length < PAGE_SIZE;
          // The next page is fetched while this one is written: GHL and Postgres work side by side.
          if (!done && page + 1 < input.maxPages) pending = fetchPage(next.cursor);
          const elapsedS = Math.max(0.001, (Date.now() - started) / 1000);
          // The page and the cursor past it commit together: a retry never skips or repeats a page's effect.
          await withTenant(pool, plan.tenantId, async (c) => {
            if (rows.length) await c.query(UPSERT_CONTACTS, [plan.tenantId, plan.syncKey, JSON.stringify(rows)]);
            // Progress only moves forward: a superseded attempt finishing late cannot pull it back.
            await c.query(
              `update crm_sync_state set progress = $3
                where tenant_id = $1 and source = 'ghl' and running_sync_key = $2 and coalesce((progress->>'pages')::int, 0) < $4`,
              [
                plan.tenantId,
                plan.syncKey,
                {
                  ...next,
                  state: 'running',
                  kind: plan.kind,
                  reason: plan.reason,
                  startedAt: plan.startedAt,
                  contactsPerS: Math.round(next.contacts / elapsedS),
                  updatedAt: new Date().toISOString(),
                },
                next.pages,
              ],
            );
          });
          position = next;
          if (done) return { ...position, done: true };
        }
        return { ...position, done: false };
      } finally {
        clearInterval(beat);
      }
    },

    /**
     * Records the outcome, releases the slot; a completed full pass removes contacts GHL no longer has.
     * A completed incremental pass compares counts once more: equal counts before it can hide a
     * missed deletion behind a missed creation (webhooks lost while we were down), which the pass
     * has now filled in. `reconcile` then says why a full pass should follow.
     */
    async finishSync(input: {
      plan: SyncPlan;
      result: SyncCursor | null;
      error?: string;
      /** Compare the counts after an incremental pass: an `auto` sync (one asked to be incremental stays so). */
      checkCounts?: boolean;
    }): Promise<{ removed: number; reconcile?: string }> {
      const { plan, result, error } = input;
      let removed = 0;
      const reconcile =
        !error && plan.kind === 'incremental' && input.checkCounts
          ? await countsDiffer(plan.tenantId, plan.locationId)
          : null;
      if (!error && plan.kind === 'full') {
        const del = await withTenant(pool, plan.tenantId, (c) =>
          // Contacts written after the pass began (webhooks) are kept even if the pass missed them.
          c.query(
            `delete from contacts where tenant_id = $1 and location_id = $2 and sync_key is distinct from $3 and synced_at < $4`,
            [plan.tenantId, plan.locationId, plan.syncKey, plan.startedAt],
          ),
        );
        removed = del.rowCount ?? 0;
        // Deletions older than any row still on its way (webhooks older than 5 minutes are refused).
        await withTenant(pool, plan.tenantId, (c) =>
          c.query(`delete from contact_tombstones where tenant_id = $1 and deleted_at < now() - interval '1 day'`, [
            plan.tenantId,
          ]),
        );
      }
      await stateQuery(
        `update crm_sync_state set
           high_water = case when $3::text is null then greatest(high_water, $4::timestamptz) else high_water end,
           last_full_at = case when $3::text is null and $5 then $6::timestamptz else last_full_at end,
           last_finished_at = now(), last_status = case when $3::text is null then 'completed' else 'failed' end, last_error = $3,
           running_workflow_id = null, running_sync_key = null, running_since = null,
           progress = coalesce(progress, '{}'::jsonb) || jsonb_build_object('state', case when $3::text is null then 'completed' else 'failed' end,
                      'removed', $7::int, 'finishedAt', now(), 'updatedAt', now())
         where tenant_id = $1 and source = 'ghl' and running_sync_key = $2`,
        [
          plan.tenantId,
          plan.syncKey,
          error ?? null,
          result?.highWater ?? null,
          plan.kind === 'full',
          plan.startedAt,
          removed,
        ],
      );
      return reconcile ? { removed, reconcile } : { removed };
    },
  };
}

export type CrmSyncActivities = ReturnType<typeof createCrmSyncActivities>;
