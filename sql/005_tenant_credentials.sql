-- Tenants' own provider credentials (voice webhooks are verified with them). The secret is sealed
-- with AES-256-GCM under SWITCHBOARD_MASTER_KEY, bound to the tenant (lib/secrets.ts).

create table tenant_credentials (
  tenant_id      text not null references tenants(id) on delete cascade,
  provider       text not null check (provider in ('vapi', 'retell')),
  -- Non-secret settings, e.g. how Vapi authenticates its calls to us.
  settings       jsonb not null default '{}',
  secret_sealed  text not null,
  -- The last characters of the secret, so an operator can recognise it without seeing it.
  secret_hint    text not null,
  updated_at     timestamptz not null default now(),
  primary key (tenant_id, provider)
);

alter table tenant_credentials enable row level security;
create policy tenant_isolation on tenant_credentials using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update, delete on tenant_credentials to switchboard_tenant;
