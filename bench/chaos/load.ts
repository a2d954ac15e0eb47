/**
 * The mixed load, driven the way the providers and people drive it: simulated phone calls (the
 * sandbox's Vapi plays each against our webhook, with tool calls and a booking), a campaign whose
 * leads reply through SendGrid Inbound Parse, a GoHighLevel contact sync with the location's
 * contacts changing meanwhile (the sandbox sends the signed webhooks), and owners chatting with an
 * agent. Everything tolerates the faults as its real counterpart would: a caller whose tool call
 * fails hears the fallback and goes on; SendGrid retries a reply until it is accepted; the owner's
 * chat client resends a message (same messageId) until it gets its answer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { suppress } from '../../domain/suppression.js';
import { withTenant, type Pool } from '../../lib/db.js';
import type { Rng } from '../../sandbox/random.js';
import { api, createTenant } from '../lib/platform.js';
import type { Cluster } from './cluster.js';

export const DESK = 'chaos-desk';
export const CRM = 'chaos-crm';
export const CRM_LOCATION = 'loc_chaos_crm';
export const CALENDAR = 'cal_chaos';
export const VAPI_SECRET = 'chaos-vapi-secret-0123456789';
const SENDER = 'desk@clinic.example';
const OPT_OUT = 'Please unsubscribe me and stop emailing.';

/** The sandbox's control API (JSON); a non-2xx answer throws. */
export async function sandboxControl<T = unknown>(
  c: Cluster,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${c.sandbox.url}/__sandbox${path}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sandbox ${method} ${path} → ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A client of the API that retries until `deadline` (the API may be restarting, Temporal down …). */
export async function persist<T>(what: string, fn: () => Promise<T>, deadline = Date.now() + 180_000): Promise<T> {
  for (let delay = 250; ; delay = Math.min(delay * 2, 4000)) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(delay);
    }
  }
}

export interface Tenants {
  deskKey: string;
  crmKey: string;
}

/** Both tenants as their admins connect them: their own GHL location, Vapi, SendGrid; voice settings. */
export async function setUpTenants(c: Cluster, contacts: number): Promise<Tenants> {
  const base = c.apiUrl;
  // Bookings need many slots: a calendar open around the clock in 15-minute slots.
  await sandboxControl(c, 'POST', '/ghl/calendars', {
    id: CALENDAR,
    locationId: 'loc_demo',
    timezone: 'UTC',
    openDays: [1, 2, 3, 4, 5, 6, 7],
    openHour: 0,
    closeHour: 24,
    slotDurationMinutes: 15,
    slotIntervalMinutes: 15,
  });
  // The load's own volume is not what is under test: GHL's limit out of the way (429s are injected).
  await sandboxControl(c, 'POST', '/ghl/limits', { burst: 1_000_000, daily: 100_000_000 });

  const deskKey = await createTenant(base, DESK, ['read', 'act', 'admin']);
  await sandboxControl(c, 'POST', '/ghl/tokens', { token: `pit-${DESK}`, locationId: 'loc_demo' });
  await api(base, 'PUT', '/v1/connections/ghl', deskKey, {
    token: `pit-${DESK}`,
    locationId: 'loc_demo',
    syncEveryMinutes: 1440,
  });
  await api(base, 'PUT', '/v1/connections/vapi', deskKey, { apiKey: 'chaos-vapi-key' });
  await api(base, 'PUT', `/v1/admin/tenants/${DESK}/credentials/vapi`, deskKey, {
    secret: VAPI_SECRET,
    authMode: 'x-vapi-secret',
  });
  await api(base, 'PUT', '/v1/voice/settings', deskKey, {
    vapi: { assistantId: 'asst_demo', phoneNumberId: 'pn_demo' },
    calendarId: CALENDAR,
    callingHours: { start: '00:00', end: '24:00', days: [1, 2, 3, 4, 5, 6, 7] },
    // A report lost while the API was down: the provider is asked soon after the call went quiet.
    reportGraceSeconds: 5,
  });
  const sgKey = `SG.chaos-${DESK}-key`;
  await sandboxControl(c, 'POST', '/sendgrid/keys', {
    apiKey: sgKey,
    senders: [{ email: SENDER, name: 'Front Desk' }],
  });
  await api(base, 'PUT', '/v1/connections/sendgrid', deskKey, { apiKey: sgKey, senderEmail: SENDER });
  const inbound = await api<{ url: string }>(base, 'GET', '/v1/connections/sendgrid/inbound-parse', deskKey);
  await sandboxControl(c, 'POST', '/sendgrid/config', {
    eventWebhookUrl: `${base}/webhooks/sendgrid/events/${DESK}`,
    inboundParseUrl: inbound.url,
    autoEvents: ['processed', 'delivered'],
  });

  const crmKey = await createTenant(base, CRM, ['read', 'act', 'admin']);
  await sandboxControl(c, 'POST', '/ghl/seed', { locationId: CRM_LOCATION, contacts, seed: 20 });
  await sandboxControl(c, 'POST', '/ghl/tokens', { token: `pit-${CRM}`, locationId: CRM_LOCATION });
  await api(base, 'PUT', '/v1/connections/ghl', crmKey, {
    token: `pit-${CRM}`,
    locationId: CRM_LOCATION,
    syncEveryMinutes: 1440,
  });
  await sandboxControl(c, 'POST', '/ghl/webhooks', { url: `${base}/webhooks/ghl`, locationId: CRM_LOCATION });
  return { deskKey, crmKey };
}

