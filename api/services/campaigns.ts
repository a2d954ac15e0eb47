import { z } from 'zod';
import type { Client } from '@temporalio/client';
import {
  CampaignDefinition,
  StoredCampaignDefinition,
  leadsFromCsv,
  validateLeads,
  type LeadInput,
  type RowError,
} from '../../lib/campaign.js';
import { withTenant, type Pool, type PoolClient } from '../../lib/db.js';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import type { LeadRow } from '../../domain/campaigns/store.js';
import { newId, workflowIds } from '../../lib/ids.js';
import { CampaignIdKey, TenantIdKey, WorkflowKindKey } from '../../lib/searchAttributes.js';
import { campaign } from '../../workflows/campaign.js';
import {
  cancelCampaignSignal,
  leadsAddedSignal,
  pauseCampaignSignal,
  resumeCampaignSignal,
} from '../../workflows/campaign.contract.js';
import { badInput, conflict, notFound } from './errors.js';

/**
 * What one can do with a tenant's campaigns, for the REST routes and the MCP tools alike. Reads come
 * straight from Postgres; every change goes through the campaign workflow.
 */

const RowErrorSchema = z.object({ row: z.number(), field: z.string(), message: z.string() });
export const ImportResult = z.object({
  imported: z.number(),
  duplicates: z.number().describe('rows whose email or phone is already in the campaign (listed in errors)'),
  errors: z
    .array(RowErrorSchema)
    .describe('per-row problems: the row (1-based; in a CSV the header is row 1), the field, what is wrong'),
});
export type ImportResult = z.infer<typeof ImportResult>;

export const Progress = z.object({
  id: z.string(),
  name: z.string(),
  goal: z.string(),
  status: z.string(),
  workflowId: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  leads: z.object({
    total: z.number(),
    byState: z
      .record(z.string(), z.number())
      .describe(
        'pending, active, replied, booked, opted_out, suppressed, not_now, wrong_person, exhausted, cancelled, failed',
      ),
  }),
  emails: z.object({ sentToday: z.number().describe('UTC day'), sent: z.number() }),
  replies: z.number(),
  meetingsBooked: z.number(),
  pendingApprovals: z.number(),
  engagement: z.record(z.string(), z.number()).describe('SendGrid events by type (delivered, open, click, bounce, …)'),
  costUsd: z.number().describe('model tokens at list prices'),
  definition: z.record(z.string(), z.unknown()),
});
export type Progress = z.infer<typeof Progress>;

export const Timeline = z.object({
  lead: z.object({
    id: z.string(),
    contactId: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    firstName: z.string().nullable(),
    lastName: z.string().nullable(),
    company: z.string().nullable(),
    timezone: z.string().nullable(),
    state: z.string(),
    stepIndex: z.number().nullable(),
    brief: z.string().nullable(),
  }),
  workflowId: z.string(),
  emails: z.array(
    z.object({
      sendKey: z.string(),
      kind: z.string(),
      stepIndex: z.number().nullable(),
      subject: z.string(),
      status: z.string(),
      messageId: z.string().nullable(),
      origin: z.string(),
      sentAt: z.string().nullable(),
    }),
  ),
  events: z.array(
    z.object({
      id: z.number(),
      kind: z.string(),
      stepIndex: z.number().nullable(),
      data: z.unknown(),
      at: z.string(),
      recordedAt: z.string(),
    }),
  ),
});
export type Timeline = z.infer<typeof Timeline>;

/** Leads as a client sends them: a JSON list (validated row by row) or a CSV. */
export type LeadList = { leads: unknown[] } | { csv: string };

export interface CampaignListItem {
  id: string;
  name: string;
  status: string;
  leads: number;
  createdAt: string;
}

