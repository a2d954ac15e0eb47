import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentTools, type AgentToolContext } from '../activities/agents/tools.js';
import type { CrmActionActivities } from '../activities/crm/actions.js';
import { createTenant } from './support/campaign.js';
import { startTestPlatform, type TestPlatform } from './support/platform.js';

const T = 'agent-tools-a';

/**
 * The agents' acting tools run inside activities that Temporal retries after a crash: a retry of
 * the same tool use (same key) must find what the first attempt made, not make it again.
 */
describe('agent tools act once per tool use', () => {
  let tp: TestPlatform;

  beforeAll(async () => {
    tp = await startTestPlatform();
    await createTenant(tp.baseUrl, T);
  });
  afterAll(async () => {
    await tp?.stop();
  });

  it('campaigns_create_draft retried with the same tool use is one draft with its leads once', async () => {
    const ctx = (key: string): AgentToolContext => ({
      tenantId: T,
      conversationId: 'conv_tools',
      agentId: 'closer',
      turn: 1,
      key,
      pool: tp.platform.pool,
      access: tp.platform.access,
      // Not used by this tool: it writes only Switchboard's own tables.
      crm: {} as CrmActionActivities,
    });
    const draft = {
      name: 'Win-back',
      goal: 'Bring back quiet customers',
      sender: { email: 'owner@clinic.example' },
      sequence: [{ type: 'call', purpose: 'Ask how they are getting on' }],
      audience: {
        type: 'leads',
        leads: [
          { phone: '+15125550101', firstName: 'Ana' },
          { phone: '+15125550102', firstName: 'Ben' },
        ],
      },
    };
    const counts = async () => {
      const { rows } = await tp.adminPool.query(
        `select (select count(*)::int from campaigns where tenant_id = $1) as campaigns,
                (select count(*)::int from campaign_leads where tenant_id = $1) as leads`,
        [T],
      );
      return rows[0] as { campaigns: number; leads: number };
    };

    const tool = agentTools.campaigns_create_draft;
    const args = tool.args.parse(draft);
    const first = await tool.run(ctx('chat:agent-tools-a:conv_tools:toolu_1'), args);
    const retried = await tool.run(ctx('chat:agent-tools-a:conv_tools:toolu_1'), args);
    expect(first).toMatch(/^Draft campaign cmp_\w+ created with 2 leads/);
    expect(retried).toBe(first);
    expect(await counts()).toEqual({ campaigns: 1, leads: 2 });

    // Another tool use asking for the same is another draft.
    await tool.run(ctx('chat:agent-tools-a:conv_tools:toolu_2'), args);
    expect(await counts()).toEqual({ campaigns: 2, leads: 4 });
  });
});