// --- Calls -----------------------------------------------------------------------------------------

export interface SimulatedCall {
  id: string;
  slot: string;
  /** What the caller said, as the provider sent it to us (line by line). */
  userLines: string[];
  /** Some message of the call got a 2xx from us: the platform knows the call. */
  reached: boolean;
  /** What the caller heard from book_appointment (result or error). */
  booking: { result?: string; error?: string } | undefined;
}

interface SimDelivery {
  type: string;
  response?: { status: number; body: unknown };
  request?: unknown;
}

const FIRST_SLOT = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 2);

/** `concurrency` callers, each calling again as soon as its call ends, until `until`. */
export async function runCalls(
  c: Cluster,
  opts: { concurrency: number; until: number; messageDelayMs: number },
  calls: SimulatedCall[],
): Promise<void> {
  let next = 0;
  const caller = async (k: number) => {
    while (Date.now() < opts.until) {
      const n = next++;
      const slot = new Date(FIRST_SLOT + n * 15 * 60_000).toISOString();
      const userLines = [
        `Hello, caller ${n} here, I would like an appointment.`,
        'Any time that day works for me.',
        'Yes please, book it.',
        'Thank you, goodbye.',
      ];
      const phone = `+1555${String(7_000_000 + (n % 2000)).padStart(7, '0')}`;
      const sim = await fetch(`${c.sandbox.url}/__sandbox/vapi/calls`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          serverUrl: `${c.apiUrl}/webhooks/vapi/${DESK}`,
          credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
          direction: 'inbound',
          from: phone,
          to: '+15555550123',
          wait: true,
          script: {
            messageDelayMs: opts.messageDelayMs,
            steps: [
              { assistant: 'Front desk, how can I help?' },
              { user: userLines[0] },
              { tool: 'lookup_caller', arguments: {} },
              { user: userLines[1] },
              { user: userLines[2] },
              { tool: 'book_appointment', arguments: { startTime: slot } },
              { user: userLines[3] },
            ],
          },
        }),
      }).catch(() => undefined);
      if (!sim?.ok) {
        await sleep(500 + k);
        continue;
      }
      const record = (await sim.json()) as { id: string; deliveries: SimDelivery[] };
      const ok = (d: SimDelivery) => d.response !== undefined && d.response.status >= 200 && d.response.status < 300;
      const bookingAnswer = record.deliveries
        .filter((d) => d.type === 'tool-calls' && ok(d))
        .map((d) => (d.response!.body as { results?: { name?: string; result?: string; error?: string }[] }).results)
        .flat()
        .find((r) => r?.name === 'book_appointment' || r?.result?.startsWith('Booked'));
      // What the caller did say (a call whose assistant-request failed ends before a word).
      const spoken = record.deliveries
        .filter((d) => d.type === 'transcript')
        .map((d) => (d.request as { message?: { role?: string; transcript?: string } } | undefined)?.message)
        .filter((m) => m?.role === 'user')
        .map((m) => m!.transcript ?? '');
      calls.push({
        id: record.id,
        slot,
        userLines: spoken,
        reached: record.deliveries.some(ok),
        booking: bookingAnswer ? { result: bookingAnswer.result, error: bookingAnswer.error } : undefined,
      });
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, k) => caller(k)));
}

