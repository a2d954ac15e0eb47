import { useParams, Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { get, type CallDetail } from '../api';
import { Badge, ErrorNote, Loading, Page, When } from '../ui';

const FINAL = new Set(['completed', 'failed', 'cancelled', 'no-answer', 'busy', 'voicemail', 'suppressed']);

function json(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** One call: the conversation, every tool call, the recording, what came of it, and where to look deeper. */
export function CallPage() {
  const { id = '' } = useParams();
  const call = useQuery({
    queryKey: ['call', id],
    queryFn: () => get<CallDetail>(`/v1/calls/${encodeURIComponent(id)}`),
    // While the call lives its transcript grows: read it again every 1.5 s until it is done.
    refetchInterval: (q) => (q.state.data && FINAL.has(q.state.data.status) ? false : 1500),
  });
  if (call.isPending) return <Loading what="the call" />;
  if (call.error)
    return (
      <Page title="Call">
        <ErrorNote error={call.error} />
      </Page>
    );
  const c = call.data;
  const effects = Object.entries(c.crmEffects ?? {});
  return (
    <Page
      title={`Call ${c.direction === 'inbound' ? 'from' : 'to'} ${c.phone ?? 'unknown number'}`}
      actions={
        c.webUiUrl ? (
          <a href={c.webUiUrl} target="_blank" rel="noreferrer noopener">
            Workflow in Temporal Web UI<span className="sr-only"> (opens in a new tab)</span>
          </a>
        ) : null
      }
    >
      <p>
        <Link to="/calls">← All calls</Link>
      </p>
      <div className="grid-2">
        <section className="card" aria-labelledby="facts">
          <h2 id="facts">The call</h2>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <Badge value={c.status} />
              {c.endedReason ? <span className="muted"> ({c.endedReason})</span> : null}
            </dd>
            <dt>Outcome</dt>
            <dd>
              <Badge value={c.outcome} />
            </dd>
            <dt>Sentiment</dt>
            <dd>{c.sentiment ?? '—'}</dd>
            <dt>Provider</dt>
            <dd>
              {c.provider}, {c.direction}
            </dd>
            <dt>Started</dt>
            <dd>
              <When at={c.startedAt ?? c.createdAt} />
            </dd>
            <dt>Ended</dt>
            <dd>
              <When at={c.endedAt} />
            </dd>
            <dt>Attempts</dt>
            <dd>
              {c.attempts}
              {c.providerCallIds.length ? <span className="muted"> ({c.providerCallIds.join(', ')})</span> : null}
            </dd>
            {c.purpose ? (
              <>
                <dt>Purpose</dt>
                <dd>{c.purpose}</dd>
              </>
            ) : null}
            {c.contactId ? (
              <>
                <dt>Contact</dt>
                <dd>
                  <Link to={`/contacts/${encodeURIComponent(c.contactId)}`}>{c.contactId}</Link>
                </dd>
              </>
            ) : null}
            {c.cost !== null ? (
              <>
                <dt>Cost</dt>
                <dd>${c.cost.toFixed(2)}</dd>
              </>
            ) : null}
          </dl>
        </section>
        <section className="card" aria-labelledby="summary">
          <h2 id="summary">Summary</h2>
          <p data-testid="call-summary">{c.summary ?? <span className="muted">No summary yet.</span>}</p>
          {c.nextAction ? (
            <p>
              <strong>Next:</strong> {c.nextAction}
            </p>
          ) : null}
          <h3>CRM effects</h3>
          {effects.length ? (
            <dl className="facts">
              {effects.map(([k, v]) => (
                <div key={k} className="fact">
                  <dt>{k}</dt>
                  <dd>{typeof v === 'string' ? v : json(v)}</dd>
                </div>
              ))}
            </dl>
          ) : (
            <p className="muted">None yet.</p>
          )}
          <h3>Recording</h3>
          {c.recordingUrl ? (
            <audio controls preload="none" src={c.recordingUrl} aria-label="Call recording">
              <a href={c.recordingUrl}>Download the recording</a>
            </audio>
          ) : (
            <p className="muted">No recording.</p>
          )}
        </section>
      </div>
      <section aria-labelledby="transcript" className="card">
        <h2 id="transcript">Transcript</h2>
        {c.transcript.length ? (
          <ol className="conversation" data-testid="transcript">
            {c.transcript.map((u) => (
              <li
                key={u.seq}
                className={`turn turn-${u.role === 'user' || u.role === 'customer' ? 'caller' : 'agent'}`}
              >
                <span className="who">{u.role === 'user' || u.role === 'customer' ? 'Caller' : 'Agent'}</span>
                <span className="text">{u.text}</span>
                {u.secondsFromStart !== null ? (
                  <span className="muted at">{u.secondsFromStart.toFixed(1)} s</span>
                ) : null}
              </li>
            ))}
          </ol>
        ) : (
          <p className="muted">Nothing said yet.</p>
        )}
      </section>
      <section aria-labelledby="tools" className="card">
        <h2 id="tools">Tool calls</h2>
        {c.toolCalls.length ? (
          <ol className="tools" data-testid="tool-calls">
            {c.toolCalls.map((t) => (
              <li key={t.id} className="tool">
                <div className="tool-head">
                  <code className="tool-name">{t.name}</code>
                  <span className="muted">{t.latencyMs} ms</span>
                  <When at={t.at} timeOnly />
                </div>
                <div className="tool-body">
                  <div>
                    <h4>Arguments</h4>
                    <pre>{json(t.arguments)}</pre>
                  </div>
                  <div>
                    <h4>{t.error ? 'Error' : 'Answer'}</h4>
                    <pre className={t.error ? 'error' : undefined}>{t.error ?? t.result ?? '—'}</pre>
                  </div>
                </div>
              </li>
            ))}
          </ol>
        ) : (
          <p className="muted">No tool calls.</p>
        )}
      </section>
    </Page>
  );
}
