-- Quotas on paid actions (calls, SMS, emails, Claude tokens, contact analyses), per tenant.
-- Limits: the platform's defaults (lib/config.ts) unless the platform admin set others here; a
-- tenant may read its own but never write them (no grant), so it cannot raise its own quota.
create table quota_limits (
  tenant_id   text primary key references tenants(id) on delete cascade,
  limits      jsonb not null default '{}',
  updated_at  timestamptz not null default now()
);
alter table quota_limits enable row level security;
create policy tenant_isolation on quota_limits using (tenant_id = current_setting('app.tenant_id', true));
grant select on quota_limits to switchboard_tenant;

-- What each quota's current window has used; one upsert increments it only while under the limit.
create table quota_counters (
  tenant_id     text not null references tenants(id) on delete cascade,
  quota         text not null,
  window_start  timestamptz not null,
  used          bigint not null default 0,
  primary key (tenant_id, quota, window_start)
);
alter table quota_counters enable row level security;
create policy tenant_isolation on quota_counters using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on quota_counters to switchboard_tenant;

-- One row per consumption key: a retried activity (same key) does not count twice.
create table quota_consumptions (
  tenant_id     text not null references tenants(id) on delete cascade,
  key           text not null,
  quota         text not null,
  amount        bigint not null,
  window_start  timestamptz not null,
  created_at    timestamptz not null default now(),
  primary key (tenant_id, key)
);
alter table quota_consumptions enable row level security;
create policy tenant_isolation on quota_consumptions using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert on quota_consumptions to switchboard_tenant;

select switchboard_force_rls();
