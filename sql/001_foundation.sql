-- Foundation: tenants, API keys, the audit trail and the readiness probe's scratch table.

-- The unprivileged role tenant-scoped transactions switch to, so row-level security applies even
-- when the connecting user is a superuser or owns the tables.
do $$
begin
  create role switchboard_tenant nologin;
exception when duplicate_object then null;
end $$;
grant switchboard_tenant to current_user;
grant usage on schema public to switchboard_tenant;

create table tenants (
  id          text primary key check (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name        text not null,
  created_at  timestamptz not null default now()
);

create table api_keys (
  id            text primary key,
  tenant_id     text not null references tenants(id) on delete cascade,
  name          text not null,
  -- sha256 of the key; the key itself is shown once, at creation, and never stored.
  key_hash      bytea not null unique,
  key_prefix    text not null,
  scopes        text[] not null check (scopes <@ array['read', 'act', 'admin'] and cardinality(scopes) > 0),
  created_at    timestamptz not null default now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
create index api_keys_tenant on api_keys (tenant_id);

create table audit_log (
  id           bigint generated always as identity primary key,
  tenant_id    text not null references tenants(id) on delete cascade,
  workflow_id  text,
  run_id       text,
  activity     text,
  tool         text,
  params       jsonb,
  status       text not null check (status in ('ok', 'error')),
  duration_ms  integer not null check (duration_ms >= 0),
  source       text not null check (source in ('live', 'cache', 'sandbox')),
  error        text,
  created_at   timestamptz not null default now()
);
create index audit_log_tenant_recent on audit_log (tenant_id, id desc);
create index audit_log_tenant_workflow on audit_log (tenant_id, workflow_id);
create index audit_log_tenant_tool on audit_log (tenant_id, tool, created_at desc);

-- Written and read back by the readiness probe workflow's activity; not tenant data.
create table readiness_probes (
  probe_id    text primary key,
  writes      integer not null default 1,
  created_at  timestamptz not null default now()
);
create index readiness_probes_created on readiness_probes (created_at);

-- Row-level security on every table that holds tenant data.
alter table tenants enable row level security;
create policy tenant_isolation on tenants using (id = current_setting('app.tenant_id', true));
alter table api_keys enable row level security;
create policy tenant_isolation on api_keys using (tenant_id = current_setting('app.tenant_id', true));
alter table audit_log enable row level security;
create policy tenant_isolation on audit_log using (tenant_id = current_setting('app.tenant_id', true));

grant select on tenants to switchboard_tenant;
grant select on api_keys to switchboard_tenant;
grant select, insert on audit_log to switchboard_tenant;