/** Inserts validated leads in order (seq follows input order); rows already in the campaign are reported, not inserted. */
async function insertLeads(
  c: PoolClient,
  tenantId: string,
  campaignId: string,
  leads: LeadInput[],
  rows: number[],
): Promise<{ imported: number; errors: RowError[] }> {
  if (!leads.length) return { imported: 0, errors: [] };
  const records = leads.map((l, n) => ({
    n,
    id: newId('ld'),
    contact_id: l.contactId ?? null,
    email: l.email ?? null,
    phone: l.phone ?? null,
    first_name: l.firstName ?? null,
    last_name: l.lastName ?? null,
    company: l.company ?? null,
    timezone: l.timezone ?? null,
    fields: l.fields ?? {},
  }));
  const { rows: inserted } = await c.query<{ id: string }>(
    `insert into campaign_leads (tenant_id, campaign_id, id, contact_id, email, phone, first_name, last_name, company, timezone, fields)
     select $1, $2, r.id, r.contact_id, r.email, r.phone, r.first_name, r.last_name, r.company, r.timezone, coalesce(r.fields, '{}')
       from jsonb_to_recordset($3::jsonb) as r(n int, id text, contact_id text, email text, phone text, first_name text, last_name text, company text, timezone text, fields jsonb)
      order by r.n
     on conflict do nothing
     returning id`,
    [tenantId, campaignId, JSON.stringify(records)],
  );
  const ok = new Set(inserted.map((r) => r.id));
  const errors = records.flatMap((r, i) =>
    ok.has(r.id)
      ? []
      : [
          {
            row: rows[i]!,
            field: r.email ? 'email' : 'phone',
            message: `${r.email ?? r.phone} is already in this campaign`,
          },
        ],
  );
  return { imported: ok.size, errors };
}

/** Leads from the request's own list, a CSV, or cached CRM contacts with a tag. */
async function audienceLeads(
  c: PoolClient,
  tenantId: string,
  audience: NonNullable<CampaignDefinition['audience']>,
): Promise<{ leads: LeadInput[]; rows: number[]; errors: RowError[] }> {
  if (audience.type === 'crm') {
    const { rows } = await c.query<{
      id: string;
      email: string | null;
      phone: string | null;
      first_name: string | null;
      last_name: string | null;
      company_name: string | null;
      timezone: string | null;
    }>(
      `select id, email, phone, first_name, last_name, company_name, timezone from contacts
        where tenant_id = $1 and $2 = any(tags) and (email is not null or phone is not null) and not dnd order by date_added nulls last, id limit $3`,
      [tenantId, audience.tag.toLowerCase(), audience.limit],
    );
    const raw = rows.map((r) => ({
      contactId: r.id,
      email: r.email ?? undefined,
      phone: r.phone ?? undefined,
      firstName: r.first_name ?? undefined,
      lastName: r.last_name ?? undefined,
      company: r.company_name ?? undefined,
      timezone: r.timezone ?? undefined,
    }));
    const { leads, errors } = validateLeads(raw);
    return { leads, rows: leads.map((_, i) => i + 1), errors };
  }
  return parseLeadList(audience.type === 'csv' ? { csv: audience.csv } : { leads: audience.leads });
}

function parseLeadList(input: LeadList): { leads: LeadInput[]; rows: number[]; errors: RowError[] } {
  if ('csv' in input) {
    const { leads, errors } = leadsFromCsv(input.csv);
    // Row numbers of the good rows, for duplicate errors: every data row not in error, in order.
    const bad = new Set(errors.map((e) => e.row));
    const total = leads.length + bad.size;
    const rows = Array.from({ length: total }, (_, i) => i + 2).filter((r) => !bad.has(r));
    return { leads, rows, errors };
  }
  const { leads, errors } = validateLeads(input.leads);
  const bad = new Set(errors.map((e) => e.row));
  const rows = input.leads.map((_, i) => i + 1).filter((r) => !bad.has(r));
  return { leads, rows, errors };
}

