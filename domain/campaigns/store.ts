import { StoredCampaignDefinition, type CampaignSettings } from '../../lib/campaign.js';
import type { PoolClient } from '../../lib/db.js';
import type { LeadRef } from './leadEvents.js';
import type { LeadFacts } from './prompts.js';

/** Postgres helpers of the campaign activities: the campaign's settings, a lead's row and its facts. */

// A campaign's definition never changes after creation, so each process may keep it.
const settingsCache = new Map<string, { name: string; goal: string; settings: CampaignSettings }>();

/** The campaign from this process's cache, or undefined (then loadCampaign reads it). */
export const cachedCampaign = (tenantId: string, campaignId: string) => settingsCache.get(`${tenantId}:${campaignId}`);

export async function loadCampaign(
  client: PoolClient,
  tenantId: string,
  campaignId: string,
): Promise<{ name: string; goal: string; settings: CampaignSettings }> {
  const cacheKey = `${tenantId}:${campaignId}`;
  const hit = settingsCache.get(cacheKey);
  if (hit) return hit;
  const { rows } = await client.query<{ name: string; goal: string; definition: unknown }>(
    'select name, goal, definition from campaigns where tenant_id = $1 and id = $2',
    [tenantId, campaignId],
  );
  if (!rows[0]) throw new Error(`campaign ${campaignId} not found`);
  const { audience: _audience, ...settings } = StoredCampaignDefinition.parse(rows[0].definition);
  const loaded = { name: rows[0].name, goal: rows[0].goal, settings };
  if (settingsCache.size > 1000) settingsCache.clear();
  settingsCache.set(cacheKey, loaded);
  return loaded;
}

export interface LeadRow {
  id: string;
  contact_id: string | null;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  company: string | null;
  timezone: string | null;
  fields: Record<string, string>;
  state: string;
  brief: string | null;
}

export async function loadLead(client: PoolClient, ref: LeadRef): Promise<LeadRow> {
  const { rows } = await client.query<LeadRow>(
    `select id, contact_id, email, phone, first_name, last_name, company, timezone, fields, state, brief
       from campaign_leads where tenant_id = $1 and campaign_id = $2 and id = $3`,
    [ref.tenantId, ref.campaignId, ref.leadId],
  );
  if (!rows[0]) throw new Error(`lead ${ref.leadId} of campaign ${ref.campaignId} not found`);
  return rows[0];
}

/** The lead as the prompts see it: its own fields plus what the CRM cache holds (tags, notes, opportunities). */
export async function leadFacts(
  client: PoolClient,
  tenantId: string,
  lead: LeadRow,
): Promise<LeadFacts & { crmTimezone: string | null }> {
  const name = [lead.first_name, lead.last_name].filter(Boolean).join(' ') || null;
  const base = {
    name,
    firstName: lead.first_name,
    email: lead.email,
    phone: lead.phone,
    company: lead.company,
    fields: lead.fields ?? {},
  };
  const { rows } = await client.query<{
    id: string;
    name: string | null;
    first_name: string | null;
    company_name: string | null;
    tags: string[];
    source: string | null;
    timezone: string | null;
  }>(
    `select id, name, first_name, company_name, tags, source, timezone from contacts
      where tenant_id = $1 and (id = $2 or ($2::text is null and ((email = $3 and $3 is not null) or (phone = $4 and $4 is not null))))
      order by date_updated desc nulls last limit 1`,
    [tenantId, lead.contact_id, lead.email, lead.phone],
  );
  const contact = rows[0];
  if (!contact) return { ...base, crm: null, crmTimezone: null };
  // One connection runs one query at a time.
  const notes = await client.query<{ body: string }>(
    'select body from crm_notes where tenant_id = $1 and contact_id = $2 order by date_added desc nulls last limit 5',
    [tenantId, contact.id],
  );
  const opportunities = await client.query<{ name: string; status: string; stage: string | null }>(
    `select o.name, o.status, s.name as stage from crm_opportunities o
         left join crm_pipeline_stages s on s.tenant_id = o.tenant_id and s.pipeline_id = o.pipeline_id and s.id = o.stage_id
        where o.tenant_id = $1 and o.contact_id = $2 order by o.updated_at desc nulls last limit 5`,
    [tenantId, contact.id],
  );
  return {
    ...base,
    name: base.name ?? contact.name,
    firstName: base.firstName ?? contact.first_name,
    company: base.company ?? contact.company_name,
    crm: {
      tags: contact.tags,
      source: contact.source,
      notes: notes.rows.map((n) => n.body),
      opportunities: opportunities.rows.map((o) => `${o.name} (${o.status}${o.stage ? `, stage ${o.stage}` : ''})`),
    },
    crmTimezone: contact.timezone,
  };
}
