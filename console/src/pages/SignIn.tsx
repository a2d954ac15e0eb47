import { useEffect, useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, api, get, post } from '../api';
import { ErrorNote } from '../ui';

/** Only a path of this console may be returned to after sign-in (no open redirect). */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function Card({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <main id="main" className="auth">
      <div className="card auth-card">
        <p className="brand">
          <span aria-hidden="true">☎</span> Switchboard
        </p>
        <h1>{title}</h1>
        {children}
      </div>
    </main>
  );
}

export function SignIn() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [tenantId, setTenantId] = useState('');
  const [askTenant, setAskTenant] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post('/v1/auth/signin', { email, password, ...(tenantId ? { tenantId } : {}) });
      queryClient.clear();
      navigate(safeNext(params.get('next')), { replace: true });
    } catch (err) {
      // The address has accounts in several tenants that this password opens: ask which.
      if (err instanceof ApiError && err.status === 409) setAskTenant(true);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title="Sign in">
      <form onSubmit={(e) => void submit(e)} className="stack">
        <label>
          Email
          <input
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </label>
        <label>
          Password
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {askTenant ? (
          <label>
            Tenant (your address has accounts in several)
            <input value={tenantId} required onChange={(e) => setTenantId(e.target.value)} />
          </label>
        ) : null}
        <ErrorNote error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p>
        <Link to="/reset">Forgot your password?</Link> · <Link to="/admin">Platform admin</Link>
      </p>
      <p className="muted small">
        First run on the sandbox? The demo owner&apos;s email and password are in <code>.data/demo-console-login</code>.
      </p>
    </Card>
  );
}

export function AcceptInvite() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const token = params.get('token') ?? '';
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await post('/v1/auth/invites/accept', { token, password });
      setDone(true);
      setTimeout(() => navigate('/signin', { replace: true }), 1500);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title="Accept your invitation">
      {done ? (
        <p role="status">Your account is ready. Taking you to sign-in…</p>
      ) : (
        <form onSubmit={(e) => void submit(e)} className="stack">
          <label>
            Choose a password (12 characters or more)
            <input
              type="password"
              autoComplete="new-password"
              minLength={12}
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          <ErrorNote error={error} />
          <button type="submit" className="primary" disabled={!token}>
            Create my account
          </button>
        </form>
      )}
    </Card>
  );
}

export function ResetPassword() {
  const [params] = useSearchParams();
  const token = params.get('token');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      if (token) {
        await post('/v1/auth/reset/confirm', { token, password });
        setMessage('Your password is changed. You can sign in now.');
      } else {
        const res = await post<{ message: string }>('/v1/auth/reset', { email });
        setMessage(res.message);
      }
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Card title={token ? 'Choose a new password' : 'Reset your password'}>
      {message ? (
        <p role="status">
          {message} <Link to="/signin">Sign in</Link>
        </p>
      ) : (
        <form onSubmit={(e) => void submit(e)} className="stack">
          {token ? (
            <label>
              New password (12 characters or more)
              <input
                type="password"
                autoComplete="new-password"
                minLength={12}
                required
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
          ) : (
            <label>
              Email
              <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </label>
          )}
          <ErrorNote error={error} />
          <button type="submit" className="primary">
            {token ? 'Set the password' : 'Email me a link'}
          </button>
        </form>
      )}
      <p>
        <Link to="/signin">Back to sign-in</Link>
      </p>
    </Card>
  );
}

interface TenantPick {
  current: string | null;
  tenants: { id: string; name: string }[];
}

/**
 * The platform admin: the admin key, once, for a console session (the key is not kept in the
 * browser); then a tenant to view as its owner would. Each switch is in that tenant's audit log.
 */
export function AdminSignIn() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [pick, setPick] = useState<TenantPick | null>(null);
  const [asked, setAsked] = useState(false);

  const load = async () => {
    try {
      setPick(await get<TenantPick>('/v1/auth/admin/tenants'));
    } catch (err) {
      // Not signed in as the admin yet (401), or signed in as a tenant's user (403): the key form.
      if (!(err instanceof ApiError && (err.status === 401 || err.status === 403))) setError(err);
    } finally {
      setAsked(true);
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const signIn = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await post('/v1/auth/admin', { adminKey: key });
      setKey('');
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const view = async (tenantId: string) => {
    setError(null);
    try {
      await api('PUT', '/v1/auth/admin/tenant', { tenantId });
      queryClient.clear();
      navigate('/', { replace: true });
    } catch (err) {
      setError(err);
    }
  };

  if (!asked) return <Card title="Platform admin">{null}</Card>;
  return (
    <Card title="Platform admin">
      {pick ? (
        <>
          <p>Pick the tenant to view. You see it as its owner would; the switch is written to its audit log.</p>
          <ul className="tenant-pick" aria-label="Tenants">
            {pick.tenants.map((t) => (
              <li key={t.id}>
                <button type="button" onClick={() => void view(t.id)} aria-current={t.id === pick.current || undefined}>
                  {t.name} <span className="muted">({t.id})</span>
                </button>
              </li>
            ))}
          </ul>
        </>
      ) : (
        <form onSubmit={(e) => void signIn(e)} className="stack">
          <label>
            Admin key
            <input type="password" autoComplete="off" required value={key} onChange={(e) => setKey(e.target.value)} />
          </label>
          <button type="submit" className="primary">
            Sign in as the platform admin
          </button>
        </form>
      )}
      <ErrorNote error={error} />
      <p>
        <Link to="/signin">Back to sign-in</Link>
      </p>
    </Card>
  );
}