interface CampaignRow {
  id: string;
  name: string;
  goal: string;
  status: string;
  definition: Record<string, unknown>;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface CampaignDeps {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
  /** The tenant's SendGrid connection decides who campaign emails may come from. */
  access: ProviderAccess;
}

const TRANSITIONS = {
  pause: { from: ['running'], to: 'paused', signal: pauseCampaignSignal },
  resume: { from: ['paused'], to: 'running', signal: resumeCampaignSignal },
  cancel: { from: ['draft', 'running', 'paused'], to: 'cancelled', signal: cancelCampaignSignal },
} as const;
export type CampaignTransition = keyof typeof TRANSITIONS;

async function loadCampaign(pool: Pool, tenantId: string, id: string): Promise<CampaignRow> {
  const row = await withTenant(
    pool,
    tenantId,
    async (c) =>
      (
        await c.query<CampaignRow>(
          'select id, name, goal, status, definition, created_at, started_at, finished_at from campaigns where tenant_id = $1 and id = $2',
          [tenantId, id],
        )
      ).rows[0],
  );
  if (!row) throw notFound(`no campaign ${id}`);
  return row;
}

/** Starts (or signals) the campaign workflow; a finished run is started again and picks up pending leads. */
async function startCampaignWorkflow(deps: CampaignDeps, tenantId: string, row: CampaignRow, leadsAdded: boolean) {
  const def = StoredCampaignDefinition.parse(row.definition);
  const args: Parameters<typeof campaign> = [
    { tenantId, campaignId: row.id, maxActiveLeads: def.policy.maxActiveLeads },
  ];
  const options = {
    taskQueue: deps.taskQueue,
    workflowId: workflowIds.campaign(tenantId, row.id),
    args,
    typedSearchAttributes: [
      { key: TenantIdKey, value: tenantId },
      { key: CampaignIdKey, value: row.id },
      { key: WorkflowKindKey, value: 'campaign' },
    ],
  };
  if (leadsAdded) {
    return deps.temporal.workflow.signalWithStart(campaign, { ...options, signal: leadsAddedSignal, signalArgs: [] });
  }
  return deps.temporal.workflow.start(campaign, { ...options, workflowIdConflictPolicy: 'USE_EXISTING' });
}

/** A draft campaign; its audience becomes leads at once (bad rows reported, not imported). */
export async function createCampaign(
  deps: Pick<CampaignDeps, 'pool' | 'access'>,
  tenantId: string,
  def: CampaignDefinition,
  /** `id`: a caller that may retry (an agent's tool use) names the draft, so a retry finds it instead of making another. */
  opts: { id?: string } = {},
): Promise<{ id: string; status: 'draft'; workflowId: string; leads: ImportResult }> {
  if (def.sequence.some((s) => s.type === 'email')) {
    // Email goes out through the tenant's own SendGrid key (409 without one), as its verified sender.
    const sendgrid = await deps.access.sendgrid(tenantId);
    if (sendgrid.sender && sendgrid.sender.email !== def.sender.email.toLowerCase()) {
      throw badInput(
        'sender.email',
        `'${def.sender.email}' is not this tenant's verified SendGrid sender ('${sendgrid.sender.email}')`,
      );
    }
  }
  const id = opts.id ?? newId('cmp');
  const result = await withTenant(deps.pool, tenantId, async (c): Promise<ImportResult> => {
    // The audience becomes leads now; the definition keeps the rest.
    const { audience: _audience, ...settings } = def;
    const created = await c.query(
      'insert into campaigns (tenant_id, id, name, goal, definition) values ($1, $2, $3, $4, $5) on conflict (tenant_id, id) do nothing',
      [tenantId, id, def.name, def.goal, settings],
    );
    if (!created.rowCount) {
      // Made by an earlier attempt of the same caller: that draft, with the leads it imported.
      const { rows } = await c.query<{ n: number }>(
        'select count(*)::int as n from campaign_leads where tenant_id = $1 and campaign_id = $2',
        [tenantId, id],
      );
      return { imported: rows[0]!.n, duplicates: 0, errors: [] };
    }
    const audience = def.audience
      ? await audienceLeads(c, tenantId, def.audience)
      : { leads: [], rows: [], errors: [] };
    const inserted = await insertLeads(c, tenantId, id, audience.leads, audience.rows);
    const errors = [...audience.errors, ...inserted.errors].sort((a, b) => a.row - b.row);
    return { imported: inserted.imported, duplicates: inserted.errors.length, errors };
  });
  return { id, status: 'draft', workflowId: workflowIds.campaign(tenantId, id), leads: result };
}

/** The tenant's campaigns, newest first, with their lead counts. */
export async function listCampaigns(
  deps: Pick<CampaignDeps, 'pool'>,
  tenantId: string,
  limit: number,
): Promise<CampaignListItem[]> {
  const { rows } = await withTenant(deps.pool, tenantId, (c) =>
    c.query<CampaignRow & { leads: number }>(
      `select c.id, c.name, c.goal, c.status, c.created_at, c.started_at, c.finished_at,
              (select count(*)::int from campaign_leads l where l.tenant_id = c.tenant_id and l.campaign_id = c.id) as leads
         from campaigns c where c.tenant_id = $1 order by c.created_at desc limit $2`,
      [tenantId, limit],
    ),
  );
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    status: r.status,
    leads: r.leads,
    createdAt: r.created_at.toISOString(),
  }));
}

