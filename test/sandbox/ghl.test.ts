import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GhlApiError, GhlClient } from '../../providers/ghl/client.js';
import type { RunningSandbox } from '../../sandbox/server.js';
import { control, json, startTestSandbox } from './helpers.js';

let sb: RunningSandbox;
let ghl: GhlClient;
const retries: { status: number | undefined; delayMs: number }[] = [];

beforeAll(async () => {
  sb = await startTestSandbox();
  ghl = new GhlClient({
    baseUrl: `${sb.url}/ghl`,
    token: 'pit-sandbox',
    maxRetryDelayMs: 50,
    onRetry: (r) => retries.push(r),
  });
});
afterAll(async () => {
  await sb.close();
});

const headers = (version = '2021-07-28') => ({
  authorization: 'Bearer pit-sandbox',
  version,
  'content-type': 'application/json',
});

/** A future Tuesday (calendars are open Mon–Fri 9–17 New York time). */
function nextTuesday(): Date {
  const d = new Date(Date.now() + 3 * 86_400_000);
  while (d.getUTCDay() !== 2) d.setUTCDate(d.getUTCDate() + 1);
  d.setUTCHours(0, 0, 0, 0);
  return d;
}

describe('GoHighLevel contacts through our client', () => {
  it('upserts, finds duplicates, gets, updates and deletes a contact', async () => {
    const created = await ghl.upsertContact('loc_demo', {
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'Ada@Example.com',
      phone: '(415) 555-0199',
      tags: ['vip'],
    });
    expect(created.new).toBe(true);
    expect(created.contact).toMatchObject({
      email: 'ada@example.com',
      phone: '+14155550199',
      tags: ['vip'],
      locationId: 'loc_demo',
    });

    const again = await ghl.upsertContact('loc_demo', { phone: '+14155550199', tags: ['customer'] });
    expect(again.new).toBe(false);
    expect(again.contact.id).toBe(created.contact.id);
    expect(again.contact.tags).toEqual(['customer']); // upsert replaces tags

    const dup = await ghl.findDuplicateContact({ locationId: 'loc_demo', email: 'ada@example.com' });
    expect(dup).toMatchObject({ contact: { id: created.contact.id }, matchingField: 'email' });
    expect((await ghl.findDuplicateContact({ locationId: 'loc_demo', number: '+19999999999' })).contact).toBeNull();

    const updated = await ghl.updateContact(created.contact.id, { companyName: 'Analytical Engines' });
    expect(updated.companyName).toBe('Analytical Engines');
    expect((await ghl.getContact(created.contact.id))?.companyName).toBe('Analytical Engines');

    await ghl.deleteContact(created.contact.id);
    expect(await ghl.getContact(created.contact.id)).toBeNull();
  });

  it('rejects PUT with locationId, missing pageLimit, missing token and missing Version', async () => {
    const put = await fetch(`${sb.url}/ghl/contacts/ct_demo`, {
      method: 'PUT',
      headers: headers(),
      body: JSON.stringify({ locationId: 'loc_demo', firstName: 'X' }),
    });
    expect(put.status).toBe(422);
    expect(await json(put)).toEqual({
      statusCode: 422,
      message: ['property locationId should not exist'],
      error: 'Unprocessable Entity',
    });

    const search = await fetch(`${sb.url}/ghl/contacts/search`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ locationId: 'loc_demo' }),
    });
    expect(search.status).toBe(422);
    expect((await json<{ message: string[] }>(search)).message).toContain('pageLimit should not be empty');

    const noLoc = await fetch(`${sb.url}/ghl/contacts/search`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ pageLimit: 10 }),
    });
    expect(noLoc.status).toBe(422);

    const noAuth = await fetch(`${sb.url}/ghl/contacts/ct_demo`, { headers: { version: '2021-07-28' } });
    expect(noAuth.status).toBe(401);
    expect(await json(noAuth)).toMatchObject({ statusCode: 401, message: 'Invalid JWT' });

    const noVersion = await fetch(`${sb.url}/ghl/contacts/ct_demo`, { headers: { authorization: 'Bearer x' } });
    expect(noVersion.status).toBe(400);

    const badJson = await fetch(`${sb.url}/ghl/contacts/search`, {
      method: 'POST',
      headers: headers(),
      body: '{"locationId":',
    });
    expect(badJson.status).toBe(400);
    expect(await json(badJson)).toMatchObject({ statusCode: 400 });

    const badFilter = await fetch(`${sb.url}/ghl/contacts/search`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({
        locationId: 'loc_demo',
        pageLimit: 5,
        filters: [{ field: 'nope', operator: 'eq', value: 1 }],
      }),
    });
    expect(badFilter.status).toBe(422);
    // The sandbox is still fine.
    expect((await fetch(`${sb.url}/__sandbox/health`)).status).toBe(200);
  });

  it('adds notes, tasks and tags', async () => {
    const note = await ghl.addNote('ct_demo', { body: 'Called about teeth whitening.' });
    expect(note).toMatchObject({ body: 'Called about teeth whitening.', contactId: 'ct_demo' });
    const task = await ghl.createTask('ct_demo', {
      title: 'Call back',
      dueDate: new Date(Date.now() + 86_400_000).toISOString(),
      completed: false,
    });
    expect(task).toMatchObject({ title: 'Call back', completed: false });
    expect(await ghl.addTags('ct_demo', ['Hot'])).toEqual(expect.arrayContaining(['demo', 'hot']));
    expect(await ghl.removeTags('ct_demo', ['hot'])).not.toContain('hot');
    const notes = await control<{ notes: unknown[] }>(sb, 'GET', '/ghl/notes?contactId=ct_demo');
    expect(notes.notes).toHaveLength(1);
  });
});

