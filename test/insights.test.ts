import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnalysis } from '../domain/contactAnalysis.js';
import { withTenant } from '../lib/db.js';
import { createLogger } from '../lib/logger.js';
import { loadWorkflowBundle } from '../workers/worker.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';
import { connectGhl } from './support/connections.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';

/**
 * Insights, recommendations and the contact analysis over HTTP against the real platform (Postgres,
 * Temporal, worker) and the provider sandbox (GHL for the sync, Anthropic for the analysis).
 */

const A = 'ins-a';
const B = 'ins-b';
const S = 'ins-sync';
const SYNC_LOCATION = 'loc_ins_sync';

// Every rule is evaluated at this instant: a Wednesday, 15:00 UTC.
const AS_OF = '2026-06-10T15:00:00.000Z';
const asOfMs = Date.parse(AS_OF);
const ago = (days: number, hours = 0) => new Date(asOfMs - days * 86_400_000 - hours * 3_600_000).toISOString();
const ahead = (days: number) => new Date(asOfMs + days * 86_400_000).toISOString();

/*
 * The fixture. Local time at AS_OF: Chicago 10:00 (CDT), New York 11:00, Los Angeles 08:00,
 * Tokyo 00:00 Thursday, invalid zone → UTC 15:00.
 */
const contacts = [
  {
    id: 'c1',
    name: 'Ann Hot',
    phone: '+15125550001',
    email: 'ann@example.com',
    tz: 'America/Chicago',
    tags: ['hot'],
    source: 'referral',
    added: ago(30),
    updated: ago(2),
    dnd: false,
  },
  {
    id: 'c2',
    name: 'Bob Tagged',
    phone: '+15125550002',
    email: 'bob@example.com',
    tz: 'Asia/Tokyo',
    tags: ['callback'],
    source: 'referral',
    added: ago(10),
    updated: ago(1),
    dnd: false,
  },
  {
    id: 'c3',
    name: 'Cara Touched',
    phone: '+15125550003',
    email: null,
    tz: 'America/New_York',
    tags: ['hot'],
    source: 'facebook ads',
    added: ago(5),
    updated: ago(1),
    dnd: false,
  },
  {
    id: 'c4',
    name: 'Dan Dnd',
    phone: '+15125550004',
    email: null,
    tz: 'America/Chicago',
    tags: ['hot'],
    source: 'facebook ads',
    added: ago(3, 5),
    updated: ago(3, 5),
    dnd: true,
  },
  {
    id: 'c5',
    name: 'Eve Won',
    phone: '+15125550005',
    email: null,
    tz: 'Not/AZone',
    tags: [],
    source: 'referral',
    added: ago(100),
    updated: ago(50),
    dnd: false,
  },
  {
    id: 'c6',
    name: 'Fay Booked',
    phone: null,
    email: 'fay@example.com',
    tz: 'America/Chicago',
    tags: ['follow-up'],
    source: null,
    added: ago(4),
    updated: ago(4),
    dnd: false,
  },
  {
    id: 'c7',
    name: 'Gus Lost',
    phone: '+15125550007',
    email: null,
    tz: 'America/Los_Angeles',
    tags: [],
    source: 'google ads',
    added: ago(60),
    updated: ago(60),
    dnd: false,
  },
  {
    id: 'c8',
    name: 'Hal Stalled',
    phone: '+15125550008',
    email: null,
    tz: 'America/Chicago',
    tags: [],
    source: 'google ads',
    added: ago(40),
    updated: ago(40),
    dnd: false,
  },
];
const stages = [
  { id: 'st_new', name: 'New', position: 0 },
  { id: 'st_contacted', name: 'Contacted', position: 1 },
  { id: 'st_booked', name: 'Booked', position: 2 },
  { id: 'st_won', name: 'Won', position: 3 },
];
const opportunities = [
  {
    id: 'o1',
    contact: 'c1',
    stage: 'st_contacted',
    name: 'Implant consult',
    status: 'open',
    value: 5000,
    created: ago(20),
    updated: ago(3),
  },
  {
    id: 'o2',
    contact: 'c5',
    stage: 'st_won',
    name: 'Whitening',
    status: 'won',
    value: 2000,
    created: ago(90),
    updated: ago(40),
  },
  {
    id: 'o3',
    contact: 'c7',
    stage: 'st_new',
    name: 'Checkup',
    status: 'lost',
    value: 100,
    created: ago(60),
    updated: ago(30),
  },
  {
    id: 'o4',
    contact: 'c8',
    stage: 'st_booked',
    name: 'Braces',
    status: 'open',
    value: 1000,
    created: ago(40),
    updated: ago(20),
  },
  {
    id: 'o5',
    contact: 'c2',
    stage: 'st_new',
    name: 'Cleaning',
    status: 'open',
    value: 300,
    created: ago(8, 5),
    updated: ago(8, 5),
  },
  {
    id: 'o6',
    contact: 'c3',
    stage: 'st_contacted',
    name: 'Veneers',
    status: 'abandoned',
    value: 700,
    created: ago(5),
    updated: ago(5),
  },
  {
    id: 'o7',
    contact: 'c4',
    stage: 'st_ghost',
    name: 'Unknown stage',
    status: 'open',
    value: 0,
    created: ago(1, 5),
    updated: ago(1, 5),
  },
];
const notes = [
  { id: 'n1', contact: 'c2', body: 'Asked us to call back about pricing.', at: ago(10) },
  { id: 'n2', contact: 'c3', body: 'Spoke on the phone, not ready yet.', at: ago(2) },
];
const appointments = [
  { id: 'a1', contact: 'c6', status: 'confirmed', start: ahead(2) },
  { id: 'a2', contact: 'c8', status: 'showed', start: ago(30) },
];

