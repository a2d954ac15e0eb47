import { z } from 'zod';
import { Instant } from '../../lib/instant.js';
import { IanaTimeZone } from '../../lib/timeZones.js';
import type { PoolClient } from '../../lib/db.js';
import { badInput } from './errors.js';

/**
 * Insights and recommendations, computed in SQL from the CRM cache (contacts, opportunities,
 * pipeline stages, notes, appointments). Every figure comes with the rule behind it, in words.
 */

/** Tags that signal intent (compared lower-case). */
export const INTENT_TAGS = ['hot', 'callback', 'follow-up', 'new lead', 'interested'];
const BUSINESS_HOURS = { fromHour: 9, toHour: 17 };
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

const timeZone = IanaTimeZone;

export const InsightsQuery = z.strictObject({
  notContactedDays: z.coerce
    .number()
    .int()
    .min(1)
    .max(365)
    .default(7)
    .describe('N: a hot lead has had no touch (note, appointment) for N days'),
  activeDays: z.coerce.number().int().min(1).max(365).default(14).describe('recent activity window in days'),
  peakDays: z.coerce
    .number()
    .int()
    .min(1)
    .max(3650)
    .default(90)
    .describe('days of history the peak activity figures look at'),
  tz: timeZone.default('UTC').describe('time zone for peak hours/days, and for contacts without a valid time zone'),
  asOf: Instant.optional().describe('evaluate the rules at this instant (default: now)'),
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('longest list of contacts per figure'),
});
export type InsightsQuery = z.infer<typeof InsightsQuery>;

const Rules = z.record(z.string(), z.string());
const HotLead = z.object({
  id: z.string(),
  name: z.string().nullable(),
  phone: z.string().nullable(),
  email: z.string().nullable(),
  tags: z.array(z.string()),
  lastActivityAt: z.string().nullable(),
  lastTouchAt: z.string().nullable(),
  openValue: z.number(),
  signals: z.array(z.string()),
  callableNow: z.boolean(),
});
const Stage = z.object({
  id: z.string(),
  name: z.string(),
  position: z.number(),
  atStage: z.number(),
  reached: z.number(),
  lostHere: z.number(),
  dropOffToNext: z
    .number()
    .nullable()
    .describe('1 − reached(next stage) / reached(this stage); null for the last stage'),
});

export const InsightsResponse = z.object({
  asOf: z.string(),
  params: z.object({
    notContactedDays: z.number(),
    activeDays: z.number(),
    peakDays: z.number(),
    tz: z.string(),
    limit: z.number(),
  }),
  totals: z.object({
    contacts: z.number(),
    withPhone: z.number(),
    withEmail: z.number(),
    dnd: z.number(),
    callable: z.number(),
    opportunities: z.object({
      total: z.number(),
      open: z.number(),
      won: z.number(),
      lost: z.number(),
      abandoned: z.number(),
    }),
    openPipelineValue: z.number(),
    wonValue: z.number(),
    upcomingAppointments: z.number(),
    notes: z.number(),
    rules: Rules,
  }),
  actionableNow: z.object({ count: z.number(), contactIds: z.array(z.string()), rule: z.string() }),
  hotLeads: z.object({ count: z.number(), leads: z.array(HotLead), rule: z.string() }),
  peakActivity: z.object({
    timezone: z.string(),
    windowDays: z.number(),
    events: z.number(),
    byHour: z.array(z.object({ hour: z.number(), events: z.number() })),
    byWeekday: z.array(z.object({ day: z.enum(WEEKDAYS), events: z.number() })),
    peakHours: z.array(z.number()),
    peakDays: z.array(z.enum(WEEKDAYS)),
    rule: z.string(),
  }),
  conversionBySource: z.object({
    sources: z.array(
      z.object({
        source: z.string(),
        contacts: z.number(),
        withOpportunity: z.number(),
        won: z.number(),
        conversionRate: z.number(),
      }),
    ),
    rule: z.string(),
  }),
  pipelineDropOff: z.object({
    pipelines: z.array(
      z.object({ id: z.string(), name: z.string(), opportunities: z.number(), stages: z.array(Stage) }),
    ),
    unstagedOpportunities: z.number(),
    rule: z.string(),
  }),
  source: z.literal('cache'),
});
export type Insights = z.infer<typeof InsightsResponse>;

