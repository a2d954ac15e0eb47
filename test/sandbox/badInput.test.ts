import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../sandbox/server.js';
import { startTestSandbox } from './helpers.js';

let sb: RunningSandbox;
beforeAll(async () => {
  sb = await startTestSandbox();
});
afterAll(async () => {
  await sb.close();
});

const auth: Record<string, Record<string, string>> = {
  ghl: { authorization: 'Bearer t', version: '2021-07-28' },
  ghlCal: { authorization: 'Bearer t', version: '2021-04-15' },
  vapi: { authorization: 'Bearer t' },
  retell: { authorization: 'Bearer t' },
  anthropic: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
  sendgrid: { authorization: 'Bearer SG.t' },
  control: {},
};

const routes: [string, string, keyof typeof auth][] = [
  ['POST', '/ghl/contacts/search', 'ghl'],
  ['GET', '/ghl/contacts/search/duplicate?locationId=loc_demo&number=%2B&email=', 'ghl'],
  ['POST', '/ghl/contacts/', 'ghl'],
  ['POST', '/ghl/contacts/upsert', 'ghl'],
  ['PUT', '/ghl/contacts/ct_demo', 'ghl'],
  ['POST', '/ghl/contacts/ct_demo/notes', 'ghl'],
  ['POST', '/ghl/contacts/ct_demo/tasks', 'ghl'],
  ['PUT', '/ghl/contacts/ct_demo/tasks/x/completed', 'ghl'],
  ['POST', '/ghl/contacts/ct_demo/tags', 'ghl'],
  ['DELETE', '/ghl/contacts/ct_demo/tags', 'ghl'],
  ['GET', '/ghl/calendars/cal_demo/free-slots?startDate=abc&endDate=1&timezone=Mars/Base', 'ghlCal'],
  ['GET', '/ghl/calendars/cal_demo/free-slots?startDate=1&endDate=2&timezone=Mars/Base', 'ghlCal'],
  ['POST', '/ghl/calendars/events/appointments', 'ghlCal'],
  ['PUT', '/ghl/calendars/events/appointments/x', 'ghlCal'],
  ['POST', '/ghl/conversations/messages', 'ghlCal'],
  ['GET', '/ghl/opportunities/search?location_id=loc_demo&limit=abc&startAfter=x', 'ghl'],
  ['POST', '/ghl/opportunities/', 'ghl'],
  ['PUT', '/ghl/opportunities/x/status', 'ghl'],
  ['POST', '/vapi/call', 'vapi'],
  ['GET', '/vapi/call?limit=-5&createdAtGt=notadate', 'vapi'],
  ['POST', '/retell/v2/create-phone-call', 'retell'],
  ['POST', '/retell/v3/list-calls', 'retell'],
  ['POST', '/anthropic/v1/messages', 'anthropic'],
  ['POST', '/anthropic/v1/messages/count_tokens', 'anthropic'],
  ['POST', '/sendgrid/v3/mail/send', 'sendgrid'],
  ['POST', '/__sandbox/reset', 'control'],
  ['POST', '/__sandbox/faults', 'control'],
  ['POST', '/__sandbox/ghl/seed', 'control'],
  ['POST', '/__sandbox/ghl/limits', 'control'],
  ['POST', '/__sandbox/ghl/webhooks', 'control'],
  ['POST', '/__sandbox/ghl/calendars', 'control'],
  ['POST', '/__sandbox/ghl/inbound-message', 'control'],
  ['POST', '/__sandbox/vapi/calls', 'control'],
  ['POST', '/__sandbox/retell/calls', 'control'],
  ['POST', '/__sandbox/sendgrid/events', 'control'],
  ['POST', '/__sandbox/sendgrid/reply', 'control'],
  ['POST', '/__sandbox/sendgrid/config', 'control'],
];

const bodies: (string | undefined)[] = [
  undefined,
  'null',
  '[]',
  '"text"',
  '42',
  '{}',
  '{"locationId": 5, "pageLimit": "x", "filters": [null, 1, {"group": "OR", "filters": "x"}], "sort": [{}]}',
  '{"locationId": "loc_demo", "pageLimit": 10, "filters": [{"field": "dateAdded", "operator": "range", "value": {"gte": "nope"}}], "searchAfter": [{}, []]}',
  '{"messages": [{"role": "user", "content": [{"type": "tool_result"}]}], "model": 1, "max_tokens": -1, "tools": [{"name": "bad name!"}]}',
  '{"personalizations": [{"to": [{"email": 5}]}], "from": "x", "content": "x"}',
  '{"tags": "vip", "title": 5, "dueDate": "never", "completed": "yes", "body": ""}',
  '{"calendarId": "cal_demo", "locationId": "loc_demo", "contactId": "ct_demo", "startTime": "not a time"}',
  '{"type": "SMS", "contactId": "nope"}',
  '{"serverUrl": "http://127.0.0.1:1/x", "script": {"steps": [{"tool": ""}]}}',
  '{"provider": "ghl", "route": "*", "status": 200}',
  '{"contacts": 1e9}',
  '{bad json',
];

describe('bad input never crashes the sandbox', () => {
  it('answers every malformed request with a 4xx', async () => {
    const failures: string[] = [];
    for (const [method, path, kind] of routes) {
      for (const body of bodies) {
        if (method === 'GET' && body !== undefined) continue;
        const headers: Record<string, string> = { ...auth[kind] };
        if (body !== undefined) headers['content-type'] = 'application/json';
        const res = await fetch(`${sb.url}${path}`, { method, headers, body });
        const text = await res.text();
        if (
          res.status >= 500 ||
          (res.status < 400 && !path.startsWith('/__sandbox') && body !== '{}' && body !== undefined)
        ) {
          failures.push(`${method} ${path} ${body ?? '(none)'} → ${res.status} ${text.slice(0, 120)}`);
        }
      }
    }
    if (process.env.SHOW_ACCEPTED) console.log(failures.join('\n'));
    expect(failures.filter((f) => / → 5\d\d /.test(f))).toEqual([]);
    expect((await fetch(`${sb.url}/__sandbox/health`)).status).toBe(200);
  });
});
