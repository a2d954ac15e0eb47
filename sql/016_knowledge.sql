-- The knowledge engine (issue 15): a tenant's knowledge as a tree of nodes addressed by path
-- (`/sales/pricing/saas-models`), found by full-text search (tsvector), trigram similarity for
-- typos (pg_trgm) and boosts for labels, intent tags and path scope — no vectors. Typed edges
-- relate nodes; every retrieval an agent makes is logged (what was asked, what came back, what
-- the answer cited).

-- pg_trgm is a trusted extension (PostgreSQL 13+): the database owner the migrations run as may
-- create it without being a superuser.
create extension if not exists pg_trgm;

-- array_to_string is only STABLE (element output functions), so generated columns take it through
-- this wrapper; text[] output never changes, which is what makes the IMMUTABLE promise true.
create or replace function knowledge_words(words text[]) returns text
  language sql immutable parallel safe as $$ select coalesce(array_to_string(words, ' '), '') $$;

create table knowledge_nodes (
  tenant_id    text not null references tenants(id) on delete cascade,
  id           text not null,
  path         text not null check (path ~ '^(/[a-z0-9][a-z0-9._-]*)+$' and length(path) <= 500),
  type         text not null check (type in ('category', 'subcategory', 'topic', 'document', 'example', 'framework')),
  title        text not null check (length(title) between 1 and 300),
  body         text not null default '' check (length(body) <= 200000),
  labels       text[] not null default '{}',
  intent_tags  text[] not null default '{}',
  metadata     jsonb not null default '{}',
  -- Title first, then labels, intent tags and the path's words, then the body.
  search       tsvector generated always as (
                 setweight(to_tsvector('english', title), 'A') ||
                 setweight(to_tsvector('english', knowledge_words(labels) || ' ' || knowledge_words(intent_tags) || ' ' ||
                                                  translate(path, '/-_.', '    ')), 'B') ||
                 setweight(to_tsvector('english', body), 'C')
               ) stored,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, path)
);
create index knowledge_nodes_search on knowledge_nodes using gin (search);
create index knowledge_nodes_title_trgm on knowledge_nodes using gin (title gin_trgm_ops);
create index knowledge_nodes_labels on knowledge_nodes using gin (labels);
create index knowledge_nodes_intents on knowledge_nodes using gin (intent_tags);
create index knowledge_nodes_path on knowledge_nodes (tenant_id, path text_pattern_ops);
alter table knowledge_nodes enable row level security;
create policy tenant_isolation on knowledge_nodes using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update, delete on knowledge_nodes to switchboard_tenant;

create table knowledge_edges (
  tenant_id   text not null references tenants(id) on delete cascade,
  from_id     text not null,
  to_id       text not null,
  kind        text not null check (kind in ('related', 'example_of', 'part_of', 'prerequisite', 'see_also', 'contradicts', 'supersedes')),
  weight      real not null default 1 check (weight > 0 and weight <= 10),
  created_at  timestamptz not null default now(),
  primary key (tenant_id, from_id, to_id, kind),
  check (from_id <> to_id),
  foreign key (tenant_id, from_id) references knowledge_nodes (tenant_id, id) on delete cascade,
  foreign key (tenant_id, to_id) references knowledge_nodes (tenant_id, id) on delete cascade
);
create index knowledge_edges_to on knowledge_edges (tenant_id, to_id);
alter table knowledge_edges enable row level security;
create policy tenant_isolation on knowledge_edges using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update, delete on knowledge_edges to switchboard_tenant;

-- One row per retrieval: which conversation and turn asked, the query, the nodes returned (in rank
-- order) and, once the reply is written, the ones it cited. The seed's knowledge came back empty
-- and nobody could tell; this log says what agents actually read.
create table knowledge_usage (
  tenant_id        text not null references tenants(id) on delete cascade,
  id               bigint generated always as identity,
  conversation_id  text,
  turn             integer,
  agent            text,
  kind             text not null check (kind in ('search', 'browse')),
  query            text not null,
  node_ids         text[] not null default '{}',
  cited_ids        text[] not null default '{}',
  -- A retried tool activity logs once.
  idempotency_key  text,
  created_at       timestamptz not null default now(),
  primary key (tenant_id, id)
);
create unique index knowledge_usage_key on knowledge_usage (tenant_id, idempotency_key) where idempotency_key is not null;
create index knowledge_usage_conversation on knowledge_usage (tenant_id, conversation_id, turn);
alter table knowledge_usage enable row level security;
create policy tenant_isolation on knowledge_usage using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on knowledge_usage to switchboard_tenant;

-- Per-tenant term statistics for ranking (how many nodes hold each lexeme: rare terms weigh
-- more). Recomputed from the nodes by the first search after a change (`dirty`), so writes stay
-- cheap and searches never count documents themselves.
create table knowledge_term_stats (
  tenant_id  text not null references tenants(id) on delete cascade,
  lexeme     text not null,
  ndoc       integer not null,
  primary key (tenant_id, lexeme)
);
alter table knowledge_term_stats enable row level security;
create policy tenant_isolation on knowledge_term_stats using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update, delete on knowledge_term_stats to switchboard_tenant;

create table knowledge_stats_state (
  tenant_id  text primary key references tenants(id) on delete cascade,
  dirty      boolean not null default true,
  total      integer not null default 0
);
alter table knowledge_stats_state enable row level security;
create policy tenant_isolation on knowledge_stats_state using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on knowledge_stats_state to switchboard_tenant;

create or replace function knowledge_mark_dirty() returns trigger language plpgsql as $fn$
begin
  insert into knowledge_stats_state (tenant_id, dirty)
  select distinct tenant_id, true from changed
  on conflict (tenant_id) do update set dirty = true where knowledge_stats_state.dirty = false;
  return null;
end $fn$;
create trigger knowledge_nodes_dirty_ins after insert on knowledge_nodes
  referencing new table as changed for each statement execute function knowledge_mark_dirty();
create trigger knowledge_nodes_dirty_upd after update on knowledge_nodes
  referencing new table as changed for each statement execute function knowledge_mark_dirty();
create trigger knowledge_nodes_dirty_del after delete on knowledge_nodes
  referencing old table as changed for each statement execute function knowledge_mark_dirty();

select switchboard_force_rls();
