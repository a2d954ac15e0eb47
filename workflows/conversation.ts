import {
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { AgentActivities, ModelStepResult, ToolUse } from '../activities/agents/conversation.js';
import { workflowIds } from '../lib/workflowIds.js';
import { innermostMessage } from './failures.js';
import {
  confirmToolUpdate,
  historyQuery,
  sendMessageUpdate,
  type ChatReply,
  type ConversationInput,
  type ConversationResult,
} from './conversation.contract.js';
import { ConversationState } from './conversation.state.js';

/**
 * One chat with a persona agent. A message is an update: the turn runs (model step → tool calls
 * → model step …, each an activity) and the update's result is the reply. A tool that acts waits
 * for `confirmTool` (yes / no / timeout = not done), which then answers with the rest of the turn.
 * Messages, tool results and streamed deltas live in Postgres; the workflow keeps ids and counts.
 * Every N turns it continues as new with a model-written summary; idle, it closes, and the next
 * message (update-with-start) opens a new run of the same id.
 */

// The model step heartbeats with each streamed batch: a killed worker's step is retried at once.
const remoteModel = proxyActivities<AgentActivities>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', maximumAttempts: 8 },
});
const tools = proxyActivities<AgentActivities>({
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', maximumAttempts: 8 },
});
const remoteBooks = proxyActivities<AgentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', maximumAttempts: 20 },
});
// Since LOCAL_TURN: the model step and the bookkeeping run as local activities, inside the workflow
// task that takes the message — no server round trip (schedule, poll, complete, new workflow task)
// per step. A killed worker's task times out and the next worker reruns them; each is keyed, so
// a rerun writes once. Tool runs stay activities (they act, and may take long).
const LOCAL_TURN = 'chat-turn-local-activities';
const localModel = proxyLocalActivities<AgentActivities>({
  startToCloseTimeout: '3 minutes',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', maximumAttempts: 8 },
});
const localBooks = proxyLocalActivities<AgentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', maximumAttempts: 20 },
});

interface Turn {
  messageId: string;
  text: string;
  /** The turn's next report to whoever waits on it (the message's update, then each confirmation's). */
  report: ChatReply | undefined;
  tools: { name: string; ok: boolean }[];
  usage: { inputTokens: number; outputTokens: number };
  done: boolean;
}