export const LeadListItem = z.object({
  id: z.string(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  firstName: z.string().nullable(),
  lastName: z.string().nullable(),
  company: z.string().nullable(),
  state: z.string(),
  stepIndex: z.number().nullable(),
});
export type LeadListItem = z.infer<typeof LeadListItem>;

/** A campaign's leads in the order they were added (`after`: the last id of the previous page); 404 for another tenant's campaign. */
export async function listLeads(
  deps: Pick<CampaignDeps, 'pool'>,
  tenantId: string,
  campaignId: string,
  q: { state?: string; limit: number; after?: string },
): Promise<LeadListItem[]> {
  const rows = await withTenant(deps.pool, tenantId, async (c) => {
    const found = await c.query('select 1 from campaigns where tenant_id = $1 and id = $2', [tenantId, campaignId]);
    if (!found.rowCount) return undefined;
    const leads = await c.query<{
      id: string;
      email: string | null;
      phone: string | null;
      first_name: string | null;
      last_name: string | null;
      company: string | null;
      state: string;
      step_index: number | null;
    }>(
      `select id, email, phone, first_name, last_name, company, state, step_index from campaign_leads
        where tenant_id = $1 and campaign_id = $2 and ($3::text is null or state = $3)
          and ($4::text is null or seq > (select seq from campaign_leads where tenant_id = $1 and campaign_id = $2 and id = $4))
        order by seq limit $5`,
      [tenantId, campaignId, q.state ?? null, q.after ?? null, q.limit],
    );
    return leads.rows;
  });
  if (!rows) throw notFound(`no campaign ${campaignId}`);
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    phone: r.phone,
    firstName: r.first_name,
    lastName: r.last_name,
    company: r.company,
    state: r.state,
    stepIndex: r.step_index,
  }));
}

/** Adds leads; a running, paused or completed campaign is told at once (a completed one runs again). */
export async function addLeads(
  deps: CampaignDeps,
  tenantId: string,
  id: string,
  input: LeadList,
): Promise<ImportResult> {
  const found = await loadCampaign(deps.pool, tenantId, id);
  if (found.status === 'cancelled') throw conflict('the campaign is cancelled');
  const parsed = parseLeadList(input);
  const inserted = await withTenant(deps.pool, tenantId, (c) =>
    insertLeads(c, tenantId, found.id, parsed.leads, parsed.rows),
  );
  if (inserted.imported && (found.status === 'running' || found.status === 'paused' || found.status === 'completed')) {
    if (found.status === 'completed') {
      await withTenant(deps.pool, tenantId, (c) =>
        c.query(
          `update campaigns set status = 'running', finished_at = null, updated_at = now() where tenant_id = $1 and id = $2`,
          [tenantId, found.id],
        ),
      );
    }
    await startCampaignWorkflow(deps, tenantId, found, true);
  }
  const errors = [...parsed.errors, ...inserted.errors].sort((a, b) => a.row - b.row);
  return { imported: inserted.imported, duplicates: inserted.errors.length, errors };
}

