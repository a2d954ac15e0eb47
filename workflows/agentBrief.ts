import { executeChild, proxyActivities } from '@temporalio/workflow';
import type { AgentActivities } from '../activities/agents/conversation.js';
import { workflowIds } from '../lib/workflowIds.js';
import type { ConversationSettings } from './conversation.contract.js';
import type { conversation } from './conversation.js';

/**
 * An agent speaking up first: started by the agent's Temporal Schedule (e.g. the Closer at 8:00 on
 * weekdays in the tenant's time zone), it gathers the day's material (insights, recent calls,
 * campaigns) and posts the agent's brief as a new conversation (origin `brief`) the owner finds in
 * the conversation list and can answer. One brief per agent and local day: a second run that day
 * finds the first and does nothing.
 */

export interface AgentBriefInput {
  tenantId: string;
  agentId: string;
  /** The tenant's time zone: the brief's day is its local date. */
  timezone: string;
  settings: ConversationSettings;
}

export interface AgentBriefResult {
  conversationId: string | null;
  skipped: string | null;
  reply: string | null;
}

const acts = proxyActivities<AgentActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export async function agentBrief(input: AgentBriefInput): Promise<AgentBriefResult> {
  const prep = await acts.prepareBrief({ tenantId: input.tenantId, agentId: input.agentId, timezone: input.timezone });
  if ('skip' in prep) return { conversationId: null, skipped: prep.skip, reply: null };
  const result = await executeChild<typeof conversation>('conversation', {
    workflowId: workflowIds.conversation(input.tenantId, prep.conversationId),
    args: [
      {
        tenantId: input.tenantId,
        conversationId: prep.conversationId,
        agentId: input.agentId,
        origin: 'brief',
        title: prep.title,
        settings: input.settings,
        oneShot: { messageId: prep.messageId, text: prep.text },
      },
    ],
  });
  return { conversationId: prep.conversationId, skipped: null, reply: result.lastReply };
}
