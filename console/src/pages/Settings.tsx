import { useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import {
  api,
  get,
  post,
  qs,
  type ApiKeyInfo,
  type ConnectedClient,
  type AuditRow,
  type Connection,
  type SyncStatus,
  type TenantUser,
  type AgentInfo,
  type WebsiteWidget,
} from '../api';
import { useMe } from '../session';
import { Badge, canAct, canAdmin, Empty, ErrorNote, ListTable, Loading, Page, Section, When } from '../ui';

const PROVIDER_NAMES: Record<Connection['provider'], string> = {
  ghl: 'GoHighLevel',
  vapi: 'Vapi',
  retell: 'Retell',
  sendgrid: 'SendGrid',
  anthropic: 'Claude (Anthropic)',
};

export function Settings() {
  const me = useMe();
  const admin = canAdmin(me.data?.scopes);
  const [params] = useSearchParams();
  return (
    <Page title="Settings">
      {params.get('connected') === 'ghl' ? (
        <p className="notice" role="status">
          GoHighLevel is connected (location {params.get('location')}).
        </p>
      ) : null}
      <nav aria-label="Settings sections" className="subnav">
        <a href="#connections">Connections</a> <a href="#sync">CRM sync</a> <a href="#voice">Voice</a>{' '}
        {admin ? (
          <>
            <a href="#widget">Website chat</a> <a href="#users">Users</a> <a href="#keys">API keys</a>{' '}
            <a href="#mcp-clients">MCP clients</a>{' '}
          </>
        ) : null}
        <a href="#audit">Audit log</a>
      </nav>
      <Connections admin={admin} />
      <Sync mayAct={canAct(me.data?.scopes)} admin={admin} />
      <Voice admin={admin} />
      {admin ? <WebsiteChat /> : null}
      {admin && me.data ? <Users /> : null}
      {admin && me.data ? <ApiKeys tenantId={me.data.tenantId} /> : null}
      {admin ? <McpClients /> : null}
      <Audit />
    </Page>
  );
}

function Connections({ admin }: { admin: boolean }) {
  const queryClient = useQueryClient();
  const list = useQuery({
    queryKey: ['connections'],
    queryFn: () => get<{ connections: Connection[] }>('/v1/connections').then((r) => r.connections),
  });
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ['connections'] });
  const oauth = useMutation({
    mutationFn: () => post<{ url: string }>('/v1/connections/ghl/authorize', { returnTo: '/console/settings' }),
    onSuccess: (r) => window.location.assign(r.url),
  });
  const disconnect = useMutation({
    mutationFn: (p: string) => api('DELETE', `/v1/connections/${p}`),
    onSuccess: refresh,
  });
  return (
    <Section id="connections" title="Provider connections">
      {list.isPending ? <Loading what="connections" /> : null}
      <ErrorNote error={list.error} />
      <ul className="connections">
        {list.data?.map((c) => (
          <li key={c.provider} className={`conn conn-${c.state}`} data-provider={c.provider}>
            <div className="conn-head">
              <strong>{PROVIDER_NAMES[c.provider]}</strong> <Badge value={c.state} />{' '}
              <span className="muted">
                {c.mode}
                {c.via ? `, ${c.via.replace('_', ' ')}` : ''}
                {c.account ? `, ${c.account}` : ''}
                {c.secretHint ? ` (${c.secretHint})` : ''}
              </span>
            </div>
            {c.lastError ? (
              <p className="error">
                <strong>Why:</strong> {c.lastError}
              </p>
            ) : null}
            {c.expiresAt ? (
              <p className="muted small">
                Token expires <When at={c.expiresAt} /> (refreshed ahead of it)
              </p>
            ) : null}
            {admin && c.state !== 'missing' && c.via !== 'platform' ? (
              <button
                type="button"
                className="link"
                onClick={() => {
                  if (window.confirm(`Disconnect ${PROVIDER_NAMES[c.provider]}?`)) disconnect.mutate(c.provider);
                }}
              >
                Disconnect
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {admin ? (
        <>
          <div className="row">
            <button type="button" className="primary" onClick={() => oauth.mutate()} disabled={oauth.isPending}>
              Connect GoHighLevel (OAuth)
            </button>
          </div>
          <ErrorNote error={oauth.error} />
          <details>
            <summary>Paste keys instead</summary>
            <KeyForms onDone={refresh} />
          </details>
        </>
      ) : null}
    </Section>
  );
}

function KeyForm({
  title,
  path,
  fields,
  onDone,
}: {
  title: string;
  path: string;
  fields: { name: string; label: string; type?: string; optional?: boolean }[];
  onDone: () => void;
}) {
  const save = useMutation({ mutationFn: (body: Record<string, string>) => api('PUT', path, body), onSuccess: onDone });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const body: Record<string, string> = {};
    for (const field of fields) {
      const v = String(f.get(field.name) ?? '').trim();
      if (v) body[field.name] = v;
    }
    save.mutate(body);
  };
  return (
    <form className="stack sub" onSubmit={submit} aria-label={title}>
      <h3>{title}</h3>
      {fields.map((field) => (
        <label key={field.name}>
          {field.label}
          <input name={field.name} type={field.type ?? 'text'} required={!field.optional} autoComplete="off" />
        </label>
      ))}
      <ErrorNote error={save.error} />
      {save.isSuccess ? <p role="status">Connected.</p> : null}
      <div>
        <button type="submit" disabled={save.isPending}>
          Save
        </button>
      </div>
    </form>
  );
}

function KeyForms({ onDone }: { onDone: () => void }) {
  return (
    <div className="grid-2">
      <KeyForm
        title="GoHighLevel Private Integration Token"
        path="/v1/connections/ghl"
        fields={[
          { name: 'token', label: 'Token (pit-…)', type: 'password' },
          { name: 'locationId', label: 'Location id' },
        ]}
        onDone={onDone}
      />
      <KeyForm
        title="Vapi"
        path="/v1/connections/vapi"
        fields={[{ name: 'apiKey', label: 'Private API key', type: 'password' }]}
        onDone={onDone}
      />
      <KeyForm
        title="SendGrid"
        path="/v1/connections/sendgrid"
        fields={[
          { name: 'apiKey', label: 'API key', type: 'password' },
          { name: 'senderEmail', label: 'Verified sender email', type: 'email' },
          { name: 'eventWebhookPublicKey', label: 'Event Webhook verification key', optional: true },
        ]}
        onDone={onDone}
      />
      <KeyForm
        title="Claude (Anthropic)"
        path="/v1/connections/anthropic"
        fields={[{ name: 'apiKey', label: 'API key', type: 'password' }]}
        onDone={onDone}
      />
    </div>
  );
}

function Sync({ mayAct, admin }: { mayAct: boolean; admin: boolean }) {
  const queryClient = useQueryClient();
  const connections = useQuery({
    queryKey: ['connections'],
    queryFn: () => get<{ connections: Connection[] }>('/v1/connections').then((r) => r.connections),
  });
  const location = connections.data?.find((c) => c.provider === 'ghl' && c.state !== 'missing')?.account;
  const current = useQuery({
    queryKey: ['sync-schedule'],
    enabled: Boolean(location),
    queryFn: () => get<{ syncEveryMinutes: number; paused: boolean; nextRunAt: string | null }>('/v1/crm/connection'),
  });
  const schedule = useMutation({
    mutationFn: (syncEveryMinutes: number) =>
      api<{ syncEveryMinutes: number }>('PUT', '/v1/crm/connection', { locationId: location, syncEveryMinutes }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ['sync-schedule'] }),
  });
  const status = useQuery({
    queryKey: ['sync'],
    queryFn: () => get<SyncStatus>('/v1/sync/status'),
    refetchInterval: (q) => (q.state.data?.state === 'running' ? 1000 : 10_000),
  });
  const now = useMutation({
    mutationFn: () => post('/v1/sync', { mode: 'auto' }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ['sync'] }),
  });
  const s = status.data;
  return (
    <Section id="sync" title="CRM sync">
      {status.isPending ? <Loading what="the sync status" /> : null}
      <ErrorNote error={status.error} />
      {s ? (
        <>
          <p>
            <Badge value={s.state} /> {s.kind ? `${s.kind} sync` : ''} {s.reason ? `(${s.reason})` : ''} —{' '}
            {s.cachedContacts} contacts cached, last finished <When at={s.lastFinishedAt} />
          </p>
          {s.state === 'running' ? (
            <label className="progress-label">
              {s.contacts} of {s.total ?? '?'} contacts
              {s.etaS !== null ? `, about ${Math.ceil(s.etaS)} s left` : ''}
              <progress max={s.total ?? undefined} value={s.total ? s.contacts : undefined} />
            </label>
          ) : null}
          {s.lastError ? <p className="error">Last error: {s.lastError}</p> : null}
        </>
      ) : null}
      {current.data ? (
        <p data-testid="sync-schedule">
          {current.data.paused ? (
            <>Scheduled syncs are paused (every {current.data.syncEveryMinutes} minutes when on).</>
          ) : (
            <>
              Syncs every {current.data.syncEveryMinutes} minutes; next <When at={current.data.nextRunAt} />.
            </>
          )}
        </p>
      ) : null}
      {mayAct ? (
        <button type="button" onClick={() => now.mutate()} disabled={now.isPending || s?.state === 'running'}>
          Sync now
        </button>
      ) : null}
      <ErrorNote error={now.error} />
      {admin && location && current.data ? (
        <form
          className="row"
          aria-label="Sync schedule"
          onSubmit={(e) => {
            e.preventDefault();
            schedule.mutate(Number(new FormData(e.currentTarget).get('every')));
          }}
        >
          <label>
            Sync every (minutes)
            <input
              name="every"
              type="number"
              min={1}
              max={1440}
              required
              defaultValue={current.data.syncEveryMinutes}
            />
          </label>
          <button type="submit" disabled={schedule.isPending}>
            Save the schedule
          </button>
        </form>
      ) : null}
      <ErrorNote error={schedule.error} />
      {schedule.data ? <p role="status">Saved: syncs every {schedule.data.syncEveryMinutes} minutes.</p> : null}
    </Section>
  );
}

interface VoiceSettings {
  greeting: string;
  instructions: string;
  calendarId?: string;
  timezone: string;
  defaultProvider: 'vapi' | 'retell';
  callingHours: { start: string; end: string; days: number[] };
  [k: string]: unknown;
}

function Voice({ admin }: { admin: boolean }) {
  const queryClient = useQueryClient();
  const settings = useQuery({ queryKey: ['voice'], queryFn: () => get<VoiceSettings>('/v1/voice/settings') });
  const save = useMutation({
    mutationFn: (body: VoiceSettings) => api<VoiceSettings>('PUT', '/v1/voice/settings', body),
    onSuccess: (v) => queryClient.setQueryData(['voice'], v),
  });
  const v = settings.data;
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (!v) return;
    const f = new FormData(e.currentTarget);
    const s = (k: string) => String(f.get(k) ?? '').trim();
    const calendarId = s('calendarId');
    const next: VoiceSettings = {
      ...v,
      greeting: s('greeting'),
      instructions: s('instructions'),
      timezone: s('timezone'),
      defaultProvider: s('defaultProvider') === 'retell' ? 'retell' : 'vapi',
      callingHours: { ...v.callingHours, start: s('start'), end: s('end') },
    };
    if (calendarId) next.calendarId = calendarId;
    else delete next.calendarId;
    save.mutate(next);
  };
  return (
    <Section id="voice" title="Voice settings">
      {settings.isPending ? <Loading what="voice settings" /> : null}
      <ErrorNote error={settings.error} />
      {v ? (
        <form className="stack" onSubmit={submit} aria-label="Voice settings">
          <label>
            Greeting
            <input name="greeting" defaultValue={v.greeting} disabled={!admin} />
          </label>
          <label>
            Instructions for the agent
            <textarea name="instructions" rows={3} defaultValue={v.instructions} disabled={!admin} />
          </label>
          <div className="row">
            <label>
              Calendar id
              <input name="calendarId" defaultValue={v.calendarId ?? ''} disabled={!admin} />
            </label>
            <label>
              Time zone
              <input name="timezone" defaultValue={v.timezone} disabled={!admin} />
            </label>
            <label>
              Provider
              <select name="defaultProvider" defaultValue={v.defaultProvider} disabled={!admin}>
                <option value="vapi">Vapi</option>
                <option value="retell">Retell</option>
              </select>
            </label>
          </div>
          <div className="row">
            <label>
              Outbound calls from
              <input name="start" defaultValue={v.callingHours.start} pattern="\d{2}:\d{2}" disabled={!admin} />
            </label>
            <label>
              until
              <input name="end" defaultValue={v.callingHours.end} pattern="\d{2}:\d{2}" disabled={!admin} />
            </label>
          </div>
          <ErrorNote error={save.error} />
          {save.isSuccess ? <p role="status">Saved.</p> : null}
          {admin ? (
            <div>
              <button type="submit" disabled={save.isPending}>
                Save voice settings
              </button>
            </div>
          ) : null}
        </form>
      ) : null}
    </Section>
  );
}

