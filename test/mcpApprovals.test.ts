import type { Client } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allWeek, createTenant, sandboxEmails, waitFor, wireSendgrid } from './support/campaign.js';
import { connectFormClient, connectHttp, errorText, structured } from './support/mcp.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';
import { startTestSandbox, type Sandbox } from './support/sandbox.js';
import { sandboxProviders } from './support/voice.js';

/**
 * approval_decide without a decision, over HTTP with the SDK client against the real platform: a
 * 2026 client that can show a form is shown the held draft and the person decides there (approve →
 * the email goes out; decline → nothing decided); a client that cannot be asked is told `decision`
 * is missing; another tenant's approval id is not found before any form is shown.
 */

const TENANT = 'mcp-appr';
const OTHER = 'mcp-appr-other';
const sender = {
  email: 'desk@clinic.example',
  name: 'Front Desk',
  replyTo: 'replies@inbound.clinic.example',
  postalAddress: '1 Harbour Street, Springfield, IL 62701, USA',
};

interface Asked {
  message: string;
  properties: string[];
  defaultSubject: unknown;
}

describe('MCP approval_decide asks the person', () => {
  let sandbox: Sandbox;
  let tp: TestPlatform;
  let key: string;
  let otherKey: string;
  const clients: Client[] = [];
  const asked: Asked[] = [];
  let answer: (req: Asked) => { action: 'accept'; content: Record<string, string> } | { action: 'decline' } = () => ({
    action: 'decline',
  });

  async function formClient(apiKey: string): Promise<Client> {
    const client = await connectFormClient(tp.baseUrl, apiKey, (params) => {
      const seen = {
        message: params.message,
        properties: Object.keys(params.requestedSchema?.properties ?? {}),
        defaultSubject: params.requestedSchema?.properties?.subject?.default,
      };
      asked.push(seen);
      return answer(seen);
    });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    sandbox = await startTestSandbox();
    tp = await startTestPlatform({ env: { ...sandboxProviders(sandbox), SANDBOX_PORT: new URL(sandbox.url).port } });
    key = await createTenant(tp.baseUrl, TENANT);
    otherKey = await createTenant(tp.baseUrl, OTHER);
    await wireSendgrid(sandbox, tp.baseUrl, TENANT, key);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await tp?.stop();
    await sandbox?.close();
  });

  it('no decision: the form shows the draft; approve sends it, decline decides nothing, a client without elicitation is told decision is missing', async () => {
    const client = await formClient(key);
    const created = structured(
      await client.callTool({
        name: 'campaign_create',
        arguments: {
          name: 'Reviewed',
          goal: 'Book a free check-up',
          sender,
          policy: { sendWindow: allWeek, reviewMode: true },
          sequence: [{ type: 'email', prompt: 'Offer a check-up' }],
          audience: {
            type: 'leads',
            leads: [
              { email: 'appr-yes@example.com', firstName: 'Ann', lastName: 'Yes' },
              { email: 'appr-no@example.com' },
              { email: 'appr-edit@example.com' },
            ],
          },
        },
      }),
    );
    structured(await client.callTool({ name: 'campaign_start', arguments: { campaignId: created.id } }));
    const pending = await waitFor('three drafts held for review', async () => {
      const listed = structured(
        await client.callTool({ name: 'approvals_list', arguments: { campaignId: created.id } }),
      );
      return listed.approvals.length === 3 ? listed.approvals : undefined;
    });
    const byTo = (to: string) => pending.find((a: { to: string }) => a.to === to);
    const yes = byTo('appr-yes@example.com');
    const no = byTo('appr-no@example.com');
    const edit = byTo('appr-edit@example.com');

    // Approve in the form: the form shows the draft and the lead, the email goes out as drafted.
    answer = (req) => ({
      action: 'accept',
      content: { decision: 'approve', subject: String(req.defaultSubject), body: 'ignored unless editing' },
    });
    const approved = structured(await client.callTool({ name: 'approval_decide', arguments: { approvalId: yes.id } }));
    expect(approved).toMatchObject({ id: yes.id, status: 'approved', final: yes.draft });
    expect(asked).toHaveLength(1);
    expect(asked[0]!.message).toContain(`Subject: ${yes.draft.subject}`);
    expect(asked[0]!.message).toContain('Ann Yes <appr-yes@example.com>');
    expect(asked[0]!.message).toContain(yes.draft.body.split('\n')[0]);
    expect(asked[0]!.properties).toEqual(['decision', 'subject', 'body', 'note']);
    expect(asked[0]!.defaultSubject).toBe(yes.draft.subject);
    const sent = await waitFor('the approved email', async () => {
      const emails = await sandboxEmails(sandbox, 'appr-yes@example.com');
      return emails.length ? emails : undefined;
    });
    expect(sent.map((e) => e.subject)).toEqual([yes.draft.subject]);

    // Decline the form: nothing decided, the draft is still held.
    answer = () => ({ action: 'decline' });
    expect(errorText(await client.callTool({ name: 'approval_decide', arguments: { approvalId: no.id } }))).toMatch(
      /not done: the user declined to give decision/,
    );
    expect(asked).toHaveLength(2);
    expect(asked[1]!.message).toContain(`Subject: ${no.draft.subject}`);

    // Another tenant's approval id: not found, and no form is shown.
    const other = await formClient(otherKey);
    expect(errorText(await other.callTool({ name: 'approval_decide', arguments: { approvalId: edit.id } }))).toMatch(
      new RegExp(`no approval ${edit.id}`),
    );
    expect(asked).toHaveLength(2);

    // Clients that cannot be asked (2026 without elicitation, 2025-era) are told decision is missing.
    for (const era of ['modern', 'legacy'] as const) {
      const plain = await connectHttp(tp.baseUrl, key, era);
      clients.push(plain);
      expect(errorText(await plain.callTool({ name: 'approval_decide', arguments: { approvalId: edit.id } }))).toMatch(
        /decision is required/,
      );
    }
    expect(asked).toHaveLength(2);

    // An edit in the form: sent with the new subject.
    answer = () => ({ action: 'accept', content: { decision: 'edit', subject: 'Edited in the form', body: '' } });
    expect(
      structured(await client.callTool({ name: 'approval_decide', arguments: { approvalId: edit.id } })),
    ).toMatchObject({ status: 'edited', final: { subject: 'Edited in the form', body: edit.draft.body } });

    const still = structured(
      await client.callTool({ name: 'approvals_list', arguments: { campaignId: created.id } }),
    ).approvals;
    expect(still.map((a: { id: string }) => a.id)).toEqual([no.id]);
    const edited = await waitFor('the edited email', async () => {
      const emails = await sandboxEmails(sandbox, 'appr-edit@example.com');
      return emails.length ? emails : undefined;
    });
    expect(edited.map((e) => e.subject)).toEqual(['Edited in the form']);
    expect(await sandboxEmails(sandbox, 'appr-no@example.com')).toHaveLength(0);

    // The audit trail says how each call was decided, as for the other confirmations.
    const audit = await tp.adminPool.query<{ approval: string; status: string; confirmation: string }>(
      `select params->'args'->>'approvalId' as approval, status, params->>'confirmation' as confirmation
         from audit_log where tenant_id = $1 and tool = 'approval_decide' order by id`,
      [TENANT],
    );
    const trail = (id: string) =>
      audit.rows.filter((r) => r.approval === id).map((r) => `${r.status}:${r.confirmation}`);
    expect(trail(yes.id)).toEqual(['ok:asked', 'ok:user']);
    expect(trail(no.id)).toEqual(['ok:asked', 'error:declined']);
    expect(trail(edit.id)).toEqual(['error:needed', 'error:needed', 'ok:asked', 'ok:user']);
  });
});
