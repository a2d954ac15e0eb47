import { activityInfo, heartbeat } from '@temporalio/activity';
import { z } from 'zod';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { withTenant, type Pool } from '../../lib/db.js';
import type { GhlBudget } from '../../providers/ghl/budget.js';
import { tenantGhl } from '../../domain/crm/callerLookup.js';
import { GhlOpportunitySchema } from '../../providers/ghl/client.js';
import type { SyncPlan } from './sync.js';

/**
 * The insights cache: GoHighLevel pipelines (with stages), opportunities and — for the contacts
 * that have opportunities — their notes, mirrored after the contacts pages of a crmSync run.
 *
 * Opportunities have no "updated since" filter in GHL, so every run reads them all (100 a page,
 * one bulk upsert per page, cursor in the heartbeat) and then removes the ones it did not see.
 * Notes have no bulk endpoint (one request per contact), so each run refreshes at most
 * `notesPerRun` contacts' notes, those fetched longest ago first.
 */

export interface CrmOpportunityDeps {
  pool: Pool;
  /** The tenant's own GHL connection; the sync reads through its token. */
  access: ProviderAccess;
  ghlBudget: GhlBudget;
  /** Contacts whose notes one run refreshes (GHL: one request each). Default 50; 0 = no notes. */
  notesPerRun?: number;
}

export const OPPORTUNITY_PAGE_SIZE = 100;
const DEFAULT_NOTES_PER_RUN = 50;

/** The fields we keep; GHL sends more (loose), and some only sometimes. */
const OpportunityFields = GhlOpportunitySchema.extend({
  source: z.string().nullish(),
  assignedTo: z.string().nullish(),
  lastStatusChangeAt: z.string().nullish(),
});

interface OpportunityRow {
  id: string;
  contact_id: string | null;
  pipeline_id: string;
  stage_id: string | null;
  name: string;
  status: string;
  monetary_value: number | null;
  source: string | null;
  assigned_to: string | null;
  last_status_change_at: string | null;
  created_at: string | null;
  updated_at: string | null;
}

export function toOpportunityRow(raw: unknown): OpportunityRow {
  const o = OpportunityFields.parse(raw);
  return {
    id: o.id,
    contact_id: o.contactId ?? null,
    pipeline_id: o.pipelineId,
    stage_id: o.pipelineStageId ?? null,
    name: o.name,
    status: o.status.toLowerCase(),
    monetary_value: o.monetaryValue ?? null,
    source: o.source ?? null,
    assigned_to: o.assignedTo ?? null,
    last_status_change_at: o.lastStatusChangeAt ?? null,
    created_at: o.createdAt ?? null,
    updated_at: o.updatedAt ?? null,
  };
}

/** One statement per page. Params: tenant, location, sync key, rows (JSON array). */
const UPSERT_OPPORTUNITIES = `
  insert into crm_opportunities (tenant_id, id, location_id, contact_id, pipeline_id, stage_id, name, status, monetary_value, source,
                                 assigned_to, last_status_change_at, created_at, updated_at, synced_at, sync_key)
  select $1, r.id, $2, r.contact_id, r.pipeline_id, r.stage_id, r.name, r.status, r.monetary_value, r.source,
         r.assigned_to, r.last_status_change_at, r.created_at, r.updated_at, clock_timestamp(), $3
    from jsonb_to_recordset($4::jsonb) as r(id text, contact_id text, pipeline_id text, stage_id text, name text, status text,
         monetary_value numeric, source text, assigned_to text, last_status_change_at timestamptz, created_at timestamptz, updated_at timestamptz)
  on conflict (tenant_id, id) do update set
    location_id = excluded.location_id, contact_id = excluded.contact_id, pipeline_id = excluded.pipeline_id, stage_id = excluded.stage_id,
    name = excluded.name, status = excluded.status, monetary_value = excluded.monetary_value, source = excluded.source,
    assigned_to = excluded.assigned_to, last_status_change_at = excluded.last_status_change_at, created_at = excluded.created_at,
    updated_at = excluded.updated_at, synced_at = excluded.synced_at, sync_key = excluded.sync_key`;

