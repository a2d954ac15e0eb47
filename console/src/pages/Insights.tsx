import { Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { get } from '../api';
import { BarChart } from '../charts';
import { ErrorNote, Loading, Page } from '../ui';

interface Insights {
  totals: {
    contacts: number;
    callable: number;
    openPipelineValue: number;
    upcomingAppointments: number;
    opportunities: { open: number; won: number; lost: number };
  };
  actionableNow: { count: number; rule: string };
  hotLeads: { count: number; rule: string; leads: { id: string; name: string | null; signals: string[] }[] };
  peakActivity: {
    timezone: string;
    byHour: { hour: number; events: number }[];
    byWeekday: { day: string; events: number }[];
    rule: string;
  };
  conversionBySource: { sources: { source: string; contacts: number; conversionRate: number }[]; rule: string };
}
interface Recommendation {
  id: string;
  priority: number;
  title: string;
  reasoning: string;
  tool: string;
  contactCount: number;
}

export function Insights() {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const insights = useQuery({
    queryKey: ['insights', tz],
    queryFn: () => get<Insights>(`/v1/insights?tz=${encodeURIComponent(tz)}`),
  });
  const recs = useQuery({
    queryKey: ['recommendations', tz],
    queryFn: () =>
      get<{ recommendations: Recommendation[] }>(`/v1/recommendations?tz=${encodeURIComponent(tz)}`).then(
        (r) => r.recommendations,
      ),
  });
  return (
    <Page title="Insights">
      {insights.isPending ? <Loading what="insights" /> : null}
      <ErrorNote error={insights.error} />
      {insights.data ? (
        <>
          <ul className="stats tiles">
            <li>
              <strong>{insights.data.totals.contacts}</strong> contacts
            </li>
            <li>
              <strong>{insights.data.actionableNow.count}</strong> actionable now
            </li>
            <li>
              <strong>{insights.data.hotLeads.count}</strong> hot leads
            </li>
            <li>
              <strong>{insights.data.totals.opportunities.open}</strong> open deals
            </li>
            <li>
              <strong>{insights.data.totals.upcomingAppointments}</strong> upcoming appointments
            </li>
          </ul>
          <div className="grid-2">
            <section className="card" aria-labelledby="hours">
              <h2 id="hours">Activity by hour ({insights.data.peakActivity.timezone})</h2>
              <BarChart
                label="Events by hour"
                labels={insights.data.peakActivity.byHour.map((h) => String(h.hour))}
                values={insights.data.peakActivity.byHour.map((h) => h.events)}
              />
              <p className="muted small">{insights.data.peakActivity.rule}</p>
            </section>
            <section className="card" aria-labelledby="sources">
              <h2 id="sources">Conversion by source (%)</h2>
              <BarChart
                label="Conversion rate by source"
                labels={insights.data.conversionBySource.sources.map((s) => s.source)}
                values={insights.data.conversionBySource.sources.map((s) => Math.round(s.conversionRate * 1000) / 10)}
                horizontal
                color="#1f7a4d"
              />
              <p className="muted small">{insights.data.conversionBySource.rule}</p>
            </section>
          </div>
          <section className="card" aria-labelledby="hot">
            <h2 id="hot">Hot leads</h2>
            <p className="muted small">{insights.data.hotLeads.rule}</p>
            <ul className="plain">
              {insights.data.hotLeads.leads.map((l) => (
                <li key={l.id}>
                  <Link to={`/contacts/${encodeURIComponent(l.id)}`}>{l.name ?? l.id}</Link>{' '}
                  <span className="muted">{l.signals.join(', ')}</span>
                </li>
              ))}
            </ul>
          </section>
        </>
      ) : null}
      <section className="card" aria-labelledby="recs">
        <h2 id="recs">Recommendations</h2>
        <ErrorNote error={recs.error} />
        {recs.data && !recs.data.length ? <p className="muted">Nothing to recommend right now.</p> : null}
        <ol className="recs">
          {recs.data?.map((r) => (
            <li key={r.id}>
              <strong>{r.title}</strong>{' '}
              <span className="muted">
                ({r.contactCount} contacts, via {r.tool})
              </span>
              <p>{r.reasoning}</p>
            </li>
          ))}
        </ol>
      </section>
    </Page>
  );
}
