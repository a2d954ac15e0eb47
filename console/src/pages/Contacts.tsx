import { Link, useParams, useSearchParams } from 'react-router';
import { useMutation, useQuery } from '@tanstack/react-query';
import { get, qs, type Contact } from '../api';
import { Empty, ErrorNote, Loading, Page, When, ListTable } from '../ui';

export function Contacts() {
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const list = useQuery({
    queryKey: ['contacts', q],
    queryFn: () =>
      get<{ contacts: Contact[] }>(
        `/v1/contacts${qs(/^[+\d][\d\s().-]{5,}$/.test(q) ? { phone: q, limit: 50 } : q.includes('@') ? { email: q, limit: 50 } : { q, limit: 50 })}`,
      ).then((r) => r.contacts),
  });
  return (
    <Page title="Contacts">
      <form
        role="search"
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const v = String(new FormData(e.currentTarget).get('q') ?? '').trim();
          setParams(v ? { q: v } : {});
        }}
      >
        <label>
          Name, phone or email
          <input name="q" type="search" defaultValue={q} />
        </label>
        <button type="submit">Search</button>
      </form>
      {list.isPending ? <Loading what="contacts" /> : null}
      <ErrorNote error={list.error} />
      {list.data && !list.data.length ? <Empty>No contacts found in the CRM cache.</Empty> : null}
      {list.data?.length ? (
        <ListTable label="Contacts" columns={['Name', 'Phone', 'Email', 'Tags']}>
          {list.data.map((c) => (
            <tr key={c.id}>
              <td>
                <Link to={`/contacts/${encodeURIComponent(c.id)}`}>{c.name ?? c.id}</Link>
              </td>
              <td>{c.phone ?? '—'}</td>
              <td>{c.email ?? '—'}</td>
              <td>{c.tags.join(', ')}</td>
            </tr>
          ))}
        </ListTable>
      ) : null}
    </Page>
  );
}

interface Analysis {
  analysis: {
    intent: string;
    stage: string;
    risks: string[];
    nextBestAction: { action: string; tool: string; reason: string };
    evidence: string[];
  } | null;
  error: string | null;
  model: string | null;
}

export function ContactPage() {
  const { id = '' } = useParams();
  const c = useQuery({
    queryKey: ['contact', id],
    queryFn: () =>
      get<{ contact: Contact; timeline: { at: string; kind: string; summary: string }[] }>(
        `/v1/contacts/${encodeURIComponent(id)}`,
      ),
  });
  // Claude's analysis costs tokens and a quota: only when asked.
  const analyse = useMutation({
    mutationFn: () => get<Analysis>(`/v1/contacts/${encodeURIComponent(id)}/analysis`),
  });
  if (c.isPending) return <Loading what="the contact" />;
  if (c.error)
    return (
      <Page title="Contact">
        <ErrorNote error={c.error} />
      </Page>
    );
  const { contact, timeline } = c.data;
  const a = analyse.data?.analysis;
  return (
    <Page title={contact.name ?? contact.id}>
      <p>
        <Link to="/contacts">← Contacts</Link>
      </p>
      <div className="grid-2">
        <section className="card" aria-labelledby="about">
          <h2 id="about">Contact</h2>
          <dl className="facts">
            <dt>Phone</dt>
            <dd>{contact.phone ?? '—'}</dd>
            <dt>Email</dt>
            <dd>{contact.email ?? '—'}</dd>
            <dt>Company</dt>
            <dd>{contact.companyName ?? '—'}</dd>
            <dt>Source</dt>
            <dd>{contact.source ?? '—'}</dd>
            <dt>Tags</dt>
            <dd>{contact.tags.join(', ') || '—'}</dd>
            <dt>Do not disturb</dt>
            <dd>{contact.dnd ? 'yes' : 'no'}</dd>
          </dl>
        </section>
        <section className="card" aria-labelledby="analysis">
          <h2 id="analysis">Claude&apos;s analysis</h2>
          <button type="button" onClick={() => analyse.mutate()} disabled={analyse.isPending}>
            {analyse.isPending ? 'Analysing…' : a ? 'Analyse again' : 'Analyse this contact'}
          </button>
          <ErrorNote error={analyse.error} />
          {analyse.data && !a ? <p className="error">{analyse.data.error}</p> : null}
          {a ? (
            <dl className="facts">
              <dt>Intent</dt>
              <dd>{a.intent}</dd>
              <dt>Stage</dt>
              <dd>{a.stage}</dd>
              <dt>Next</dt>
              <dd>
                {a.nextBestAction.action} — {a.nextBestAction.reason}
              </dd>
              <dt>Risks</dt>
              <dd>{a.risks.join('; ') || '—'}</dd>
              <dt>Evidence</dt>
              <dd>{a.evidence.join('; ') || '—'}</dd>
            </dl>
          ) : null}
        </section>
      </div>
      <section className="card" aria-labelledby="timeline">
        <h2 id="timeline">Timeline</h2>
        {timeline.length ? (
          <ol className="timeline">
            {timeline.map((t, i) => (
              <li key={i}>
                <When at={t.at} /> <strong>{t.kind}</strong> {t.summary}
              </li>
            ))}
          </ol>
        ) : (
          <p className="muted">Nothing yet.</p>
        )}
      </section>
    </Page>
  );
}