interface Segment {
  count: number;
  contactIds: string[];
}

/**
 * Per-contact facts every figure is computed from. $1 tenant, $2 as-of, $3 N days, $4 active days,
 * $6 tz, $8 intent tags, $9 the contacts' time zones that Postgres knows. Tags are compared as
 * stored (GoHighLevel keeps them lower-case) with array operators: no per-row subqueries.
 */
const CONTACT_FACTS = `
  -- The rule's instants, computed once: recent-activity start, last-touch cut-off, and whether it is
  -- business hours in each time zone the contacts use (and in the default zone).
  k as (
    select $2::timestamptz - make_interval(days => $4) as active_since, $2::timestamptz - make_interval(days => $3) as touch_before,
           (extract(isodow from $2::timestamptz at time zone $6) between 1 and 5 and extract(hour from $2::timestamptz at time zone $6) >= ${BUSINESS_HOURS.fromHour}
                       and extract(hour from $2::timestamptz at time zone $6) < ${BUSINESS_HOURS.toHour}) as default_in_hours),
  zones as (
    select z as name, (extract(isodow from $2::timestamptz at time zone z) between 1 and 5 and extract(hour from $2::timestamptz at time zone z) >= ${BUSINESS_HOURS.fromHour}
                       and extract(hour from $2::timestamptz at time zone z) < ${BUSINESS_HOURS.toHour}) as in_hours
      from unnest($9::text[]) z),
  opp as (
    select contact_id,
           bool_or(status = 'open') as has_open, bool_or(status = 'won') as has_won,
           coalesce(sum(monetary_value) filter (where status = 'open'), 0)::float8 as open_value,
           max(greatest(case when created_at <= $2 then created_at end, case when updated_at <= $2 then updated_at end)) as last_change,
           bool_or(status = 'open' and coalesce(updated_at, created_at) < (select active_since from k)) as has_stalled
      from crm_opportunities where tenant_id = $1 and contact_id is not null group by contact_id),
  touch as (
    select contact_id, max(at) as last_touch from (
      select contact_id, date_added as at from crm_notes where tenant_id = $1 and date_added <= $2
      union all
      select contact_id, start_time from crm_appointments
       where tenant_id = $1 and not deleted and contact_id is not null and start_time <= $2 and coalesce(lower(status), '') not in ('cancelled', 'invalid')
    ) t group by contact_id),
  upcoming as (
    select distinct contact_id from crm_appointments
     where tenant_id = $1 and not deleted and contact_id is not null and start_time > $2 and coalesce(lower(status), '') not in ('cancelled', 'invalid', 'noshow')),
  noted as (select distinct contact_id from crm_notes where tenant_id = $1),
  cf0 as (
    select c.id, c.name, c.phone, c.email, c.tags, c.dnd, coalesce(nullif(trim(c.source), ''), '(none)') as source,
           c.tags && $8::text[] as intent_tag, c.tags @> array['do-not-call'] as no_call,
           o.contact_id is not null as has_opp, coalesce(o.has_open, false) as has_open, coalesce(o.has_won, false) as has_won,
           coalesce(o.open_value, 0)::float8 as open_value, coalesce(o.has_stalled, false) as has_stalled,
           greatest(case when c.date_added <= $2 then c.date_added end, case when c.date_updated <= $2 then c.date_updated end, o.last_change) as last_activity,
           t.last_touch, u.contact_id is not null as has_upcoming, n.contact_id is not null as has_notes,
           coalesce(z.in_hours, k.default_in_hours) as in_hours,
           (t.last_touch is null or t.last_touch < k.touch_before) as not_contacted, k.active_since
      from contacts c
      cross join k
      left join opp o on o.contact_id = c.id
      left join touch t on t.contact_id = c.id
      left join upcoming u on u.contact_id = c.id
      left join noted n on n.contact_id = c.id
      left join zones z on z.name = c.timezone
     where c.tenant_id = $1),
  cf1 as (select *, (phone is not null and not dnd and not no_call) as callable from cf0),
  cf as materialized (
    select *, (callable and in_hours) as actionable,
           (not dnd and not no_call and (phone is not null or email is not null)
             and last_activity >= active_since
             and (intent_tag or has_open)
             and not_contacted and not has_upcoming) as hot,
           (has_stalled and not_contacted and not dnd and not no_call and (phone is not null or email is not null) and not has_upcoming) as stalled
      from cf1)`;

