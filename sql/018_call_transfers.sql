-- Live transfers (issue 19): what transfer_to_human did on a call — forwarded to a person (Vapi
-- live call control, Retell's transfer_call), or, outside the tenant's transfer hours, a message
-- taken as a GHL task. One row per call: a retried or repeated tool call finds it and acts once.
create table call_transfers (
  tenant_id         text not null references tenants(id) on delete cascade,
  workflow_id       text not null,
  provider          text not null check (provider in ('vapi', 'retell')),
  provider_call_id  text,
  -- pending (claimed, not sent yet) | requested (the provider was told) | message-taken | failed
  status            text not null,
  destination       text,
  reason            text,
  task_id           text,
  detail            text,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  primary key (tenant_id, workflow_id)
);
alter table call_transfers enable row level security;
create policy tenant_isolation on call_transfers using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on call_transfers to switchboard_tenant;

select switchboard_force_rls();