/**
 * The embeddable website chat: on or off, the persona visitors talk to, the exact origins whose
 * pages may show it, the greeting, the knowledge visitors' chats may read; and the script tag.
 */
function WebsiteChat() {
  const queryClient = useQueryClient();
  const widget = useQuery({
    queryKey: ['widget'],
    queryFn: () => get<{ widget: WebsiteWidget | null }>('/v1/widget').then((r) => r.widget),
  });
  const agents = useQuery({
    queryKey: ['agents'],
    queryFn: () => get<{ agents: AgentInfo[] }>('/v1/agents').then((r) => r.agents.filter((a) => a.enabled)),
  });
  const save = useMutation({
    mutationFn: (body: Omit<WebsiteWidget, 'id' | 'updatedAt' | 'snippet'>) =>
      api<WebsiteWidget>('PUT', '/v1/widget', body),
    onSuccess: (w) => queryClient.setQueryData(['widget'], w),
  });
  const w = widget.data;
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const s = (k: string) => String(f.get(k) ?? '').trim();
    save.mutate({
      enabled: f.get('enabled') === 'on',
      agent: s('agent'),
      allowedOrigins: s('origins')
        .split(/[\s,]+/)
        .filter(Boolean),
      greeting: s('greeting'),
      knowledgeScope: s('scope') || '/public',
    });
  };
  return (
    <Section id="widget" title="Website chat">
      <p className="muted">
        A chat bubble on your own website: visitors give their name and email (with consent), then talk to the persona
        you pick, which may only read the knowledge under the scope below. Each visitor becomes a GoHighLevel contact
        with the chat as a note.
      </p>
      {widget.isPending || agents.isPending ? <Loading what="the website chat" /> : null}
      <ErrorNote error={widget.error ?? agents.error} />
      {widget.isSuccess && agents.data ? (
        <form className="stack" aria-label="Website chat" onSubmit={submit} key={w?.updatedAt ?? 'new'}>
          <label className="check">
            <input type="checkbox" name="enabled" defaultChecked={w?.enabled ?? false} /> Show the chat on my site
          </label>
          <div className="row">
            <label>
              Persona
              <select name="agent" defaultValue={w?.agent ?? agents.data[0]?.id}>
                {agents.data.map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.name}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Knowledge visitors may read
              <input name="scope" defaultValue={w?.knowledgeScope ?? '/public'} />
            </label>
          </div>
          <label>
            Sites allowed (exact origins, one per line, e.g. https://www.example.com)
            <textarea name="origins" rows={2} defaultValue={w?.allowedOrigins.join('\n') ?? ''} />
          </label>
          <label>
            First words to visitors
            <input name="greeting" maxLength={500} defaultValue={w?.greeting ?? ''} />
          </label>
          <ErrorNote error={save.error} />
          {save.isSuccess ? <p role="status">Saved.</p> : null}
          <div>
            <button type="submit" disabled={save.isPending}>
              Save the website chat
            </button>
          </div>
        </form>
      ) : null}
      {w ? (
        <p>
          Put this tag on each page:{' '}
          <code className="break" data-testid="widget-snippet">
            {w.snippet}
          </code>
        </p>
      ) : null}
    </Section>
  );
}

