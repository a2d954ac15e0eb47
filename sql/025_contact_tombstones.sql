-- Contacts deleted at GoHighLevel (issue 20, found by the chaos run): a webhook or a sync page that
-- was on its way when the delete came, and arrives after it, must not bring the contact back. A
-- full sync prunes tombstones older than a day (webhooks older than 5 minutes are refused anyway).
create table contact_tombstones (
  tenant_id   text not null references tenants(id) on delete cascade,
  id          text not null,
  deleted_at  timestamptz not null default now(),
  primary key (tenant_id, id)
);
alter table contact_tombstones enable row level security;
create policy tenant_isolation on contact_tombstones using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update, delete on contact_tombstones to switchboard_tenant;

select switchboard_force_rls();
