import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useMutation, useQuery } from '@tanstack/react-query';
import { ApiError, get, post, type CampaignListItem, type ImportResult, type RowError } from '../api';
import { parseCsv } from '../csv';
import { useMe } from '../session';
import { Badge, canAct, Empty, ErrorNote, Loading, Page, When, ListTable } from '../ui';

export function Campaigns() {
  const me = useMe();
  const list = useQuery({
    queryKey: ['campaigns'],
    queryFn: () => get<{ campaigns: CampaignListItem[] }>('/v1/campaigns?limit=100').then((r) => r.campaigns),
    refetchInterval: 5000,
  });
  return (
    <Page
      title="Campaigns"
      actions={
        canAct(me.data?.scopes) ? (
          <Link className="button primary" to="/campaigns/new">
            New campaign
          </Link>
        ) : null
      }
    >
      {list.isPending ? <Loading what="campaigns" /> : null}
      <ErrorNote error={list.error} />
      {list.data && !list.data.length ? <Empty>No campaigns yet.</Empty> : null}
      {list.data?.length ? (
        <ListTable label="Campaigns" columns={['Name', 'Status', 'Leads', 'Created']}>
          {list.data.map((c) => (
            <tr key={c.id}>
              <td>
                <Link to={`/campaigns/${c.id}`}>{c.name}</Link>
              </td>
              <td>
                <Badge value={c.status} />
              </td>
              <td>{c.leads}</td>
              <td>
                <When at={c.createdAt} />
              </td>
            </tr>
          ))}
        </ListTable>
      ) : null}
    </Page>
  );
}

const SAMPLE_CSV = `email,firstName,lastName,company
ada@example.com,Ada,Lovelace,Analytical Engines
grace@example.com,Grace,Hopper,Compilers Inc`;

const ALL_WEEK = { startHour: 0, endHour: 24, days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] };

export interface Created {
  id: string;
  status: string;
  workflowId: string;
  leads: ImportResult;
}

