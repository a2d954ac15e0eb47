import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, post, type ImportResult, type LeadListItem, type LeadTimeline, type Progress } from '../api';
import { BarChart } from '../charts';
import { useMe } from '../session';
import { Badge, canAct, Empty, ErrorNote, Loading, Page, When, ListTable } from '../ui';
import { CsvRows } from './Campaigns';

const OPEN_STATES = new Set(['pending', 'active']);

/** Leads → sent → opened → replied → booked, from the campaign's progress. */
export function funnel(p: Progress) {
  return {
    labels: ['Leads', 'Sent', 'Opened', 'Replied', 'Booked'],
    values: [
      p.leads.total,
      Math.min(p.emails.sent, p.leads.total),
      p.engagement['open'] ?? 0,
      p.replies,
      p.meetingsBooked,
    ],
  };
}

export function CampaignPage() {
  const { id = '' } = useParams();
  const me = useMe();
  const queryClient = useQueryClient();
  const progress = useQuery({
    queryKey: ['campaign', id],
    queryFn: () => get<Progress>(`/v1/campaigns/${encodeURIComponent(id)}`),
    refetchInterval: (q) => (q.state.data && ['completed', 'cancelled'].includes(q.state.data.status) ? false : 2000),
  });
  const leads = useQuery({
    queryKey: ['campaign-leads', id],
    queryFn: () =>
      get<{ leads: LeadListItem[] }>(`/v1/campaigns/${encodeURIComponent(id)}/leads?limit=200`).then((r) => r.leads),
    refetchInterval: 4000,
  });
  const act = useMutation({
    mutationFn: (action: 'start' | 'pause' | 'resume' | 'cancel') =>
      post(`/v1/campaigns/${encodeURIComponent(id)}/${action}`),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ['campaign', id] }),
  });
  if (progress.isPending) return <Loading what="the campaign" />;
  if (progress.error)
    return (
      <Page title="Campaign">
        <ErrorNote error={progress.error} />
      </Page>
    );
  const p = progress.data;
  const done = Object.entries(p.leads.byState)
    .filter(([state]) => !OPEN_STATES.has(state))
    .reduce((n, [, v]) => n + v, 0);
  const pct = p.leads.total ? Math.round((done / p.leads.total) * 100) : 0;
  const f = funnel(p);
  const mayAct = canAct(me.data?.scopes);
  return (
    <Page title={p.name} actions={<Badge value={p.status} />}>
      <p>
        <Link to="/campaigns">← All campaigns</Link>
      </p>
      <p className="muted">{p.goal}</p>
      {mayAct ? (
        <div className="row" role="group" aria-label="Campaign controls">
          {p.status === 'draft' ? (
            <button type="button" className="primary" onClick={() => act.mutate('start')}>
              Start
            </button>
          ) : null}
          {p.status === 'running' ? (
            <button type="button" onClick={() => act.mutate('pause')}>
              Pause
            </button>
          ) : null}
          {p.status === 'paused' ? (
            <button type="button" onClick={() => act.mutate('resume')}>
              Resume
            </button>
          ) : null}
          {!['completed', 'cancelled'].includes(p.status) ? (
            <button
              type="button"
              className="danger"
              onClick={() => {
                if (window.confirm('Cancel this campaign? Leads in flight stop.')) act.mutate('cancel');
              }}
            >
              Cancel
            </button>
          ) : null}
          <ErrorNote error={act.error} />
        </div>
      ) : null}
      <section className="card" aria-labelledby="progress">
        <h2 id="progress">Progress</h2>
        <label className="progress-label">
          {done} of {p.leads.total} leads done ({pct}%)
          <progress max={p.leads.total || 1} value={done} />
        </label>
        <ul className="stats">
          <li>
            <strong>{p.emails.sent}</strong> emails sent ({p.emails.sentToday} today)
          </li>
          <li>
            <strong>{p.replies}</strong> replies
          </li>
          <li>
            <strong>{p.meetingsBooked}</strong> booked
          </li>
          <li>
            <Link to={`/approvals?campaignId=${p.id}`}>
              <strong>{p.pendingApprovals}</strong> waiting for approval
            </Link>
          </li>
          <li>
            <strong>${p.costUsd.toFixed(2)}</strong> model cost
          </li>
        </ul>
        <BarChart label="Funnel" labels={f.labels} values={f.values} horizontal />
      </section>
      <section className="card" aria-labelledby="states">
        <h2 id="states">Leads by state</h2>
        <ul className="stats">
          {Object.entries(p.leads.byState).map(([state, n]) => (
            <li key={state}>
              <Badge value={state} /> {n}
            </li>
          ))}
        </ul>
      </section>
      {mayAct && !['completed', 'cancelled'].includes(p.status) ? <AddLeads id={p.id} /> : null}
      <section className="card" aria-labelledby="leads">
        <h2 id="leads">Leads</h2>
        <ErrorNote error={leads.error} />
        {leads.data && !leads.data.length ? <Empty>No leads.</Empty> : null}
        {leads.data?.length ? (
          <ListTable label="Leads" columns={['Lead', 'Company', 'State']}>
            {leads.data.map((l) => (
              <tr key={l.id}>
                <td>
                  <Link to={`/campaigns/${p.id}/leads/${l.id}`}>
                    {[l.firstName, l.lastName].filter(Boolean).join(' ') || l.email || l.phone}
                  </Link>
                </td>
                <td>{l.company ?? '—'}</td>
                <td>
                  <Badge value={l.state} />
                </td>
              </tr>
            ))}
          </ListTable>
        ) : null}
      </section>
    </Page>
  );
}