function Users() {
  const queryClient = useQueryClient();
  const list = useQuery({
    queryKey: ['users'],
    queryFn: () =>
      get<{ users: TenantUser[]; invites: { id: string; email: string; role: string; expiresAt: string }[] }>(
        '/v1/users',
      ),
  });
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ['users'] });
  const invite = useMutation({
    mutationFn: (body: { email: string; role: string }) =>
      post<{ inviteUrl: string; emailed: boolean }>('/v1/users/invites', body),
    onSuccess: refresh,
  });
  const setRole = useMutation({
    mutationFn: ({ id, role }: { id: string; role: string }) => api('PATCH', `/v1/users/${id}`, { role }),
    onSuccess: refresh,
  });
  const remove = useMutation({ mutationFn: (id: string) => api('DELETE', `/v1/users/${id}`), onSuccess: refresh });
  return (
    <Section id="users" title="Users and roles">
      <p className="muted small">Owners: everything; operators: read and act; viewers: read only.</p>
      <ErrorNote error={list.error ?? setRole.error ?? remove.error} />
      {list.data ? (
        <ListTable label="Users" columns={['Email', 'Role', 'Since', { srOnly: 'Actions' }]}>
          {list.data.users.map((u) => (
            <tr key={u.id}>
              <td>{u.email}</td>
              <td>
                <select
                  aria-label={`Role of ${u.email}`}
                  value={u.role}
                  onChange={(e) => setRole.mutate({ id: u.id, role: e.target.value })}
                >
                  <option>owner</option>
                  <option>operator</option>
                  <option>viewer</option>
                </select>
              </td>
              <td>
                <When at={u.createdAt} />
              </td>
              <td>
                <button
                  type="button"
                  className="link"
                  onClick={() => {
                    if (window.confirm(`Remove ${u.email}?`)) remove.mutate(u.id);
                  }}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {list.data.invites.map((i) => (
            <tr key={i.id}>
              <td>{i.email}</td>
              <td>{i.role}</td>
              <td className="muted">
                invited, until <When at={i.expiresAt} />
              </td>
              <td />
            </tr>
          ))}
        </ListTable>
      ) : null}
      <form
        className="row"
        aria-label="Invite a person"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          invite.mutate({ email: String(f.get('email')), role: String(f.get('role')) });
        }}
      >
        <label>
          Email
          <input name="email" type="email" required />
        </label>
        <label>
          Role
          <select name="role" defaultValue="operator">
            <option>owner</option>
            <option>operator</option>
            <option>viewer</option>
          </select>
        </label>
        <button type="submit">Invite</button>
      </form>
      <ErrorNote error={invite.error} />
      {invite.data ? (
        <p role="status">
          Invite {invite.data.emailed ? 'emailed' : 'created'}. The one-time link (shown once):{' '}
          <code className="break">{invite.data.inviteUrl}</code>
        </p>
      ) : null}
    </Section>
  );
}

