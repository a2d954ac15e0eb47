import { Link, useNavigate } from 'react-router';
import { useMutation, useQueries, useQuery } from '@tanstack/react-query';
import {
  get,
  post,
  qs,
  type CallSummary,
  type CampaignListItem,
  type Connection,
  type Progress,
  type SyncStatus,
} from '../api';
import { useMe } from '../session';
import { canAct, ErrorNote, Page, startOfToday, When } from '../ui';

// A call in one of these for half an hour is stuck (waiting for calling hours or a quota is not).
const IN_CALL = new Set(['queued', 'ringing', 'in-progress', 'forwarding', 'ended']);
const STUCK_AFTER_MS = 30 * 60_000;

/** Today at a glance, what is broken, and — on the keyless sandbox — a first-run tour. */
export function Home() {
  const me = useMe();
  const since = startOfToday();
  const calls = useQuery({
    queryKey: ['calls-today', since],
    queryFn: () => get<{ calls: CallSummary[] }>(`/v1/calls${qs({ since, limit: 200 })}`).then((r) => r.calls),
    refetchInterval: 5000,
  });
  const connections = useQuery({
    queryKey: ['connections'],
    queryFn: () => get<{ connections: Connection[] }>('/v1/connections').then((r) => r.connections),
  });
  const sync = useQuery({ queryKey: ['sync'], queryFn: () => get<SyncStatus>('/v1/sync/status') });
  const campaigns = useQuery({
    queryKey: ['campaigns'],
    queryFn: () => get<{ campaigns: CampaignListItem[] }>('/v1/campaigns?limit=20').then((r) => r.campaigns),
  });
  const recent = (campaigns.data ?? []).filter((c) => c.status !== 'draft').slice(0, 8);
  const progress = useQueries({
    queries: recent.map((c) => ({
      queryKey: ['campaign', c.id],
      queryFn: () => get<Progress>(`/v1/campaigns/${c.id}`),
      refetchInterval: 10_000,
    })),
  });

  const todays = calls.data ?? [];
  const booked = todays.filter((c) => c.outcome === 'booked').length;
  const p = progress.flatMap((q) => (q.data ? [q.data] : []));
  const sentToday = p.reduce((n, c) => n + c.emails.sentToday, 0);
  const replies = p.reduce((n, c) => n + c.replies, 0);
  const meetings = p.reduce((n, c) => n + c.meetingsBooked, 0);
  const waiting = p.reduce((n, c) => n + c.pendingApprovals, 0);

  const broken: { key: string; text: string; to: string }[] = [];
  for (const c of connections.data ?? [])
    if (c.state === 'broken')
      broken.push({
        key: `c-${c.provider}`,
        text: `${c.provider} connection is broken: ${c.lastError ?? 'reconnect it'}`,
        to: '/settings#connections',
      });
  if (sync.data?.state === 'failed')
    broken.push({
      key: 'sync',
      text: `The CRM sync failed: ${sync.data.lastError ?? 'see the sync status'}`,
      to: '/settings#sync',
    });
  for (const c of todays)
    if (IN_CALL.has(c.status) && Date.now() - Date.parse(c.createdAt) > STUCK_AFTER_MS)
      broken.push({
        key: c.id,
        text: `Call ${c.phone ?? c.id} has been “${c.status}” for over 30 minutes`,
        to: `/calls/${encodeURIComponent(c.id)}`,
      });
  for (const c of p)
    if ((c.leads.byState['failed'] ?? 0) > 0)
      broken.push({
        key: `f-${c.id}`,
        text: `${c.leads.byState['failed']} lead(s) of “${c.name}” failed`,
        to: `/campaigns/${c.id}`,
      });

  const sandbox = connections.data?.some((c) => c.provider === 'vapi' && c.mode === 'sandbox');
  return (
    <Page title="Home">
      {sandbox && canAct(me.data?.scopes) ? <Tour connections={connections.data ?? []} /> : null}
      <section aria-labelledby="today">
        <h2 id="today">Today</h2>
        <ul className="stats tiles">
          <li>
            <Link to={`/calls?date=${since.slice(0, 10)}`}>
              <strong>{todays.length}</strong> calls
            </Link>
          </li>
          <li>
            <Link to="/calls?status=completed">
              <strong>{booked + meetings}</strong> bookings
            </Link>
          </li>
          <li>
            <Link to="/campaigns">
              <strong>{sentToday}</strong> campaign emails sent
            </Link>
          </li>
          <li>
            <Link to="/campaigns">
              <strong>{replies}</strong> replies
            </Link>
          </li>
          <li>
            <Link to="/approvals">
              <strong>{waiting}</strong> drafts to approve
            </Link>
          </li>
          <li>
            <Link to="/settings#sync">
              <strong>{sync.data?.cachedContacts ?? '…'}</strong> contacts synced
              {sync.data?.lastFinishedAt ? (
                <span className="small">
                  {' '}
                  (<When at={sync.data.lastFinishedAt} />)
                </span>
              ) : null}
            </Link>
          </li>
        </ul>
      </section>
      <section aria-labelledby="broken" className="card">
        <h2 id="broken">Needs attention</h2>
        <ErrorNote error={calls.error ?? connections.error ?? sync.error} />
        {broken.length ? (
          <ul className="plain alerts">
            {broken.map((b) => (
              <li key={b.key}>
                <Link to={b.to}>{b.text}</Link>
              </li>
            ))}
          </ul>
        ) : (
          <p className="ok">Nothing is broken.</p>
        )}
      </section>
      <section aria-labelledby="latest" className="card">
        <h2 id="latest">Latest calls</h2>
        {todays.length ? (
          <ul className="plain">
            {todays.slice(0, 5).map((c) => (
              <li key={c.id}>
                <Link to={`/calls/${encodeURIComponent(c.id)}`}>
                  <When at={c.createdAt} /> {c.direction} {c.phone ?? ''}
                </Link>{' '}
                — {c.status}
                {c.outcome ? `, ${c.outcome}` : ''}
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">No calls today.</p>
        )}
      </section>
    </Page>
  );
}

function demoLeads(n: number) {
  const first = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Tim'];
  return Array.from({ length: n }, (_, i) => ({
    email: `lead${String(i + 1).padStart(2, '0')}@demo.example`,
    firstName: first[i % first.length],
    company: `Demo Co ${i + 1}`,
  }));
}

/** The keyless sandbox's first-run tour: watch a call and a campaign go end to end. */
function Tour({ connections }: { connections: Connection[] }) {
  const navigate = useNavigate();
  const simulate = useMutation({
    mutationFn: () => post<{ workflowId: string }>('/v1/sandbox/calls'),
    onSuccess: (r) => navigate(`/calls/${encodeURIComponent(r.workflowId)}`),
  });
  const demo = useMutation({
    mutationFn: async () => {
      const sender = connections.find((c) => c.provider === 'sendgrid')?.account ?? 'demo@switchboard.example';
      const created = await post<{ id: string }>('/v1/campaigns', {
        name: `Demo campaign ${new Date().toLocaleString()}`,
        goal: 'Book a first appointment',
        audience: { type: 'leads', leads: demoLeads(20) },
        sequence: [
          {
            type: 'email',
            subject: 'A quick question for {{company}}',
            template: 'Hi {{firstName}},\n\nWould a short call next week help?\n\nBest,\n{{senderName}}',
          },
        ],
        sender: { email: sender, name: 'Demo Front Desk', postalAddress: '1 Harbour Street, Springfield, IL 62701' },
        policy: { sendWindow: { startHour: 0, endHour: 24, days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] } },
      });
      await post(`/v1/campaigns/${created.id}/start`);
      return created;
    },
    onSuccess: (r) => navigate(`/campaigns/${r.id}`),
  });
  return (
    <section className="card tour" aria-labelledby="tour">
      <h2 id="tour">First run: try it on the sandbox</h2>
      <p>
        The providers here are local simulators, so nothing real is called or emailed. Watch a call and a campaign go
        through end to end:
      </p>
      <div className="row">
        <button type="button" className="primary" onClick={() => simulate.mutate()} disabled={simulate.isPending}>
          Simulate an inbound call
        </button>
        <button type="button" onClick={() => demo.mutate()} disabled={demo.isPending}>
          Run a 20-lead demo campaign
        </button>
      </div>
      <ErrorNote error={simulate.error ?? demo.error} />
    </section>
  );
}