describe('GoHighLevel search', () => {
  it('seeds 10,000 contacts and pages through them with searchAfter, filters and sort', async () => {
    const seeded = await control<{ created: number; total: number }>(sb, 'POST', '/ghl/seed', {
      locationId: 'loc_search',
      contacts: 10_000,
      seed: 3,
    });
    expect(seeded).toMatchObject({ created: 10_000, total: 10_000 });

    const seen = new Set<string>();
    let searchAfter: (string | number | null)[] | undefined;
    let last = Infinity;
    for (;;) {
      const page = await ghl.searchContacts({
        locationId: 'loc_search',
        pageLimit: 500,
        searchAfter,
        sort: [{ field: 'dateAdded', direction: 'desc' }],
      });
      expect(page.total).toBe(10_000);
      for (const c of page.contacts) {
        seen.add(c.id);
        const t = Date.parse(c.dateAdded!);
        expect(t).toBeLessThanOrEqual(last);
        last = t;
      }
      if (page.contacts.length < 500) break;
      searchAfter = page.contacts.at(-1)!.searchAfter;
    }
    expect(seen.size).toBe(10_000);

    const vip = await ghl.searchContacts({
      locationId: 'loc_search',
      pageLimit: 100,
      filters: [{ field: 'tags', operator: 'eq', value: 'vip' }],
    });
    expect(vip.total).toBeGreaterThan(0);
    expect(vip.total).toBeLessThan(10_000);
    expect(vip.contacts.every((c) => c.tags.includes('vip'))).toBe(true);

    const since = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const recent = await ghl.searchContacts({
      locationId: 'loc_search',
      pageLimit: 50,
      filters: [
        { field: 'dateUpdated', operator: 'range', value: { gte: since } },
        {
          group: 'OR',
          filters: [
            { field: 'tags', operator: 'eq', value: 'hot' },
            { field: 'source', operator: 'eq', value: 'referral' },
          ],
        },
      ],
      sort: [{ field: 'dateUpdated', direction: 'asc' }],
    });
    expect(recent.total).toBeGreaterThan(0);
    for (const c of recent.contacts) {
      expect(Date.parse(c.dateUpdated!)).toBeGreaterThanOrEqual(Date.parse(since));
      expect(c.tags.includes('hot') || c.source === 'referral').toBe(true);
    }

    const deep = await fetch(`${sb.url}/ghl/contacts/search`, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ locationId: 'loc_search', pageLimit: 500, page: 21 }),
    });
    expect(deep.status).toBe(422);
    const page20 = await ghl.searchContacts({ locationId: 'loc_search', pageLimit: 500, page: 20 });
    expect(page20.contacts).toHaveLength(500);

    const byQuery = await ghl.searchContacts({ locationId: 'loc_demo', pageLimit: 10, query: 'demo.caller' });
    expect(byQuery.contacts.map((c) => c.id)).toContain('ct_demo');
  });

  it('can make search trail writes, like the real index', async () => {
    await control(sb, 'POST', '/ghl/config', { searchLagMs: 400 });
    try {
      const { contact } = await ghl.upsertContact('loc_demo', { email: 'lagging@example.com', tags: ['lagtest'] });
      const byTag = () =>
        ghl.searchContacts({
          locationId: 'loc_demo',
          pageLimit: 10,
          filters: [{ field: 'tags', operator: 'eq', value: 'lagtest' }],
        });
      expect((await byTag()).total).toBe(0);
      expect((await ghl.getContact(contact.id))?.tags).toEqual(['lagtest']); // reads by id are current
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect((await byTag()).contacts.map((c) => c.id)).toEqual([contact.id]);
      await ghl.updateContact(contact.id, { tags: ['lagtest', 'moved'] });
      expect((await byTag()).contacts[0]!.tags).toEqual(['lagtest']); // still the old version
      await ghl.deleteContact(contact.id);
      expect((await byTag()).total).toBe(1);
    } finally {
      await control(sb, 'POST', '/ghl/config', { searchLagMs: 0 });
    }
    const after = await ghl.searchContacts({
      locationId: 'loc_demo',
      pageLimit: 10,
      filters: [{ field: 'tags', operator: 'eq', value: 'lagtest' }],
    });
    expect(after.total).toBe(0);
  });

  it('is deterministic for a seed', async () => {
    const a = await control<{ contacts: { id: string; email: string }[] }>(
      sb,
      'GET',
      '/ghl/contacts?locationId=loc_search&limit=3',
    );
    const other = await startTestSandbox();
    try {
      await control(other, 'POST', '/ghl/seed', { locationId: 'loc_search', contacts: 10_000, seed: 3 });
      const b = await control<{ contacts: { id: string; email: string }[] }>(
        other,
        'GET',
        '/ghl/contacts?locationId=loc_search&limit=3',
      );
      expect(b.contacts).toEqual(a.contacts);
    } finally {
      await other.close();
    }
  });
});

