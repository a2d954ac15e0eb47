import { ApplicationFailure, Context, heartbeat } from '@temporalio/activity';

/** Heartbeats a regular activity; a local one (the model step in a workflow task) has no heartbeat. */
const beat = () => {
  if (!Context.current().info.isLocal) heartbeat();
};
import type Anthropic from '@anthropic-ai/sdk';
import { withTenant, type PoolClient } from '../../lib/db.js';
import { Lru } from '../../lib/lru.js';
import { DATA_RULE, dataBlock } from '../../lib/untrusted.js';
import { isAgentToolName, VISITOR_TOOLS, type AgentToolName } from '../../lib/agentToolNames.js';
import { insertAudit, recordAudit } from '../../domain/audit.js';
import { consume, ensureRemaining, QuotaExceeded } from '../../domain/quotas.js';
import { markCited } from '../../domain/knowledge/nodes.js';
import { agentPrompt, ensureAgents, getAgent } from '../../domain/agents/store.js';
import { SHARED_RULES, VISITOR_RULES } from '../../domain/agents/personas.js';
import { visitorChatOf, visitorTranscript, type VisitorChat } from '../../domain/widgets.js';
import {
  appendDeltas,
  appendMessage,
  closeConversation,
  costOf,
  getConversation,
  listMessages,
  messageByKey,
  openConversationRow,
  readDeltas,
  setSummary,
  type Delta,
  type StoredMessage,
} from '../../domain/agents/conversations.js';
import type { OpenedConversation } from '../../workflows/conversation.state.js';
import { createCrmActionActivities, type CrmActionDeps } from '../crm/actions.js';
import { computeInsights, InsightsQuery } from '../../api/services/insights.js';
import { listCalls } from '../../api/services/calls.js';
import { prepareOutbound } from '../../domain/voice/outbound.js';
import { toE164 } from '../../lib/phone.js';
import type { VoiceCallInput } from '../../workflows/voiceCall.contract.js';
import { agentTools, AgentToolRefused, parseToolArgs, toolSpecs } from './tools.js';

/**
 * The conversation workflow's activities: the model step (one Claude call, streamed to
 * Postgres deltas the API relays as SSE), the tool runs, and the bookkeeping around them. Each
 * write carries a key from the conversation, turn and step (or tool use), so a step retried after
 * a crash returns what the first attempt stored instead of acting or counting again.
 */

export interface AgentActivityDeps extends CrmActionDeps {
  anthropicModel?: string;
}

export interface ToolUse {
  id: string;
  name: string;
  input: Record<string, unknown>;
  /** For a tool that acts: what the owner is asked. */
  confirmQuestion?: string;
}

export interface ModelStepResult {
  messageId: string;
  text: string;
  toolUses: ToolUse[];
  usage: { inputTokens: number; outputTokens: number };
  /** The step answered and closed the turn itself (asked with `closeTurn`): no finishTurn needed. */
  closed?: boolean;
}

/** The user's message of a turn, stored before its first model step. */
interface UserMessage {
  tenantId: string;
  conversationId: string;
  turn: number;
  messageId: string;
  text: string;
}

const MAX_TOKENS = 2048;
/** Deltas are written in batches this far apart (the first at once): one round trip per batch. */
const DELTA_BATCH_MS = 40;

const stepKey = (conversationId: string, turn: number, step: number) => `${conversationId}:t${turn}:s${step}`;
const toolKey = (conversationId: string, toolUseId: string) => `${conversationId}:tool:${toolUseId}`;

type Block = Anthropic.ContentBlockParam;

/** Stored rows as Claude's messages: consecutive tool results become one user message. */
export function toModelMessages(rows: StoredMessage[], summary: string | null): Anthropic.MessageParam[] {
  const out: Anthropic.MessageParam[] = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]) => {
    const last = out.at(-1);
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const r of rows) {
    if (r.role === 'user') push('user', [{ type: 'text', text: r.text }]);
    else if (r.role === 'assistant') push('assistant', r.content as Block[]);
    else if (r.role === 'tool') push('user', [r.content as Block]);
  }
  if (summary && out[0]?.role === 'user' && Array.isArray(out[0].content)) {
    out[0].content.unshift({ type: 'text', text: dataBlock('conversation-summary', summary) });
  }
  return out;
}

