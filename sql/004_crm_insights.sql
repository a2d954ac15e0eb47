-- CRM insights cache: GoHighLevel pipelines (with their stages), opportunities and notes, mirrored by
-- the crmSync workflow after the contacts, read by /v1/insights, /v1/recommendations and the
-- contact analysis.

create table crm_pipelines (
  tenant_id    text not null references tenants(id) on delete cascade,
  id           text not null,
  location_id  text not null,
  name         text not null,
  synced_at    timestamptz not null default now(),
  primary key (tenant_id, id)
);

create table crm_pipeline_stages (
  tenant_id    text not null references tenants(id) on delete cascade,
  pipeline_id  text not null,
  id           text not null,
  name         text not null,
  -- Order of the stage in its pipeline (0 = first): drop-off is measured along it.
  position     integer not null,
  primary key (tenant_id, pipeline_id, id),
  foreign key (tenant_id, pipeline_id) references crm_pipelines (tenant_id, id) on delete cascade
);

create table crm_opportunities (
  tenant_id              text not null references tenants(id) on delete cascade,
  id                     text not null,
  location_id            text not null,
  contact_id             text,
  pipeline_id            text not null,
  stage_id               text,
  name                   text not null,
  status                 text not null,
  monetary_value         numeric,
  source                 text,
  assigned_to            text,
  last_status_change_at  timestamptz,
  created_at             timestamptz,
  updated_at             timestamptz,
  synced_at              timestamptz not null default now(),
  -- The sync (workflow id + first run id) that last saw it; a completed pass removes the rest.
  sync_key               text,
  primary key (tenant_id, id)
);
create index crm_opportunities_contact on crm_opportunities (tenant_id, contact_id);
create index crm_opportunities_stage on crm_opportunities (tenant_id, pipeline_id, stage_id);

create table crm_notes (
  tenant_id   text not null references tenants(id) on delete cascade,
  id          text not null,
  contact_id  text not null,
  body        text not null,
  user_id     text,
  date_added  timestamptz,
  synced_at   timestamptz not null default now(),
  primary key (tenant_id, id)
);
create index crm_notes_contact on crm_notes (tenant_id, contact_id, date_added desc);

-- When each contact's notes were last fetched (GHL has no bulk notes endpoint: one request per contact).
create table crm_note_fetches (
  tenant_id   text not null references tenants(id) on delete cascade,
  contact_id  text not null,
  fetched_at  timestamptz not null default now(),
  primary key (tenant_id, contact_id)
);

alter table crm_pipelines enable row level security;
create policy tenant_isolation on crm_pipelines using (tenant_id = current_setting('app.tenant_id', true));
alter table crm_pipeline_stages enable row level security;
create policy tenant_isolation on crm_pipeline_stages using (tenant_id = current_setting('app.tenant_id', true));
alter table crm_opportunities enable row level security;
create policy tenant_isolation on crm_opportunities using (tenant_id = current_setting('app.tenant_id', true));
alter table crm_notes enable row level security;
create policy tenant_isolation on crm_notes using (tenant_id = current_setting('app.tenant_id', true));
alter table crm_note_fetches enable row level security;
create policy tenant_isolation on crm_note_fetches using (tenant_id = current_setting('app.tenant_id', true));

grant select, insert, update, delete on crm_pipelines to switchboard_tenant;
grant select, insert, update, delete on crm_pipeline_stages to switchboard_tenant;
grant select, insert, update, delete on crm_opportunities to switchboard_tenant;
grant select, insert, update, delete on crm_notes to switchboard_tenant;
grant select, insert, update, delete on crm_note_fetches to switchboard_tenant;