export async function conversation(input: ConversationInput): Promise<ConversationResult> {
  const { workflowId } = workflowInfo();
  // Decided once per run, before the first command: runs recorded before it keep their activities.
  const local = patched(LOCAL_TURN);
  const books = local ? localBooks : remoteBooks;
  const model = local ? localModel : remoteModel;
  const { tenantId, conversationId } = input;
  const state = new ConversationState(input);
  const turns = new Map<string, Turn>();
  let current: Turn | undefined;
  let lastReply: string | null = null;

  const baseReply = (turn: Turn): Omit<ChatReply, 'status' | 'reply' | 'confirmation' | 'stopReason'> => ({
    conversationId,
    messageId: turn.messageId,
    tools: [...turn.tools],
    usage: { ...turn.usage },
  });

  /** Waits for the turn's next report and takes it. */
  const nextReport = async (turn: Turn): Promise<ChatReply> => {
    await condition(() => turn.report !== undefined);
    const r = turn.report!;
    turn.report = undefined;
    return r;
  };

  setHandler(historyQuery, () => state.history());

  setHandler(
    sendMessageUpdate,
    async ({ messageId, text }) => {
      state.activity++;
      const kept = state.replyFor(messageId);
      if (kept) return kept;
      const running = turns.get(messageId);
      if (running) {
        // A re-sent message (a reconnect): the current report, or the last one given.
        if (running.done) return state.replyFor(messageId) ?? nextReport(running);
        if (state.pending) return awaitingReply(running);
        return nextReport(running);
      }
      await condition(() => state.agent !== undefined && !state.busy);
      const turn: Turn = {
        messageId,
        text,
        report: undefined,
        tools: [],
        usage: { inputTokens: 0, outputTokens: 0 },
        done: false,
      };
      turns.set(messageId, turn);
      state.busy = true;
      current = turn;
      void runTurn(turn).finally(() => {
        state.busy = false;
        current = undefined;
        turns.delete(messageId);
        state.activity++;
      });
      return nextReport(turn);
    },
    {
      validator: ({ messageId, text }) => {
        if (typeof messageId !== 'string' || !messageId) throw new Error('messageId: required');
        if (typeof text !== 'string' || !text.trim()) throw new Error('text: must not be empty');
      },
    },
  );

  setHandler(
    confirmToolUpdate,
    async ({ confirmationId, approve }) => {
      state.activity++;
      const turn = current!;
      state.decision = { id: confirmationId, approve };
      return nextReport(turn);
    },
    {
      validator: ({ confirmationId }) => {
        if (!state.pending || !current) throw new Error('confirmationId: nothing is waiting for a confirmation');
        if (state.pending.id !== confirmationId)
          throw new Error(`confirmationId: the confirmation waiting is ${state.pending.id}`);
      },
    },
  );

  function awaitingReply(turn: Turn): ChatReply {
    return {
      ...baseReply(turn),
      status: 'awaiting_confirmation',
      reply: null,
      confirmation: state.pending,
      stopReason: null,
    };
  }

  /** A turn from the user's message to the agent's answer; its reports go to the waiting updates. */
  async function runTurn(turn: Turn): Promise<void> {
    const finish = (reply: ChatReply) => {
      state.keepReply(reply);
      turn.done = true;
      turn.report = reply;
      if (reply.reply) lastReply = reply.reply.text;
    };
    try {
      const check = state.canStartTurn();
      if ('stop' in check) {
        finish({ ...baseReply(turn), status: 'stopped', reply: null, confirmation: null, stopReason: check.stop });
        return;
      }
      state.status = 'thinking';
      const turnNo = state.turns + 1;
      // Local: the user's message goes with the first model step (one transaction fewer), when there is one.
      const userWithStep = local && state.tokensLeft > 0;
      if (!userWithStep)
        await books.recordUserMessage({
          tenantId,
          conversationId,
          turn: turnNo,
          messageId: turn.messageId,
          text: turn.text,
        });
      state.turns = turnNo;
      state.runTurns++;
      state.noteMessage(turn.messageId);

      let answer: ModelStepResult | undefined;
      let stopReason: string | null = null;
      const steps = input.settings.maxToolSteps;
      for (let step = 0; step <= steps && !answer; step++) {
        if (state.tokensLeft <= 0) {
          stopReason = 'token_budget';
          break;
        }
        const r = await model.modelStep({
          tenantId,
          conversationId,
          workflowId,
          agentId: input.agentId,
          turn: turnNo,
          step,
          streamId: turn.messageId,
          // The last step must answer: no more tools.
          tools: step === steps ? [] : state.agent!.tools.filter((t) => state.toolAllowed(t)),
          ...(local
            ? {
                closeTurn: true,
                ...(step === 0 && userWithStep ? { user: { messageId: turn.messageId, text: turn.text } } : {}),
              }
            : {}),
        });
        state.addUsage(r.usage);
        turn.usage.inputTokens += r.usage.inputTokens;
        turn.usage.outputTokens += r.usage.outputTokens;
        state.noteMessage(r.messageId);
        if (!r.toolUses.length) {
          answer = r;
          break;
        }
        for (const use of r.toolUses) await runToolUse(turn, turnNo, use);
        if (step === steps - 1) stopReason = 'step_limit';
      }
      const text =
        answer?.text ??
        (stopReason === 'token_budget'
          ? 'I have used this conversation’s token budget, so I stopped here. Start a new conversation to go on.'
          : 'I stopped before finishing.');
      // A step that answered has closed the turn itself (local); otherwise it is closed here.
      const final = answer?.closed
        ? { messageId: answer.messageId }
        : await books.finishTurn({
            tenantId,
            conversationId,
            workflowId,
            turn: turnNo,
            messageId: turn.messageId,
            answerMessageId: answer?.messageId ?? null,
            text,
            usage: turn.usage,
          });
      if (final.messageId !== answer?.messageId) state.noteMessage(final.messageId);
      finish({
        ...baseReply(turn),
        status: 'answered',
        reply: { id: final.messageId, text },
        confirmation: null,
        stopReason: answer ? null : stopReason,
      });
      // A website visitor's chat goes to their CRM contact as one note, brought up to date each turn
      // (after the reply is given: the visitor does not wait for it, and a CRM failure loses no answer).
      if (input.origin === 'widget') {
        await books.noteVisitorChat({ tenantId, conversationId, workflowId, turn: turnNo }).catch(() => undefined);
      }
    } catch (err) {
      finish({
        ...baseReply(turn),
        status: 'stopped',
        reply: null,
        confirmation: null,
        stopReason: `error: ${innermostMessage(err) ?? 'the turn failed'}`,
      });
    } finally {
      state.status = 'idle';
    }
  }

  /** One tool use: refused, asked of another agent, confirmed first, or run. Its result is stored. */
  async function runToolUse(turn: Turn, turnNo: number, use: ToolUse): Promise<void> {
    const record = (text: string, isError: boolean) =>
      books.recordToolResult({
        tenantId,
        conversationId,
        turn: turnNo,
        toolUseId: use.id,
        name: use.name,
        text,
        isError,
      });
    if (!state.toolAllowed(use.name)) {
      await record(`${use.name} is not available to this agent here`, true);
      turn.tools.push({ name: use.name, ok: false });
      return;
    }
    if (use.name === 'ask_agent') {
      turn.tools.push({ name: use.name, ok: await askAgent(turnNo, use, record) });
      return;
    }
    if (state.needsConfirmation(use.name)) {
      const expiresAt = new Date(Date.now() + input.settings.confirmTimeoutMs).toISOString();
      state.pending = {
        id: use.id,
        tool: use.name,
        input: use.input,
        question: use.confirmQuestion ?? `Run ${use.name}?`,
        expiresAt,
      };
      state.decision = undefined;
      state.status = 'awaiting_confirmation';
      turn.report = awaitingReply(turn);
      const answered = await condition(() => state.decision !== undefined, input.settings.confirmTimeoutMs);
      const approved = answered && state.decision!.approve;
      state.pending = null;
      state.decision = undefined;
      state.status = 'thinking';
      if (!approved) {
        await record(
          answered
            ? `Not done: the owner declined ${use.name}.`
            : `Not done: no confirmation for ${use.name} within ${Math.round(input.settings.confirmTimeoutMs / 1000)} s.`,
          true,
        );
        turn.tools.push({ name: use.name, ok: false });
        return;
      }
    }
    if (use.name === 'calls_start_outbound') {
      turn.tools.push({ name: use.name, ok: await placeCall(use, record) });
      return;
    }
    const r = await tools.runAgentTool({
      tenantId,
      conversationId,
      workflowId,
      agentId: input.agentId,
      turn: turnNo,
      toolUseId: use.id,
      name: use.name,
      input: use.input,
    });
    turn.tools.push({ name: use.name, ok: !r.isError });
  }

  /** calls_start_outbound (approved): the call is its own voiceCall workflow, left running when the chat ends. */
  async function placeCall(
    use: ToolUse,
    record: (text: string, isError: boolean) => Promise<unknown>,
  ): Promise<boolean> {
    const prepared = await books.prepareAgentCall({ tenantId, conversationId, toolUseId: use.id, input: use.input });
    if ('refused' in prepared) {
      await record(prepared.refused, true);
      return false;
    }
    try {
      await startChild('voiceCall', {
        workflowId: prepared.workflowId,
        args: [prepared.call],
        parentClosePolicy: 'ABANDON',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (err) {
      // Started before (the same tool use): the call is that one.
      if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
    }
    await record(`Call to ${prepared.call.to} started (${prepared.workflowId}); follow it with calls_get.`, false);
    return true;
  }

  /** ask_agent: a child conversation with another persona; its answer is the tool result. */
  async function askAgent(
    turnNo: number,
    use: ToolUse,
    record: (text: string, isError: boolean) => Promise<unknown>,
  ): Promise<boolean> {
    const ask = await books.prepareAsk({ tenantId, fromAgent: input.agentId, input: use.input });
    if ('refused' in ask) {
      await record(ask.refused, true);
      return false;
    }
    const childId = `${conversationId}-ask-${use.id.replace(/[^A-Za-z0-9]/g, '').slice(-12)}`;
    try {
      const result = await executeChild<typeof conversation>('conversation', {
        workflowId: workflowIds.conversation(tenantId, childId),
        args: [
          {
            tenantId,
            conversationId: childId,
            agentId: ask.agentId,
            origin: 'agent',
            parentId: conversationId,
            title: ask.question.slice(0, 120),
            settings: { ...input.settings, maxToolSteps: Math.min(input.settings.maxToolSteps, 4) },
            oneShot: { messageId: `${childId}-q`, text: ask.question },
          },
        ],
      });
      await record(`${ask.agentName} answered: ${result.lastReply ?? '(no answer)'}`, false);
      return true;
    } catch (err) {
      await record(`${ask.agentName} could not answer: ${innermostMessage(err) ?? 'failed'}`, true);
      return false;
    }
  }

  // --- the run ----------------------------------------------------------------------------------
  const opened = await books.openConversation({
    tenantId,
    conversationId,
    agentId: input.agentId,
    workflowId,
    origin: input.origin,
    parentId: input.parentId,
    title: input.title,
  });
  state.opened(opened);

  if (input.oneShot) {
    const turn: Turn = {
      messageId: input.oneShot.messageId,
      text: input.oneShot.text,
      report: undefined,
      tools: [],
      usage: { inputTokens: 0, outputTokens: 0 },
      done: false,
    };
    state.busy = true;
    current = turn;
    await runTurn(turn);
    state.busy = false;
    await condition(allHandlersFinished);
    return { conversationId, closed: 'one_shot', lastReply };
  }

  for (;;) {
    const seen = state.activity;
    const stirred = await condition(
      () => state.activity !== seen || state.shouldContinueAsNew(workflowInfo().continueAsNewSuggested),
      input.settings.idleTimeoutMs,
    );
    if (state.shouldContinueAsNew(workflowInfo().continueAsNewSuggested)) {
      // A model call over the whole transcript, rare and possibly long: an activity either way.
      await remoteBooks.summarize({ tenantId, conversationId, workflowId, turn: state.turns });
      await condition(allHandlersFinished);
      if (!state.busy) return continueAsNew<typeof conversation>({ ...input, carried: state.carry() });
    }
    if (stirred || state.busy || state.pending) continue;
    await condition(allHandlersFinished);
    if (state.busy || state.activity !== seen) continue;
    await books.closeConversation({ tenantId, conversationId });
    // A message that came in while closing gets its turn; the conversation reopens with it.
    if (state.activity !== seen) continue;
    state.status = 'closed';
    return { conversationId, closed: 'idle', lastReply };
  }
}
