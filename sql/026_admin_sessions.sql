-- Platform admin sessions (issue 16): the platform admin key, exchanged once at the console's
-- sign-in, becomes a cookie session that views one tenant at a time as that tenant's owner would.
-- Not tenant data: read and written only as switchboard_system (the cookie names no tenant); every
-- switch is recorded in the audit log of the tenant switched to.
create table admin_sessions (
  id           text primary key,
  token_hash   bytea not null unique,
  -- The tenant being viewed; null while the admin picks one.
  tenant_id    text references tenants(id) on delete set null,
  created_at   timestamptz not null default now(),
  expires_at   timestamptz not null,
  revoked_at   timestamptz
);
-- The policy every tenant table has; no grant to switchboard_tenant, so a tenant reads none of it.
alter table admin_sessions enable row level security;
create policy tenant_isolation on admin_sessions using (tenant_id = current_setting('app.tenant_id', true));

select switchboard_force_rls();