function ApiKeys({ tenantId }: { tenantId: string }) {
  const queryClient = useQueryClient();
  const base = `/v1/admin/tenants/${encodeURIComponent(tenantId)}/keys`;
  const list = useQuery({ queryKey: ['keys'], queryFn: () => get<{ keys: ApiKeyInfo[] }>(base).then((r) => r.keys) });
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ['keys'] });
  const create = useMutation({
    mutationFn: (body: { name: string; scopes: string[] }) => post<{ key: string }>(base, body),
    onSuccess: refresh,
  });
  const revoke = useMutation({ mutationFn: (id: string) => api('DELETE', `${base}/${id}`), onSuccess: refresh });
  return (
    <Section id="keys" title="API keys">
      <ErrorNote error={list.error ?? revoke.error} />
      {list.data ? (
        <ListTable label="API keys" columns={['Name', 'Key', 'Scopes', 'Last used', { srOnly: 'Actions' }]}>
          {list.data.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td>
              <td>
                <code>{k.keyPrefix}…</code>
              </td>
              <td>{k.scopes.join(', ')}</td>
              <td>{k.revokedAt ? 'revoked' : <When at={k.lastUsedAt} />}</td>
              <td>
                {k.revokedAt ? null : (
                  <button
                    type="button"
                    className="link"
                    onClick={() => {
                      if (window.confirm(`Revoke the key “${k.name}”?`)) revoke.mutate(k.id);
                    }}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </ListTable>
      ) : null}
      <form
        className="row"
        aria-label="Create an API key"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          create.mutate({ name: String(f.get('name')), scopes: f.getAll('scope').map(String) });
        }}
      >
        <label>
          Name
          <input name="name" required />
        </label>
        <fieldset className="inline">
          <legend>Scopes</legend>
          {['read', 'act', 'admin'].map((s) => (
            <label key={s} className="check">
              <input type="checkbox" name="scope" value={s} defaultChecked={s === 'read'} /> {s}
            </label>
          ))}
        </fieldset>
        <button type="submit">Create key</button>
      </form>
      <ErrorNote error={create.error} />
      {create.data ? (
        <p role="status">
          The new key, shown once: <code className="break">{create.data.key}</code>
        </p>
      ) : null}
    </Section>
  );
}

