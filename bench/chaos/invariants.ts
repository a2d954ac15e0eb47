/**
 * What must hold once the faults are off and the work has settled, read from the outside: the
 * sandbox's records (what the providers saw), Postgres (what we stored) and Temporal's visibility
 * (what is still running). Each broken promise is one violation, listed with what it concerns.
 */
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { workflowIds } from '../../lib/workflowIds.js';
import type { Cluster } from './cluster.js';
import {
  CALENDAR,
  CRM,
  CRM_LOCATION,
  DESK,
  sandboxControl,
  sandboxEmails,
  type CampaignPlan,
  type Chat,
  type SimulatedCall,
} from './load.js';

export interface Violation {
  invariant: string;
  what: string;
}

/** Running workflows that are fine to leave running, and why (by workflow id prefix). */
export const documentedWaits: Record<string, string> = {
  'chat:': "a conversation waits for the owner's next message until its idle timeout closes it",
};

export const documentedReason = (workflowId: string): string | undefined =>
  Object.entries(documentedWaits).find(([prefix]) => workflowId.startsWith(prefix))?.[1];

export interface Facts {
  calls: SimulatedCall[];
  campaign: CampaignPlan;
  chats: Chat[];
}

export interface Findings {
  violations: Violation[];
  /** Worth knowing, not a broken promise (e.g. calls no message of which ever reached us). */
  notes: string[];
  callsReached: number;
  bookings: number;
  contacts: number;
}

type Status = 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED' | 'CONTINUED_AS_NEW' | 'TIMED_OUT';

/** The latest run of every workflow in the namespace, by id. */
export async function workflowStatuses(temporal: Client): Promise<Map<string, Status>> {
  const latest = new Map<string, { status: Status; start: number }>();
  for await (const wf of temporal.workflow.list()) {
    const start = wf.startTime.getTime();
    const seen = latest.get(wf.workflowId);
    if (!seen || start >= seen.start) latest.set(wf.workflowId, { status: wf.status.name as Status, start });
  }
  return new Map([...latest].map(([id, v]) => [id, v.status]));
}

/**
 * Why a workflow is still running, from its history: stuck (its workflow task keeps failing, with
 * the failure's message) or still working (its last event and how long ago).
 */
async function whyRunning(temporal: Client, workflowId: string): Promise<string> {
  const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const failed = events.findLast((e) => e.workflowTaskFailedEventAttributes);
  const lastCompleted = events.findLastIndex((e) => e.workflowTaskCompletedEventAttributes);
  if (failed && events.indexOf(failed) > lastCompleted)
    return `stuck: ${(failed.workflowTaskFailedEventAttributes?.failure?.message ?? '').slice(0, 160)}`;
  const last = events.at(-1);
  const type = Object.keys(last ?? {}).find((k) => k.endsWith('EventAttributes')) ?? 'no events';
  const at = Number(last?.eventTime?.seconds ?? 0) * 1000;
  return `still working: last ${type.replace(/EventAttributes$/, '')} ${Math.round((Date.now() - at) / 1000)} s ago`;
}

interface CallRow {
  workflow_id: string;
  status: string;
}

interface GhlContact {
  id: string;
  firstName?: string | null;
  email?: string | null;
}

const upstreamContacts = async (c: Cluster) =>
  (await sandboxControl<{ contacts: GhlContact[] }>(c, 'GET', `/ghl/contacts?locationId=${CRM_LOCATION}&limit=100000`))
    .contacts;

const cachedContacts = async (db: pg.Pool) =>
  new Map(
    (
      await db.query<{ id: string; first_name: string | null; email: string | null }>(
        'select id, first_name, email from contacts where tenant_id = $1',
        [CRM],
      )
    ).rows.map((r) => [r.id, r]),
  );

const sameContact = (u: GhlContact, mine: { first_name: string | null; email: string | null }) =>
  (mine.first_name ?? null) === (u.firstName ?? null) && (mine.email ?? null) === (u.email?.toLowerCase() ?? null);

/**
 * Before any sync repairs the cache: every contact whose last GHL webhook we acknowledged (2xx) is
 * cached as GHL has it (a webhook carries the whole contact) — whatever order the webhooks arrived
 * in, however often, and whatever the sync wrote meanwhile. Returns the violations.
 */
