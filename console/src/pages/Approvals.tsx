import { useEffect, useRef, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, post, qs, type Approval, type LeadTimeline } from '../api';
import { useMe } from '../session';
import { canAct, Empty, ErrorNote, Loading, Page, When } from '../ui';

/**
 * The review-mode queue: each held draft beside its lead's research brief. One key each:
 * A approve (with the edits, if any), E edit the body, R reject, J / K next / previous draft.
 */
export function Approvals() {
  const [params] = useSearchParams();
  const campaignId = params.get('campaignId') ?? undefined;
  const me = useMe();
  const list = useQuery({
    queryKey: ['approvals', campaignId],
    queryFn: () =>
      get<{ approvals: Approval[] }>(`/v1/approvals${qs({ campaignId, limit: 200 })}`).then((r) => r.approvals),
    refetchInterval: 5000,
  });
  const [index, setIndex] = useState(0);
  const items = list.data ?? [];
  const current = items[Math.min(index, Math.max(items.length - 1, 0))];

  return (
    <Page title="Approvals">
      <p className="muted">
        Drafts held by review mode. Keys: <kbd>A</kbd> approve, <kbd>E</kbd> edit, <kbd>R</kbd> reject, <kbd>J</kbd>/
        <kbd>K</kbd> next/previous.
      </p>
      {list.isPending ? <Loading what="drafts" /> : null}
      <ErrorNote error={list.error} />
      {list.data && !items.length ? <Empty>Nothing waiting for approval.</Empty> : null}
      {current ? (
        <div className="approvals">
          <nav aria-label="Drafts waiting" className="queue">
            <h2 className="sr-only">Queue</h2>
            <ol>
              {items.map((a, i) => (
                <li key={a.id}>
                  <button
                    type="button"
                    className={a.id === current.id ? 'link current' : 'link'}
                    aria-current={a.id === current.id ? 'true' : undefined}
                    onClick={() => setIndex(i)}
                  >
                    {a.to ?? a.leadId} — {a.draft.subject}
                  </button>
                </li>
              ))}
            </ol>
          </nav>
          <Review
            key={current.id}
            approval={current}
            mayAct={canAct(me.data?.scopes)}
            onMove={(d) => setIndex((i) => Math.min(Math.max(i + d, 0), items.length - 1))}
          />
        </div>
      ) : null}
    </Page>
  );
}

function Review({ approval, mayAct, onMove }: { approval: Approval; mayAct: boolean; onMove: (d: number) => void }) {
  const queryClient = useQueryClient();
  const [subject, setSubject] = useState(approval.draft.subject);
  const [body, setBody] = useState(approval.draft.body);
  const [note, setNote] = useState('');
  const bodyRef = useRef<HTMLTextAreaElement>(null);
  const lead = useQuery({
    queryKey: ['lead', approval.campaignId, approval.leadId],
    queryFn: () =>
      get<LeadTimeline>(
        `/v1/campaigns/${encodeURIComponent(approval.campaignId)}/leads/${encodeURIComponent(approval.leadId)}`,
      ),
  });
  const edited = subject !== approval.draft.subject || body !== approval.draft.body;
  const decide = useMutation({
    mutationFn: (decision: 'approve' | 'reject') =>
      post<Approval>(`/v1/approvals/${encodeURIComponent(approval.id)}`, {
        ...(decision === 'reject'
          ? { decision: 'reject' }
          : edited
            ? { decision: 'edit', subject, body }
            : { decision: 'approve' }),
        ...(note.trim() ? { note: note.trim() } : {}),
      }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ['approvals'] }),
  });

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const t = e.target as HTMLElement | null;
      // Keys go to the text while one is being edited; Escape leaves it.
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) {
        if (e.key === 'Escape') t.blur();
        return;
      }
      const key = e.key.toLowerCase();
      if (key === 'j') onMove(1);
      else if (key === 'k') onMove(-1);
      else if (!mayAct || decide.isPending) return;
      else if (key === 'a') decide.mutate('approve');
      else if (key === 'r') decide.mutate('reject');
      else if (key === 'e') {
        e.preventDefault();
        bodyRef.current?.focus();
      } else return;
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [decide, mayAct, onMove]);

  return (
    <div className="grid-2 review">
      <section className="card" aria-labelledby="draft-title">
        <h2 id="draft-title">Draft to {approval.to ?? 'the lead'}</h2>
        <p className="muted small">
          {approval.kind === 'reply' ? 'An answer to their reply' : `Step ${(approval.stepIndex ?? 0) + 1}`}, held{' '}
          <When at={approval.createdAt} />
        </p>
        <div className="stack">
          <label>
            Subject
            <input value={subject} onChange={(e) => setSubject(e.target.value)} disabled={!mayAct} />
          </label>
          <label>
            Body
            <textarea
              ref={bodyRef}
              rows={12}
              value={body}
              onChange={(e) => setBody(e.target.value)}
              disabled={!mayAct}
            />
          </label>
          <label>
            Note (optional, kept with the decision)
            <input value={note} onChange={(e) => setNote(e.target.value)} disabled={!mayAct} />
          </label>
          <ErrorNote error={decide.error} />
          {mayAct ? (
            <div className="row">
              <button type="button" className="primary" onClick={() => decide.mutate('approve')} aria-keyshortcuts="a">
                {edited ? 'Send with my edits' : 'Approve'} <kbd>A</kbd>
              </button>
              <button type="button" onClick={() => bodyRef.current?.focus()} aria-keyshortcuts="e">
                Edit <kbd>E</kbd>
              </button>
              <button type="button" className="danger" onClick={() => decide.mutate('reject')} aria-keyshortcuts="r">
                Reject <kbd>R</kbd>
              </button>
            </div>
          ) : (
            <p className="muted">Your role can read drafts but not decide them.</p>
          )}
        </div>
      </section>
      <section className="card" aria-labelledby="brief-title">
        <h2 id="brief-title">The lead</h2>
        {lead.isPending ? <Loading what="the lead" /> : null}
        <ErrorNote error={lead.error} />
        {lead.data ? (
          <>
            <p>
              <Link to={`/campaigns/${approval.campaignId}/leads/${approval.leadId}`}>
                {[lead.data.lead.firstName, lead.data.lead.lastName].filter(Boolean).join(' ') || lead.data.lead.email}
              </Link>
              {lead.data.lead.company ? `, ${lead.data.lead.company}` : ''}
            </p>
            <h3>Research brief</h3>
            <p className="prewrap">{lead.data.lead.brief ?? <span className="muted">No brief.</span>}</p>
          </>
        ) : null}
      </section>
    </div>
  );
}
