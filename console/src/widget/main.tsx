import { StrictMode, useEffect, useRef, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { streamTurn, type TurnProgress } from '../chatStream';
import { Markdown } from '../markdown';
import './widget.css';

/**
 * The website chat, inside the iframe the tenant's page loads (GET /widget/<id>/frame): a bubble
 * that opens the chat; the lead gate (name, email, consent) before the first message; then the
 * chat with the tenant's persona, replies streamed. The page around it is another origin: nothing
 * is shared with it but "open" / "closed" (so the loader can size the frame).
 */

const widgetId = location.pathname.split('/')[2] ?? '';
const pageOrigin = new URLSearchParams(location.search).get('origin') ?? '';
const base = `/widget/${encodeURIComponent(widgetId)}`;
const TOKEN_KEY = `sb-widget-${widgetId}`;

interface Config {
  agent: { name: string; colour: string };
  greeting: string;
  consentText: string;
}
interface Session {
  token: string;
  expiresAt: string;
}
interface VisitorReply {
  status: 'answered' | 'awaiting_confirmation' | 'stopped';
  reply: { id: string; text: string } | null;
  stopReason: string | null;
}
interface Line {
  id: string;
  who: 'visitor' | 'agent';
  text: string;
}

async function call<T>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(`${base}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-widget-origin': pageOrigin, ...headers },
    body: JSON.stringify(body),
    credentials: 'omit',
  });
  const parsed = (await res.json().catch(() => ({}))) as { message?: string };
  if (!res.ok)
    throw new Error(
      res.status === 429 ? 'Too many messages; please wait a moment.' : (parsed.message ?? `${res.status}`),
    );
  return parsed as T;
}

function savedSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? 'null') as Session | null;
    return s && Date.parse(s.expiresAt) > Date.now() + 60_000 ? s : null;
  } catch {
    return null;
  }
}

function Widget() {
  const [open, setOpen] = useState(false);
  const [config, setConfig] = useState<Config | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [session, setSession] = useState<Session | null>(savedSession);
  const [lines, setLines] = useState<Line[]>([]);
  const [live, setLive] = useState<TurnProgress | null>(null);
  const [text, setText] = useState('');
  const input = useRef<HTMLTextAreaElement>(null);
  const bottom = useRef<HTMLLIElement>(null);

  useEffect(() => {
    // Only the page that framed us hears whether the chat is open (to size the frame).
    if (window.parent !== window && pageOrigin)
      window.parent.postMessage({ type: 'switchboard:widget', open }, pageOrigin);
  }, [open]);
  useEffect(() => {
    if (open && !config)
      call<Config>('config', {})
        .then(setConfig)
        .catch((e: Error) => setError(e.message));
  }, [open, config]);
  useEffect(() => {
    // (Chromium's scrollIntoView returns a promise now: not an effect's clean-up.)
    void bottom.current?.scrollIntoView({ block: 'end' });
  }, [lines, live]);
  useEffect(() => {
    if (open && session) input.current?.focus();
  }, [open, session]);

  const startChat = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    setError(null);
    try {
      const s = await call<Session>('leads', {
        name: String(f.get('name') ?? '').trim(),
        email: String(f.get('email') ?? '').trim(),
        consent: f.get('consent') === 'on',
      });
      sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s));
      setSession(s);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const send = async (e?: FormEvent) => {
    e?.preventDefault();
    const asked = text.trim();
    if (!asked || live || !session) return;
    setText('');
    setError(null);
    const id = crypto.randomUUID();
    setLines((l) => [...l, { id, who: 'visitor', text: asked }]);
    setLive({ text: '', tools: [] });
    try {
      const r = await streamTurn<VisitorReply>(`${base}/messages`, { text: asked, messageId: id }, (p) => setLive(p), {
        headers: { 'x-widget-origin': pageOrigin, 'x-widget-token': session.token },
        resumePath: () => `${base}/messages`,
      });
      setLines((l) => [
        ...l,
        { id: r.reply?.id ?? `${id}-a`, who: 'agent', text: r.reply?.text ?? 'Sorry, I could not answer that.' },
      ]);
    } catch (err) {
      if ((err as { status?: number }).status === 403) {
        sessionStorage.removeItem(TOKEN_KEY);
        setSession(null);
      }
      setError((err as Error).message);
      setText(asked);
    } finally {
      setLive(null);
    }
  };

  if (!open)
    return (
      <button type="button" className="bubble" aria-expanded="false" onClick={() => setOpen(true)}>
        <svg viewBox="0 0 24 24" aria-hidden="true" width="30" height="30">
          <path
            fill="currentColor"
            d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"
          />
        </svg>
        <span className="sr-only">Chat with us</span>
      </button>
    );

  const name = config?.agent.name ?? 'Chat';
  return (
    <main className="panel" aria-labelledby="widget-title">
      <header className="panel-head">
        <h1 id="widget-title">Chat with {name}</h1>
        <button type="button" className="close" aria-expanded="true" onClick={() => setOpen(false)}>
          <span aria-hidden="true">×</span>
          <span className="sr-only">Close the chat</span>
        </button>
      </header>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      {!config ? (
        <p className="muted" role="status">
          Loading…
        </p>
      ) : !session ? (
        <form className="gate" onSubmit={startChat} aria-label="Before we chat">
          {config.greeting ? <p>{config.greeting}</p> : null}
          <p className="muted">Tell us who you are, so the team can follow up.</p>
          <label>
            Name
            <input name="name" autoComplete="name" required maxLength={200} />
          </label>
          <label>
            Email
            <input name="email" type="email" autoComplete="email" required maxLength={320} />
          </label>
          <label className="consent">
            <input name="consent" type="checkbox" required />
            <span>{config.consentText}</span>
          </label>
          <button type="submit">Start the chat</button>
        </form>
      ) : (
        <>
          <ol className="lines" aria-label="Messages">
            {config.greeting ? (
              <li className="line line-agent">
                <span className="who">{name}</span>
                <span>{config.greeting}</span>
              </li>
            ) : null}
            {lines.map((l) => (
              <li key={l.id} className={`line line-${l.who}`}>
                <span className="who">{l.who === 'visitor' ? 'You' : name}</span>
                {l.who === 'agent' ? <Markdown text={l.text} /> : <span className="prewrap">{l.text}</span>}
              </li>
            ))}
            {live ? (
              <li className="line line-agent" aria-busy="true" data-testid="widget-live-reply">
                <span className="who">{name}</span>
                {live.text ? <Markdown text={live.text} /> : <span className="muted">Typing…</span>}
              </li>
            ) : null}
            <li ref={bottom} aria-hidden="true" className="end" />
          </ol>
          <div aria-live="polite" className="sr-only">
            {live ? `${name} is typing…` : ''}
          </div>
          <form className="composer" onSubmit={(e) => void send(e)}>
            <label htmlFor="widget-message" className="sr-only">
              Message
            </label>
            <textarea
              id="widget-message"
              ref={input}
              rows={2}
              maxLength={2000}
              value={text}
              onChange={(e) => setText(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && !e.shiftKey) void send(e);
              }}
            />
            <button type="submit" disabled={!text.trim() || live !== null}>
              Send
            </button>
          </form>
        </>
      )}
    </main>
  );
}

createRoot(document.getElementById('widget')!).render(
  <StrictMode>
    <Widget />
  </StrictMode>,
);
