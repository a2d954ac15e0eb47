-- People, not only keys: a tenant's users (email + argon2id password, a role that maps to the API
-- scopes), their invites, their sign-in sessions and their password-reset links. Every token (an
-- invite, a session cookie, a reset link) is 32 random bytes of which only the SHA-256 is stored.

create table users (
  id                   text primary key,
  tenant_id            text not null references tenants(id) on delete cascade,
  -- Lower-cased at the door; the same address may be a user of several tenants.
  email                text not null check (email = lower(email) and length(email) <= 320),
  -- argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
  password_hash        text not null,
  role                 text not null check (role in ('owner', 'operator', 'viewer')),
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  password_changed_at  timestamptz not null default now(),
  unique (tenant_id, email)
);
-- Sign-in and reset look an address up before the tenant is known.
create index users_email on users (email);

create table user_invites (
  id           text primary key,
  tenant_id    text not null references tenants(id) on delete cascade,
  email        text not null check (email = lower(email) and length(email) <= 320),
  role         text not null check (role in ('owner', 'operator', 'viewer')),
  token_hash   bytea not null unique,
  -- Who invited: `user:<id>`, `key:<id>` or `admin` (the platform admin key).
  invited_by   text not null,
  expires_at   timestamptz not null,
  accepted_at  timestamptz,
  -- A newer invite for the same address replaces an open one.
  revoked_at   timestamptz,
  created_at   timestamptz not null default now()
);
create index user_invites_tenant on user_invites (tenant_id, created_at desc);

create table sessions (
  id            text primary key,
  tenant_id     text not null references tenants(id) on delete cascade,
  user_id       text not null references users(id) on delete cascade,
  token_hash    bytea not null unique,
  created_at    timestamptz not null default now(),
  last_seen_at  timestamptz not null default now(),
  -- Rolling: pushed forward on use (idle timeout), never past created_at + the absolute lifetime.
  expires_at    timestamptz not null,
  revoked_at    timestamptz
);
create index sessions_user on sessions (user_id) where revoked_at is null;
create index sessions_expiry on sessions (expires_at);

create table password_resets (
  id          text primary key,
  tenant_id   text not null references tenants(id) on delete cascade,
  user_id     text not null references users(id) on delete cascade,
  token_hash  bytea not null unique,
  expires_at  timestamptz not null,
  used_at     timestamptz,
  created_at  timestamptz not null default now()
);
create index password_resets_user on password_resets (user_id);

alter table users enable row level security;
create policy tenant_isolation on users using (tenant_id = current_setting('app.tenant_id', true));
alter table user_invites enable row level security;
create policy tenant_isolation on user_invites using (tenant_id = current_setting('app.tenant_id', true));
alter table sessions enable row level security;
create policy tenant_isolation on sessions using (tenant_id = current_setting('app.tenant_id', true));
alter table password_resets enable row level security;
create policy tenant_isolation on password_resets using (tenant_id = current_setting('app.tenant_id', true));

grant select, insert, update, delete on users to switchboard_tenant;
grant select, insert, update on user_invites to switchboard_tenant;
grant select, insert, update, delete on sessions to switchboard_tenant;
grant select, insert, update on password_resets to switchboard_tenant;