// --- Campaign --------------------------------------------------------------------------------------

export interface CampaignPlan {
  id: string;
  leads: { email: string; replies: boolean; suppressedBefore: boolean }[];
  /** When each replier's reply was accepted by us (ms), for the planned-emails check. */
  repliedAt: Map<string, number>;
  emailSteps: number;
}

const WAIT_S = 45;

/** A campaign of `leads` (email → wait → email); some addresses suppressed before it starts, some leads reply "stop". */
export async function startCampaign(
  c: Cluster,
  t: Tenants,
  pool: () => Pool,
  rng: Rng,
  leadCount: number,
): Promise<CampaignPlan> {
  const leads = Array.from({ length: leadCount }, (_, i) => ({
    email: `lead${i}@chaos.example`,
    replies: rng.chance(0.1),
    suppressedBefore: rng.chance(0.02),
  }));
  for (const lead of leads.filter((l) => l.suppressedBefore)) {
    await withTenant(pool(), DESK, (client) =>
      suppress(client, {
        tenantId: DESK,
        email: lead.email,
        reason: 'manual',
        source: 'chaos: suppressed before the campaign',
      }),
    );
  }
  const created = await api<{ id: string }>(c.apiUrl, 'POST', '/v1/campaigns', t.deskKey, {
    name: 'Chaos',
    goal: 'Nothing lost, nothing doubled',
    sender: {
      email: SENDER,
      replyTo: 'replies@inbound.clinic.example',
      postalAddress: '1 Harbour Street, Springfield, IL 62701, USA',
    },
    policy: {
      sendWindow: { startHour: 0, endHour: 24, days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
      maxActiveLeads: 500,
    },
    sequence: [
      { type: 'email', subject: 'Hello {{firstName}}', template: 'A first note for you.' },
      { type: 'wait', days: WAIT_S / 86_400 },
      { type: 'email', subject: 'Again', template: 'A second note for you.' },
    ],
    audience: { type: 'leads', leads: leads.map((l) => ({ email: l.email, firstName: 'Lead' })) },
  });
  await api(c.apiUrl, 'POST', `/v1/campaigns/${created.id}/start`, t.deskKey);
  return { id: created.id, leads, repliedAt: new Map(), emailSteps: 2 };
}

interface SandboxEmail {
  messageId: string;
  receivedAt: string;
  personalizations: { to: { email: string }[] }[];
  customArgs?: Record<string, string>;
}

export async function sandboxEmails(c: Cluster): Promise<SandboxEmail[]> {
  return (await sandboxControl<{ emails: SandboxEmail[] }>(c, 'GET', '/sendgrid/emails?limit=10000')).emails;
}

/** Repliers answer their first email with an opt-out; SendGrid keeps delivering until we accept it. */
export async function runReplies(c: Cluster, plan: CampaignPlan, until: () => boolean): Promise<void> {
  const repliers = new Set(plan.leads.filter((l) => l.replies && !l.suppressedBefore).map((l) => l.email));
  while (!until() && plan.repliedAt.size < repliers.size) {
    const emails = await sandboxEmails(c).catch(() => [] as SandboxEmail[]);
    for (const e of emails) {
      const to = e.personalizations[0]?.to[0]?.email;
      if (!to || !repliers.has(to) || plan.repliedAt.has(to)) continue;
      const r = await sandboxControl<{ deliveries: { status?: number }[] }>(c, 'POST', '/sendgrid/reply', {
        messageId: e.messageId,
        text: OPT_OUT,
      }).catch(() => undefined);
      const status = r?.deliveries.at(-1)?.status;
      if (status !== undefined && status >= 200 && status < 300) plan.repliedAt.set(to, Date.now());
    }
    await sleep(1000);
  }
}

// --- CRM sync with webhooks -------------------------------------------------------------------------

export async function startFullSync(c: Cluster, t: Tenants): Promise<void> {
  await api(c.apiUrl, 'POST', '/v1/sync', t.crmKey, { mode: 'full' });
}

/** The location's contacts change while the sync runs: creates, updates and deletes (GHL sends the webhooks). */
export async function runContactChanges(
  c: Cluster,
  rng: Rng,
  until: number,
  counts: { changes: number },
): Promise<void> {
  const ghl = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${c.sandbox.url}/ghl${path}`, {
      method,
      headers: {
        authorization: `Bearer pit-${CRM}`,
        version: '2021-07-28',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    }).catch(() => undefined); // a dropped connection (injected): this change did not happen
    return res?.ok ? ((await res.json()) as { contact?: { id?: string } }) : undefined;
  };
  const known: string[] = (
    await sandboxControl<{ contacts: { id: string }[] }>(c, 'GET', `/ghl/contacts?locationId=${CRM_LOCATION}&limit=200`)
  ).contacts.map((x) => x.id);
  let n = 0;
  while (Date.now() < until) {
    const pick = rng.next();
    // The sandbox's GHL answers these (the faults target our calls to GHL, not the load's own).
    if (pick < 0.4 || known.length < 10) {
      const r = await ghl('POST', '/contacts/', {
        locationId: CRM_LOCATION,
        firstName: `Chaos${n}`,
        email: `chaos${n}@contacts.example`,
      });
      if (r?.contact?.id) known.push(r.contact.id);
    } else if (pick < 0.85) {
      const id = known[rng.int(known.length)]!;
      await ghl('PUT', `/contacts/${id}`, { firstName: `Changed${n}` });
    } else {
      const id = known.splice(rng.int(known.length), 1)[0]!;
      await ghl('DELETE', `/contacts/${id}`);
    }
    n++;
    counts.changes = n;
    await sleep(400);
  }
}

// --- Agent conversations ----------------------------------------------------------------------------

export interface Chat {
  n: number;
  firstMessageId: string;
  conversationId: string | undefined;
  messageIds: string[];
  answered: number;
  /** The longest a message waited for its answer, resends included (ms). */
  slowestAnswerMs: number;
  /** Why the chat stopped early: a message still unanswered when the owner's patience ran out. */
  error?: string;
}

/** How long an owner keeps resending one message (same messageId) before giving up on it. */
const CHAT_PATIENCE_MS = 6 * 60_000;

/** An owner chatting with an agent: each message resent (same messageId) until it is answered. */
export async function runChat(c: Cluster, t: Tenants, turns: number, chat: Chat): Promise<void> {
  const { n } = chat;
  const send = async (urlPath: string, text: string, messageId: string) =>
    persist(
      `chat ${n}`,
      async () => {
        const res = await fetch(`${c.apiUrl}${urlPath}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t.deskKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ text, messageId }),
          signal: AbortSignal.timeout(60_000),
        });
        if (!res.ok) throw new Error(`${res.status}: ${await res.text()}`);
        return (await res.json()) as { conversationId: string; status: string };
      },
      Date.now() + CHAT_PATIENCE_MS,
    );
  for (let turn = 0; turn < turns; turn++) {
    const messageId = `chaos-chat-${n}-${turn}`;
    chat.messageIds.push(messageId);
    const text = `Question ${turn} of chat ${n}: what does our discount policy say?`;
    const sent = Date.now();
    try {
      const answer =
        chat.conversationId === undefined
          ? await send('/v1/agents/strategist/conversations', text, messageId)
          : await send(`/v1/conversations/${chat.conversationId}/messages`, text, messageId);
      chat.conversationId ??= answer.conversationId;
    } catch (err) {
      // Not a crash of the run: an unanswered message is a violation the invariants report.
      chat.error = `${messageId} unanswered after ${Math.round((Date.now() - sent) / 1000)} s: ${(err as Error).message}`;
      return;
    } finally {
      chat.slowestAnswerMs = Math.max(chat.slowestAnswerMs, Date.now() - sent);
    }
    chat.answered++;
    await sleep(2000);
  }
}
