-- GoHighLevel webhooks: applied to the cache at once, each webhookId exactly once.

create table ghl_webhook_events (
  webhook_id   text primary key,
  tenant_id    text not null references tenants(id) on delete cascade,
  type         text not null,
  received_at  timestamptz not null default now()
);
create index ghl_webhook_events_received on ghl_webhook_events (received_at);

create table crm_appointments (
  tenant_id    text not null references tenants(id) on delete cascade,
  id           text not null,
  location_id  text not null,
  calendar_id  text,
  contact_id   text,
  title        text,
  status       text,
  start_time   timestamptz,
  end_time     timestamptz,
  deleted      boolean not null default false,
  updated_at   timestamptz not null default now(),
  primary key (tenant_id, id)
);
create index crm_appointments_contact on crm_appointments (tenant_id, contact_id, start_time desc);

alter table ghl_webhook_events enable row level security;
create policy tenant_isolation on ghl_webhook_events using (tenant_id = current_setting('app.tenant_id', true));
alter table crm_appointments enable row level security;
create policy tenant_isolation on crm_appointments using (tenant_id = current_setting('app.tenant_id', true));

grant select, insert on ghl_webhook_events to switchboard_tenant;
grant select, insert, update, delete on crm_appointments to switchboard_tenant;