export async function checkWebhookCache(c: Cluster, db: pg.Pool): Promise<Violation[]> {
  const { deliveries } = await sandboxControl<{
    deliveries: { type: string; payload: { id?: string }; delivered: boolean }[];
  }>(c, 'GET', '/ghl/webhooks');
  const touched = new Map<string, boolean>();
  for (const d of deliveries) {
    if (!d.type.startsWith('Contact') || !d.payload.id) continue;
    touched.set(d.payload.id, d.delivered); // in the order GHL emitted them: the last one wins
  }
  const upstream = new Map((await upstreamContacts(c)).map((u) => [u.id, u]));
  const cached = await cachedContacts(db);
  const out: Violation[] = [];
  for (const [id, acknowledged] of touched) {
    if (!acknowledged) continue;
    const u = upstream.get(id);
    const mine = cached.get(id);
    if (u && (!mine || !sameContact(u, mine)))
      out.push({
        invariant: 'webhooks applied as GHL has it',
        what: `${id}: GHL ${u.firstName}/${u.email}, cache ${mine ? `${mine.first_name}/${mine.email}` : 'missing'}`,
      });
    if (!u && mine)
      out.push({ invariant: 'webhooks applied as GHL has it', what: `${id}: deleted at GHL, still cached` });
  }
  return out;
}