describe('GoHighLevel calendars, messages, opportunities', () => {
  it('lists free slots keyed by date and refuses a taken slot', async () => {
    const day = nextTuesday();
    const slots = await ghl.getFreeSlots({
      calendarId: 'cal_demo',
      startDate: day,
      endDate: day.getTime() + 86_400_000 - 1,
    });
    const dates = Object.keys(slots);
    expect(dates.length).toBeGreaterThan(0);
    const first = slots[dates[0]!]![0]!;
    expect(first).toMatch(/^\d{4}-\d{2}-\d{2}T09:00:00-0[45]:00$/);

    const appt = await ghl.bookAppointment({
      calendarId: 'cal_demo',
      locationId: 'loc_demo',
      contactId: 'ct_demo',
      startTime: first,
    });
    expect(appt).toMatchObject({ calendarId: 'cal_demo', contactId: 'ct_demo', appointmentStatus: 'confirmed' });
    expect(Date.parse(appt.startTime)).toBe(Date.parse(first));

    const err = await ghl
      .bookAppointment({ calendarId: 'cal_demo', locationId: 'loc_demo', contactId: 'ct_demo', startTime: first })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GhlApiError);
    expect((err as GhlApiError).status).toBe(400);
    expect((err as GhlApiError).isSlotTaken).toBe(true);

    const after = await ghl.getFreeSlots({
      calendarId: 'cal_demo',
      startDate: day,
      endDate: day.getTime() + 86_400_000 - 1,
    });
    expect(after[dates[0]!]).not.toContain(first);

    const tooLong = await fetch(
      `${sb.url}/ghl/calendars/cal_demo/free-slots?startDate=${day.getTime()}&endDate=${day.getTime() + 40 * 86_400_000}`,
      { headers: headers('2021-04-15') },
    );
    expect(tooLong.status).toBe(422);
    const wrongVersion = await fetch(
      `${sb.url}/ghl/calendars/cal_demo/free-slots?startDate=${day.getTime()}&endDate=${day.getTime() + 86_400_000}`,
      { headers: headers('2021-07-28') },
    );
    expect(wrongVersion.status).toBe(400);
  });

  it('sends SMS and email messages', async () => {
    const sms = await ghl.sendMessage({ type: 'SMS', contactId: 'ct_demo', message: 'See you Tuesday!' });
    expect(sms.conversationId).toBeTruthy();
    expect(sms.messageId).toBeTruthy();
    const email = await ghl.sendMessage({ type: 'Email', contactId: 'ct_demo', subject: 'Hi', html: '<p>Hi</p>' });
    expect(email.conversationId).toBe(sms.conversationId);
    const stored = await control<{ messages: { type: string }[] }>(sb, 'GET', '/ghl/messages?contactId=ct_demo');
    expect(stored.messages.map((m) => m.type)).toEqual(['SMS', 'Email']);
  });

  it('creates and pages opportunities', async () => {
    const [pipeline] = await ghl.listPipelines('loc_demo');
    expect(pipeline).toMatchObject({ id: 'pipe_demo' });
    for (let i = 0; i < 5; i++) {
      await ghl.createOpportunity({
        pipelineId: 'pipe_demo',
        locationId: 'loc_demo',
        name: `Deal ${i}`,
        status: 'open',
        contactId: 'ct_demo',
      });
    }
    const first = await ghl.searchOpportunities({ locationId: 'loc_demo', limit: 3 });
    expect(first.opportunities).toHaveLength(3);
    expect(first.meta.total).toBe(5);
    const second = await ghl.searchOpportunities({
      locationId: 'loc_demo',
      limit: 3,
      startAfter: first.meta.startAfter!,
      startAfterId: first.meta.startAfterId!,
    });
    expect(second.opportunities).toHaveLength(2);
    const ids = new Set([...first.opportunities, ...second.opportunities].map((o) => o.id));
    expect(ids.size).toBe(5);
    const missing = await fetch(`${sb.url}/ghl/opportunities/search`, { headers: headers() });
    expect(missing.status).toBe(422);
  });
});