/** Starts the campaign workflow once; starting again answers with the same workflow. */
export async function startCampaign(
  deps: CampaignDeps,
  tenantId: string,
  id: string,
): Promise<{ workflowId: string; status: string }> {
  const found = await loadCampaign(deps.pool, tenantId, id);
  if (found.status === 'cancelled' || found.status === 'completed') throw conflict(`the campaign is ${found.status}`);
  if (found.status === 'draft') {
    await withTenant(deps.pool, tenantId, (c) =>
      c.query(
        `update campaigns set status = 'running', started_at = now(), updated_at = now() where tenant_id = $1 and id = $2 and status = 'draft'`,
        [tenantId, found.id],
      ),
    );
    await startCampaignWorkflow(deps, tenantId, found, false);
  }
  const status = found.status === 'draft' ? 'running' : found.status;
  return { workflowId: workflowIds.campaign(tenantId, found.id), status };
}

/** Pause, resume or cancel; asking for the state the campaign is already in changes nothing. */
export async function transitionCampaign(
  deps: Pick<CampaignDeps, 'pool' | 'temporal'>,
  tenantId: string,
  id: string,
  action: CampaignTransition,
): Promise<{ status: string }> {
  const t = TRANSITIONS[action];
  const found = await loadCampaign(deps.pool, tenantId, id);
  if (found.status === t.to) return { status: found.status };
  const allowed: readonly string[] = t.from;
  if (!allowed.includes(found.status)) throw conflict(`cannot ${action} a ${found.status} campaign`);
  // The status row first: sends check it, so a pause holds even before the signal reaches every lead.
  await withTenant(deps.pool, tenantId, (c) =>
    c.query('update campaigns set status = $3, updated_at = now() where tenant_id = $1 and id = $2', [
      tenantId,
      found.id,
      t.to,
    ]),
  );
  // A draft has no workflow yet: the row is all there is to change.
  if (found.status !== 'draft') {
    await deps.temporal.workflow.getHandle(workflowIds.campaign(tenantId, found.id)).signal(t.signal);
  }
  return { status: t.to };
}

/** Leads per state, sends, replies, meetings, approvals, engagement and cost. */
export async function campaignProgress(
  deps: Pick<CampaignDeps, 'pool'>,
  tenantId: string,
  id: string,
): Promise<Progress> {
  const found = await loadCampaign(deps.pool, tenantId, id);
  return withTenant(deps.pool, tenantId, async (c) => {
    const args = [tenantId, found.id];
    const states = await c.query<{ state: string; n: number }>(
      'select state, count(*)::int as n from campaign_leads where tenant_id = $1 and campaign_id = $2 group by state',
      args,
    );
    const sends = await c.query<{ today: number; total: number }>(
      `select count(*) filter (where day_bucket = (now() at time zone 'utc')::date)::int as today, count(*)::int as total
         from email_sends where tenant_id = $1 and campaign_id = $2 and status = 'sent'`,
      args,
    );
    const replies = await c.query<{ n: number }>(
      'select count(*)::int as n from inbound_emails where tenant_id = $1 and campaign_id = $2',
      args,
    );
    const engagement = await c.query<{ event: string; n: number }>(
      'select event, count(*)::int as n from sendgrid_events where tenant_id = $1 and campaign_id = $2 group by event',
      args,
    );
    const cost = await c.query<{ usd: string | null }>(
      `select sum((data->>'costUsd')::numeric) as usd from lead_events where tenant_id = $1 and campaign_id = $2 and data ? 'costUsd'`,
      args,
    );
    const approvals = await c.query<{ n: number }>(
      `select count(*)::int as n from campaign_approvals where tenant_id = $1 and campaign_id = $2 and status = 'pending'`,
      args,
    );
    const leads = Object.fromEntries(states.rows.map((r) => [r.state, r.n]));
    return {
      id: found.id,
      name: found.name,
      goal: found.goal,
      status: found.status,
      workflowId: workflowIds.campaign(tenantId, found.id),
      createdAt: found.created_at.toISOString(),
      startedAt: found.started_at?.toISOString() ?? null,
      finishedAt: found.finished_at?.toISOString() ?? null,
      leads: { total: states.rows.reduce((n, r) => n + r.n, 0), byState: leads },
      emails: { sentToday: sends.rows[0]!.today, sent: sends.rows[0]!.total },
      replies: replies.rows[0]!.n,
      meetingsBooked: leads.booked ?? 0,
      pendingApprovals: approvals.rows[0]!.n,
      engagement: Object.fromEntries(engagement.rows.map((r) => [r.event, r.n])),
      costUsd: Number(cost.rows[0]!.usd ?? 0),
      definition: found.definition,
    };
  });
}

