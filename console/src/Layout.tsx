import { useEffect } from 'react';
import { Link, NavLink, Outlet, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, api, post } from './api';
import { useMe } from './session';
import { Loading } from './ui';

const NAV = [
  { to: '/', label: 'Home', end: true },
  { to: '/calls', label: 'Calls' },
  { to: '/campaigns', label: 'Campaigns' },
  { to: '/approvals', label: 'Approvals' },
  { to: '/contacts', label: 'Contacts' },
  { to: '/insights', label: 'Insights' },
  { to: '/agents', label: 'Agents' },
  { to: '/settings', label: 'Settings' },
];

/** The frame of every signed-in page: skip link, header with the tenant and user, navigation, main. */
export function Layout() {
  const me = useMe();
  const navigate = useNavigate();
  const location = useLocation();
  const queryClient = useQueryClient();

  useEffect(() => {
    const out = () => {
      queryClient.clear();
      navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    };
    window.addEventListener('sb:signed-out', out);
    return () => window.removeEventListener('sb:signed-out', out);
  }, [navigate, location, queryClient]);

  useEffect(() => {
    if (me.error instanceof ApiError && me.error.status === 401) {
      navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    }
  }, [me.error, navigate, location]);

  // Move focus to the new page's heading, so keyboard and screen-reader users know the page changed.
  useEffect(() => {
    document.getElementById('page-title')?.focus({ preventScroll: false });
  }, [location.pathname]);

  const signOut = async () => {
    if (me.data?.platformAdmin) await api('DELETE', '/v1/auth/admin').catch(() => undefined);
    else await post('/v1/auth/signout').catch(() => undefined);
    queryClient.clear();
    navigate('/signin', { replace: true });
  };

  if (me.isPending) return <Loading what="your session" />;
  if (me.error) {
    return (
      <main id="main" className="narrow">
        <p role="alert">Could not reach the API: {me.error.message}</p>
      </main>
    );
  }
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <div className="brand">
          <span aria-hidden="true" className="logo">
            ☎
          </span>{' '}
          Switchboard
        </div>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.to}>
                <NavLink to={n.to} end={n.end}>
                  {n.label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span className="tenant" title="tenant">
            {me.data.tenantId}
          </span>
          {me.data.platformAdmin ? (
            <span className="user">
              platform admin · <Link to="/admin">Switch tenant</Link>
            </span>
          ) : null}
          {me.data.user ? (
            <span className="user">
              {me.data.user.email} ({me.data.user.role})
            </span>
          ) : null}
          <button type="button" className="link" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <Outlet />
      </main>
    </>
  );
}