describe('GoHighLevel appointments keep state: booked slots stay taken, released ones come back', () => {
  it('moves, cancels and deletes appointments; a double booking would show', async () => {
    const day = new Date(nextTuesday().getTime() + 7 * 86_400_000);
    const range = { calendarId: 'cal_demo', startDate: day, endDate: day.getTime() + 86_400_000 - 1 };
    const slotsOf = async () => Object.values(await ghl.getFreeSlots(range)).flat();
    const [a, b, c] = await slotsOf();
    const appt = await ghl.bookAppointment({
      calendarId: 'cal_demo',
      locationId: 'loc_demo',
      contactId: 'ct_demo',
      startTime: a!,
    });
    expect(await slotsOf()).not.toContain(a);

    // Moved: the new slot is held and the old one free, in one request; repeating it changes nothing.
    const moved = await ghl.updateAppointment(appt.id, { startTime: b! });
    expect(Date.parse(moved.startTime)).toBe(Date.parse(b!));
    await ghl.updateAppointment(appt.id, { startTime: b! });
    const afterMove = await slotsOf();
    expect(afterMove).toContain(a);
    expect(afterMove).not.toContain(b);

    // Someone else cannot take the moved-to slot; a move onto a taken slot is refused and changes nothing.
    const other = await ghl.bookAppointment({
      calendarId: 'cal_demo',
      locationId: 'loc_demo',
      contactId: 'ct_demo',
      startTime: c!,
    });
    const refused = await ghl.updateAppointment(other.id, { startTime: b! }).catch((e: unknown) => e);
    expect((refused as GhlApiError).isSlotTaken).toBe(true);
    expect(Date.parse((await ghl.getAppointment(other.id))!.startTime)).toBe(Date.parse(c!));

    const mine = await ghl.contactAppointments('ct_demo');
    expect(mine.map((x) => x.id)).toEqual(expect.arrayContaining([appt.id, other.id]));

    // Cancelled: the record stays, the slot is free again; deleted: gone, its slot free.
    await ghl.updateAppointment(appt.id, { appointmentStatus: 'cancelled' });
    expect((await ghl.getAppointment(appt.id))!.appointmentStatus).toBe('cancelled');
    expect(await slotsOf()).toContain(b);
    await ghl.deleteEvent(other.id);
    expect(await ghl.getAppointment(other.id)).toBeNull();
    expect(await slotsOf()).toContain(c);

    // Only a booking that skipped the slot check can overlap; the control API shows it.
    expect((await control<{ doubleBookings: unknown[] }>(sb, 'GET', '/ghl/double-bookings')).doubleBookings).toEqual(
      [],
    );
    const forced = await fetch(`${sb.url}/ghl/calendars/events/appointments`, {
      method: 'POST',
      headers: headers('2021-04-15'),
      body: JSON.stringify({
        calendarId: 'cal_demo',
        locationId: 'loc_demo',
        contactId: 'ct_demo',
        startTime: a,
        ignoreFreeSlotValidation: true,
      }),
    });
    expect(forced.status).toBe(200);
    const again = await fetch(`${sb.url}/ghl/calendars/events/appointments`, {
      method: 'POST',
      headers: headers('2021-04-15'),
      body: JSON.stringify({
        calendarId: 'cal_demo',
        locationId: 'loc_demo',
        contactId: 'ct_demo',
        startTime: a,
        ignoreFreeSlotValidation: true,
      }),
    });
    expect(again.status).toBe(200);
    const doubles = await control<{ doubleBookings: { calendarId: string }[] }>(sb, 'GET', '/ghl/double-bookings');
    expect(doubles.doubleBookings).toHaveLength(1);
  });

  it('completes tasks, moves opportunities, lists workflows and enrolls a contact once', async () => {
    const task = await ghl.createTask('ct_demo', {
      title: 'Call back',
      dueDate: new Date().toISOString(),
      completed: false,
    });
    expect((await ghl.completeTask('ct_demo', task.id)).completed).toBe(true);
    expect((await ghl.listTasks('ct_demo')).find((t) => t.id === task.id)?.completed).toBe(true);

    const opp = await ghl.createOpportunity({
      pipelineId: 'pipe_demo',
      locationId: 'loc_demo',
      name: 'Stage mover',
      status: 'open',
      contactId: 'ct_demo',
    });
    expect(opp.pipelineStageId).toBe('stage_new');
    const movedOpp = await ghl.updateOpportunity(opp.id, { pipelineStageId: 'stage_booked' });
    expect(movedOpp.pipelineStageId).toBe('stage_booked');
    await ghl.setOpportunityStatus(opp.id, 'won');
    expect((await ghl.getOpportunity(opp.id))!.status).toBe('won');
    expect(await ghl.getOpportunity('nope')).toBeNull();

    const workflows = await ghl.listWorkflows('loc_demo');
    expect(workflows.map((w) => w.id)).toEqual(['wf_demo_followup', 'wf_demo_reminder']);
    await ghl.addToWorkflow('ct_demo', 'wf_demo_followup');
    await ghl.addToWorkflow('ct_demo', 'wf_demo_followup');
    const enrolled = await control<{ enrollments: unknown[] }>(sb, 'GET', '/ghl/enrollments?contactId=ct_demo');
    expect(enrolled.enrollments).toHaveLength(1);
    const unknown = await ghl.addToWorkflow('ct_demo', 'wf_other').catch((e: unknown) => e);
    expect((unknown as GhlApiError).status).toBe(400);
  });
});

