import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allWeek, campaignStatus, createTenant, sandboxEmails, wireSendgrid } from './support/campaign.js';
import { call, startTestPlatform, startWorkerProcess, type TestPlatform } from './support/platform.js';
import type { StartedProcess } from './support/process.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { tearDown } from './support/teardown.js';

const TENANT = 'camp-crash';
const LEADS = 40;

describe('a campaign across a worker crash', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  const workers: StartedProcess[] = [];

  const startWorker = async () => {
    const worker = await startWorkerProcess(tp, {
      SANDBOX_PORT: new URL(sandbox.url).port,
      GHL_API_TOKEN: 'test-ghl-token',
      GHL_BASE_URL: `${sandbox.url}/ghl`,
    });
    workers.push(worker);
    return worker;
  };

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ roles: ['api'], env: { SANDBOX_PORT: new URL(sandbox.url).port } });
  });
  afterAll(() => tearDown({ processes: workers, platform: tp, sandbox }));

  it('a worker SIGKILLed mid-campaign: no lead lost, no email sent twice (the sandbox’s email log)', async () => {
    const key = await createTenant(tp.baseUrl, TENANT);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
    // Slow sends down so the crash lands mid-campaign, some of it mid-request.
    await sandbox.control('POST', '/faults', { provider: 'sendgrid', route: 'POST /v3/mail/send', latencyMs: 150 });
    const created = await call(tp.baseUrl, 'POST', '/v1/campaigns', {
      key,
      body: {
        name: 'Crash',
        goal: 'Survive',
        sender: {
          email: 'desk@clinic.example',
          replyTo: 'replies@inbound.clinic.example',
          postalAddress: '1 Harbour Street, Springfield, IL 62701, USA',
        },
        policy: { sendWindow: allWeek, maxActiveLeads: 10 },
        sequence: [
          { type: 'email', prompt: 'Hello' },
          { type: 'wait', days: 0 },
          { type: 'email', subject: 'Again', template: 'Hello again' },
        ],
        audience: {
          type: 'leads',
          leads: Array.from({ length: LEADS }, (_, i) => ({ email: `crash${i}@example.com` })),
        },
      },
    });
    const id = created.body.id;
    const first = await startWorker();
    await call(tp.baseUrl, 'POST', `/v1/campaigns/${id}/start`, { key });
    for (;;) {
      if ((await sandboxEmails(sandbox)).length >= 20) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    first.child.kill('SIGKILL');
    await first.exited;
    const atCrash = await campaignStatus(tp, key, id);
    expect(atCrash.status).toBe('running');
    expect(atCrash.emails.sent).toBeLessThan(2 * LEADS);

    await startWorker();
    const result = await tp.platform.temporal!.workflow.getHandle(`campaign:${TENANT}:${id}`).result();
    expect(result).toMatchObject({
      state: 'completed',
      started: LEADS,
      finished: LEADS,
      outcomes: { exhausted: LEADS },
    });

    const log = await sandboxEmails(sandbox);
    expect(log).toHaveLength(2 * LEADS);
    for (let i = 0; i < LEADS; i++) {
      const mine = log.filter((e) => e.personalizations[0]!.to[0]!.email === `crash${i}@example.com`);
      expect(mine.map((e) => e.customArgs?.sb_send_key).sort()).toEqual([
        `${id}:${mine[0]!.customArgs!.sb_lead}:0`,
        `${id}:${mine[0]!.customArgs!.sb_lead}:2`,
      ]);
    }
    expect(await campaignStatus(tp, key, id)).toMatchObject({
      status: 'completed',
      leads: { total: LEADS, byState: { exhausted: LEADS } },
      emails: { sent: 2 * LEADS },
    });
  });
});