const INSIGHTS_SQL = `
  with ${CONTACT_FACTS},
  events as (
    select date_added as at from contacts where tenant_id = $1 and date_added <= $2 and date_added > $2 - make_interval(days => $5)
    union all
    select created_at from crm_opportunities where tenant_id = $1 and created_at <= $2 and created_at > $2 - make_interval(days => $5)
    union all
    select date_added from crm_notes where tenant_id = $1 and date_added <= $2 and date_added > $2 - make_interval(days => $5)),
  ev as (select extract(hour from at at time zone $6)::int as hour, extract(isodow from at at time zone $6)::int as dow, count(*) as n
           from events group by 1, 2),
  st as (
    select s.pipeline_id, p.name as pipeline_name, s.id, s.name, s.position
      from crm_pipeline_stages s join crm_pipelines p on p.tenant_id = s.tenant_id and p.id = s.pipeline_id where s.tenant_id = $1),
  op as (
    select o.pipeline_id, o.status, s.position from crm_opportunities o join st s on s.pipeline_id = o.pipeline_id and s.id = o.stage_id
     where o.tenant_id = $1),
  stage_stats as (
    select st.*,
           (select count(*) from op where op.pipeline_id = st.pipeline_id and op.position = st.position)::int as at_stage,
           (select count(*) from op where op.pipeline_id = st.pipeline_id and op.position >= st.position)::int as reached,
           (select count(*) from op where op.pipeline_id = st.pipeline_id and op.position = st.position and op.status in ('lost', 'abandoned'))::int as lost_here
      from st),
  stage_next as (select *, lead(reached) over (partition by pipeline_id order by position, id) as next_reached from stage_stats)
  select json_build_object(
    -- Everything per contact in one pass over cf.
    'c', (select json_build_object(
      'totals', json_build_object(
        'contacts', count(*), 'withPhone', count(*) filter (where phone is not null), 'withEmail', count(*) filter (where email is not null),
        'dnd', count(*) filter (where dnd), 'callable', count(*) filter (where callable)),
      'actionable', json_build_object('count', count(*) filter (where actionable),
        'contactIds', coalesce((array_agg(id order by last_activity desc nulls last, id) filter (where actionable))[1:$7], '{}')),
      'hotCount', count(*) filter (where hot),
      'segments', json_build_object(
        'callHotNow', json_build_object('count', count(*) filter (where hot and actionable),
          'contactIds', coalesce((array_agg(id order by open_value desc, last_activity desc, id) filter (where hot and actionable))[1:$7], '{}')),
        'followUpHot', json_build_object('count', count(*) filter (where hot and not actionable),
          'contactIds', coalesce((array_agg(id order by open_value desc, last_activity desc, id) filter (where hot and not actionable))[1:$7], '{}')),
        'hotWithoutNotes', json_build_object('count', count(*) filter (where hot and not has_notes),
          'contactIds', coalesce((array_agg(id order by open_value desc, last_activity desc, id) filter (where hot and not has_notes))[1:$7], '{}')),
        'stalledDeals', json_build_object('count', count(*) filter (where stalled),
          'contactIds', coalesce((array_agg(id order by open_value desc, id) filter (where stalled))[1:$7], '{}')))
      ) from cf),
    'opportunities', (select json_build_object(
        'total', count(*), 'open', count(*) filter (where status = 'open'), 'won', count(*) filter (where status = 'won'),
        'lost', count(*) filter (where status = 'lost'), 'abandoned', count(*) filter (where status = 'abandoned'),
        'openValue', coalesce(sum(monetary_value) filter (where status = 'open'), 0)::float8,
        'wonValue', coalesce(sum(monetary_value) filter (where status = 'won'), 0)::float8) from crm_opportunities where tenant_id = $1),
    'upcomingAppointments', (select count(*) from crm_appointments where tenant_id = $1 and not deleted and start_time > $2
                               and coalesce(lower(status), '') not in ('cancelled', 'invalid', 'noshow')),
    'notes', (select count(*) from crm_notes n where tenant_id = $1 and exists (select 1 from contacts c where c.tenant_id = $1 and c.id = n.contact_id)),
    'hot', (select coalesce(json_agg(h), '[]') from (
        select id, name, phone, email, tags, last_activity, last_touch, open_value, has_open, actionable
          from cf where hot order by open_value desc, last_activity desc, id limit $7) h),
    'byHour', (select json_agg(json_build_object('hour', h.h, 'events', coalesce(e.n, 0)) order by h.h)
                 from generate_series(0, 23) h(h) left join (select hour, sum(n)::int as n from ev group by hour) e on e.hour = h.h),
    'byDow', (select json_agg(json_build_object('dow', d.d, 'events', coalesce(e.n, 0)) order by d.d)
                from generate_series(1, 7) d(d) left join (select dow, sum(n)::int as n from ev group by dow) e on e.dow = d.d),
    'sources', (select coalesce(json_agg(s order by s.contacts desc, s.source), '[]') from (
        select source, count(*) as contacts, count(*) filter (where has_opp) as "withOpportunity", count(*) filter (where has_won) as won,
               round(count(*) filter (where has_won)::numeric / count(*), 4)::float8 as "conversionRate"
          from cf group by source order by count(*) desc, source limit 50) s),
    'pipelines', (select coalesce(json_agg(p order by p.name, p.id), '[]') from (
        select pipeline_id as id, pipeline_name as name,
               (select count(*) from op where op.pipeline_id = sn.pipeline_id)::int as opportunities,
               json_agg(json_build_object('id', id, 'name', name, 'position', position, 'atStage', at_stage, 'reached', reached, 'lostHere', lost_here,
                 'dropOffToNext', case when next_reached is null or reached = 0 then null else round(1 - next_reached::numeric / reached, 4)::float8 end)
                 order by position, id) as stages
          from stage_next sn group by pipeline_id, pipeline_name) p),
    'unstaged', (select count(*) from crm_opportunities o where o.tenant_id = $1
                   and not exists (select 1 from st where st.pipeline_id = o.pipeline_id and st.id = o.stage_id))
  ) as insights`;

