-- Row-level security applies to the tables' owner too (FORCE): the app's own connecting user owns
-- every table, so a query that forgets `withTenant` now sees no tenant's rows instead of all of them.
-- The few queries that must cross tenants (API key lookup, tenant existence, OAuth state, webhook
-- routing by location, schedules at start, admin) say so: they run as `switchboard_system`
-- (lib/db.ts `asSystem`), the only role with a policy that spans tenants.

do $$
begin
  create role switchboard_system nologin;
exception when duplicate_object then null;
end $$;
grant switchboard_system to current_user;
grant usage on schema public to switchboard_system;

-- Vapi messages already received (by call, type and message.timestamp), kept for the window in
-- which a message counts as fresh: a replay inside it is recognised, one outside it is stale.
create table vapi_message_receipts (
  tenant_id    text not null references tenants(id) on delete cascade,
  message_key  text not null,
  received_at  timestamptz not null default now(),
  primary key (tenant_id, message_key)
);
create index vapi_message_receipts_received on vapi_message_receipts (received_at);
alter table vapi_message_receipts enable row level security;
create policy tenant_isolation on vapi_message_receipts using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, delete on vapi_message_receipts to switchboard_tenant;

-- Every table that holds tenant data: `tenants` itself and each table with a tenant_id column.
-- A function, so a later migration adding tenant tables ends with `select switchboard_force_rls();`
-- (test/migrations.test.ts fails for any tenant table left unforced).
create or replace function switchboard_force_rls() returns void language plpgsql as $fn$
declare
  t regclass;
begin
  for t in
    select c.oid::regclass
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = current_schema()
       and c.relkind in ('r', 'p')
       and (c.relname = 'tenants'
            or exists (select 1 from pg_attribute a
                        where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped))
  loop
    execute format('alter table %s enable row level security', t);
    execute format('alter table %s force row level security', t);
    execute format('drop policy if exists system_access on %s', t);
    -- By current_user, not `to switchboard_system`: a policy for a role also applies to its members,
    -- and the connecting user is a member (it must be, to switch to it).
    execute format($p$create policy system_access on %s
      using (current_user = 'switchboard_system') with check (current_user = 'switchboard_system')$p$, t);
    execute format('grant select, insert, update, delete on %s to switchboard_system', t);
  end loop;
end $fn$;
select switchboard_force_rls();

-- The sync activity now keeps its state through withTenant (it created the row as the owner before).
grant insert on crm_sync_state to switchboard_tenant;
-- A tenant's keys are created and revoked in its own transaction (the owner did it before).
grant insert, update (last_used_at, revoked_at) on api_keys to switchboard_tenant;

-- crm_effects: a claim is taken before acting, so two concurrent attempts never both act. A claim
-- ('claimed') is kept fresh by its holder while it acts; a stale or released one is taken over,
-- and the new holder asks GHL whether the first one got through before acting again.
alter table crm_effects
  add column status text not null default 'done' check (status in ('claimed', 'done')),
  add column claim_token text,
  add column claimed_at timestamptz,
  alter column result drop not null;