/** One lead and its timeline (append-only, oldest first). */
export async function leadTimeline(
  deps: Pick<CampaignDeps, 'pool'>,
  tenantId: string,
  campaignId: string,
  leadId: string,
): Promise<Timeline> {
  const result = await withTenant(deps.pool, tenantId, async (c) => {
    const lead = await c.query<Omit<LeadRow, 'fields'> & { step_index: number | null }>(
      `select id, contact_id, email, phone, first_name, last_name, company, timezone, state, step_index, brief
         from campaign_leads where tenant_id = $1 and campaign_id = $2 and id = $3`,
      [tenantId, campaignId, leadId],
    );
    const l = lead.rows[0];
    if (!l) return undefined;
    const events = await c.query<{
      id: string;
      kind: string;
      step_index: number | null;
      data: unknown;
      occurred_at: Date;
      recorded_at: Date;
    }>(
      `select id, kind, step_index, data, occurred_at, recorded_at from lead_events
        where tenant_id = $1 and campaign_id = $2 and lead_id = $3 order by id`,
      [tenantId, campaignId, leadId],
    );
    const emails = await c.query<{
      send_key: string;
      kind: string;
      step_index: number | null;
      subject: string;
      status: string;
      message_id: string | null;
      origin: string;
      sent_at: Date | null;
    }>(
      `select send_key, kind, step_index, subject, status, message_id, origin, sent_at from email_sends
        where tenant_id = $1 and campaign_id = $2 and lead_id = $3 order by created_at`,
      [tenantId, campaignId, leadId],
    );
    return {
      lead: {
        id: l.id,
        contactId: l.contact_id,
        email: l.email,
        phone: l.phone,
        firstName: l.first_name,
        lastName: l.last_name,
        company: l.company,
        timezone: l.timezone,
        state: l.state,
        stepIndex: l.step_index,
        brief: l.brief,
      },
      workflowId: workflowIds.leadOutreach(tenantId, campaignId, leadId),
      emails: emails.rows.map((e) => ({
        sendKey: e.send_key,
        kind: e.kind,
        stepIndex: e.step_index,
        subject: e.subject,
        status: e.status,
        messageId: e.message_id,
        origin: e.origin,
        sentAt: e.sent_at?.toISOString() ?? null,
      })),
      events: events.rows.map((e) => ({
        id: Number(e.id),
        kind: e.kind,
        stepIndex: e.step_index,
        data: e.data,
        at: e.occurred_at.toISOString(),
        recordedAt: e.recorded_at.toISOString(),
      })),
    };
  });
  if (!result) throw notFound(`no lead ${leadId} in campaign ${campaignId}`);
  return result;
}