/** Pipelines and their stages in one statement. Params: tenant, location, pipelines (JSON), stages (JSON). */
const UPSERT_PIPELINES = `
  with p as (
    insert into crm_pipelines (tenant_id, id, location_id, name, synced_at)
    select $1, r.id, $2, r.name, clock_timestamp() from jsonb_to_recordset($3::jsonb) as r(id text, name text)
    on conflict (tenant_id, id) do update set location_id = excluded.location_id, name = excluded.name, synced_at = excluded.synced_at
    returning id)
  insert into crm_pipeline_stages (tenant_id, pipeline_id, id, name, position)
  select $1, r.pipeline_id, r.id, r.name, r.position from jsonb_to_recordset($4::jsonb) as r(pipeline_id text, id text, name text, position int)
  on conflict (tenant_id, pipeline_id, id) do update set name = excluded.name, position = excluded.position`;

interface OppCursor {
  startAfter: number | string | null;
  startAfterId: string | null;
  pages: number;
  opportunities: number;
}

export interface OpportunitySyncResult {
  pipelines: number;
  stages: number;
  opportunities: number;
  pages: number;
  removed: number;
  notesContacts: number;
  notes: number;
}

export function createCrmOpportunityActivities({
  pool,
  access,
  ghlBudget,
  notesPerRun = DEFAULT_NOTES_PER_RUN,
}: CrmOpportunityDeps) {
  const bulkClient = async (tenantId: string) =>
    (await tenantGhl({ access, ghlBudget }, tenantId, { priority: 'bulk' })).ghl;

  return {
    /**
     * Pipelines, then every opportunity page (resuming from the heartbeat's cursor after a
     * crash), then removes opportunities GHL no longer has, then refreshes some contacts' notes.
     * Idempotent: upserts keyed by id; a repeated run converges to the same rows.
     */
    async syncOpportunities(input: { plan: SyncPlan }): Promise<OpportunitySyncResult> {
      const { plan } = input;
      const { tenantId, locationId, syncKey } = plan;
      const client = await bulkClient(tenantId);

      const pipelines = await client.listPipelines(locationId);
      const stages = pipelines.flatMap((p) =>
        p.stages.map((s, i) => ({
          pipeline_id: p.id,
          id: s.id,
          name: s.name,
          position: typeof s.position === 'number' ? s.position : i,
        })),
      );
      await withTenant(pool, tenantId, async (c) => {
        // The list is complete: stages and pipelines of this location it no longer names go.
        await c.query(
          `delete from crm_pipeline_stages s using crm_pipelines p
            where s.tenant_id = $1 and p.tenant_id = $1 and s.pipeline_id = p.id and p.location_id = $2
              and not exists (select 1 from jsonb_to_recordset($3::jsonb) as r(pipeline_id text, id text) where r.pipeline_id = s.pipeline_id and r.id = s.id)`,
          [tenantId, locationId, JSON.stringify(stages)],
        );
        await c.query(
          `delete from crm_pipelines where tenant_id = $1 and location_id = $2 and not (id = any($3::text[]))`,
          [tenantId, locationId, pipelines.map((p) => p.id)],
        );
        if (pipelines.length) {
          await c.query(UPSERT_PIPELINES, [
            tenantId,
            locationId,
            JSON.stringify(pipelines.map((p) => ({ id: p.id, name: p.name }))),
            JSON.stringify(stages),
          ]);
        }
      });

      // A retried attempt resumes after the last page it committed (the heartbeat carries the cursor).
      const saved = activityInfo().heartbeatDetails as OppCursor | undefined;
      let cursor: OppCursor =
        saved && typeof saved.pages === 'number'
          ? saved
          : { startAfter: null, startAfterId: null, pages: 0, opportunities: 0 };
      for (;;) {
        heartbeat(cursor);
        const page = await client.searchOpportunities({
          locationId,
          status: 'all',
          limit: OPPORTUNITY_PAGE_SIZE,
          ...(cursor.startAfter !== null && cursor.startAfterId
            ? { startAfter: cursor.startAfter, startAfterId: cursor.startAfterId }
            : {}),
        });
        const rows = page.opportunities.map(toOpportunityRow);
        const next: OppCursor = {
          startAfter: page.meta.startAfter ?? null,
          startAfterId: page.meta.startAfterId ?? null,
          pages: cursor.pages + 1,
          opportunities: cursor.opportunities + rows.length,
        };
        await withTenant(pool, tenantId, async (c) => {
          if (rows.length) await c.query(UPSERT_OPPORTUNITIES, [tenantId, locationId, syncKey, JSON.stringify(rows)]);
          await c.query(
            `update crm_sync_state set progress = coalesce(progress, '{}'::jsonb) || jsonb_build_object('opportunities', $3::jsonb)
              where tenant_id = $1 and source = 'ghl' and running_sync_key = $2`,
            [
              tenantId,
              syncKey,
              JSON.stringify({ pages: next.pages, opportunities: next.opportunities, total: page.meta.total }),
            ],
          );
        });
        cursor = next;
        heartbeat(cursor);
        const more = rows.length === OPPORTUNITY_PAGE_SIZE && next.startAfterId !== null;
        if (!more) break;
      }

      const removed = await withTenant(pool, tenantId, (c) =>
        c.query(
          `delete from crm_opportunities where tenant_id = $1 and location_id = $2 and sync_key is distinct from $3 and synced_at < $4`,
          [tenantId, locationId, syncKey, plan.startedAt],
        ),
      );

      // Notes: contacts with opportunities, those fetched longest ago (or never) first.
      let notesContacts = 0;
      let notes = 0;
      if (notesPerRun > 0) {
        const due = await withTenant(pool, tenantId, (c) =>
          c.query<{ id: string }>(
            `select c.id from contacts c
               left join crm_note_fetches f on f.tenant_id = c.tenant_id and f.contact_id = c.id
              where c.tenant_id = $1 and c.location_id = $2
                and exists (select 1 from crm_opportunities o where o.tenant_id = c.tenant_id and o.contact_id = c.id)
              order by f.fetched_at asc nulls first, c.date_updated desc nulls last, c.id
              limit $3`,
            [tenantId, locationId, notesPerRun],
          ),
        );
        const fetched: {
          contactId: string;
          notes: { id: string; body: string; user_id: string | null; date_added: string | null }[];
        }[] = [];
        for (const { id } of due.rows) {
          heartbeat(cursor);
          // A contact's notes through the shared budget; `null` when the contact is gone upstream.
          const list = await client.listNotes(id);
          fetched.push({
            contactId: id,
            notes: (list ?? []).map((n) => ({
              id: n.id,
              body: n.body,
              user_id: typeof n.userId === 'string' ? n.userId : null,
              date_added: n.dateAdded ?? null,
            })),
          });
        }
        if (fetched.length) {
          const rows = fetched.flatMap((f) => f.notes.map((n) => ({ ...n, contact_id: f.contactId })));
          const contactIds = fetched.map((f) => f.contactId);
          await withTenant(pool, tenantId, async (c) => {
            await c.query(
              `delete from crm_notes where tenant_id = $1 and contact_id = any($2::text[]) and not (id = any($3::text[]))`,
              [tenantId, contactIds, rows.map((r) => r.id)],
            );
            if (rows.length) {
              await c.query(
                `insert into crm_notes (tenant_id, id, contact_id, body, user_id, date_added, synced_at)
                 select $1, r.id, r.contact_id, r.body, r.user_id, r.date_added, clock_timestamp()
                   from jsonb_to_recordset($2::jsonb) as r(id text, contact_id text, body text, user_id text, date_added timestamptz)
                 on conflict (tenant_id, id) do update set contact_id = excluded.contact_id, body = excluded.body, user_id = excluded.user_id,
                   date_added = excluded.date_added, synced_at = excluded.synced_at`,
                [tenantId, JSON.stringify(rows)],
              );
            }
            await c.query(
              `insert into crm_note_fetches (tenant_id, contact_id, fetched_at) select $1, unnest($2::text[]), clock_timestamp()
               on conflict (tenant_id, contact_id) do update set fetched_at = excluded.fetched_at`,
              [tenantId, contactIds],
            );
          });
          notesContacts = fetched.length;
          notes = rows.length;
        }
      }

      // Notes of contacts no longer in the cache (removed by an earlier full pass) go too.
      await withTenant(pool, tenantId, async (c) => {
        await c.query(
          `delete from crm_notes n where tenant_id = $1 and not exists (select 1 from contacts c where c.tenant_id = $1 and c.id = n.contact_id)`,
          [tenantId],
        );
        await c.query(
          `delete from crm_note_fetches f where tenant_id = $1 and not exists (select 1 from contacts c where c.tenant_id = $1 and c.id = f.contact_id)`,
          [tenantId],
        );
      });

      return {
        pipelines: pipelines.length,
        stages: stages.length,
        opportunities: cursor.opportunities,
        pages: cursor.pages,
        removed: removed.rowCount ?? 0,
        notesContacts,
        notes,
      };
    },
  };
}

export type CrmOpportunityActivities = ReturnType<typeof createCrmOpportunityActivities>;
