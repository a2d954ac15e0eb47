import { describe, expect, it } from 'vitest';
import { GhlApiError, GhlClient } from '../../providers/ghl/client.js';

/** A scripted fetch: answers in order, records what was asked. */
function scripted(answers: { status: number; headers?: Record<string, string>; body?: unknown }[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetchFn = (async (url: string | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const a = answers[Math.min(calls.length - 1, answers.length - 1)]!;
    return new Response(a.body === undefined ? '' : JSON.stringify(a.body), {
      status: a.status,
      headers: { 'content-type': 'application/json', ...a.headers },
    });
  }) as typeof fetch;
  return { fetchFn, calls };
}

const contact = { id: 'c1', locationId: 'l1', tags: [] };
const rl = (remaining: number, dailyRemaining = 1000) => ({
  'x-ratelimit-max': '100',
  'x-ratelimit-remaining': String(remaining),
  'x-ratelimit-interval-milliseconds': '10000',
  'x-ratelimit-limit-daily': '200000',
  'x-ratelimit-daily-remaining': String(dailyRemaining),
});

describe('GhlClient retry policy', () => {
  it('honours Retry-After, capped, and sends Bearer + the family Version', async () => {
    const { fetchFn, calls } = scripted([
      { status: 429, headers: { 'retry-after': '2' } },
      { status: 200, body: { contact } },
    ]);
    const sleeps: number[] = [];
    const client = new GhlClient({
      baseUrl: 'http://ghl.test/',
      token: 'tok',
      fetch: fetchFn,
      sleep: async (ms) => void sleeps.push(ms),
      maxRetryDelayMs: 1500,
    });
    expect((await client.getContact('c1'))?.id).toBe('c1');
    expect(sleeps).toEqual([1500]);
    const headers = calls[0]!.init.headers as Record<string, string>;
    expect(headers.authorization).toBe('Bearer tok');
    expect(headers.version).toBe('2021-07-28');
    expect(calls[0]!.url).toBe('http://ghl.test/contacts/c1');

    const cal = scripted([
      { status: 200, body: { '2026-12-01': { slots: ['2026-12-01T09:00:00-05:00'] }, traceId: 't' } },
    ]);
    const c2 = new GhlClient({ baseUrl: 'http://ghl.test', token: 'tok', fetch: cal.fetchFn });
    expect(await c2.getFreeSlots({ calendarId: 'cal', startDate: 1, endDate: 2 })).toEqual({
      '2026-12-01': ['2026-12-01T09:00:00-05:00'],
    });
    expect((cal.calls[0]!.init.headers as Record<string, string>).version).toBe('2021-04-15');
  });

  it('waits part of the window when the burst is spent, and gives up after maxRetries', async () => {
    const { fetchFn, calls } = scripted([
      { status: 429, headers: rl(0), body: { statusCode: 429, message: 'Too Many Requests' } },
    ]);
    const sleeps: number[] = [];
    const client = new GhlClient({
      baseUrl: 'http://ghl.test',
      token: 'tok',
      fetch: fetchFn,
      sleep: async (ms) => void sleeps.push(ms),
      maxRetries: 2,
    });
    const err = await client.searchContacts({ locationId: 'l1', pageLimit: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GhlApiError);
    expect(err).toMatchObject({ status: 429, retryable: true, message: expect.stringContaining('Too Many Requests') });
    expect(calls).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
    for (const ms of sleeps) expect(ms).toBeGreaterThanOrEqual(1800);
    expect(client.lastRateLimit).toMatchObject({ max: 100, remaining: 0, intervalMs: 10000 });
  });

  it('does not retry a spent daily quota, a 4xx, or a 5xx on a create', async () => {
    const daily = scripted([{ status: 429, headers: rl(0, 0) }]);
    await expect(
      new GhlClient({ baseUrl: 'http://g', token: 't', fetch: daily.fetchFn }).getContact('c1'),
    ).rejects.toMatchObject({ status: 429 });
    expect(daily.calls).toHaveLength(1);

    const bad = scripted([{ status: 422, body: { statusCode: 422, message: ['pageLimit should not be empty'] } }]);
    await expect(
      new GhlClient({ baseUrl: 'http://g', token: 't', fetch: bad.fetchFn }).searchContacts({
        locationId: 'l',
        pageLimit: 0,
      }),
    ).rejects.toMatchObject({
      status: 422,
      retryable: false,
      message: expect.stringContaining('pageLimit should not be empty'),
    });
    expect(bad.calls).toHaveLength(1);

    const down = scripted([{ status: 502 }]);
    await expect(
      new GhlClient({ baseUrl: 'http://g', token: 't', fetch: down.fetchFn, sleep: async () => {} }).addNote('c1', {
        body: 'x',
      }),
    ).rejects.toMatchObject({ status: 502, retryable: true });
    expect(down.calls).toHaveLength(1);
  });

  it('rejects an answer of the wrong shape', async () => {
    const odd = scripted([{ status: 200, body: { contacts: 'nope' } }]);
    await expect(
      new GhlClient({ baseUrl: 'http://g', token: 't', fetch: odd.fetchFn }).searchContacts({
        locationId: 'l',
        pageLimit: 1,
      }),
    ).rejects.toThrow(/unexpected response shape/);
  });
});
