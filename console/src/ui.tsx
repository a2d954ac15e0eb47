import { useEffect, type ReactNode } from 'react';
import { Link } from 'react-router';
import { ApiError } from './api';

/** Small shared pieces: page titles, loading and error states, dates, status badges. */

export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Switchboard`;
  }, [title]);
  return (
    <>
      <div className="page-head">
        <h1 id="page-title" tabIndex={-1}>
          {title}
        </h1>
        {actions ? <div className="actions">{actions}</div> : null}
      </div>
      {children}
    </>
  );
}

export function Loading({ what }: { what?: string }) {
  return (
    <p className="muted" role="status">
      Loading{what ? ` ${what}` : ''}…
    </p>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const status = error instanceof ApiError ? ` (${error.status})` : '';
  return (
    <p className="error" role="alert">
      {message}
      {status}
    </p>
  );
}

export function NotFound() {
  return (
    <Page title="Not found">
      <p>
        There is nothing here. <Link to="/">Back home</Link>.
      </p>
    </Page>
  );
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

export function When({ at, timeOnly: t }: { at: string | null | undefined; timeOnly?: boolean }) {
  if (!at) return <span className="muted">—</span>;
  const d = new Date(at);
  return <time dateTime={at}>{t ? timeOnly.format(d) : dateTime.format(d)}</time>;
}

const GOOD = new Set(['completed', 'connected', 'ok', 'booked', 'approved', 'edited', 'sent', 'delivered', 'replied']);
const BAD = new Set(['failed', 'broken', 'error', 'rejected', 'cancelled', 'bounced', 'opted_out', 'suppressed']);
const LIVE = new Set(['in-progress', 'ringing', 'queued', 'running', 'active', 'pending', 'dialing']);

export function Badge({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  const tone = GOOD.has(value) ? 'good' : BAD.has(value) ? 'bad' : LIVE.has(value) ? 'live' : 'plain';
  return <span className={`badge badge-${tone}`}>{value.replaceAll('_', ' ')}</span>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** The start of today, local time, as an ISO string (for `since=`). */
export function startOfToday(): string {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

export function canAct(scopes: string[] | undefined) {
  return Boolean(scopes?.includes('act'));
}
export function canAdmin(scopes: string[] | undefined) {
  return Boolean(scopes?.includes('admin'));
}

/** A column heading: its words, or words for screen readers only (an actions column). */
export type Column = string | { srOnly: string };

/**
 * The console's one list table: scrolls in place on a phone, labelled for screen readers, headed by
 * its columns; the rows are the children (`<tr>`s).
 */
export function ListTable({ label, columns, children }: { label: string; columns: Column[]; children: ReactNode }) {
  return (
    <div className="table-wrap">
      <table className="list" aria-label={label}>
        <thead>
          <tr>
            {columns.map((c) =>
              typeof c === 'string' ? (
                <th scope="col" key={c}>
                  {c}
                </th>
              ) : (
                <th scope="col" key={c.srOnly}>
                  <span className="sr-only">{c.srOnly}</span>
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A titled card of a page (Settings' sections): its id is the anchor the section links go to. */
export function Section({ id, title, children }: { id: string; title: ReactNode; children: ReactNode }) {
  return (
    <section className="card" id={id} aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}