/**
 * OAuth clients (Claude and other MCP hosts) an owner's users connected to this tenant's /mcp.
 * Revoking one stops every grant and token of it here at once, so it asks first, on the page.
 */
function McpClients() {
  const queryClient = useQueryClient();
  const [asking, setAsking] = useState<string | null>(null);
  const list = useQuery({
    queryKey: ['oauth-clients'],
    queryFn: () => get<{ clients: ConnectedClient[] }>('/v1/oauth/clients').then((r) => r.clients),
  });
  const revoke = useMutation({
    mutationFn: (clientId: string) =>
      api<{ revokedGrants: number }>('DELETE', `/v1/oauth/clients/${encodeURIComponent(clientId)}`),
    onSuccess: () => {
      setAsking(null);
      void queryClient.invalidateQueries({ queryKey: ['oauth-clients'] });
    },
  });
  return (
    <Section id="mcp-clients" title="Connected MCP clients">
      <p className="muted small">
        Apps connected to this tenant&rsquo;s MCP endpoint through OAuth (for example Claude), with who connected them.
      </p>
      {list.isPending ? <Loading what="connected clients" /> : null}
      <ErrorNote error={list.error ?? revoke.error} />
      {revoke.data ? <p role="status">Revoked: {revoke.data.revokedGrants} grant(s) stopped working.</p> : null}
      {list.data && !list.data.length ? <Empty>No MCP client is connected.</Empty> : null}
      {list.data?.length ? (
        <ListTable
          label="Connected MCP clients"
          columns={['Client', 'Id / URL', 'Connected by', 'Scopes', 'Connected', { srOnly: 'Actions' }]}
        >
          {list.data.map((c) => (
            <tr key={c.clientId} data-client-id={c.clientId}>
              <td>{c.clientName ?? <span className="muted">unnamed</span>}</td>
              <td>
                <code className="break">{c.clientId}</code>
              </td>
              <td>{c.users.map((u) => u.email ?? u.userId).join(', ')}</td>
              <td>{[...new Set(c.users.flatMap((u) => u.scopes))].join(', ')}</td>
              <td>
                <When at={c.users.map((u) => u.connectedAt).sort()[0]} />
              </td>
              <td>
                {asking === c.clientId ? (
                  <span className="row" role="group" aria-label={`Revoke ${c.clientName ?? c.clientId}?`}>
                    <span>Disconnect it for everyone?</span>
                    <button
                      type="button"
                      className="danger"
                      disabled={revoke.isPending}
                      onClick={() => revoke.mutate(c.clientId)}
                    >
                      Yes, revoke
                    </button>
                    <button type="button" onClick={() => setAsking(null)}>
                      Cancel
                    </button>
                  </span>
                ) : (
                  <button type="button" className="link" onClick={() => setAsking(c.clientId)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </ListTable>
      ) : null}
    </Section>
  );
}

function Audit() {
  const [filter, setFilter] = useState<{ tool?: string; workflowId?: string; since?: string }>({});
  const rows = useQuery({
    queryKey: ['audit', filter],
    queryFn: () => get<{ rows: AuditRow[] }>(`/v1/audit${qs({ ...filter, limit: 100 })}`).then((r) => r.rows),
  });
  return (
    <Section id="audit" title="Audit log">
      <form
        className="filters"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          const s = (k: string) => String(f.get(k) ?? '').trim() || undefined;
          const day = s('since');
          setFilter({
            tool: s('tool'),
            workflowId: s('workflowId'),
            since: day ? new Date(`${day}T00:00:00`).toISOString() : undefined,
          });
        }}
      >
        <label>
          Tool
          <input name="tool" placeholder="voice.book_appointment" />
        </label>
        <label>
          Workflow id
          <input name="workflowId" />
        </label>
        <label>
          Since
          <input name="since" type="date" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={rows.error} />
      {rows.data ? (
        <ListTable label="Audit log" columns={['When', 'Tool', 'Status', 'Source', 'ms', 'Workflow']}>
          {rows.data.map((r) => (
            <tr key={r.id}>
              <td>
                <When at={r.createdAt} />
              </td>
              <td>
                <code>{r.tool ?? r.activity ?? '—'}</code>
              </td>
              <td>
                <Badge value={r.status} />
                {r.error ? <span className="muted small"> {r.error}</span> : null}
              </td>
              <td>{r.source}</td>
              <td>{r.durationMs}</td>
              <td className="break small">{r.workflowId ?? '—'}</td>
            </tr>
          ))}
        </ListTable>
      ) : null}
    </Section>
  );
}