function AddLeads({ id }: { id: string }) {
  const [csv, setCsv] = useState('email,firstName\n');
  const [sent, setSent] = useState('');
  const queryClient = useQueryClient();
  const add = useMutation({
    mutationFn: (text: string) => post<ImportResult>(`/v1/campaigns/${encodeURIComponent(id)}/leads`, { csv: text }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['campaign', id] });
      void queryClient.invalidateQueries({ queryKey: ['campaign-leads', id] });
    },
  });
  return (
    <section className="card stack" aria-labelledby="add-leads">
      <h2 id="add-leads">Add leads</h2>
      <label>
        CSV with a header row
        <textarea rows={4} value={csv} onChange={(e) => setCsv(e.target.value)} spellCheck={false} />
      </label>
      <ErrorNote error={add.error} />
      <div>
        <button
          type="button"
          onClick={() => {
            setSent(csv);
            add.mutate(csv);
          }}
          disabled={add.isPending}
        >
          Add
        </button>
      </div>
      {add.data ? (
        <>
          <p role="status">
            {add.data.imported} added, {add.data.duplicates} already there.
          </p>
          {add.data.errors.length ? <CsvRows csv={sent} errors={add.data.errors} /> : null}
        </>
      ) : null}
    </section>
  );
}

function eventText(data: unknown): string {
  if (data === null || data === undefined) return '';
  if (typeof data === 'string') return data;
  const text = JSON.stringify(data);
  return text === '{}' ? '' : text;
}

/** One lead: its research brief, emails and the append-only timeline of what happened. */
export function LeadPage() {
  const { id = '', leadId = '' } = useParams();
  const t = useQuery({
    queryKey: ['lead', id, leadId],
    queryFn: () => get<LeadTimeline>(`/v1/campaigns/${encodeURIComponent(id)}/leads/${encodeURIComponent(leadId)}`),
    refetchInterval: 4000,
  });
  if (t.isPending) return <Loading what="the lead" />;
  if (t.error)
    return (
      <Page title="Lead">
        <ErrorNote error={t.error} />
      </Page>
    );
  const { lead, emails, events } = t.data;
  const name = [lead.firstName, lead.lastName].filter(Boolean).join(' ') || lead.email || lead.phone || lead.id;
  return (
    <Page title={name} actions={<Badge value={lead.state} />}>
      <p>
        <Link to={`/campaigns/${id}`}>← The campaign</Link>
      </p>
      <div className="grid-2">
        <section className="card" aria-labelledby="brief">
          <h2 id="brief">Research brief</h2>
          <p className="prewrap">{lead.brief ?? <span className="muted">Not researched yet.</span>}</p>
          <dl className="facts">
            <dt>Email</dt>
            <dd>{lead.email ?? '—'}</dd>
            <dt>Phone</dt>
            <dd>{lead.phone ?? '—'}</dd>
            <dt>Company</dt>
            <dd>{lead.company ?? '—'}</dd>
          </dl>
        </section>
        <section className="card" aria-labelledby="emails">
          <h2 id="emails">Emails</h2>
          {emails.length ? (
            <ul className="plain">
              {emails.map((e) => (
                <li key={e.sendKey}>
                  <Badge value={e.status} /> {e.subject} <When at={e.sentAt} />
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">None yet.</p>
          )}
        </section>
      </div>
      <section className="card" aria-labelledby="timeline">
        <h2 id="timeline">Timeline</h2>
        <ol className="timeline">
          {events.map((e) => (
            <li key={e.id}>
              <When at={e.at} /> <strong>{e.kind}</strong>
              {e.stepIndex !== null ? <span className="muted"> (step {e.stepIndex + 1})</span> : null}{' '}
              <span className="muted small">{eventText(e.data).slice(0, 300)}</span>
            </li>
          ))}
        </ol>
      </section>
    </Page>
  );
}