interface Raw {
  c: {
    totals: { contacts: number; withPhone: number; withEmail: number; dnd: number; callable: number };
    actionable: Segment;
    hotCount: number;
    segments: { callHotNow: Segment; followUpHot: Segment; hotWithoutNotes: Segment; stalledDeals: Segment };
  };
  opportunities: {
    total: number;
    open: number;
    won: number;
    lost: number;
    abandoned: number;
    openValue: number;
    wonValue: number;
  };
  upcomingAppointments: number;
  notes: number;
  hot: {
    id: string;
    name: string | null;
    phone: string | null;
    email: string | null;
    tags: string[];
    last_activity: string | null;
    last_touch: string | null;
    open_value: number;
    has_open: boolean;
    actionable: boolean;
  }[];
  byHour: { hour: number; events: number }[];
  byDow: { dow: number; events: number }[];
  sources: Insights['conversionBySource']['sources'];
  pipelines: Insights['pipelineDropOff']['pipelines'];
  unstaged: number;
}

const iso = (v: string | null) => (v === null ? null : new Date(v).toISOString());
/** The `limit` largest buckets with at least one event, biggest first (ties: earliest). */
const peaks = <T>(buckets: { key: T; events: number }[], n = 3) =>
  buckets
    .filter((b) => b.events > 0)
    .sort((a, b) => b.events - a.events)
    .slice(0, n)
    .map((b) => b.key);

