import { z } from 'zod';
import { DEFAULT_AGENT_SETTINGS } from '../../../lib/config.js';
import {
  ChatReplyBody,
  confirmTool,
  MessageId,
  MessageText,
  prepareMessage,
  prepareNewConversation,
  runTurn,
  type ChatDeps,
} from '../../services/agents.js';
import { defineTool, ToolError, type ToolCall } from '../tool.js';

/**
 * `agent_chat`: talk to one of the tenant's persona agents through the same conversation workflow
 * as REST. A first call names the agent and starts a conversation; later calls pass its
 * conversationId. A tool that acts comes back as `awaiting_confirmation`: call again with
 * `confirm` (the owner's yes or no) to go on.
 */

const chatDeps = (call: ToolCall): ChatDeps => ({
  pool: call.deps.pool,
  temporal: call.deps.temporal,
  taskQueue: call.deps.taskQueue,
  settings: call.deps.agents ?? DEFAULT_AGENT_SETTINGS,
});

export const agentTools = [
  defineTool({
    name: 'agent_chat',
    title: 'Chat with a persona agent',
    description:
      "Send a message to one of this business's agents — strategist (strategy), builder (product and engineering), closer (pipeline and deals), operator (process) — and get its reply. Start with `agent`; continue with the returned conversationId. When the reply is awaiting_confirmation, ask the user and call again with confirm {confirmationId, approve}.",
    scope: 'act',
    input: z
      .strictObject({
        agent: z.string().min(1).max(40).optional().describe('the agent to start a conversation with'),
        conversationId: z.string().min(1).max(120).optional().describe('an existing conversation to continue'),
        text: MessageText.optional(),
        messageId: MessageId.optional(),
        confirm: z
          .strictObject({ confirmationId: z.string().min(1).max(200), approve: z.boolean() })
          .optional()
          .describe('the user’s answer to a pending confirmation'),
      })
      .refine((a) => Boolean(a.agent) !== Boolean(a.conversationId), {
        message: 'give either agent (a new conversation) or conversationId',
        path: ['agent'],
      })
      .refine((a) => Boolean(a.text) !== Boolean(a.confirm), {
        message: 'give either text (a message) or confirm (an answer to a confirmation)',
        path: ['text'],
      }),
    output: ChatReplyBody,
    // A client that can show a form is asked the agent's question itself; the call then goes on.
    pending: {
      of: (reply) =>
        reply.status === 'awaiting_confirmation' && reply.confirmation
          ? {
              question: reply.confirmation.question,
              token: { conversationId: reply.conversationId, confirmationId: reply.confirmation.id },
            }
          : undefined,
      resume: (_args, token, approve) => ({
        conversationId: token.conversationId!,
        confirm: { confirmationId: token.confirmationId!, approve },
      }),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async run(args, call) {
      const deps = chatDeps(call);
      if (args.confirm) {
        if (!args.conversationId) throw new ToolError('conversationId: required with confirm');
        return confirmTool(deps, call.tenantId, args.conversationId, args.confirm);
      }
      const message = { text: args.text!, ...(args.messageId ? { messageId: args.messageId } : {}) };
      const turn = args.agent
        ? await prepareNewConversation(deps, call.tenantId, args.agent, message)
        : await prepareMessage(deps, call.tenantId, args.conversationId!, message);
      const reply = await runTurn(deps, turn);
      call.note({ workflowId: turn.workflowId });
      return reply;
    },
  }),
];
