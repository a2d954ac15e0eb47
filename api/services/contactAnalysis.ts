import { z } from 'zod';
import type { ProviderAccess } from '../../domain/connections/providerAccess.js';
import { analyzeContact, ContactAnalysis, type ContactFacts } from '../../domain/contactAnalysis.js';
import { recordAudit } from '../../domain/audit.js';
import { withTenant, type Pool } from '../../lib/db.js';
import { consume } from '../../domain/quotas.js';
import { notFound } from './errors.js';

/**
 * A contact's stored facts (cache) plus a Claude analysis grounded only in them. Read-only: the API
 * calls the model directly (it changes nothing). A failed or malformed model answer still returns
 * the facts, with `analysis: null` and `error`.
 */

const Facts = z.object({
  contact: z.object({
    id: z.string(),
    name: z.string().nullable(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    companyName: z.string().nullable(),
    source: z.string().nullable(),
    tags: z.array(z.string()),
    dnd: z.boolean(),
    timezone: z.string().nullable(),
    dateAdded: z.string().nullable(),
    dateUpdated: z.string().nullable(),
  }),
  opportunities: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      status: z.string(),
      pipelineName: z.string().nullable(),
      stageName: z.string().nullable(),
      monetaryValue: z.number().nullable(),
      createdAt: z.string().nullable(),
      updatedAt: z.string().nullable(),
      lastStatusChangeAt: z.string().nullable(),
    }),
  ),
  notes: z
    .array(z.object({ id: z.string(), body: z.string(), dateAdded: z.string().nullable() }))
    .describe('newest first, at most 20'),
  appointments: z
    .array(
      z.object({
        id: z.string(),
        title: z.string().nullable(),
        status: z.string().nullable(),
        startTime: z.string().nullable(),
        endTime: z.string().nullable(),
      }),
    )
    .describe('newest first, at most 20'),
});

export const AnalysisResponse = Facts.extend({
  analysis: ContactAnalysis.nullable(),
  error: z.string().nullable().describe('why there is no analysis (model unreachable or its answer malformed)'),
  model: z.string().nullable(),
  llmSource: z.enum(['live', 'sandbox']),
  source: z.literal('cache').describe('the facts come from the CRM cache'),
});
export type AnalysisResponse = z.infer<typeof AnalysisResponse>;

const NOTE_CHARS = 1000;

async function loadFacts(pool: Pool, tenantId: string, contactId: string): Promise<ContactFacts | null> {
  return withTenant(pool, tenantId, async (c) => {
    const { rows } = await c.query<{ facts: ContactFacts | null }>(
      `select case when ct.id is null then null else json_build_object(
         'contact', json_build_object('id', ct.id, 'name', ct.name, 'email', ct.email, 'phone', ct.phone, 'companyName', ct.company_name,
            'source', ct.source, 'tags', ct.tags, 'dnd', ct.dnd, 'timezone', ct.timezone,
            'dateAdded', to_char(ct.date_added at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'dateUpdated', to_char(ct.date_updated at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
         'opportunities', (select coalesce(json_agg(json_build_object('id', o.id, 'name', o.name, 'status', o.status, 'pipelineName', p.name,
              'stageName', s.name, 'monetaryValue', o.monetary_value::float8,
              'createdAt', to_char(o.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
              'updatedAt', to_char(o.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
              'lastStatusChangeAt', to_char(o.last_status_change_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
              order by o.created_at desc nulls last, o.id), '[]')
            from crm_opportunities o
            left join crm_pipelines p on p.tenant_id = o.tenant_id and p.id = o.pipeline_id
            left join crm_pipeline_stages s on s.tenant_id = o.tenant_id and s.pipeline_id = o.pipeline_id and s.id = o.stage_id
           where o.tenant_id = $1 and o.contact_id = ct.id),
         'notes', (select coalesce(json_agg(json_build_object('id', n.id, 'body', left(n.body, ${NOTE_CHARS}),
              'dateAdded', to_char(n.date_added at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) order by n.date_added desc nulls last, n.id), '[]')
            from (select * from crm_notes where tenant_id = $1 and contact_id = ct.id order by date_added desc nulls last, id limit 20) n),
         'appointments', (select coalesce(json_agg(json_build_object('id', a.id, 'title', a.title, 'status', a.status,
              'startTime', to_char(a.start_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
              'endTime', to_char(a.end_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) order by a.start_time desc nulls last, a.id), '[]')
            from (select * from crm_appointments where tenant_id = $1 and contact_id = ct.id and not deleted order by start_time desc nulls last, id limit 20) a)
       ) end as facts
       from (select 1) one left join contacts ct on ct.tenant_id = $1 and ct.id = $2`,
      [tenantId, contactId],
    );
    return rows[0]?.facts ?? null;
  });
}

/**
 * The contact's cached facts and Claude's analysis of them (REST and the `insights_analyze_contact`
 * tool); not found when the cache does not have the contact. Both the read and the model call are audited.
 */
export async function analyzeCachedContact(
  deps: { pool: Pool; access: ProviderAccess; model?: string },
  tenantId: string,
  contactId: string,
): Promise<AnalysisResponse> {
  const { pool } = deps;
  const readStarted = performance.now();
  const facts = await loadFacts(pool, tenantId, contactId);
  await recordAudit(pool, {
    tenantId,
    tool: 'crm_contact_facts',
    status: facts ? 'ok' : 'error',
    source: 'cache',
    durationMs: Math.round(performance.now() - readStarted),
    params: { contactId },
    ...(facts ? {} : { error: 'not found' }),
  });
  if (!facts) throw notFound(`no contact '${contactId}' in the cache`);

  // Each analysis is a paid model call: counted before it is made (REST 429 past the hourly quota).
  await consume(pool, tenantId, 'contact_analyses_per_hour', 1, { defaults: deps.access.quotaDefaults });
  // The tenant's own Claude key when it connected one, else the platform's.
  const llm = await deps.access.llm(tenantId, deps.model ? { model: deps.model } : {});
  const started = performance.now();
  const run = await analyzeContact(llm, facts);
  await recordAudit(pool, {
    tenantId,
    tool: 'llm_contact_analysis',
    activity: 'anthropic.messages.create',
    source: llm.source,
    status: run.outcome.analysis ? 'ok' : 'error',
    durationMs: Math.round(performance.now() - started),
    params: {
      contactId,
      model: run.model,
      ...(run.usage ? { inputTokens: run.usage.inputTokens, outputTokens: run.usage.outputTokens } : {}),
    },
    ...(run.outcome.error ? { error: run.outcome.error.slice(0, 1000) } : {}),
  });
  return {
    ...facts,
    analysis: run.outcome.analysis,
    error: run.outcome.error,
    model: run.answered ? run.model : null,
    llmSource: llm.source,
    source: 'cache' as const,
  };
}