/** Time zones the database knows: static for the server's life, read once (the view is slow to scan). */
let knownZones: Promise<Set<string>> | undefined;
function databaseZones(client: PoolClient): Promise<Set<string>> {
  knownZones ??= client.query<{ name: string }>('select name from pg_timezone_names').then(
    (r) => new Set(r.rows.map((x) => x.name)),
    (err: unknown) => {
      knownZones = undefined;
      throw err;
    },
  );
  return knownZones;
}

export interface ComputedInsights {
  insights: Insights;
  segments: Raw['c']['segments'];
}

export async function computeInsights(
  client: PoolClient,
  tenantId: string,
  q: InsightsQuery,
): Promise<ComputedInsights> {
  const asOf = q.asOf ? new Date(q.asOf) : new Date();
  const zones = await databaseZones(client);
  if (!zones.has(q.tz)) throw badInput('tz', `time zone ${JSON.stringify(q.tz)} is unknown to the database`);
  // Contacts' own zones that Postgres knows; the rest fall back to tz.
  const contactZones = await client.query<{ timezone: string }>(
    'select distinct timezone from contacts where tenant_id = $1 and timezone is not null',
    [tenantId],
  );
  const valid = contactZones.rows.map((r) => r.timezone).filter((z) => zones.has(z));
  const { rows } = await client.query<{ insights: Raw }>(INSIGHTS_SQL, [
    tenantId,
    asOf.toISOString(),
    q.notContactedDays,
    q.activeDays,
    q.peakDays,
    q.tz,
    q.limit,
    INTENT_TAGS,
    valid,
  ]);
  const r = rows[0]!.insights;
  const N = q.notContactedDays;
  const hours = `${String(BUSINESS_HOURS.fromHour).padStart(2, '0')}:00–${BUSINESS_HOURS.toHour}:00`;
  const reachable = 'has a phone number, is not do-not-disturb and is not tagged do-not-call';
  const insights: Insights = {
    asOf: asOf.toISOString(),
    params: { notContactedDays: N, activeDays: q.activeDays, peakDays: q.peakDays, tz: q.tz, limit: q.limit },
    totals: {
      ...r.c.totals,
      opportunities: {
        total: r.opportunities.total,
        open: r.opportunities.open,
        won: r.opportunities.won,
        lost: r.opportunities.lost,
        abandoned: r.opportunities.abandoned,
      },
      openPipelineValue: r.opportunities.openValue,
      wonValue: r.opportunities.wonValue,
      upcomingAppointments: r.upcomingAppointments,
      notes: r.notes,
      rules: {
        contacts: 'contacts in the cache (mirrored from GoHighLevel)',
        withPhone: 'contacts with a phone number',
        withEmail: 'contacts with an email address',
        dnd: 'contacts marked do-not-disturb',
        callable: `contacts that can be called: ${reachable}`,
        opportunities: 'opportunities in the cache, by status',
        openPipelineValue: 'sum of the monetary value of open opportunities',
        wonValue: 'sum of the monetary value of won opportunities',
        upcomingAppointments: 'appointments starting after the as-of instant, not cancelled, invalid or no-show',
        notes: 'CRM notes in the cache on contacts in the cache (notes are mirrored for contacts with opportunities)',
      },
    },
    actionableNow: {
      ...r.c.actionable,
      rule: `callable now: ${reachable}, and it is a weekday between ${hours} in the contact's own time zone at the as-of instant (${q.tz} when the contact has none); most recently active first`,
    },
    hotLeads: {
      count: r.c.hotCount,
      leads: r.hot.map((h) => ({
        id: h.id,
        name: h.name,
        phone: h.phone,
        email: h.email,
        tags: h.tags,
        lastActivityAt: iso(h.last_activity),
        lastTouchAt: iso(h.last_touch),
        openValue: h.open_value,
        callableNow: h.actionable,
        signals: [
          ...h.tags
            .filter((t) => INTENT_TAGS.includes(t))
            .sort()
            .map((t) => `tag "${t}"`),
          ...(h.has_open ? ['open opportunity'] : []),
        ],
      })),
      rule:
        `a hot lead: recent activity (contact created or updated in GoHighLevel, or one of its opportunities created or updated, within the last ${q.activeDays} days), ` +
        `an intent signal (a tag among ${INTENT_TAGS.map((t) => `"${t}"`).join(', ')} — tags as GoHighLevel stores them, lower-case — or an open opportunity), ` +
        `not contacted in ${N} days (no note logged and no appointment held in the last ${N} days), no upcoming appointment, ` +
        'and reachable (not do-not-disturb, not tagged do-not-call, has a phone or an email); largest open opportunity value first, then most recent activity',
    },
    peakActivity: {
      timezone: q.tz,
      windowDays: q.peakDays,
      events: r.byHour.reduce((n, h) => n + h.events, 0),
      byHour: r.byHour,
      byWeekday: r.byDow.map((d) => ({ day: WEEKDAYS[d.dow - 1]!, events: d.events })),
      peakHours: peaks(r.byHour.map((h) => ({ key: h.hour, events: h.events }))),
      peakDays: peaks(r.byDow.map((d) => ({ key: WEEKDAYS[d.dow - 1]!, events: d.events }))),
      rule: `activity events in the last ${q.peakDays} days — a contact created, an opportunity created, a note logged — counted by hour of day and day of week in ${q.tz}; peaks are the (up to) 3 busiest hours and days`,
    },
    conversionBySource: {
      sources: r.sources,
      rule: "contacts grouped by their lead source ('(none)' when empty); withOpportunity = contacts with any opportunity, won = contacts with a won opportunity; conversionRate = won / contacts, rounded to 4 decimals; largest sources first (top 50)",
    },
    pipelineDropOff: {
      pipelines: r.pipelines,
      unstagedOpportunities: r.unstaged,
      rule: 'GoHighLevel keeps only the current stage, so an opportunity counts as having reached its current stage and every earlier one; atStage = opportunities now at the stage, lostHere = of those, lost or abandoned; dropOffToNext = 1 − reached(next stage) / reached(this stage), rounded to 4 decimals',
    },
    source: 'cache',
  };
  return { insights, segments: r.c.segments };
}

