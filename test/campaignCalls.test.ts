import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../lib/db.js';
import { suppress } from '../domain/suppression.js';
import { allWeek, sandboxEmails, wireSendgrid } from './support/campaign.js';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { demoFreeSlots, sandboxProviders, setUpVoiceTenant, VAPI_SECRET } from './support/voice.js';

const TENANT = 'camp-calls';

describe('campaign call steps: voiceCall children through the outbound path', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { ...sandboxProviders(sandbox), SANDBOX_PORT: new URL(sandbox.url).port } });
    key = await setUpVoiceTenant(sandbox, tp.baseUrl, TENANT, { retry: { maxAttempts: 2, spacingSeconds: 1 } });
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('a call that books ends the lead as booked; no answer goes on to the next step; a suppressed number is never called; one call at a time', async () => {
    const [slot] = await demoFreeSlots(sandbox);
    // Every Vapi call the platform places is played against our webhook; unanswered numbers end in 0002.
    await sandbox.control('POST', '/vapi/config', {
      serverUrl: `${tp.baseUrl}/webhooks/vapi/${TENANT}`,
      credential: { type: 'x-vapi-secret', secret: VAPI_SECRET },
      script: {
        steps: [
          { assistant: 'Hi, calling about your check-up.' },
          { user: `Sure, book me at ${slot}.` },
          { tool: 'book_appointment', arguments: { startTime: slot } },
          { user: 'Thanks, bye.' },
        ],
      },
    });
    await withTenant(tp.platform.pool, TENANT, (c) =>
      suppress(c, { tenantId: TENANT, phone: '+15555550177', reason: 'stop', source: 'test' }),
    );
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        name: 'Calls',
        goal: 'Book check-ups',
        sender: {
          email: 'desk@clinic.example',
          replyTo: 'replies@inbound.clinic.example',
          postalAddress: '1 Harbour Street, Springfield, IL 62701, USA',
        },
        policy: { sendWindow: allWeek, maxConcurrentCalls: 1 },
        sequence: [
          { type: 'call', purpose: 'Offer a check-up and book it' },
          { type: 'email', subject: 'Sorry we missed you', template: 'Hi {{firstName}}, we tried to call.' },
        ],
        audience: {
          type: 'leads',
          leads: [
            { phone: '+15555550100', email: 'demo.caller@example.com', firstName: 'Demo', contactId: 'ct_demo' },
            { phone: '+15555550002', email: 'missed@example.com', firstName: 'Missed' },
            { phone: '+15555550177', email: 'stop@example.com', firstName: 'Stop' },
          ],
        },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key });
    const result = await tp.platform.temporal!.workflow.getHandle(`campaign:${TENANT}:${id}`).result();
    expect(result.outcomes).toEqual({ booked: 1, exhausted: 1, suppressed: 1 });

    const leads = (
      await withTenant(tp.platform.pool, TENANT, (c) =>
        c.query<{ id: string; phone: string; state: string }>(
          'select id, phone, state from campaign_leads where campaign_id = $1',
          [id],
        ),
      )
    ).rows;
    const byPhone = Object.fromEntries(leads.map((l) => [l.phone, l]));
    const events = async (leadId: string) =>
      (await call(tp.baseUrl, 'GET', `/v1/campaigns/${id}/leads/${leadId}`, { key })).body.events as {
        kind: string;
        at: string;
        data: any;
      }[];

    const booked = await events(byPhone['+15555550100']!.id);
    const finished = booked.find((e) => e.kind === 'call-finished')!;
    expect(finished.data).toMatchObject({ status: 'completed' });
    expect(finished.data.appointmentIds).toHaveLength(1);
    expect(await sandboxEmails(sandbox, 'demo.caller@example.com')).toHaveLength(0);
    const callWorkflow = booked.find((e) => e.kind === 'call-started')!.data.workflowId;
    expect(callWorkflow).toBe(`call:${TENANT}:vapi:lead-${id}-${byPhone['+15555550100']!.id}-0`);

    const missed = await events(byPhone['+15555550002']!.id);
    expect(missed.find((e) => e.kind === 'call-finished')!.data).toMatchObject({ status: 'no-answer', attempts: 2 });
    expect((await sandboxEmails(sandbox, 'missed@example.com')).map((e) => e.subject)).toEqual(['Sorry we missed you']);

    expect((await events(byPhone['+15555550177']!.id)).some((e) => e.kind.startsWith('call-'))).toBe(false);
    const placed = await sandbox.control<{ calls: { customer?: { number: string }; to?: string }[] }>(
      'GET',
      '/vapi/calls',
    );
    expect(JSON.stringify(placed)).not.toContain('+15555550177');

    // maxConcurrentCalls 1: the two calls did not overlap.
    const spans = [booked, missed]
      .map(
        (ev) =>
          [
            Date.parse(ev.find((e) => e.kind === 'call-started')!.at),
            Date.parse(ev.find((e) => e.kind === 'call-finished')!.at),
          ] as const,
      )
      .sort((a, b) => a[0] - b[0]);
    expect(spans[1]![0]).toBeGreaterThanOrEqual(spans[0]![1]);
    const slots = await withTenant(tp.platform.pool, TENANT, (c) =>
      c.query('select count(*)::int as n from campaign_call_slots'),
    );
    expect(slots.rows[0].n).toBe(0);
  });
});
