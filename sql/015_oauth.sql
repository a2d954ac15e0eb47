-- OAuth 2.1 for /mcp (api/oauth/): everything the authorization server (oidc-provider) keeps —
-- registered clients, interactions, its sessions, grants, authorization codes, access and refresh
-- tokens — in one table keyed by model and a SHA-256 of the id (a token's id is the token itself:
-- only its hash is stored).
--
-- Why one platform-level table and not one per tenant: the library looks rows up by id before
-- anything names a tenant (a presented token, an interaction cookie, a client registered by DCR
-- before any user signed in), so its adapter reads and writes as `switchboard_system`
-- (lib/db.ts asSystem). Rows that belong to a tenant — grants and the codes and tokens issued
-- under them — carry tenant_id (from the signed-in user), and the tenant policy below lets a
-- tenant's own transaction list and revoke exactly its rows (GET/DELETE /v1/oauth/clients).
-- Clients, interactions and the library's sessions have no tenant (tenant_id null): no tenant
-- transaction ever sees them.

create table oauth_store (
  model        text not null,
  -- base64url SHA-256 of the library's id.
  id_hash      text not null,
  payload      jsonb not null,
  -- Set for grants (their own id) and for everything issued under a grant: revocation by grant.
  grant_id     text,
  -- Interactions and sessions are also found by uid; device codes by user code (unused here).
  uid          text,
  user_code    text,
  tenant_id    text references tenants(id) on delete cascade,
  -- For grants: the user and client they bind (the connected-clients list), and the client's
  -- display name as the consent page showed it.
  user_id      text,
  client_id    text,
  client_name  text,
  created_at   timestamptz not null default now(),
  expires_at   timestamptz,
  consumed_at  timestamptz,
  primary key (model, id_hash)
);
create index oauth_store_grant on oauth_store (grant_id) where grant_id is not null;
create index oauth_store_uid on oauth_store (uid) where uid is not null;
create index oauth_store_tenant_grants on oauth_store (tenant_id, client_id) where model = 'Grant';
create index oauth_store_expiry on oauth_store (expires_at);

alter table oauth_store enable row level security;
create policy tenant_isolation on oauth_store using (tenant_id = current_setting('app.tenant_id', true));
grant select, delete on oauth_store to switchboard_tenant;

select switchboard_force_rls();
