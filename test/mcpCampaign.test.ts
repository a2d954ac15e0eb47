import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allWeek, createTenant, sandboxEmails, waitFor, wireSendgrid } from './support/campaign.js';
import { connectHttp, errorText, structured } from './support/mcp.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { sandboxProviders } from './support/voice.js';

/**
 * Campaign tools over MCP against the real platform and the sandbox (SendGrid, Claude): create in
 * review mode, start (streaming progress), decide the held drafts, follow the status; pause, resume
 * and cancel; bad definitions come back as tool errors naming the field.
 */

const TENANT = 'mcp-camp';
const sender = {
  email: 'desk@clinic.example',
  name: 'Front Desk',
  replyTo: 'replies@inbound.clinic.example',
  postalAddress: '1 Harbour Street, Springfield, IL 62701, USA',
};

describe('MCP campaign tools', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let client: Client;

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { ...sandboxProviders(sandbox), SANDBOX_PORT: new URL(sandbox.url).port } });
    const key = await createTenant(tp.baseUrl, TENANT);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
    client = await connectHttp(tp.baseUrl, key, 'modern');
  });
  afterAll(async () => {
    await client?.close().catch(() => undefined);
    await tp?.stop();
    await sandbox?.close();
  });

  it('create (review mode) → start with progress → decide the drafts → the edited email goes out, the rejected one does not', async () => {
    const created = structured(
      await client.callTool({
        name: 'campaign_create',
        arguments: {
          name: 'Check-ups',
          goal: 'Book a free check-up',
          sender,
          policy: { sendWindow: allWeek, reviewMode: true },
          sequence: [{ type: 'email', prompt: 'Offer a check-up' }],
          audience: {
            type: 'leads',
            leads: [
              { email: 'mcp-rev-1@example.com', firstName: 'Ann' },
              { email: 'mcp-rev-2@example.com' },
              { email: 'not-an-email' },
            ],
          },
        },
      }),
    );
    expect(created).toMatchObject({
      status: 'draft',
      workflowId: `campaign:${TENANT}:${created.id}`,
      leads: { imported: 2 },
    });
    expect(created.leads.errors).toMatchObject([{ row: 3, field: 'email' }]);

    const progress: string[] = [];
    const started = structured(
      await client.callTool(
        { name: 'campaign_start', arguments: { campaignId: created.id, followSeconds: 2 } },
        { onprogress: (p) => progress.push(p.message ?? '') },
      ),
    );
    expect(started).toMatchObject({ workflowId: created.workflowId, status: 'running', followWith: 'campaign_status' });
    expect(progress[0]).toMatch(/^running: /);

    const pending = await waitFor('two drafts held for review', async () => {
      const listed = structured(
        await client.callTool({ name: 'approvals_list', arguments: { campaignId: created.id } }),
      );
      return listed.approvals.length === 2 ? listed.approvals : undefined;
    });
    const first = pending.find((a: { to: string }) => a.to === 'mcp-rev-1@example.com');
    const second = pending.find((a: { to: string }) => a.to === 'mcp-rev-2@example.com');
    expect(
      errorText(
        await client.callTool({ name: 'approval_decide', arguments: { approvalId: first.id, decision: 'edit' } }),
      ),
    ).toMatch(/body: an edit needs a subject or a body/);
    const edited = structured(
      await client.callTool({
        name: 'approval_decide',
        arguments: { approvalId: first.id, decision: 'edit', subject: 'A free check-up for you' },
      }),
    );
    expect(edited).toMatchObject({ status: 'edited', final: { subject: 'A free check-up for you' } });
    expect(
      errorText(
        await client.callTool({ name: 'approval_decide', arguments: { approvalId: first.id, decision: 'approve' } }),
      ),
    ).toMatch(/already edited/);
    structured(
      await client.callTool({
        name: 'approval_decide',
        arguments: { approvalId: second.id, decision: 'reject', note: 'not this one' },
      }),
    );

    const sent = await waitFor('the edited email', async () => {
      const emails = await sandboxEmails(sandbox, 'mcp-rev-1@example.com');
      return emails.length ? emails : undefined;
    });
    expect(sent.map((e) => e.subject)).toEqual(['A free check-up for you']);
    const status = await waitFor('both leads done', async () => {
      const s = structured(await client.callTool({ name: 'campaign_status', arguments: { campaignId: created.id } }));
      return s.leads.byState.exhausted === 2 ? s : undefined;
    });
    expect(status).toMatchObject({ id: created.id, emails: { sent: 1 }, pendingApprovals: 0, source: 'cache' });
    expect(await sandboxEmails(sandbox, 'mcp-rev-2@example.com')).toHaveLength(0);
  });

  it('pause, resume and cancel; wrong states and bad definitions are tool errors naming what is wrong', async () => {
    const created = structured(
      await client.callTool({
        name: 'campaign_create',
        arguments: {
          name: 'Later',
          goal: 'Re-engage',
          sender,
          sequence: [
            { type: 'wait', days: 1 },
            { type: 'email', prompt: 'Hello again' },
          ],
          audience: { type: 'leads', leads: [{ email: 'later@example.com' }] },
        },
      }),
    );
    expect(errorText(await client.callTool({ name: 'campaign_pause', arguments: { campaignId: created.id } }))).toMatch(
      /cannot pause a draft campaign/,
    );
    structured(await client.callTool({ name: 'campaign_start', arguments: { campaignId: created.id } }));
    expect(
      structured(await client.callTool({ name: 'campaign_pause', arguments: { campaignId: created.id } })),
    ).toEqual({ status: 'paused', workflowId: created.workflowId });
    expect(
      structured(await client.callTool({ name: 'campaign_resume', arguments: { campaignId: created.id } })).status,
    ).toBe('running');
    expect(
      structured(await client.callTool({ name: 'campaign_cancel', arguments: { campaignId: created.id } })).status,
    ).toBe('cancelled');
    expect(errorText(await client.callTool({ name: 'campaign_start', arguments: { campaignId: created.id } }))).toMatch(
      /the campaign is cancelled/,
    );
    expect(
      errorText(await client.callTool({ name: 'campaign_status', arguments: { campaignId: 'cmp_nope' } })),
    ).toMatch(/no campaign cmp_nope/);
    const bad = errorText(
      await client.callTool({
        name: 'campaign_create',
        arguments: { name: 'x', goal: 'y', sender, sequence: [{ type: 'wait', days: 1 }] },
      }),
    );
    expect(bad).toMatch(/sequence: the sequence needs at least one email, call or sms step/);
  });
});