// --- recommendations ------------------------------------------------------------------------------

export const Recommendation = z.object({
  id: z.string(),
  priority: z.number().describe('1 = do first'),
  title: z.string(),
  reasoning: z.string(),
  rule: z.string(),
  tool: z
    .enum(['voice_start_call', 'campaign_create', 'crm_add_note'])
    .describe('the tool or workflow that carries it out'),
  contactCount: z.number(),
  contactIds: z.array(z.string()).describe('the contacts it covers (capped at limit)'),
});
export type Recommendation = z.infer<typeof Recommendation>;

/** Deterministic rules over the insights: each applies when it covers at least one contact. */
export function recommend({ insights, segments }: ComputedInsights): Recommendation[] {
  const N = insights.params.notContactedDays;
  const out: Omit<Recommendation, 'priority'>[] = [];
  const s = segments;
  if (s.callHotNow.count) {
    out.push({
      id: 'call-hot-leads-now',
      tool: 'voice_start_call',
      title: `Call ${s.callHotNow.count} hot lead(s) now`,
      reasoning: `${s.callHotNow.count} hot lead(s) are inside their business hours right now and nobody has been in touch for ${N}+ days; a call while interest is fresh converts best.`,
      rule: 'hot lead (see /v1/insights hotLeads.rule) and callable now (actionableNow.rule)',
      contactCount: s.callHotNow.count,
      contactIds: s.callHotNow.contactIds,
    });
  }
  if (s.stalledDeals.count) {
    out.push({
      id: 'revive-stalled-deals',
      tool: 'voice_start_call',
      title: `Check in on ${s.stalledDeals.count} stalled open deal(s)`,
      reasoning: `${s.stalledDeals.count} contact(s) have an open opportunity unchanged for ${insights.params.activeDays}+ days and no touch in ${N} days; a check-in call decides whether the deal is alive.`,
      rule: `an open opportunity not updated in ${insights.params.activeDays} days, no note or appointment in ${N} days, no upcoming appointment, reachable`,
      contactCount: s.stalledDeals.count,
      contactIds: s.stalledDeals.contactIds,
    });
  }
  if (s.followUpHot.count) {
    out.push({
      id: 'follow-up-hot-leads',
      tool: 'campaign_create',
      title: `Follow up ${s.followUpHot.count} hot lead(s) by campaign`,
      reasoning: `${s.followUpHot.count} hot lead(s) cannot be called right now (outside their business hours or no callable phone); a follow-up campaign (SMS/email, then a call in hours) reaches them without waiting.`,
      rule: 'hot lead that is not callable now',
      contactCount: s.followUpHot.count,
      contactIds: s.followUpHot.contactIds,
    });
  }
  const worst = insights.pipelineDropOff.pipelines
    .flatMap((p) => p.stages.map((st) => ({ p, st })))
    .filter(({ st }) => st.dropOffToNext !== null && st.reached >= 3)
    .sort((a, b) => b.st.dropOffToNext! - a.st.dropOffToNext! || a.st.position - b.st.position)[0];
  if (worst && worst.st.dropOffToNext! >= 0.5 && worst.st.atStage > 0) {
    out.push({
      id: `unblock-stage-${worst.st.id}`,
      tool: 'campaign_create',
      title: `Nurture the "${worst.st.name}" stage of ${worst.p.name}`,
      reasoning: `${Math.round(worst.st.dropOffToNext! * 100)}% of opportunities that reach "${worst.st.name}" never get further (${worst.st.reached} reached it); a nurture campaign for the ${worst.st.atStage} opportunity(ies) sitting there now targets the biggest leak.`,
      rule: 'the stage with the highest drop-off to the next stage (at least 3 opportunities reached it, drop-off ≥ 50 %)',
      // The contacts are those of the opportunities at that stage; the API fills them in.
      contactCount: 0,
      contactIds: [],
    });
  }
  if (s.hotWithoutNotes.count) {
    out.push({
      id: 'document-hot-leads',
      tool: 'crm_add_note',
      title: `Write context notes for ${s.hotWithoutNotes.count} hot lead(s)`,
      reasoning: `${s.hotWithoutNotes.count} hot lead(s) have no note in the CRM; whoever (or whichever agent) calls them next has nothing to go on. A short note per lead (intent, last activity, open deal) fixes that.`,
      rule: 'hot lead with no CRM note',
      contactCount: s.hotWithoutNotes.count,
      contactIds: s.hotWithoutNotes.contactIds,
    });
  }
  return out.map((r, i) => ({ ...r, priority: i + 1 }));
}

/** Recommendations with the contacts each covers; those that cover nobody are dropped. */
export async function computeRecommendations(
  c: PoolClient,
  tenantId: string,
  q: InsightsQuery,
): Promise<{ asOf: string; recommendations: Recommendation[] }> {
  const computed = await computeInsights(c, tenantId, q);
  const recs = recommend(computed);
  for (const rec of recs) {
    if (!rec.id.startsWith('unblock-stage-')) continue;
    const stageId = rec.id.slice('unblock-stage-'.length);
    const { rows } = await c.query<{ n: number; ids: string[] }>(
      `select count(distinct contact_id)::int as n, coalesce((array_agg(distinct contact_id))[1:$3], '{}') as ids
         from crm_opportunities where tenant_id = $1 and stage_id = $2 and status = 'open' and contact_id is not null`,
      [tenantId, stageId, q.limit],
    );
    rec.contactCount = rows[0]!.n;
    rec.contactIds = rows[0]!.ids;
  }
  return {
    asOf: computed.insights.asOf,
    recommendations: recs.filter((r) => r.contactCount > 0).map((r, i) => ({ ...r, priority: i + 1 })),
  };
}
