import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, post, qs, type AgentInfo, type ChatMessage, type ConversationInfo } from '../api';
import { streamTurn, type ChatConfirmation, type ChatReply, type TurnProgress } from '../chatStream';
import { AgentIcon } from '../agentIcons';
import { Markdown } from '../markdown';
import { useMe } from '../session';
import { canAct, Empty, ErrorNote, Loading, Page, When } from '../ui';

const ORIGIN_LABEL: Record<ConversationInfo['origin'], string | null> = {
  user: null,
  brief: 'Morning brief',
  agent: 'Asked by another agent',
  widget: 'Website visitor',
};

/**
 * The persona agents: pick one, chat with it (replies streamed as they are written, rendered as
 * sanitised markdown), answer its tool confirmations, and go back to earlier conversations —
 * the morning briefs among them, marked as such.
 */
export function Agents() {
  const me = useMe();
  const mayAct = canAct(me.data?.scopes);
  const [params, setParams] = useSearchParams();
  const agents = useQuery({
    queryKey: ['agents'],
    queryFn: () => get<{ agents: AgentInfo[] }>('/v1/agents').then((r) => r.agents.filter((a) => a.enabled)),
  });
  const agentId = params.get('agent') ?? agents.data?.[0]?.id ?? null;
  const conversationId = params.get('c');
  const agent = agents.data?.find((a) => a.id === agentId) ?? null;

  const choose = (next: { agent?: string; c?: string | null }) => {
    const p = new URLSearchParams(params);
    if (next.agent) p.set('agent', next.agent);
    if (next.c) p.set('c', next.c);
    else if (next.c === null) p.delete('c');
    setParams(p);
  };

  return (
    <Page title="Agents">
      {agents.isPending ? <Loading what="agents" /> : null}
      <ErrorNote error={agents.error} />
      {agents.data ? (
        <ul className="personas" aria-label="Agents">
          {agents.data.map((a) => (
            <li key={a.id}>
              <button
                type="button"
                className="persona"
                aria-pressed={a.id === agentId}
                data-agent={a.id}
                style={{ borderColor: a.colour }}
                onClick={() => choose({ agent: a.id, c: null })}
              >
                <span className="persona-icon" aria-hidden="true" style={{ borderColor: a.colour }}>
                  <AgentIcon name={a.icon} colour={a.colour} />
                </span>
                <span className="persona-text">
                  <strong>{a.name}</strong>
                  <span className="muted small">{a.role}</span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      {agent ? (
        <div className="chat-layout">
          <History agent={agent} current={conversationId} onOpen={(c) => choose({ c })} />
          <Chat
            key={agent.id}
            agent={agent}
            conversationId={conversationId}
            mayAct={mayAct}
            onStarted={(c) => choose({ c })}
          />
        </div>
      ) : agents.data ? (
        <Empty>No agent is enabled for this tenant.</Empty>
      ) : null}
    </Page>
  );
}

function History({
  agent,
  current,
  onOpen,
}: {
  agent: AgentInfo;
  current: string | null;
  onOpen: (id: string | null) => void;
}) {
  const list = useQuery({
    queryKey: ['conversations', agent.id],
    queryFn: () =>
      get<{ conversations: ConversationInfo[] }>(`/v1/conversations${qs({ agent: agent.id, limit: 50 })}`).then(
        (r) => r.conversations,
      ),
  });
  return (
    <section className="card history" aria-labelledby="history-title">
      <h2 id="history-title">Conversations with the {agent.name}</h2>
      <button type="button" onClick={() => onOpen(null)} aria-pressed={current === null}>
        New conversation
      </button>
      {list.isPending ? <Loading what="conversations" /> : null}
      <ErrorNote error={list.error} />
      {list.data && !list.data.length ? <Empty>No conversations yet.</Empty> : null}
      <ol className="history-list">
        {list.data?.map((c) => {
          const origin = ORIGIN_LABEL[c.origin];
          return (
            <li key={c.id} data-conversation-id={c.id} data-origin={c.origin}>
              <button
                type="button"
                className="link"
                aria-current={c.id === current ? 'true' : undefined}
                onClick={() => onOpen(c.id)}
              >
                {c.title || 'Untitled'}
              </button>
              <span className="muted small">
                {origin ? (
                  <span className={`badge badge-${c.origin === 'brief' ? 'live' : 'plain'}`}>{origin}</span>
                ) : null}{' '}
                <When at={c.updatedAt} /> · {c.turns} turn(s)
              </span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

const fetchMessages = (id: string) =>
  get<{ conversation: ConversationInfo; messages: ChatMessage[]; pending: ChatConfirmation | null }>(
    `/v1/conversations/${encodeURIComponent(id)}/messages`,
  );

interface LiveTurn {
  asked: string;
  progress: TurnProgress;
}

function Chat({
  agent,
  conversationId,
  mayAct,
  onStarted,
}: {
  agent: AgentInfo;
  conversationId: string | null;
  mayAct: boolean;
  onStarted: (id: string) => void;
}) {
  const queryClient = useQueryClient();
  const [live, setLive] = useState<LiveTurn | null>(null);
  const [error, setError] = useState<unknown>(null);
  // What the last turn left, for the conversation it was in (another one opened hides it).
  const [outcome, setOutcome] = useState<{
    conversationId: string;
    pending: ChatConfirmation | null;
    stopped: string | null;
  } | null>(null);
  const here = outcome?.conversationId === conversationId ? outcome : null;
  const stopped = here?.stopped ?? null;
  const [text, setText] = useState('');
  const abort = useRef<AbortController | null>(null);
  useEffect(() => () => abort.current?.abort(), []);

  const messages = useQuery({
    queryKey: ['messages', conversationId],
    enabled: conversationId !== null,
    queryFn: () => fetchMessages(conversationId!),
  });
  // A confirmation this page's last turn asked for, or — a conversation reopened — the one still waiting.
  const pending = here ? here.pending : (messages.data?.pending ?? null);

  /** The turn is over: the stored messages are now the truth; the live copy goes once they are in. */
  const settle = async (reply: ChatReply) => {
    setOutcome({
      conversationId: reply.conversationId,
      pending: reply.status === 'awaiting_confirmation' ? reply.confirmation : null,
      stopped: reply.status === 'stopped' ? (reply.stopReason ?? 'stopped') : null,
    });
    await Promise.all([
      queryClient.fetchQuery({
        queryKey: ['messages', reply.conversationId],
        queryFn: () => fetchMessages(reply.conversationId),
      }),
      queryClient.invalidateQueries({ queryKey: ['conversations', agent.id] }),
    ]);
    if (reply.conversationId !== conversationId) onStarted(reply.conversationId);
    setLive(null);
  };

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const asked = text.trim();
    if (!asked || live) return;
    setError(null);
    setOutcome(null);
    setText('');
    setLive({ asked, progress: { text: '', tools: [] } });
    abort.current = new AbortController();
    const path = conversationId
      ? `/v1/conversations/${encodeURIComponent(conversationId)}/messages`
      : `/v1/agents/${encodeURIComponent(agent.id)}/conversations`;
    try {
      const reply = await streamTurn(
        path,
        { text: asked, messageId: crypto.randomUUID() },
        (progress) => setLive({ asked, progress }),
        { signal: abort.current.signal },
      );
      await settle(reply);
    } catch (err) {
      if (abort.current.signal.aborted) return;
      setError(err);
      setLive(null);
      setText(asked);
    }
  };

  const confirm = useMutation({
    mutationFn: (approve: boolean) =>
      post<ChatReply>(`/v1/conversations/${encodeURIComponent(conversationId!)}/confirmations`, {
        confirmationId: pending!.id,
        approve,
      }),
    onSuccess: (reply) => void settle(reply),
  });

  const shown = (messages.data?.messages ?? []).filter(
    (m) => (m.role === 'user' || m.role === 'assistant') && (m.text.trim() || m.toolUses.length),
  );

  const firstAsked = shown.find((m) => m.role === 'user')?.seq;
  const origin = messages.data?.conversation.origin;

  return (
    <section className="card chat" aria-labelledby="chat-title" style={{ borderTopColor: agent.colour }}>
      <h2 id="chat-title">
        <AgentIcon name={agent.icon} colour={agent.colour} />{' '}
        {conversationId
          ? (messages.data?.conversation.title ?? 'Conversation')
          : `New conversation with the ${agent.name}`}
      </h2>
      {messages.data &&
      ORIGIN_LABEL[messages.data.conversation.origin] &&
      messages.data.conversation.origin !== 'widget' ? (
        <p className="muted">{ORIGIN_LABEL[messages.data.conversation.origin]}: started without you; reply to go on.</p>
      ) : null}
      {conversationId && messages.isPending ? <Loading what="messages" /> : null}
      <ErrorNote error={messages.error} />
      <ol className="conversation" aria-label="Messages" data-testid="chat-messages">
        {shown.map((m) => (
          <li key={m.id} className={`turn ${m.role === 'user' ? 'turn-caller' : 'turn-agent'}`}>
            {m.seq === firstAsked && (origin === 'brief' || origin === 'agent') ? (
              // A brief's (or another agent's) opening request: the platform's words and data, folded.
              <details>
                <summary>{ORIGIN_LABEL[messages.data!.conversation.origin]}: what the agent was given</summary>
                <span className="prewrap">{m.text}</span>
              </details>
            ) : (
              <>
                <span className="who">
                  {m.role === 'user' ? (origin === 'widget' ? 'Visitor' : 'You') : agent.name}
                </span>
                {m.role === 'user' ? <span className="prewrap">{m.text}</span> : <Markdown text={m.text} />}
              </>
            )}
            {m.toolUses.length ? (
              <span className="muted small">Used {m.toolUses.map((t) => t.name).join(', ')}</span>
            ) : null}
          </li>
        ))}
        {live ? (
          <>
            <li className="turn turn-caller">
              <span className="who">You</span>
              <span className="prewrap">{live.asked}</span>
            </li>
            <li className="turn turn-agent" data-testid="live-reply" aria-busy="true">
              <span className="who">{agent.name}</span>
              {live.progress.text ? <Markdown text={live.progress.text} /> : <span className="muted">Thinking…</span>}
              {live.progress.tools.length ? (
                <span className="muted small">Using {live.progress.tools.join(', ')}</span>
              ) : null}
            </li>
          </>
        ) : null}
      </ol>
      <div aria-live="polite" className="sr-only">
        {live ? `The ${agent.name} is writing…` : ''}
      </div>
      {pending ? (
        <div className="confirm-box" role="group" aria-labelledby="confirm-question">
          <p id="confirm-question">
            <strong>The {agent.name} asks:</strong> {pending.question}
          </p>
          <p className="muted small">
            Tool <code>{pending.tool}</code>; the question lapses at <When at={pending.expiresAt} />.
          </p>
          {mayAct ? (
            <div className="row">
              <button
                type="button"
                className="primary"
                disabled={confirm.isPending}
                onClick={() => confirm.mutate(true)}
              >
                Confirm
              </button>
              <button type="button" disabled={confirm.isPending} onClick={() => confirm.mutate(false)}>
                Decline
              </button>
            </div>
          ) : null}
          <ErrorNote error={confirm.error} />
        </div>
      ) : null}
      {stopped ? <p className="muted">The turn stopped: {stopped}</p> : null}
      <ErrorNote error={error} />
      {messages.data?.conversation.origin === 'widget' ? (
        <p className="muted">
          A visitor’s chat on your website: only the visitor writes here; the lead is in GoHighLevel.
        </p>
      ) : mayAct ? (
        <form className="composer" onSubmit={(e) => void send(e)} aria-label="Send a message">
          <label>
            Message
            <textarea
              name="text"
              rows={3}
              value={text}
              maxLength={20_000}
              onChange={(e) => setText(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) e.currentTarget.form?.requestSubmit();
              }}
            />
          </label>
          <button type="submit" className="primary" disabled={live !== null || !text.trim()}>
            Send
          </button>
          <span className="muted small">
            <kbd>Ctrl</kbd>+<kbd>Enter</kbd> sends
          </span>
        </form>
      ) : (
        <p className="muted">Your role can read conversations but not send messages.</p>
      )}
    </section>
  );
}
