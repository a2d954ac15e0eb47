-- Every tenant reaches its providers through its own connection: its GoHighLevel location and token
-- (Marketplace OAuth or a Private Integration Token), its Vapi account, its SendGrid key and sender,
-- optionally its own Anthropic key. Secrets are sealed like tenant_credentials (lib/secrets.ts).

create table provider_connections (
  tenant_id      text not null references tenants(id) on delete cascade,
  provider       text not null check (provider in ('ghl', 'vapi', 'sendgrid', 'anthropic')),
  method         text not null check (method in ('oauth', 'private_token', 'api_key')),
  status         text not null default 'connected' check (status in ('connected', 'broken')),
  -- What the provider says the credential covers (never free input): the GHL location, the Vapi
  -- org, the SendGrid sender address.
  account_id     text not null,
  account_name   text,
  scopes         text[] not null default '{}',
  -- Sealed JSON: {"accessToken", "refreshToken"} (GHL OAuth) or {"token"} (every other kind).
  secret_sealed  text not null,
  secret_hint    text not null,
  -- When the access token dies (OAuth); null for static keys.
  expires_at     timestamptz,
  settings       jsonb not null default '{}',
  last_error     text,
  refreshed_at   timestamptz,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  primary key (tenant_id, provider)
);
-- One business's GHL location or Vapi org belongs to one tenant: checked across tenants, whatever
-- row-level security lets a transaction see.
create unique index provider_connections_account on provider_connections (provider, account_id) where provider in ('ghl', 'vapi');

-- An OAuth authorization in flight: the `state` we send GHL names the tenant that asked.
create table oauth_states (
  state       text primary key,
  tenant_id   text not null references tenants(id) on delete cascade,
  provider    text not null check (provider in ('ghl')),
  return_to   text,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null
);
create index oauth_states_expires on oauth_states (expires_at);

-- Installation-wide facts. `platform_tenant`: the one tenant the environment's provider keys serve
-- (a self-hosted single business); SWITCHBOARD_PLATFORM_TENANT overrides it.
create table platform_settings (
  key    text primary key,
  value  text not null
);

-- Upgrade path: an install whose one tenant used the platform keys (GHL_API_TOKEN, VAPI_API_KEY, …)
-- keeps using them. With several tenants nobody inherits them: each connects its own accounts.
insert into platform_settings (key, value)
select 'platform_tenant', coalesce(
  (select min(id) from tenants having count(*) = 1),
  (select min(tenant_id) from crm_connections having count(*) = 1)
)
where coalesce((select min(id) from tenants having count(*) = 1), (select min(tenant_id) from crm_connections having count(*) = 1)) is not null;

-- When each outbound attempt first dialled: a retry after a crash looks for the call the provider
-- may already have accepted among every call placed since then (not only the latest hundred).
create table call_dial_attempts (
  tenant_id    text not null references tenants(id) on delete cascade,
  workflow_id  text not null,
  attempt      integer not null,
  started_at   timestamptz not null default now(),
  primary key (tenant_id, workflow_id, attempt)
);

alter table provider_connections enable row level security;
create policy tenant_isolation on provider_connections using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update, delete on provider_connections to switchboard_tenant;
alter table oauth_states enable row level security;
create policy tenant_isolation on oauth_states using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, delete on oauth_states to switchboard_tenant;
alter table call_dial_attempts enable row level security;
create policy tenant_isolation on call_dial_attempts using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on call_dial_attempts to switchboard_tenant;
-- A disconnected tenant keeps its sync settings; the schedule pauses instead.
grant insert, update, delete on crm_connections to switchboard_tenant;
