-- Per-tenant memory: short facts an agent (MCP client, voice assistant) asks Switchboard to keep,
-- found again by Postgres full-text search. Each item records where it came from (provenance).

create table memories (
  tenant_id        text not null references tenants(id) on delete cascade,
  id               text not null,
  content          text not null check (length(content) between 1 and 20000),
  -- What the memory is about, e.g. a contact id or an E.164 phone; recall can be narrowed to it.
  subject          text check (length(subject) between 1 and 200),
  tags             text[] not null default '{}',
  -- Provenance: which door it came in by, and the workflow / API key that wrote it.
  source           text not null check (source in ('mcp', 'voice', 'api')),
  workflow_id      text,
  api_key_id       text,
  -- A retried activity or tool call with the same key writes once.
  idempotency_key  text check (length(idempotency_key) between 1 and 200),
  created_at       timestamptz not null default now(),
  -- 'english' stems words ("booked" finds "booking"); the subject is searchable too.
  search           tsvector generated always as (
                     setweight(to_tsvector('english', coalesce(subject, '')), 'A') || setweight(to_tsvector('english', content), 'B')
                   ) stored,
  primary key (tenant_id, id)
);
create unique index memories_idempotency on memories (tenant_id, idempotency_key) where idempotency_key is not null;
create index memories_search on memories using gin (search);
create index memories_subject on memories (tenant_id, subject, created_at desc);
create index memories_recent on memories (tenant_id, created_at desc);

alter table memories enable row level security;
create policy tenant_isolation on memories using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, delete on memories to switchboard_tenant;