describe('GoHighLevel rate limiting and faults', () => {
  it('answers 150 requests in 10 s with exactly 100 OK and 50 × 429 carrying the five headers', async () => {
    await control(sb, 'POST', '/ghl/seed', { locationId: 'loc_rl', contacts: 1, seed: 1 });
    const results = await Promise.all(
      Array.from({ length: 150 }, () =>
        fetch(`${sb.url}/ghl/contacts/search/duplicate?locationId=loc_rl&email=x@example.com`, {
          headers: headers(),
        }).then(async (r) => {
          await r.arrayBuffer();
          return r;
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok).toHaveLength(100);
    expect(limited).toHaveLength(50);
    for (const r of results) {
      expect(r.headers.get('x-ratelimit-max')).toBe('100');
      expect(r.headers.get('x-ratelimit-interval-milliseconds')).toBe('10000');
      expect(r.headers.get('x-ratelimit-limit-daily')).toBe('200000');
      expect(Number(r.headers.get('x-ratelimit-daily-remaining'))).toBeGreaterThanOrEqual(199_900);
    }
    for (const r of limited) {
      expect(r.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(r.headers.get('x-ratelimit-daily-remaining')).toBe('199900');
    }
    const remaining = ok.map((r) => Number(r.headers.get('x-ratelimit-remaining'))).sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Another location has its own quota.
    const other = await fetch(`${sb.url}/ghl/contacts/search/duplicate?locationId=loc_other&email=x@example.com`, {
      headers: headers(),
    });
    expect(other.status).toBe(200);
  });

  it('client retries a 429 and a 503 on idempotent calls, not on creates', async () => {
    retries.length = 0;
    await control(sb, 'POST', '/faults', { provider: 'ghl', route: 'GET /contacts/:contactId', status: 429, count: 1 });
    expect((await ghl.getContact('ct_demo'))?.id).toBe('ct_demo');
    await control(sb, 'POST', '/faults', { provider: 'ghl', route: '/contacts/ct_demo', status: 503, count: 2 });
    expect((await ghl.getContact('ct_demo'))?.id).toBe('ct_demo');
    expect(retries.map((r) => r.status)).toEqual([429, 503, 503]);

    await control(sb, 'POST', '/faults', {
      provider: 'ghl',
      route: 'POST /contacts/:contactId/notes',
      status: 503,
      count: 1,
    });
    const err = await ghl.addNote('ct_demo', { body: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, retryable: true });

    const log = await control<{ requests: { status: number; fault?: string; route: string }[] }>(
      sb,
      'GET',
      '/requests?provider=ghl&limit=20000',
    );
    expect(log.requests.filter((r) => r.fault).map((r) => r.status)).toEqual([429, 503, 503, 503]);
  });

  it('client retries a dropped connection on reads', async () => {
    retries.length = 0;
    await control(sb, 'POST', '/faults', { provider: 'ghl', route: 'GET /contacts/:contactId', reset: true, count: 1 });
    expect((await ghl.getContact('ct_demo'))?.id).toBe('ct_demo');
    expect(retries).toHaveLength(1);
    expect(retries[0]!.status).toBeUndefined();
    const log = await control<{ requests: { status: number; fault?: string }[] }>(
      sb,
      'GET',
      '/requests?provider=ghl&limit=20000',
    );
    expect(log.requests.some((r) => r.fault && r.status === 0)).toBe(true);
  });

  it('injects latency', async () => {
    await control(sb, 'POST', '/faults', {
      provider: 'ghl',
      route: '/opportunities/pipelines',
      latencyMs: 300,
      count: 1,
    });
    const t = performance.now();
    await ghl.listPipelines('loc_demo');
    expect(performance.now() - t).toBeGreaterThanOrEqual(280);
    await control(sb, 'DELETE', '/faults');
  });
});