describe('insights, recommendations and contact analysis', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let keyA: string;
  let keyB: string;

  const tenantWithKey = async (id: string, scopes: string[]) => {
    expect(
      (await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id, name: id } })).status,
    ).toBe(201);
    return (
      await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${id}/keys`, {
        key: TEST_ADMIN_KEY,
        body: { name: 't', scopes },
      })
    ).body.key as string;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    const sandboxPort = new URL(sandbox.url).port;
    // GHL "live" at the sandbox; Anthropic has no key, so it is in sandbox mode at SANDBOX_PORT.
    tp = await startTestPlatform({ env: { GHL_BASE_URL: `${sandbox.url}/ghl`, SANDBOX_PORT: sandboxPort } });
    keyA = await tenantWithKey(A, ['read']);
    keyB = await tenantWithKey(B, ['read']);

    const pool = tp.adminPool;
    await pool.query(
      `insert into contacts (tenant_id, id, location_id, name, phone, email, timezone, tags, source, date_added, date_updated, dnd)
       select $1, r.id, 'loc_fx', r.name, r.phone, r.email, r.tz, r.tags, r.source, r.added, r.updated, r.dnd
         from jsonb_to_recordset($2::jsonb) as r(id text, name text, phone text, email text, tz text, tags text[], source text, added timestamptz, updated timestamptz, dnd boolean)`,
      [A, JSON.stringify(contacts)],
    );
    await pool.query(
      `insert into crm_pipelines (tenant_id, id, location_id, name) values ($1, 'pipe_fx', 'loc_fx', 'Sales')`,
      [A],
    );
    await pool.query(
      `insert into crm_pipeline_stages (tenant_id, pipeline_id, id, name, position)
       select $1, 'pipe_fx', r.id, r.name, r.position from jsonb_to_recordset($2::jsonb) as r(id text, name text, position int)`,
      [A, JSON.stringify(stages)],
    );
    await pool.query(
      `insert into crm_opportunities (tenant_id, id, location_id, contact_id, pipeline_id, stage_id, name, status, monetary_value, created_at, updated_at)
       select $1, r.id, 'loc_fx', r.contact, 'pipe_fx', r.stage, r.name, r.status, r.value, r.created, r.updated
         from jsonb_to_recordset($2::jsonb) as r(id text, contact text, stage text, name text, status text, value numeric, created timestamptz, updated timestamptz)`,
      [A, JSON.stringify(opportunities)],
    );
    await pool.query(
      `insert into crm_notes (tenant_id, id, contact_id, body, date_added)
       select $1, r.id, r.contact, r.body, r.at from jsonb_to_recordset($2::jsonb) as r(id text, contact text, body text, at timestamptz)`,
      [A, JSON.stringify(notes)],
    );
    await pool.query(
      `insert into crm_appointments (tenant_id, id, location_id, contact_id, title, status, start_time, end_time)
       select $1, r.id, 'loc_fx', r.contact, 'Visit', r.status, r.start, r.start::timestamptz + interval '30 minutes'
         from jsonb_to_recordset($2::jsonb) as r(id text, contact text, status text, start timestamptz)`,
      [A, JSON.stringify(appointments)],
    );
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('computes every figure exactly as worked out by hand, with the rule behind it', async () => {
    const res = await call(tp.baseUrl, 'GET', `/v1/insights?asOf=${AS_OF}`, { key: keyA });
    expect(res.status).toBe(200);
    const b = res.body;
    expect(b.asOf).toBe(AS_OF);
    expect(b.params).toEqual({ notContactedDays: 7, activeDays: 14, peakDays: 90, tz: 'UTC', limit: 20 });

    // 8 contacts; c6 has no phone; emails: c1, c2, c6; c4 is DND, so callable = 7 − 1.
    expect(b.totals).toMatchObject({
      contacts: 8,
      withPhone: 7,
      withEmail: 3,
      dnd: 1,
      callable: 6,
      opportunities: { total: 7, open: 4, won: 1, lost: 1, abandoned: 1 },
      openPipelineValue: 5000 + 1000 + 300 + 0,
      wonValue: 2000,
      upcomingAppointments: 1,
      notes: 2,
    });
    expect(Object.keys(b.totals.rules)).toEqual(expect.arrayContaining(['contacts', 'callable', 'openPipelineValue']));

    // Callable and on a weekday 09–17 local: c1 (Chicago 10:00), c3 (NY 11:00), c5 (bad zone → UTC 15:00),
    // c8 (Chicago); not c2 (Tokyo midnight), c7 (LA 08:00), c4 (DND), c6 (no phone). Most recent activity first:
    // c3 (1 day), c1 (2 days), c8 (20 days, its opportunity), c5 (40 days, its opportunity).
    expect(b.actionableNow.count).toBe(4);
    expect(b.actionableNow.contactIds).toEqual(['c3', 'c1', 'c8', 'c5']);
    expect(b.actionableNow.rule).toMatch(/weekday between 09:00–17:00/);

    // Hot: c1 (tag hot + open deal, active 2 days ago, never touched) and c2 (tag callback + open deal,
    // last note 10 days ago > 7). Not c3 (note 2 days ago), c4 (DND), c5/c7/c8 (no recent activity),
    // c6 (upcoming appointment). Biggest open value first.
    expect(b.hotLeads.count).toBe(2);
    expect(b.hotLeads.leads.map((l: { id: string }) => l.id)).toEqual(['c1', 'c2']);
    expect(b.hotLeads.leads[0]).toMatchObject({
      openValue: 5000,
      signals: ['tag "hot"', 'open opportunity'],
      callableNow: true,
      lastTouchAt: null,
      lastActivityAt: ago(2),
    });
    expect(b.hotLeads.leads[1]).toMatchObject({
      openValue: 300,
      signals: ['tag "callback"', 'open opportunity'],
      callableNow: false,
      lastTouchAt: ago(10),
    });
    expect(b.hotLeads.rule).toMatch(/not contacted in 7 days/);

    // Peak activity over the last 90 days (UTC): contacts created, opportunities created, notes logged.
    const events = [
      ...contacts.map((c) => c.added),
      ...opportunities.map((o) => o.created),
      ...notes.map((n) => n.at),
    ].filter((at) => Date.parse(at) <= asOfMs && Date.parse(at) > asOfMs - 90 * 86_400_000);
    expect(events).toHaveLength(7 + 6 + 2); // c5 (100 days) and o2 (exactly 90 days) fall outside
    const byHour = Array.from({ length: 24 }, (_, h) => ({
      hour: h,
      events: events.filter((e) => new Date(e).getUTCHours() === h).length,
    }));
    expect(byHour[15]!.events).toBe(12);
    expect(byHour[10]!.events).toBe(3); // c4, o5, o7 at 10:00
    expect(b.peakActivity.byHour).toEqual(byHour);
    const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
    const byWeekday = days.map((day, i) => ({
      day,
      events: events.filter((e) => (new Date(e).getUTCDay() + 6) % 7 === i).length,
    }));
    // Wednesday minus n days: Fri ×4 (c3, c8, o4, o6), Sat ×3 (c6, c7, o3), Sun ×3 (c2, c4, n1), Mon ×2 (c1, n2), Tue ×2 (o5, o7), Thu ×1 (o1).
    expect(byWeekday.map((d) => d.events)).toEqual([2, 2, 0, 1, 4, 3, 3]);
    expect(b.peakActivity.byWeekday).toEqual(byWeekday);
    expect(b.peakActivity).toMatchObject({
      events: 15,
      peakHours: [15, 10],
      peakDays: ['Fri', 'Sat', 'Sun'],
      timezone: 'UTC',
      windowDays: 90,
    });

    // Conversion by source: referral c1, c2, c5 (c5 won); facebook ads c3, c4; google ads c7, c8; (none) c6.
    expect(b.conversionBySource.sources).toEqual([
      { source: 'referral', contacts: 3, withOpportunity: 3, won: 1, conversionRate: 0.3333 },
      { source: 'facebook ads', contacts: 2, withOpportunity: 2, won: 0, conversionRate: 0 },
      { source: 'google ads', contacts: 2, withOpportunity: 2, won: 0, conversionRate: 0 },
      { source: '(none)', contacts: 1, withOpportunity: 0, won: 0, conversionRate: 0 },
    ]);

    // Drop-off: positions new 0 (o3, o5), contacted 1 (o1, o6), booked 2 (o4), won 3 (o2); o7's stage is unknown.
    // reached = at or past the stage: 6, 4, 2, 1 → drop-off 1 − 4/6, 1 − 2/4, 1 − 1/2.
    expect(b.pipelineDropOff.unstagedOpportunities).toBe(1);
    expect(b.pipelineDropOff.pipelines).toEqual([
      {
        id: 'pipe_fx',
        name: 'Sales',
        opportunities: 6,
        stages: [
          { id: 'st_new', name: 'New', position: 0, atStage: 2, reached: 6, lostHere: 1, dropOffToNext: 0.3333 },
          {
            id: 'st_contacted',
            name: 'Contacted',
            position: 1,
            atStage: 2,
            reached: 4,
            lostHere: 1,
            dropOffToNext: 0.5,
          },
          { id: 'st_booked', name: 'Booked', position: 2, atStage: 1, reached: 2, lostHere: 0, dropOffToNext: 0.5 },
          { id: 'st_won', name: 'Won', position: 3, atStage: 1, reached: 1, lostHere: 0, dropOffToNext: null },
        ],
      },
    ]);
    for (const section of ['actionableNow', 'hotLeads', 'peakActivity', 'conversionBySource', 'pipelineDropOff'])
      expect(b[section].rule.length).toBeGreaterThan(20);
    expect(b.source).toBe('cache');
  });

  it('N is a query parameter: with 14 days, the lead noted 10 days ago is no longer hot; bad parameters name the field', async () => {
    const res = await call(
      tp.baseUrl,
      'GET',
      `/v1/insights?asOf=${AS_OF}&notContactedDays=14&tz=America/Chicago&limit=1`,
      { key: keyA },
    );
    expect(res.status).toBe(200);
    expect(res.body.hotLeads.count).toBe(1);
    expect(res.body.hotLeads.leads.map((l: { id: string }) => l.id)).toEqual(['c1']);
    expect(res.body.hotLeads.rule).toMatch(/not contacted in 14 days/);
    expect(res.body.actionableNow).toMatchObject({ count: 4, contactIds: ['c3'] }); // capped at limit
    // Chicago (CDT, UTC−5): 15:00 UTC events are at 10:00, 10:00 UTC ones at 05:00.
    expect(res.body.peakActivity.peakHours).toEqual([10, 5]);

    const bad = await call(tp.baseUrl, 'GET', '/v1/insights?notContactedDays=0&tz=Mars/Olympus', { key: keyA });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/querystring\.notContactedDays/);
    expect(bad.body.message).toMatch(/querystring\.tz/);
    expect((await call(tp.baseUrl, 'GET', '/v1/insights')).status).toBe(401);

    const docs = await call(tp.baseUrl, 'GET', '/docs/json');
    expect(Object.keys(docs.body.paths)).toEqual(
      expect.arrayContaining(['/v1/insights', '/v1/recommendations', '/v1/contacts/{id}/analysis']),
    );
    expect(docs.body.paths['/v1/insights'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['notContactedDays', 'asOf', 'tz']),
    );

    const audit = await call(tp.baseUrl, 'GET', '/v1/audit?tool=crm_insights', { key: keyA });
    expect(audit.body.rows.length).toBeGreaterThanOrEqual(2);
    expect(audit.body.rows.every((r: { source: string }) => r.source === 'cache')).toBe(true);
  });

  it('recommends prioritized actions with reasoning, covered contacts and the tool that carries each out', async () => {
    const res = await call(tp.baseUrl, 'GET', `/v1/recommendations?asOf=${AS_OF}`, { key: keyA });
    expect(res.status).toBe(200);
    const recs = res.body.recommendations as {
      id: string;
      priority: number;
      tool: string;
      contactIds: string[];
      contactCount: number;
      reasoning: string;
    }[];
    expect(recs.map((r) => [r.priority, r.id, r.tool, r.contactIds])).toEqual([
      [1, 'call-hot-leads-now', 'voice_start_call', ['c1']], // hot and callable now
      [2, 'revive-stalled-deals', 'voice_start_call', ['c8']], // o4 open, untouched since 20 days; c8's last touch 30 days ago
      [3, 'follow-up-hot-leads', 'campaign_create', ['c2']], // hot, but midnight in Tokyo
      [4, 'unblock-stage-st_contacted', 'campaign_create', ['c1']], // worst drop-off (0.5, reached 4); o1 is open there
      [5, 'document-hot-leads', 'crm_add_note', ['c1']], // hot without a note
    ]);
    expect(recs.every((r) => r.reasoning.length > 30 && r.contactCount === r.contactIds.length)).toBe(true);
  });

  it("another tenant's key sees none of it", async () => {
    const insights = await call(tp.baseUrl, 'GET', `/v1/insights?asOf=${AS_OF}`, { key: keyB });
    expect(insights.status).toBe(200);
    expect(insights.body.totals).toMatchObject({
      contacts: 0,
      opportunities: { total: 0 },
      notes: 0,
      upcomingAppointments: 0,
    });
    expect(insights.body.hotLeads.count).toBe(0);
    expect(insights.body.pipelineDropOff.pipelines).toEqual([]);
    expect(
      (await call(tp.baseUrl, 'GET', `/v1/recommendations?asOf=${AS_OF}`, { key: keyB })).body.recommendations,
    ).toEqual([]);
    expect((await call(tp.baseUrl, 'GET', '/v1/contacts/c1/analysis', { key: keyB })).status).toBe(404);
  });

  it('analyses a contact grounded in its stored facts (sandbox Claude), 404 for an unknown one, facts without analysis when the model fails', async () => {
    const res = await call(tp.baseUrl, 'GET', '/v1/contacts/c1/analysis', { key: keyA });
    expect(res.status).toBe(200);
    expect(res.body.contact).toMatchObject({ id: 'c1', name: 'Ann Hot', tags: ['hot'] });
    expect(res.body.opportunities).toEqual([
      expect.objectContaining({
        id: 'o1',
        name: 'Implant consult',
        status: 'open',
        pipelineName: 'Sales',
        stageName: 'Contacted',
        monetaryValue: 5000,
      }),
    ]);
    expect(res.body.notes).toEqual([]);
    expect(res.body.error).toBeNull();
    expect(res.body.llmSource).toBe('sandbox');
    expect(res.body.model).toMatch(/^sandbox-/);
    const a = res.body.analysis;
    expect(a).not.toBeNull();
    // The sandbox model fills free text from the prompt: the analysis quotes the stored record.
    expect(a.intent).toContain('Ann Hot');
    expect(a.intent).toContain('Implant consult');
    expect(a.nextBestAction.reason).toContain('Ann Hot');

    const c2 = await call(tp.baseUrl, 'GET', '/v1/contacts/c2/analysis', { key: keyA });
    expect(c2.body.notes).toEqual([{ id: 'n1', body: 'Asked us to call back about pricing.', dateAdded: ago(10) }]);
    expect(c2.body.analysis.intent).toContain('Asked us to call back about pricing.');

    expect((await call(tp.baseUrl, 'GET', '/v1/contacts/nobody/analysis', { key: keyA })).status).toBe(404);

    await sandbox.control('POST', '/faults', {
      provider: 'anthropic',
      route: 'POST /v1/messages',
      status: 400,
      count: 1,
    });
    const failed = await call(tp.baseUrl, 'GET', '/v1/contacts/c1/analysis', { key: keyA });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ analysis: null, contact: { id: 'c1' } });
    expect(failed.body.error).toMatch(/could not be reached \(HTTP 400\)/);

    const audit = await call(tp.baseUrl, 'GET', '/v1/audit?tool=llm_contact_analysis', { key: keyA });
    expect(audit.body.rows.map((r: { status: string }) => r.status)).toEqual(['error', 'ok', 'ok']);
    expect(audit.body.rows.every((r: { source: string }) => r.source === 'sandbox')).toBe(true);
  });

  it('a malformed model answer becomes analysis null with an error naming what was wrong', () => {
    expect(
      parseAnalysis([
        { type: 'tool_use', id: 't', name: 'record_contact_analysis', input: { intent: 'x', stage: 'bogus' } },
      ]),
    ).toMatchObject({
      analysis: null,
      error: expect.stringMatching(/stage/),
    });
    expect(parseAnalysis([{ type: 'text', text: 'Sure! {"intent": ' }])).toMatchObject({
      analysis: null,
      error: expect.stringMatching(/malformed JSON|no tool call/),
    });
    expect(parseAnalysis([{ type: 'text', text: 'I think they want a cleaning.' }])).toMatchObject({ analysis: null });
    expect(parseAnalysis('nonsense')).toMatchObject({ analysis: null });
    const ok = parseAnalysis([
      {
        type: 'text',
        text: 'Here: {"intent":"wants a cleaning","stage":"engaged","risks":[],"nextBestAction":{"action":"call","tool":"voice_start_call","reason":"asked"}}',
      },
    ]);
    expect(ok.analysis).toMatchObject({ stage: 'engaged', evidence: [] });
  });

  it('the sync workflow mirrors pipelines, opportunities and notes from GoHighLevel, and follows changes upstream', async () => {
    const key = await tenantWithKey(S, ['read', 'act', 'admin']);
    await sandbox.control('POST', '/ghl/seed', { locationId: SYNC_LOCATION, contacts: 6, seed: 5 });
    const { contacts: upstream } = await sandbox.control<{ contacts: { id: string }[] }>(
      'GET',
      `/ghl/contacts?locationId=${SYNC_LOCATION}&limit=100`,
    );
    const pipes = await sandbox.ghl<{ pipelines: { id: string; stages: { id: string }[] }[] }>(
      'GET',
      `/opportunities/pipelines?locationId=${SYNC_LOCATION}`,
    );
    const pipe = pipes.body.pipelines[0]!;
    const created: string[] = [];
    const specs = [
      { contact: 0, status: 'open', stage: 1, value: 1200 },
      { contact: 1, status: 'won', stage: 3, value: 800 },
      { contact: 2, status: 'lost', stage: 0, value: 50 },
    ];
    for (const s of specs) {
      const r = await sandbox.ghl<{ opportunity: { id: string } }>('POST', '/opportunities/', {
        pipelineId: pipe.id,
        locationId: SYNC_LOCATION,
        name: `Deal ${s.contact}`,
        status: s.status,
        contactId: upstream[s.contact]!.id,
        pipelineStageId: pipe.stages[s.stage]!.id,
        monetaryValue: s.value,
      });
      expect(r.status).toBe(201);
      created.push(r.body.opportunity.id);
    }
    expect(
      (await sandbox.ghl('POST', `/contacts/${upstream[0]!.id}/notes`, { body: 'Wants the premium package.' })).status,
    ).toBe(201);

    await connectGhl(sandbox, tp.baseUrl, key, S, SYNC_LOCATION);
    const handles: { workflowId: string; runId: string }[] = [];
    const sync = async (mode: 'full' | 'incremental') => {
      const started = await call(tp.baseUrl, 'POST', '/v1/sync', { key, body: { mode } });
      expect(started.status).toBe(202);
      handles.push({ workflowId: started.body.workflowId, runId: started.body.runId });
      return tp.platform.temporal!.workflow.getHandle(started.body.workflowId, started.body.runId).result();
    };
    const cached = () =>
      withTenant(tp.platform.pool, S, async (c) => ({
        opps: (
          await c.query(
            `select id, contact_id, pipeline_id, stage_id, status, monetary_value::float8 as value from crm_opportunities order by id`,
          )
        ).rows,
        stages: (await c.query(`select id, position from crm_pipeline_stages order by position`)).rows,
        notes: (await c.query(`select contact_id, body from crm_notes order by id`)).rows,
      }));
    const upstreamOpps = async () => {
      const { opportunities: list } = await sandbox.control<{
        opportunities: {
          id: string;
          contactId: string;
          pipelineId: string;
          pipelineStageId: string;
          status: string;
          monetaryValue: number;
        }[];
      }>('GET', `/ghl/opportunities?locationId=${SYNC_LOCATION}&limit=100`);
      return list
        .map((o) => ({
          id: o.id,
          contact_id: o.contactId,
          pipeline_id: o.pipelineId,
          stage_id: o.pipelineStageId,
          status: o.status,
          value: o.monetaryValue,
        }))
        .sort((x, y) => (x.id < y.id ? -1 : 1));
    };

    const first = await sync('full');
    expect(first).toMatchObject({ state: 'completed', contacts: 6, opportunities: 3, notes: 1 });
    expect(first.opportunitiesError).toBeUndefined();
    let mirror = await cached();
    expect(mirror.opps).toEqual(await upstreamOpps());
    expect(mirror.stages.map((s: { id: string }) => s.id)).toEqual(pipe.stages.map((s) => s.id));
    expect(mirror.notes).toEqual([{ contact_id: upstream[0]!.id, body: 'Wants the premium package.' }]);

    // Upstream: one deal deleted, one moves on and is won. The next run (incremental for contacts) follows.
    expect((await sandbox.ghl('DELETE', `/opportunities/${created[2]}`)).status).toBe(200);
    expect(
      (await sandbox.ghl('PUT', `/opportunities/${created[0]}`, { status: 'won', pipelineStageId: pipe.stages[3]!.id }))
        .status,
    ).toBe(200);
    const second = await sync('incremental');
    expect(second).toMatchObject({ state: 'completed', kind: 'incremental', opportunities: 2 });
    mirror = await cached();
    expect(mirror.opps).toEqual(await upstreamOpps());
    expect(mirror.opps.map((o: { status: string }) => o.status)).toEqual(expect.arrayContaining(['won', 'won']));

    // The new step replays deterministically (the worker's cached bundle, the run's real history).
    const bundle = await loadWorkflowBundle(tp.dataDir, createLogger('warn', { pretty: false }));
    const history = await tp.platform
      .temporal!.workflow.getHandle(handles[0]!.workflowId, handles[0]!.runId)
      .fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, handles[0]!.workflowId);

    // And the insights see it.
    const insights = await call(tp.baseUrl, 'GET', '/v1/insights', { key });
    expect(insights.body.totals.opportunities).toEqual({ total: 2, open: 0, won: 2, lost: 0, abandoned: 0 });
  });
});