function asFailure(err: unknown): never {
  if (err instanceof QuotaExceeded) throw ApplicationFailure.nonRetryable(err.message, 'QuotaExceeded');
  const status = (err as { status?: number }).status;
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 429 && status !== 408)
    throw ApplicationFailure.nonRetryable((err as Error).message, 'ModelRejected');
  throw err;
}

export function createAgentActivities(deps: AgentActivityDeps) {
  const { pool } = deps;
  // A prompt version never changes once written: read once per worker.
  const prompts = new Lru<string, string>(500, 600_000);
  const promptOf = async (c: PoolClient, tenantId: string, agentId: string, version: number) => {
    const key = `${tenantId}\u0000${agentId}\u0000${version}`;
    const hit = prompts.get(key);
    if (hit !== undefined) return hit;
    const prompt = await agentPrompt(c, tenantId, agentId, version);
    prompts.set(key, prompt);
    return prompt;
  };

  /**
   * Publishes a step's streamed text. A retried step (its worker died mid-stream) starts from what
   * was already shown: while the new attempt repeats it nothing is sent, then only the rest; if
   * it says something else, a `reset` carries its text so far, so a reader never sees a duplicate.
   */
  function deltaWriter(
    tenantId: string,
    conversationId: string,
    streamId: string,
    step: number,
    before: (Delta & { step: number })[],
  ) {
    let seq = before.reduce((m, d) => Math.max(m, d.seq), 0);
    let shown = '';
    for (const d of before) {
      if (d.step !== step) continue;
      if (d.kind === 'reset') shown = d.text;
      else if (d.kind === 'delta') shown += d.text;
    }
    let text = '';
    let pending: { kind: Delta['kind']; text: string }[] = [];
    let timer: NodeJS.Timeout | undefined;
    let flushed = false;
    let chain: Promise<void> = Promise.resolve();
    const flush = () => {
      timer = undefined;
      const rows = pending.map((b) => ({ seq: ++seq, kind: b.kind, text: b.text, step }));
      pending = [];
      if (!rows.length) return;
      flushed = true;
      chain = chain.then(() =>
        withTenant(pool, tenantId, (c) => appendDeltas(c, tenantId, conversationId, streamId, rows), {
          asyncCommit: true,
        }).then(beat),
      );
    };
    const queue = (kind: Delta['kind'], t: string) => {
      pending.push({ kind, text: t });
      // The first delta goes at once (time to first token); the rest in small batches.
      if (!flushed) flush();
      else timer ??= setTimeout(flush, DELTA_BATCH_MS);
    };
    return {
      add(delta: string) {
        text += delta;
        if (shown.startsWith(text)) return;
        if (text.startsWith(shown)) queue('delta', text.slice(shown.length));
        else queue('reset', text);
        shown = text;
      },
      tool(name: string) {
        queue('tool', name);
      },
      async close() {
        if (timer) clearTimeout(timer);
        flush();
        await chain;
      },
      /** The last delta's seq (after close). */
      get seq() {
        return seq;
      },
    };
  }

  /** Stores the turn's user message once (its key); appendMessage reopens and names the conversation. */
  async function storeUserMessage(c: PoolClient, input: UserMessage): Promise<void> {
    await appendMessage(c, input.tenantId, {
      conversationId: input.conversationId,
      key: `${input.conversationId}:u:${input.messageId}`,
      id: input.messageId,
      turn: input.turn,
      role: 'user',
      content: input.text,
      text: input.text,
    });
  }

  /** Ends a turn's stream: the `done` delta naming the answer, and the knowledge the answer cites. */
  async function closeStream(
    c: PoolClient,
    i: { tenantId: string; conversationId: string; streamId: string; answerId: string; text: string; seq?: number },
  ): Promise<string[]> {
    const cited = await markCited(c, i.tenantId, i.conversationId, i.text);
    let seq = i.seq;
    if (seq === undefined) {
      const last = await readDeltas(c, i.tenantId, i.conversationId, i.streamId, 0);
      if (last.some((d) => d.kind === 'done')) return cited;
      seq = last.reduce((m, d) => Math.max(m, d.seq), 0);
    }
    await appendDeltas(c, i.tenantId, i.conversationId, i.streamId, [{ seq: seq + 1, kind: 'done', text: i.answerId }]);
    return cited;
  }

  return {
    async openConversation(input: {
      tenantId: string;
      conversationId: string;
      agentId: string;
      workflowId: string;
      origin: 'user' | 'brief' | 'agent' | 'widget';
      parentId?: string;
      title?: string;
    }): Promise<OpenedConversation> {
      return withTenant(pool, input.tenantId, async (c) => {
        await ensureAgents(c, input.tenantId);
        const agent = await getAgent(c, input.tenantId, input.agentId);
        if (!agent) throw ApplicationFailure.nonRetryable(`no agent ${input.agentId}`, 'UnknownAgent');
        const row = await openConversationRow(c, input.tenantId, {
          id: input.conversationId,
          agentId: input.agentId,
          workflowId: input.workflowId,
          origin: input.origin,
          parentId: input.parentId,
          title: input.title,
        });
        return {
          agentId: agent.id,
          enabled: agent.enabled,
          tools: agent.tools,
          confirmTools: agent.confirmTools,
          turns: row.turns,
          tokensUsed: row.inputTokens + row.outputTokens,
        };
      });
    },

    async recordUserMessage(input: UserMessage): Promise<void> {
      await withTenant(pool, input.tenantId, (c) => storeUserMessage(c, input));
    },

    /**
     * One Claude call for the turn, streamed; stored once per (turn, step). The turn's first step
     * may carry its user message (stored first, in the same transaction as the reads), and with
     * `closeTurn` a step that answers without tools closes the turn too (finishTurn's work, in the
     * transaction that stores the answer): a plain turn is one activity and two transactions.
     */
    async modelStep(input: {
      tenantId: string;
      conversationId: string;
      workflowId: string;
      agentId: string;
      turn: number;
      step: number;
      streamId: string;
      tools: string[];
      user?: { messageId: string; text: string };
      closeTurn?: boolean;
    }): Promise<ModelStepResult> {
      const { tenantId, conversationId } = input;
      const key = stepKey(conversationId, input.turn, input.step);
      const started = Date.now();
      const closing = (r: ModelStepResult): ModelStepResult =>
        input.closeTurn && !r.toolUses.length ? { ...r, closed: true } : r;

      const loaded = await withTenant(
        pool,
        tenantId,
        async (c) => {
          const done = await messageByKey(c, tenantId, key);
          if (done) return { done };
          if (input.user) await storeUserMessage(c, { tenantId, conversationId, turn: input.turn, ...input.user });
          // A tenant past its daily tokens gets no model call (checked here, not in a transaction of
          // its own); the user's message stays stored.
          const refused = await ensureRemaining(c, tenantId, 'claude_tokens_per_day', deps.access.quotaDefaults).then(
            () => undefined,
            (err: unknown) => {
              if (err instanceof QuotaExceeded) return err;
              throw err;
            },
          );
          if (refused) return { refused };
          const conversation = await getConversation(c, tenantId, conversationId);
          if (!conversation) throw ApplicationFailure.nonRetryable(`no conversation ${conversationId}`);
          const agent = await getAgent(c, tenantId, conversation.agentId);
          const prompt = await promptOf(c, tenantId, conversation.agentId, conversation.promptVersion);
          const history = await listMessages(c, tenantId, conversationId, {
            afterSeq: conversation.summarySeq ?? 0,
            limit: 400,
            roles: ['user', 'assistant', 'tool'],
          });
          const before = (
            await c.query<Delta & { step: number }>(
              `select seq, kind, text, step from conversation_deltas
            where tenant_id = $1 and conversation_id = $2 and message_id = $3 order by seq`,
              [tenantId, conversationId, input.streamId],
            )
          ).rows;
          return { conversation, prompt, agent, history, before };
        },
        // The user's message is the record of the turn only once its answer is: no WAL flush wait.
        { asyncCommit: true },
      ).catch(asFailure);
      // A retry after the answer was stored: stored with it, the turn's close too (the same transaction).
      if ('done' in loaded) return closing(resultOf(loaded.done!));
      if ('refused' in loaded) return asFailure(loaded.refused);
      const { conversation, prompt, agent, history, before } = loaded;
      // A visitor's chat offers the visitors' tools only, whatever the workflow passed.
      const visitor = conversation.origin === 'widget';
      const names = (input.tools.filter(isAgentToolName) as AgentToolName[]).filter(
        (n) => !visitor || VISITOR_TOOLS.includes(n),
      );
      const specs = toolSpecs(names);
      // The persona and the tool list are the long, stable part of every request: cached.
      if (specs.length) (specs[specs.length - 1] as Record<string, unknown>).cache_control = { type: 'ephemeral' };
      const system: Anthropic.TextBlockParam[] = [
        {
          type: 'text',
          text: `You are ${agent?.name ?? conversation.agentId}, one of this business's front-office agents.\n\n${prompt}\n\n${SHARED_RULES}\n${visitor ? `${VISITOR_RULES}\n` : ''}${DATA_RULE}`,
          cache_control: { type: 'ephemeral' },
        },
      ];
      const messages = toModelMessages(history, conversation.summary);
      if (!messages.length) throw ApplicationFailure.nonRetryable('nothing to answer: the turn has no user message');

      const llm = await deps.access
        .llm(tenantId, { model: agent?.model ?? deps.anthropicModel, maxRetries: 2 }, { quotaChecked: true })
        .catch(asFailure);
      const writer = deltaWriter(tenantId, conversationId, input.streamId, input.step, before);
      let final: Anthropic.Message;
      try {
        const stream = llm.client.messages.stream(
          {
            model: llm.model,
            max_tokens: MAX_TOKENS,
            system,
            messages,
            ...(specs.length ? { tools: specs as Anthropic.Tool[] } : {}),
          },
          { signal: Context.current().cancellationSignal },
        );
        stream.on('text', (delta) => writer.add(delta));
        stream.on('contentBlock', (block) => {
          if (block.type === 'tool_use') writer.tool(block.name);
        });
        final = await stream.finalMessage();
      } catch (err) {
        await writer.close().catch(() => undefined);
        await recordAudit(pool, {
          tenantId,
          workflowId: input.workflowId,
          activity: 'modelStep',
          tool: 'agent_model',
          params: { conversationId, turn: input.turn, step: input.step },
          status: 'error',
          durationMs: Date.now() - started,
          source: llm.source,
          error: (err as Error).message,
        }).catch(() => undefined);
        return asFailure(err);
      }
      await writer.close();

      const usage = {
        inputTokens: final.usage.input_tokens + (final.usage.cache_creation_input_tokens ?? 0),
        outputTokens: final.usage.output_tokens,
        cacheReadTokens: final.usage.cache_read_input_tokens ?? 0,
      };
      const costUsd = costOf(llm.model, usage);
      const text = final.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
      const content = final.content.flatMap((b): Block[] => {
        if (b.type === 'text') return b.text ? [{ type: 'text', text: b.text }] : [];
        if (b.type === 'tool_use') return [{ type: 'tool_use', id: b.id, name: b.name, input: b.input }];
        return [];
      });
      const toolUsed = content.some((b) => b.type === 'tool_use');
      const stored = await withTenant(
        pool,
        tenantId,
        async (c) => {
          const { message, created } = await appendMessage(c, tenantId, {
            conversationId,
            key,
            id: `${input.streamId}.s${input.step}`,
            turn: input.turn,
            role: 'assistant',
            content: content.length ? content : [{ type: 'text', text: '…' }],
            text,
            usage: { ...usage, costUsd },
          });
          if (!created) return message;
          if (input.closeTurn && !toolUsed)
            await closeStream(c, {
              tenantId,
              conversationId,
              streamId: input.streamId,
              answerId: message.id,
              text,
              seq: writer.seq,
            });
          await insertAudit(c, {
            tenantId,
            workflowId: input.workflowId,
            activity: 'modelStep',
            tool: 'agent_model',
            params: {
              conversationId,
              agent: conversation.agentId,
              promptVersion: conversation.promptVersion,
              turn: input.turn,
              step: input.step,
              model: llm.model,
              ...usage,
              costUsd,
              stopReason: final.stop_reason,
            },
            status: 'ok',
            durationMs: Date.now() - started,
            source: llm.source,
          });
          // The tenant's daily tokens, counted once per step (the key), even past the limit. Last:
          // its counter row is the tenant's one hot row, locked from here to the commit.
          await consume(c, tenantId, 'claude_tokens_per_day', usage.inputTokens + usage.outputTokens, {
            defaults: deps.access.quotaDefaults,
            key: `chat:${key}`,
            record: true,
          });
          return message;
        },
        // Counters and the answer: a process crash loses nothing; the step's key makes a retry count once.
        { asyncCommit: true },
      );
      return closing(resultOf(stored));
    },

    /** One tool use, run once per tool use id: the stored result answers a retry. */
    async runAgentTool(input: {
      tenantId: string;
      conversationId: string;
      workflowId: string;
      agentId: string;
      turn: number;
      toolUseId: string;
      name: string;
      input: Record<string, unknown>;
    }): Promise<{ text: string; isError: boolean }> {
      const { tenantId, conversationId } = input;
      const key = toolKey(conversationId, input.toolUseId);
      const done = await withTenant(pool, tenantId, (c) => messageByKey(c, tenantId, key));
      if (done) return toolResultOf(done);
      const started = Date.now();
      const beat = setInterval(() => heartbeat(), 2000);
      let text: string;
      let isError = false;
      try {
        if (!isAgentToolName(input.name)) throw new AgentToolRefused(`unknown tool ${input.name}`);
        // A website visitor's chat: the visitors' tools only, inside the widget's knowledge scope.
        const visitor = await withTenant(pool, tenantId, (c) => visitorChatOf(c, tenantId, conversationId));
        if (visitor && !VISITOR_TOOLS.includes(input.name))
          throw new AgentToolRefused(`${input.name} is not available in a website chat`);
        const parsed = parseToolArgs(input.name, input.input);
        if (!parsed.ok) throw new AgentToolRefused(`${input.name}: ${parsed.problem}`);
        text = await agentTools[input.name].run(
          {
            tenantId,
            conversationId,
            agentId: input.agentId,
            turn: input.turn,
            key: `${input.workflowId}:tool:${input.toolUseId}`,
            pool,
            access: deps.access,
            crm: createCrmActionActivities(deps),
            ...(visitor ? { knowledgeScope: visitor.knowledgeScope } : {}),
          },
          parsed.args,
        );
      } catch (err) {
        // What the model can act on comes back as an error result; anything else is retried.
        if (!isRefusal(err)) {
          clearInterval(beat);
          throw err;
        }
        text = (err as Error).message;
        isError = true;
      }
      clearInterval(beat);
      const stored = await withTenant(pool, tenantId, (c) =>
        appendMessage(c, tenantId, toolMessage(conversationId, input.turn, input.toolUseId, input.name, text, isError)),
      );
      await recordAudit(pool, {
        tenantId,
        workflowId: input.workflowId,
        activity: 'runAgentTool',
        tool: input.name,
        params: { conversationId, turn: input.turn, toolUseId: input.toolUseId, args: input.input },
        status: isError ? 'error' : 'ok',
        durationMs: Date.now() - started,
        source: 'live',
        ...(isError ? { error: text.slice(0, 500) } : {}),
      });
      return toolResultOf(stored.message);
    },

    /** A tool result the workflow decided (declined, timed out, refused, another agent's answer). */
    async recordToolResult(input: {
      tenantId: string;
      conversationId: string;
      turn: number;
      toolUseId: string;
      name: string;
      text: string;
      isError: boolean;
    }): Promise<void> {
      await withTenant(pool, input.tenantId, (c) =>
        appendMessage(
          c,
          input.tenantId,
          toolMessage(input.conversationId, input.turn, input.toolUseId, input.name, input.text, input.isError),
        ),
      );
    },

    /**
     * calls_start_outbound, approved: the call's checks (suppression, the tenant's own voice
     * account, the daily quota, keyed by the call) before the workflow starts its voiceCall child.
     */
    async prepareAgentCall(input: {
      tenantId: string;
      conversationId: string;
      toolUseId: string;
      input: Record<string, unknown>;
    }): Promise<
      { workflowId: string; call: Extract<VoiceCallInput, { direction: 'outbound' }> } | { refused: string }
    > {
      const parsed = parseToolArgs('calls_start_outbound', input.input);
      if (!parsed.ok) return { refused: `calls_start_outbound: ${parsed.problem}` };
      const a = parsed.args as { to: string; purpose: string; contactId?: string };
      const to = toE164(a.to);
      if (!to) return { refused: `calls_start_outbound: to: not a phone number: ${a.to}` };
      try {
        const prepared = await prepareOutbound(deps, input.tenantId, {
          to,
          purpose: a.purpose,
          ...(a.contactId ? { contactId: a.contactId } : {}),
          callRef: `agent-${input.conversationId}-${input.toolUseId.replace(/[^A-Za-z0-9]/g, '').slice(-12)}`,
        });
        return { workflowId: prepared.workflowId, call: prepared.input };
      } catch (err) {
        if (
          isRefusal(err) ||
          ['OutboundRefused', 'NotConnectedError', 'CredentialRejected'].includes((err as Error).name)
        )
          return { refused: `calls_start_outbound: ${(err as Error).message}` };
        throw err;
      }
    },

    /** ask_agent's arguments: another enabled agent of the tenant, and a question. */
    async prepareAsk(input: {
      tenantId: string;
      fromAgent: string;
      input: Record<string, unknown>;
    }): Promise<{ agentId: string; agentName: string; question: string } | { refused: string }> {
      const parsed = parseToolArgs('ask_agent', input.input);
      if (!parsed.ok) return { refused: `ask_agent: ${parsed.problem}` };
      const { agent, question } = parsed.args as { agent: string; question: string };
      const id = agent
        .trim()
        .toLowerCase()
        .replace(/^the\s+/, '');
      if (id === input.fromAgent) return { refused: 'ask_agent: ask another agent, not yourself' };
      const other = await withTenant(pool, input.tenantId, (c) => getAgent(c, input.tenantId, id));
      if (!other || !other.enabled) return { refused: `ask_agent: there is no agent '${agent}'` };
      return { agentId: other.id, agentName: other.name, question };
    },

    /** Closes the turn: its answer stored (when the model wrote none), citations marked, the stream ended. */
    async finishTurn(input: {
      tenantId: string;
      conversationId: string;
      workflowId: string;
      turn: number;
      messageId: string;
      answerMessageId: string | null;
      text: string;
      usage: { inputTokens: number; outputTokens: number };
    }): Promise<{ messageId: string; cited: string[] }> {
      const { tenantId, conversationId } = input;
      return withTenant(pool, tenantId, async (c) => {
        let messageId = input.answerMessageId;
        if (!messageId) {
          const { message } = await appendMessage(c, tenantId, {
            conversationId,
            key: `${conversationId}:t${input.turn}:final`,
            id: `${input.messageId}.final`,
            turn: input.turn,
            role: 'assistant',
            content: [{ type: 'text', text: input.text }],
            text: input.text,
          });
          messageId = message.id;
        }
        const cited = await closeStream(c, {
          tenantId,
          conversationId,
          streamId: input.messageId,
          answerId: messageId,
          text: input.text,
        });
        return { messageId, cited };
      });
    },

    /** A model-written summary of the conversation so far, which continue-as-new carries. */
    async summarize(input: {
      tenantId: string;
      conversationId: string;
      workflowId: string;
      turn: number;
    }): Promise<void> {
      const { tenantId, conversationId } = input;
      const { conversation, rows } = await withTenant(pool, tenantId, async (c) => ({
        conversation: await getConversation(c, tenantId, conversationId),
        rows: await listMessages(c, tenantId, conversationId, { limit: 2000, roles: ['user', 'assistant', 'tool'] }),
      }));
      const upto = rows.at(-1)?.seq ?? 0;
      if (!conversation || !rows.length || (conversation.summarySeq ?? 0) >= upto) return;
      const transcript = rows
        .map((r) => `${r.role}: ${r.role === 'tool' ? r.text.slice(0, 500) : r.text}`)
        .join('\n')
        .slice(-60_000);
      const llm = await deps.access.llm(tenantId, { model: deps.anthropicModel }).catch(asFailure);
      const started = Date.now();
      const res = await llm.client.messages
        .create({
          model: llm.model,
          max_tokens: 600,
          system: `Summarise the conversation below for the agent who continues it: decisions, facts found, open questions and anything promised. At most 200 words. ${DATA_RULE}`,
          messages: [
            {
              role: 'user',
              content: dataBlock(
                'conversation',
                conversation.summary ? `Earlier summary: ${conversation.summary}\n${transcript}` : transcript,
              ),
            },
          ],
        })
        .catch(asFailure);
      const summary = res.content
        .flatMap((b) => (b.type === 'text' ? [b.text] : []))
        .join('')
        .trim();
      await withTenant(pool, tenantId, (c) => setSummary(c, tenantId, conversationId, summary || '(empty)', upto));
      await recordAudit(pool, {
        tenantId,
        workflowId: input.workflowId,
        activity: 'summarize',
        tool: 'agent_summary',
        params: {
          conversationId,
          turn: input.turn,
          inputTokens: res.usage.input_tokens,
          outputTokens: res.usage.output_tokens,
        },
        status: 'ok',
        durationMs: Date.now() - started,
        source: llm.source,
      });
    },

    /**
     * The brief's material, gathered for the agent: the CRM insights, the last day's calls and the
     * campaigns, as data blocks in the brief's first message. Skipped when the agent is disabled or
     * already briefed this local day.
     */
    async prepareBrief(input: {
      tenantId: string;
      agentId: string;
      timezone: string;
    }): Promise<{ conversationId: string; messageId: string; title: string; text: string } | { skip: string }> {
      const { tenantId, agentId } = input;
      const day = localDay(new Date(), input.timezone);
      const conversationId = `brief-${agentId}-${day.replaceAll('-', '')}`;
      return withTenant(pool, tenantId, async (c) => {
        const agent = await getAgent(c, tenantId, agentId);
        if (!agent?.enabled) return { skip: `agent ${agentId} is not enabled` };
        if (await getConversation(c, tenantId, conversationId)) return { skip: `already briefed on ${day}` };
        const { insights } = await computeInsights(c, tenantId, InsightsQuery.parse({ tz: safeZone(input.timezone) }));
        const calls = await listCalls(c, tenantId, {
          since: new Date(Date.now() - 86_400_000).toISOString(),
          limit: 20,
        });
        const { rows: campaigns } = await c.query<{ id: string; name: string; status: string }>(
          'select id, name, status from campaigns where tenant_id = $1 order by created_at desc limit 10',
          [tenantId],
        );
        const text = [
          `Write today's brief (${day}) for the owner: what needs attention first — leads going quiet, callbacks asked for, campaigns stalling — in at most eight short lines, each with the next action. Check details with your tools where it helps.`,
          dataBlock('insights', JSON.stringify(insights).slice(0, 8000)),
          dataBlock('calls-last-24h', JSON.stringify(calls).slice(0, 6000)),
          dataBlock('campaigns', JSON.stringify(campaigns)),
        ].join('\n\n');
        return { conversationId, messageId: `${conversationId}-q`, title: `${agent.name} brief, ${day}`, text };
      });
    },

    /**
     * A website visitor's chat as one note on their CRM contact: written at the first answer,
     * then rewritten with the whole chat after each turn (a PUT of the full text: a retry or a
     * replay writes the same note again, never a second one).
     */
    async noteVisitorChat(input: {
      tenantId: string;
      conversationId: string;
      workflowId: string;
      turn: number;
    }): Promise<{ noteId: string } | { skipped: string }> {
      const { tenantId, conversationId } = input;
      const { chat, body } = await withTenant(pool, tenantId, async (c) => {
        const chat: VisitorChat | undefined = await visitorChatOf(c, tenantId, conversationId);
        return { chat, body: chat ? await visitorTranscript(c, tenantId, chat) : '' };
      });
      if (!chat?.contactId) return { skipped: 'no contact for this chat' };
      const crm = createCrmActionActivities(deps);
      const started = Date.now();
      let noteId = chat.noteId;
      if (noteId) await crm.updateContactNote({ tenantId, contactId: chat.contactId, noteId, body });
      else {
        noteId = (
          await crm.addContactNote({
            tenantId,
            idempotencyKey: `widget-note:${conversationId}`,
            contactId: chat.contactId,
            body,
          })
        ).noteId;
        await withTenant(pool, tenantId, (c) =>
          c.query('update widget_leads set note_id = $3 where tenant_id = $1 and id = $2', [
            tenantId,
            chat.leadId,
            noteId,
          ]),
        );
      }
      await recordAudit(pool, {
        tenantId,
        workflowId: input.workflowId,
        activity: 'noteVisitorChat',
        tool: 'crm_add_note',
        params: { conversationId, turn: input.turn, contactId: chat.contactId, noteId },
        status: 'ok',
        durationMs: Date.now() - started,
        source: deps.access.mode('ghl'),
      });
      return { noteId };
    },

    async closeConversation(input: { tenantId: string; conversationId: string }): Promise<void> {
      await withTenant(pool, input.tenantId, (c) => closeConversation(c, input.tenantId, input.conversationId));
    },
  };
}

