-- CRM cache: GoHighLevel mirrored into Postgres by the crmSync workflow, and the shared request
-- budget every GHL call of a location draws from.

create extension if not exists pg_trgm;

-- The CRM account each tenant syncs.
create table crm_connections (
  tenant_id           text primary key references tenants(id) on delete cascade,
  provider            text not null default 'ghl' check (provider = 'ghl'),
  location_id         text not null unique,
  sync_every_minutes  integer not null default 15 check (sync_every_minutes between 1 and 1440),
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);

create table contacts (
  tenant_id      text not null references tenants(id) on delete cascade,
  id             text not null,
  location_id    text not null,
  first_name     text,
  last_name      text,
  name           text,
  email          text,
  -- E.164 (+15551234567), normalised on the way in so caller-ID lookups are exact matches.
  phone          text,
  company_name   text,
  source         text,
  tags           text[] not null default '{}',
  dnd            boolean not null default false,
  timezone       text,
  custom_fields  jsonb not null default '[]',
  date_added     timestamptz,
  date_updated   timestamptz,
  synced_at      timestamptz not null default now(),
  -- The sync (workflow id + first run id) that last saw the contact; a full sync removes the rest.
  sync_key       text,
  search         tsvector generated always as (
                   to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(company_name, ''))
                 ) stored,
  primary key (tenant_id, id)
);
create index contacts_phone on contacts (tenant_id, phone);
create index contacts_email on contacts (tenant_id, lower(email));
create index contacts_tags on contacts using gin (tags);
create index contacts_search on contacts using gin (search);
create index contacts_name_trgm on contacts using gin (name gin_trgm_ops);
create index contacts_updated on contacts (tenant_id, date_updated);

-- One row per tenant and source: where the last sync got to, and the one running now.
create table crm_sync_state (
  tenant_id            text not null references tenants(id) on delete cascade,
  source               text not null,
  high_water           timestamptz,
  last_full_at         timestamptz,
  last_finished_at     timestamptz,
  last_status          text check (last_status in ('completed', 'failed')),
  last_error           text,
  running_workflow_id  text,
  running_sync_key     text,
  running_since        timestamptz,
  -- {kind, cursor, pages, contacts, total, updatedAt}: written after every page, read by status
  -- and by a retried activity to resume exactly where the previous attempt stopped.
  progress             jsonb,
  primary key (tenant_id, source)
);

-- Shared GHL request budget: one row per request admitted in the sliding window.
create table ghl_request_budget (
  location_id  text not null,
  admitted_at  timestamptz not null default clock_timestamp(),
  priority     text not null check (priority in ('live', 'bulk'))
);
create index ghl_request_budget_window on ghl_request_budget (location_id, admitted_at);

-- Set when GHL answers 429 (Retry-After) or reports the daily cap spent.
create table ghl_budget_blocks (
  location_id      text primary key,
  blocked_until    timestamptz not null,
  daily_remaining  integer
);

alter table crm_connections enable row level security;
create policy tenant_isolation on crm_connections using (tenant_id = current_setting('app.tenant_id', true));
alter table contacts enable row level security;
create policy tenant_isolation on contacts using (tenant_id = current_setting('app.tenant_id', true));
alter table crm_sync_state enable row level security;
create policy tenant_isolation on crm_sync_state using (tenant_id = current_setting('app.tenant_id', true));

grant select on crm_connections to switchboard_tenant;
grant select, update on crm_sync_state to switchboard_tenant;
grant select, insert, update, delete on contacts to switchboard_tenant;