/** The CSV's rows beside the server's verdict on each: what was refused, and why, next to the row. */
export function CsvRows({ csv, errors }: { csv: string; errors: RowError[] }) {
  const rows = parseCsv(csv);
  const header = rows[0] ?? [];
  const byRow = new Map<number, RowError[]>();
  for (const e of errors) byRow.set(e.row, [...(byRow.get(e.row) ?? []), e]);
  return (
    <div className="table-wrap">
      <table className="list csv" aria-label="Imported rows">
        <thead>
          <tr>
            <th scope="col">Row</th>
            {header.map((h, i) => (
              <th scope="col" key={i}>
                {h}
              </th>
            ))}
            <th scope="col">Result</th>
          </tr>
        </thead>
        <tbody>
          {rows.slice(1).map((r, i) => {
            const n = i + 2; // the header is row 1, as the API counts
            const errs = byRow.get(n);
            return (
              <tr key={n} className={errs ? 'row-error' : undefined} data-row={n}>
                <th scope="row">{n}</th>
                {header.map((_, j) => (
                  <td key={j}>{r[j] ?? ''}</td>
                ))}
                <td className={errs ? 'error' : 'ok'}>
                  {errs ? errs.map((e) => `${e.field}: ${e.message}`).join('; ') : 'imported'}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function NewCampaign() {
  const navigate = useNavigate();
  const [csv, setCsv] = useState(SAMPLE_CSV);
  const [created, setCreated] = useState<Created | null>(null);
  const [sentCsv, setSentCsv] = useState('');
  const create = useMutation({
    mutationFn: (body: unknown) => post<Created>('/v1/campaigns', body),
    onSuccess: (res) => setCreated(res),
  });
  const start = useMutation({
    mutationFn: (id: string) => post(`/v1/campaigns/${id}/start`),
    onSuccess: (_r, id) => navigate(`/campaigns/${id}`),
  });

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const s = (k: string) => String(f.get(k) ?? '').trim();
    const prompt = s('prompt');
    setSentCsv(csv);
    create.mutate({
      name: s('name'),
      goal: s('goal'),
      audience: { type: 'csv', csv },
      sequence: [
        prompt
          ? { type: 'email', prompt, subject: s('subject') || undefined, template: s('template') || undefined }
          : { type: 'email', subject: s('subject'), template: s('template') },
      ],
      sender: {
        email: s('senderEmail'),
        ...(s('senderName') ? { name: s('senderName') } : {}),
        postalAddress: s('postalAddress'),
      },
      policy: {
        reviewMode: f.get('reviewMode') === 'on',
        ...(f.get('allWeek') === 'on' ? { sendWindow: ALL_WEEK } : {}),
      },
    });
  };

  const onFile = async (file: File | undefined) => {
    if (file) setCsv(await file.text());
  };

  return (
    <Page title="New campaign">
      {created ? (
        <section className="card stack" aria-labelledby="imported">
          <h2 id="imported">Campaign created</h2>
          <p role="status">
            {created.leads.imported} lead(s) imported
            {created.leads.errors.length ? `, ${created.leads.errors.length} row problem(s) — see the rows below` : ''}.
          </p>
          <CsvRows csv={sentCsv} errors={created.leads.errors} />
          <ErrorNote error={start.error} />
          <div className="row">
            <button type="button" className="primary" onClick={() => start.mutate(created.id)}>
              Start the campaign
            </button>
            <Link className="button" to={`/campaigns/${created.id}`}>
              Open it without starting
            </Link>
          </div>
        </section>
      ) : (
        <form className="stack card" onSubmit={submit} aria-label="New campaign">
          <label>
            Name
            <input name="name" required maxLength={200} defaultValue="Spring check-ups" />
          </label>
          <label>
            Goal
            <input name="goal" required maxLength={2000} defaultValue="Book a check-up appointment" />
          </label>
          <fieldset>
            <legend>Email</legend>
            <label>
              Subject
              <input name="subject" defaultValue="A check-up for {{company}}?" />
            </label>
            <label>
              Template (used when there is no prompt, or when the model fails)
              <textarea
                name="template"
                rows={4}
                defaultValue={
                  'Hi {{firstName}},\n\nWould you like to book your spring check-up?\n\nBest,\n{{senderName}}'
                }
              />
            </label>
            <label>
              Or a prompt for Claude (optional)
              <textarea name="prompt" rows={2} />
            </label>
          </fieldset>
          <fieldset>
            <legend>Sender</legend>
            <label>
              Sender email (your verified SendGrid sender)
              <input name="senderEmail" type="email" required defaultValue="desk@clinic.example" />
            </label>
            <label>
              Sender name
              <input name="senderName" defaultValue="Front Desk" />
            </label>
            <label>
              Postal address (printed in every email)
              <input
                name="postalAddress"
                required
                minLength={10}
                defaultValue="1 Harbour Street, Springfield, IL 62701"
              />
            </label>
          </fieldset>
          <fieldset>
            <legend>Policy</legend>
            <label className="check">
              <input type="checkbox" name="reviewMode" /> Review mode: hold every draft for approval
            </label>
            <label className="check">
              <input type="checkbox" name="allWeek" /> Send at any hour, every day (default: Mon–Fri 9–17, the
              lead&apos;s time)
            </label>
          </fieldset>
          <label>
            Leads CSV (header row: email, phone, firstName, lastName, company, timezone, …)
            <textarea name="csv" rows={8} value={csv} onChange={(e) => setCsv(e.target.value)} spellCheck={false} />
          </label>
          <label>
            Or load a CSV file
            <input type="file" accept=".csv,text/csv" onChange={(e) => void onFile(e.target.files?.[0])} />
          </label>
          <ErrorNote error={create.error instanceof ApiError ? create.error : null} />
          <button type="submit" className="primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create the campaign'}
          </button>
        </form>
      )}
    </Page>
  );
}
