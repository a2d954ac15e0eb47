import { randomBytes } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentActivities, ModelStepResult } from '../../activities/agents/conversation.js';
import { DEFAULT_AGENT_SETTINGS } from '../../lib/config.js';
import {
  historyQuery,
  sendMessageUpdate,
  type ConversationInput,
  type ConversationResult,
} from '../../workflows/conversation.contract.js';
import type { AgentBriefResult } from '../../workflows/agentBrief.js';
import { bundleWorkflows, logged, startTimeSkippingEnv, stubWorker } from '../support/timeSkipping.js';

const NAMES = [
  'openConversation',
  'recordUserMessage',
  'modelStep',
  'runAgentTool',
  'recordToolResult',
  'prepareAsk',
  'finishTurn',
  'summarize',
  'closeConversation',
  'prepareBrief',
] as const satisfies readonly (keyof AgentActivities)[];

/**
 * The conversation and agentBrief workflows on the time-skipping test server, every activity a
 * stub: a brief posted as a conversation (once per day), a confirmation that nobody answers
 * timing out to "not done" after 15 minutes, and an idle conversation closing after an hour and
 * reopening on the next message. (The test server has no Schedules API: the Schedule itself is
 * tested on the dev server in test/agentBrief.test.ts.)
 */
describe('conversation workflow (stubbed activities, time-skipping)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Awaited<ReturnType<typeof stubWorker<AgentActivities>>>;

  beforeAll(async () => {
    env = await startTimeSkippingEnv();
    worker = await stubWorker<AgentActivities>(env, await bundleWorkflows(), NAMES);
  }, 120_000);
  afterAll(async () => {
    await worker?.stop();
    await env?.teardown();
  });

  /** A model that books when asked to, and otherwise answers. */
  function fake(over: Partial<AgentActivities> = {}) {
    let briefed = false;
    const impl: Partial<AgentActivities> = {
      openConversation: async () => ({
        agentId: 'closer',
        enabled: true,
        tools: ['crm_book_appointment', 'knowledge_search'],
        confirmTools: ['crm_book_appointment'],
        turns: 0,
        tokensUsed: 0,
      }),
      recordUserMessage: async () => undefined,
      modelStep: async (i): Promise<ModelStepResult> => {
        const usage = { inputTokens: 10, outputTokens: 5 };
        if (i.step === 0 && i.streamId.includes('book'))
          return {
            messageId: `${i.streamId}.s0`,
            text: 'Booking.',
            toolUses: [
              { id: 'toolu_1', name: 'crm_book_appointment', input: { contactId: 'c1' }, confirmQuestion: 'Book?' },
            ],
            usage,
          };
        return { messageId: `${i.streamId}.s${i.step}`, text: `answer to ${i.streamId}`, toolUses: [], usage };
      },
      runAgentTool: async () => ({ text: 'Booked.', isError: false }),
      recordToolResult: async () => undefined,
      finishTurn: async (i) => ({ messageId: i.answerMessageId ?? `${i.messageId}.final`, cited: [] }),
      summarize: async () => undefined,
      closeConversation: async () => undefined,
      prepareBrief: async (i) => {
        if (briefed) return { skip: 'already briefed on 2026-06-01' };
        briefed = true;
        return {
          conversationId: `brief-${i.agentId}-20260601`,
          messageId: 'brief-q',
          title: 'Closer brief',
          text: 'brief',
        };
      },
      ...over,
    };
    return logged<AgentActivities>(NAMES, impl);
  }

  const input = (conversationId: string, settings = {}): ConversationInput => ({
    tenantId: 'ts',
    conversationId,
    agentId: 'closer',
    origin: 'user',
    settings: { ...DEFAULT_AGENT_SETTINGS, ...settings },
  });

  const send = (conversationId: string, messageId: string, settings = {}) =>
    env.client.workflow.executeUpdateWithStart(sendMessageUpdate, {
      args: [{ messageId, text: 'hello' }],
      startWorkflowOperation: new WithStartWorkflowOperation('conversation', {
        workflowId: `chat:ts:${conversationId}`,
        taskQueue: worker.taskQueue,
        args: [input(conversationId, settings)],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });

  it('a brief is posted as a conversation, once per day', async () => {
    const f = fake();
    worker.use(f.stubs);
    const run = () =>
      env.client.workflow.execute('agentBrief', {
        workflowId: `brief:ts:closer-${randomBytes(3).toString('hex')}`,
        taskQueue: worker.taskQueue,
        args: [{ tenantId: 'ts', agentId: 'closer', timezone: 'America/Chicago', settings: DEFAULT_AGENT_SETTINGS }],
      }) as Promise<AgentBriefResult>;
    const first = await run();
    expect(first).toEqual({ conversationId: 'brief-closer-20260601', skipped: null, reply: 'answer to brief-q' });
    expect(f.inputs<{ origin: string }>('openConversation')[0]!.origin).toBe('brief');
    const second = await run();
    expect(second).toMatchObject({ conversationId: null, skipped: 'already briefed on 2026-06-01' });
    expect(f.inputs('modelStep')).toHaveLength(1);
  });

  it('an unanswered confirmation times out to "not done" after 15 minutes', async () => {
    const f = fake();
    worker.use(f.stubs);
    const conv = `c-${randomBytes(3).toString('hex')}`;
    const first = await send(conv, 'msg-book');
    expect(first).toMatchObject({ status: 'awaiting_confirmation', confirmation: { tool: 'crm_book_appointment' } });
    const handle = env.client.workflow.getHandle(`chat:ts:${conv}`);
    await env.sleep('16 minutes');
    const history = await handle.query(historyQuery);
    expect(history.pending).toBeNull();
    expect(f.inputs<{ text: string; isError: boolean }>('recordToolResult')).toEqual([
      expect.objectContaining({ isError: true, text: expect.stringMatching(/^Not done: no confirmation/) }),
    ]);
    expect(f.inputs('runAgentTool')).toEqual([]);
    expect(f.inputs('finishTurn')).toHaveLength(1);
  });

  it('an idle conversation closes after an hour and reopens on the next message', async () => {
    const f = fake();
    worker.use(f.stubs);
    const conv = `c-${randomBytes(3).toString('hex')}`;
    expect((await send(conv, 'm1')).reply?.text).toBe('answer to m1');
    const handle = env.client.workflow.getHandle(`chat:ts:${conv}`);
    const closed = (await handle.result()) as ConversationResult;
    expect(closed).toEqual({ conversationId: conv, closed: 'idle', lastReply: 'answer to m1' });
    expect(
      f.inputs<{ conversationId: string }>('closeConversation').filter((c) => c.conversationId === conv),
    ).toHaveLength(1);
    // The next message starts a new run of the same id, which answers it.
    const again = await send(conv, 'm2');
    expect(again.reply?.text).toBe('answer to m2');
    expect((await handle.describe()).status.name).toBe('RUNNING');
  });

  it('stops at the token budget without calling the model again', async () => {
    const f = fake();
    worker.use(f.stubs);
    const conv = `c-${randomBytes(3).toString('hex')}`;
    await send(conv, 'm1', { tokenBudget: 15 });
    const second = await send(conv, 'm2', { tokenBudget: 15 });
    expect(second).toMatchObject({ status: 'stopped', stopReason: 'token_budget', reply: null });
    expect(f.inputs('modelStep')).toHaveLength(1);
  });
});
