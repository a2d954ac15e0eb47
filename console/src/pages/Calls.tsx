import { useCallback, useMemo, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { get, post, qs, type CallSummary } from '../api';
import { useCallStream } from '../callStream';
import { useMe } from '../session';
import { Badge, canAct, Empty, ErrorNote, Loading, Page, When, ListTable } from '../ui';

const STATUSES = [
  'scheduled',
  'queued',
  'ringing',
  'in-progress',
  'forwarding',
  'ended',
  'quota-wait',
  'completed',
  'no-answer',
  'busy',
  'voicemail',
  'failed',
  'suppressed',
];

/** Does a call belong in the list as filtered? (the live feed sends every call of the tenant) */
function matches(call: CallSummary, f: { phone: string; status: string; date: string }) {
  if (f.status && call.status !== f.status) return false;
  // The API matches the number in any format (as E.164); here its digits end the call's.
  const digits = f.phone.replace(/\D/g, '');
  if (digits && !(call.phone ?? '').replace(/\D/g, '').endsWith(digits.replace(/^1(?=\d{10}$)/, ''))) return false;
  if (f.date && call.createdAt < new Date(`${f.date}T00:00:00`).toISOString()) return false;
  return true;
}

export function Calls() {
  const [params, setParams] = useSearchParams();
  const phone = params.get('phone') ?? '';
  const status = params.get('status') ?? '';
  const date = params.get('date') ?? '';
  const filters = useMemo(() => ({ phone, status, date }), [phone, status, date]);
  const queryKey = useMemo(() => ['calls', filters], [filters]);
  const queryClient = useQueryClient();
  const me = useMe();
  const [announce, setAnnounce] = useState('');

  const calls = useQuery({
    queryKey,
    queryFn: () =>
      get<{ calls: CallSummary[] }>(
        `/v1/calls${qs({
          phone: filters.phone,
          status: filters.status,
          since: filters.date ? new Date(`${filters.date}T00:00:00`).toISOString() : undefined,
          limit: 100,
        })}`,
      ).then((r) => r.calls),
  });

  const onCall = useCallback(
    (call: CallSummary) => {
      queryClient.setQueryData<CallSummary[]>(queryKey, (list) => {
        if (!list) return list;
        const rest = list.filter((c) => c.id !== call.id);
        if (!matches(call, filters)) return rest;
        if (rest.length === list.length) setAnnounce(`New ${call.direction} call ${call.phone ?? ''}: ${call.status}`);
        return [call, ...rest].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      });
    },
    [queryClient, queryKey, filters],
  );
  const live = useCallStream(onCall);

  const setFilter = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const next = new URLSearchParams();
    for (const k of ['phone', 'status', 'date']) {
      const v = String(form.get(k) ?? '').trim();
      if (v) next.set(k, v);
    }
    setParams(next);
  };

  return (
    <Page title="Calls" actions={<LiveDot live={live} />}>
      {canAct(me.data?.scopes) ? <PlaceCall /> : null}
      <form className="filters" onSubmit={setFilter} aria-label="Filter calls">
        <label>
          Phone
          <input name="phone" type="tel" defaultValue={filters.phone} placeholder="+15555550100" />
        </label>
        <label>
          Status
          <select name="status" defaultValue={filters.status}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Since
          <input name="date" type="date" defaultValue={filters.date} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <p className="sr-only" aria-live="polite">
        {announce}
      </p>
      {calls.isPending ? <Loading what="calls" /> : null}
      <ErrorNote error={calls.error} />
      {calls.data && !calls.data.length ? <Empty>No calls yet.</Empty> : null}
      {calls.data?.length ? <CallTable calls={calls.data} /> : null}
    </Page>
  );
}

export function LiveDot({ live }: { live: boolean }) {
  return (
    <span className={`live-dot ${live ? 'on' : 'off'}`} role="status">
      {live ? 'Live' : 'Reconnecting…'}
    </span>
  );
}

export function CallTable({ calls }: { calls: CallSummary[] }) {
  return (
    <ListTable label="Calls" columns={['When', 'Phone', 'Direction', 'Status', 'Outcome', 'Attempts']}>
      {calls.map((c) => (
        <tr key={c.id} data-call-id={c.id}>
          <td>
            <Link to={`/calls/${encodeURIComponent(c.id)}`}>
              <When at={c.createdAt} />
            </Link>
          </td>
          <td>{c.phone ?? '—'}</td>
          <td>{c.direction}</td>
          <td>
            <Badge value={c.status} />
          </td>
          <td>
            <Badge value={c.outcome} />
          </td>
          <td>{c.attempts}</td>
        </tr>
      ))}
    </ListTable>
  );
}

function PlaceCall() {
  const [open, setOpen] = useState(false);
  const queryClient = useQueryClient();
  const place = useMutation({
    mutationFn: (body: { to: string; purpose: string }) =>
      post<{ workflowId: string }>('/v1/calls', { ...body, idempotencyKey: `console-${crypto.randomUUID()}` }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ['calls'] }),
  });
  if (!open)
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          Place an outbound call
        </button>
      </p>
    );
  return (
    <form
      className="card stack"
      aria-label="Place an outbound call"
      onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        place.mutate({ to: String(f.get('to')), purpose: String(f.get('purpose')) });
      }}
    >
      <h2>Place an outbound call</h2>
      <label>
        Number to call
        <input name="to" type="tel" required placeholder="+15555550123" />
      </label>
      <label>
        Purpose (what the agent should do)
        <input name="purpose" required placeholder="Confirm tomorrow's appointment" />
      </label>
      <ErrorNote error={place.error} />
      {place.data ? (
        <p role="status">
          Calling: <Link to={`/calls/${encodeURIComponent(place.data.workflowId)}`}>follow the call</Link>
        </p>
      ) : null}
      <div className="row">
        <button type="submit" className="primary" disabled={place.isPending}>
          Call
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
    </form>
  );
}