export async function checkInvariants(c: Cluster, db: pg.Pool, temporal: Client, facts: Facts): Promise<Findings> {
  const violations: Violation[] = [];
  const notes: string[] = [];
  const fail = (invariant: string, what: string) => violations.push({ invariant, what });
  const statuses = await workflowStatuses(temporal);

  // --- Calls: finished, transcript complete, exactly one CRM note --------------------------------
  const notesByWorkflow = new Map<string, number>();
  const ghlNotes = await sandboxControl<{ notes: { body: string }[] }>(
    c,
    'GET',
    '/ghl/notes?locationId=loc_demo&limit=100000',
  );
  const callRows = new Map(
    (await db.query<CallRow>('select workflow_id, status from calls where tenant_id = $1', [DESK])).rows.map((r) => [
      r.workflow_id,
      r,
    ]),
  );
  const utterances = new Map<string, { role: string; text: string }[]>();
  for (const u of (
    await db.query<{ workflow_id: string; role: string; text: string }>(
      'select workflow_id, role, text from call_utterances where tenant_id = $1 order by workflow_id, seq',
      [DESK],
    )
  ).rows) {
    const list = utterances.get(u.workflow_id) ?? [];
    list.push(u);
    utterances.set(u.workflow_id, list);
  }
  const bookedRows = new Map(
    (
      await db.query<{ workflow_id: string; result: string | null }>(
        `select workflow_id, result from call_tool_calls where tenant_id = $1 and name = 'book_appointment'`,
        [DESK],
      )
    ).rows.map((r) => [r.workflow_id, r.result]),
  );
  for (const n of ghlNotes.notes) {
    // The marker every call note ends with (activities/crm/actions.ts): `ref: <tenant>/<workflowId>:call-note`.
    const m = new RegExp(`ref: ${DESK}/(call:\\S+):call-note$`).exec(n.body);
    if (m) notesByWorkflow.set(m[1]!, (notesByWorkflow.get(m[1]!) ?? 0) + 1);
  }
  let reached = 0;
  const unreached: string[] = [];
  for (const call of facts.calls) {
    const wf = workflowIds.voiceCall(DESK, 'vapi', call.id);
    const status = statuses.get(wf);
    if (!call.reached && !status) {
      unreached.push(call.id);
      continue;
    }
    reached++;
    if (status !== 'COMPLETED') {
      const why = status === 'RUNNING' ? ` (${await whyRunning(temporal, wf).catch((e: Error) => e.message)})` : '';
      fail('call finished', `${wf}: workflow ${status ?? 'missing'}${why}`);
      continue;
    }
    const row = callRows.get(wf);
    if (!row) fail('call finished', `${wf}: no calls row`);
    const spoken = (utterances.get(wf) ?? []).filter((u) => u.role === 'user').map((u) => u.text);
    if (JSON.stringify(spoken) !== JSON.stringify(call.userLines))
      fail(
        'transcript complete',
        `${wf}: caller said ${call.userLines.length} lines, stored ${JSON.stringify(spoken)}`,
      );
    const noteCount = notesByWorkflow.get(wf) ?? 0;
    if (noteCount !== 1) fail('exactly one CRM note per call', `${wf}: ${noteCount} notes`);
  }
  for (const [wf, status] of statuses) {
    if (wf.startsWith(`call:${DESK}:`) && status !== 'COMPLETED' && !facts.calls.some((x) => wf.endsWith(x.id)))
      fail('call finished', `${wf}: workflow ${status} (not a call of the load)`);
  }
  if (unreached.length)
    notes.push(`${unreached.length} calls never reached the platform (every message fell while the API was down)`);

  // --- Bookings: exactly one appointment per booking --------------------------------------------
  const appts = (
    await sandboxControl<{
      appointments: { id: string; calendarId: string; startTime: string; appointmentStatus: string }[];
    }>(c, 'GET', '/ghl/appointments?locationId=loc_demo&limit=100000')
  ).appointments.filter((a) => a.calendarId === CALENDAR && a.appointmentStatus !== 'cancelled');
  const bySlot = new Map<number, string[]>();
  for (const a of appts) bySlot.set(Date.parse(a.startTime), [...(bySlot.get(Date.parse(a.startTime)) ?? []), a.id]);
  const slotsOfLoad = new Set(facts.calls.map((x) => Date.parse(x.slot)));
  for (const [slot, ids] of bySlot) {
    if (ids.length > 1)
      fail('exactly one appointment per booking', `${new Date(slot).toISOString()}: ${ids.length} appointments`);
    if (!slotsOfLoad.has(slot))
      fail('exactly one appointment per booking', `${new Date(slot).toISOString()}: nobody asked for it`);
  }
  let bookings = 0;
  let bookedUnheard = 0;
  for (const call of facts.calls) {
    const wf = workflowIds.voiceCall(DESK, 'vapi', call.id);
    const have = bySlot.get(Date.parse(call.slot))?.length ?? 0;
    const recorded = bookedRows.get(wf);
    const platformBooked = recorded?.startsWith('Booked') ?? false;
    const callerHeard = call.booking?.result?.startsWith('Booked') ?? false;
    if (platformBooked || callerHeard) {
      bookings++;
      if (have !== 1) fail('exactly one appointment per booking', `${wf}: booked ${call.slot}, ${have} appointments`);
    }
    if (callerHeard && recorded !== undefined && !platformBooked)
      fail(
        'exactly one appointment per booking',
        `${wf}: the caller heard "Booked", we stored ${JSON.stringify(recorded)}`,
      );
    if (have > 0 && !callerHeard) bookedUnheard++;
  }
  if (bookedUnheard)
    notes.push(
      `${bookedUnheard} bookings were made while the caller heard the fallback (the answer was lost with the API)`,
    );
  const doubles = await sandboxControl<{ doubleBookings: unknown[] }>(c, 'GET', '/ghl/double-bookings');
  for (const d of doubles.doubleBookings)
    fail('exactly one appointment per booking', `double booking ${JSON.stringify(d)}`);

  // --- Campaign: exactly the planned emails per lead, none twice, none to a suppressed address ---
  const campaignWf = workflowIds.campaign(DESK, facts.campaign.id);
  if (statuses.get(campaignWf) !== 'COMPLETED')
    fail('campaign completed', `${campaignWf}: ${statuses.get(campaignWf) ?? 'missing'}`);
  const suppressedAt = new Map(
    (
      await db.query<{ value: string; created_at: Date }>(
        `select value, created_at from suppressions where tenant_id = $1 and channel = 'email'`,
        [DESK],
      )
    ).rows.map((r) => [r.value, r.created_at.getTime()]),
  );
  const emails = await sandboxEmails(c);
  const byAddress = new Map<string, typeof emails>();
  for (const e of emails) {
    const to = e.personalizations[0]?.to[0]?.email;
    if (to) byAddress.set(to, [...(byAddress.get(to) ?? []), e]);
  }
  for (const lead of facts.campaign.leads) {
    const mine = byAddress.get(lead.email) ?? [];
    const keys = mine.map((e) => e.customArgs?.sb_send_key ?? '?');
    if (new Set(keys).size !== keys.length) fail('no email twice', `${lead.email}: send keys ${keys.join(', ')}`);
    const blockedSince = suppressedAt.get(lead.email);
    for (const e of mine)
      if (blockedSince !== undefined && Date.parse(e.receivedAt) > blockedSince)
        fail('no email to a suppressed address', `${lead.email}: ${e.customArgs?.sb_send_key} after its suppression`);
    const replied = facts.campaign.repliedAt.has(lead.email);
    if (lead.suppressedBefore) {
      if (mine.length)
        fail('planned emails per lead', `${lead.email} (suppressed before the start): ${mine.length} emails`);
    } else if (replied) {
      if (blockedSince === undefined) fail('opt-out honoured', `${lead.email}: replied "stop", not suppressed`);
      if (mine.length < 1 || mine.length > facts.campaign.emailSteps)
        fail('planned emails per lead', `${lead.email} (opted out): ${mine.length} emails`);
    } else if (new Set(keys).size !== facts.campaign.emailSteps) {
      fail('planned emails per lead', `${lead.email}: ${new Set(keys).size} of ${facts.campaign.emailSteps} emails`);
    }
  }
  const undelivered = facts.campaign.leads.filter(
    (l) => l.replies && !l.suppressedBefore && !facts.campaign.repliedAt.has(l.email),
  ).length;
  if (undelivered)
    notes.push(`${undelivered} replies were not accepted before the run ended (their leads count as silent)`);

  // --- Contacts: the cache equals the sandbox's GHL contacts ------------------------------------
  const upstream = await upstreamContacts(c);
  const cached = await cachedContacts(db);
  let drift = 0;
  for (const u of upstream) {
    const mine = cached.get(u.id);
    cached.delete(u.id);
    if (!mine || !sameContact(u, mine)) {
      if (drift++ < 20)
        fail(
          'cache equals GHL',
          `${u.id}: GHL ${u.firstName}/${u.email}, cache ${mine ? `${mine.first_name}/${mine.email}` : 'missing'}`,
        );
    }
  }
  for (const id of [...cached.keys()].slice(0, 20)) fail('cache equals GHL', `${id}: in the cache, deleted at GHL`);
  if (drift > 20) fail('cache equals GHL', `… and ${drift - 20} more contacts differ`);
  if (cached.size > 20) fail('cache equals GHL', `… and ${cached.size - 20} more deleted contacts cached`);

  // --- Chats: every message answered once, one conversation per chat ----------------------------
  for (const chat of facts.chats) {
    const rows = (
      await db.query<{ conversation_id: string; text: string }>(
        `select conversation_id, text from conversation_messages where tenant_id = $1 and role = 'user' and text like $2`,
        [DESK, `% of chat ${chat.n}:%`],
      )
    ).rows;
    const conversations = new Set(rows.map((r) => r.conversation_id));
    if (conversations.size !== 1)
      fail('one conversation per chat', `chat ${chat.firstMessageId}: ${conversations.size} conversations`);
    if (rows.length !== chat.messageIds.length)
      fail(
        'every chat message once',
        `chat ${chat.firstMessageId}: sent ${chat.messageIds.length}, stored ${rows.length}`,
      );
    if (chat.answered !== chat.messageIds.length)
      fail(
        'every chat message answered',
        `chat ${chat.firstMessageId}: ${chat.answered} of ${chat.messageIds.length}${chat.error ? ` (${chat.error})` : ''}`,
      );
  }

  // --- Workflows: completed, or waiting for a documented reason ---------------------------------
  for (const [wf, status] of statuses) {
    if (status === 'COMPLETED' || status === 'CONTINUED_AS_NEW') continue;
    if (status === 'RUNNING' && documentedReason(wf)) continue;
    if (wf.startsWith(`call:${DESK}:`)) continue; // listed with the calls
    fail('workflow completed or documented', `${wf}: ${status}`);
  }

  return { violations, notes, callsReached: reached, bookings, contacts: upstream.length };
}