/** YYYY-MM-DD in the zone (UTC when the zone is not one Intl knows). */
export function localDay(at: Date, timezone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: safeZone(timezone),
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(at);
}

function safeZone(timezone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return timezone;
  } catch {
    return 'UTC';
  }
}

function isRefusal(err: unknown): boolean {
  if (err instanceof AgentToolRefused) return true;
  if (err instanceof ApplicationFailure && err.nonRetryable) return true;
  const name = (err as { name?: string }).name;
  return name === 'ServiceError' || name === 'QuotaExceeded' || name === 'ZodError' || name === 'NotTenantsRecordError';
}

function toolMessage(
  conversationId: string,
  turn: number,
  toolUseId: string,
  name: string,
  text: string,
  isError: boolean,
) {
  return {
    conversationId,
    key: toolKey(conversationId, toolUseId),
    id: `${conversationId}.tool.${toolUseId}`,
    turn,
    role: 'tool' as const,
    // Tool output carries CRM notes, transcripts, documents: data for Claude, never instructions.
    content: {
      type: 'tool_result',
      tool_use_id: toolUseId,
      content: dataBlock(`tool-result name="${name}"`, text),
      ...(isError ? { is_error: true } : {}),
    },
    text,
  };
}

function toolResultOf(m: StoredMessage): { text: string; isError: boolean } {
  return { text: m.text, isError: Boolean((m.content as { is_error?: boolean }).is_error) };
}

function resultOf(m: StoredMessage): ModelStepResult {
  const blocks = (Array.isArray(m.content) ? m.content : []) as Block[];
  const toolUses = blocks.flatMap((b): ToolUse[] => {
    if (b.type !== 'tool_use') return [];
    const input = (b.input ?? {}) as Record<string, unknown>;
    const def = isAgentToolName(b.name) ? agentTools[b.name] : undefined;
    let confirmQuestion: string | undefined;
    if (def?.confirm) {
      const parsed = def.args.safeParse(input);
      confirmQuestion = parsed.success ? def.confirm(parsed.data) : `Run ${b.name} with ${JSON.stringify(input)}?`;
    }
    return [{ id: b.id, name: b.name, input, ...(confirmQuestion ? { confirmQuestion } : {}) }];
  });
  return {
    messageId: m.id,
    text: m.text,
    toolUses,
    usage: { inputTokens: m.inputTokens, outputTokens: m.outputTokens },
  };
}

export type AgentActivities = ReturnType<typeof createAgentActivities>;
