import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { allWeek, campaignStatus, createTenant, sandboxEmails, waitFor, wireSendgrid } from './support/campaign.js';

const TENANT = 'camp-a';

describe('campaigns over the real API, Temporal and the sandbox', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { SANDBOX_PORT: new URL(sandbox.url).port } });
    key = await createTenant(tp.baseUrl, TENANT);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT);
  });
  afterAll(async () => {
    await tp?.stop();
    await sandbox?.close();
  });

  it('runs email → wait(0) → email for every lead, one email per step', async () => {
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        name: 'Spring cleaning',
        goal: 'Book a free dental check-up',
        sender: { email: 'desk@clinic.example', name: 'Front Desk', replyTo: 'replies@inbound.clinic.example' },
        policy: { sendWindow: allWeek },
        sequence: [{ type: 'email', prompt: 'Invite them to a free check-up' }, { type: 'wait', days: 0 }, { type: 'email', subject: 'Following up, {{firstName}}', template: 'Hi {{firstName}}, any interest?' }],
        audience: { type: 'leads', leads: [{ email: 'ann@example.com', firstName: 'Ann' }, { email: 'bob@example.com', firstName: 'Bob' }, { email: 'cy@example.com', firstName: 'Cy' }] },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.leads).toEqual({ imported: 3, duplicates: 0, errors: [] });
    const id = created.body.id;
    expect((await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key })).status).toBe(202);
    const result = await tp.platform.temporal!.workflow.getHandle(`campaign:${TENANT}:${id}`).result();
    expect(result).toMatchObject({ state: 'completed', started: 3, finished: 3, outcomes: { exhausted: 3 } });

    for (const to of ['ann@example.com', 'bob@example.com', 'cy@example.com']) {
      const emails = await sandboxEmails(sandbox, to);
      expect(emails).toHaveLength(2);
      expect(emails[1]!.subject).toBe(`Following up, ${to[0]!.toUpperCase()}${to.slice(1, to.indexOf('@'))}`);
      expect(emails[0]!.replyTo?.email).toMatch(/^replies\+[a-z0-9]+@inbound\.clinic\.example$/);
    }
    const progress = await campaignStatus(tp, key, id);
    expect(progress).toMatchObject({ status: 'completed', leads: { total: 3, byState: { exhausted: 3 } }, emails: { sent: 6 } });
    expect(progress.costUsd).toBeGreaterThan(0);
  });
});
