-- Search terms (issues 15 and 17): under forced row-level security the tenant role cannot use GIN
-- indexes — the full-text, trigram and ilike operators (@@, %, <%, ilike) are not leakproof, so
-- Postgres applies the tenant policy first and then tests every row of the tenant one by one.
-- Only btree comparisons (=, <, >=, ^@) are leakproof. So each searchable row's words live here
-- too, one row per (tenant, corpus, term, row), found with = and prefix ranges on the primary key;
-- the ranking (ts_rank, similarity) then runs over those candidates only (domain/searchTerms.ts).
--
-- Corpora: `contacts` (the lexemes of contacts.search: name, email and company words), `knowledge`
-- (the lexemes of knowledge_nodes.search, stemmed) and `knowledge_titles` (a node's title words as
-- written, the vocabulary a typo is compared with).
--
-- Triggers keep the rows in step with their source on every insert, update and delete — the sync's
-- page upserts and pass-end deletes, webhooks, knowledge imports — so no writer can forget them.
-- Statement-level, with transition tables: one set-based statement per write, and an update that
-- leaves the words alone (a re-synced, unchanged contact) writes no term row. The (row, term) pairs
-- to remove are materialized first, so each is one full primary-key lookup.

create table search_terms (
  -- No foreign key to tenants: a per-row key check would double the sync's write cost; the
  -- source rows cascade from tenants and their delete trigger takes the terms with them.
  tenant_id  text not null,
  corpus     text not null check (corpus in ('contacts', 'knowledge', 'knowledge_titles')),
  -- Byte order, so a prefix is one btree range on any database collation.
  term       text collate "C" not null,
  doc_id     text not null,
  primary key (tenant_id, corpus, term, doc_id)
);
alter table search_terms enable row level security;
create policy tenant_isolation on search_terms using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, delete on search_terms to switchboard_tenant;

-- A node's title words as written (the typo vocabulary); `search` holds them stemmed.
alter table knowledge_nodes add column title_words tsvector generated always as (to_tsvector('simple', title)) stored;

-- Useless to the tenant role under forced RLS (see above), and each one a cost on every write.
drop index if exists contacts_search;
drop index if exists contacts_name_trgm;
drop index if exists knowledge_nodes_search;
drop index if exists knowledge_nodes_title_trgm;

-- The term rows of `corpus` follow the lexemes of the tsvector column `col` of the changed rows
-- (each source table has tenant_id and id). TG_ARGV: corpus, column.
create or replace function search_terms_sync() returns trigger language plpgsql as $fn$
declare
  corpus text := tg_argv[0];
  col text := quote_ident(tg_argv[1]);
begin
  if tg_op = 'INSERT' then
    execute format($q$
      insert into search_terms (tenant_id, corpus, term, doc_id)
      select n.tenant_id, $1, t.term, n.id from new_rows n, unnest(tsvector_to_array(n.%s)) as t(term)
      on conflict do nothing$q$, col) using corpus;
  elsif tg_op = 'DELETE' then
    execute format($q$
      with gone as materialized (
        select o.tenant_id, o.id, t.term collate "C" as term from old_rows o, unnest(tsvector_to_array(o.%s)) as t(term)
      )
      delete from search_terms s using gone g
       where s.tenant_id = g.tenant_id and s.corpus = $1 and s.term = g.term and s.doc_id = g.id$q$, col)
      using corpus;
  else
    -- Only rows whose words changed; of those, only the terms that came or went.
    execute format($q$
      with changed as (
        select n.tenant_id, n.id, tsvector_to_array(o.%1$s) as before, tsvector_to_array(n.%1$s) as after
          from new_rows n join old_rows o on o.tenant_id = n.tenant_id and o.id = n.id
         where n.%1$s is distinct from o.%1$s
      ), gone as materialized (
        select c.tenant_id, c.id, t.term collate "C" as term from changed c, unnest(c.before) as t(term)
         where t.term <> all(c.after)
      ), removed as (
        delete from search_terms s using gone g
         where s.tenant_id = g.tenant_id and s.corpus = $1 and s.term = g.term and s.doc_id = g.id
      )
      insert into search_terms (tenant_id, corpus, term, doc_id)
      select c.tenant_id, $1, t.term, c.id from changed c, unnest(c.after) as t(term) where t.term <> all(c.before)
      on conflict do nothing$q$, col) using corpus;
  end if;
  return null;
end $fn$;

create trigger contacts_terms_ins after insert on contacts
  referencing new table as new_rows for each statement execute function search_terms_sync('contacts', 'search');
create trigger contacts_terms_upd after update on contacts
  referencing old table as old_rows new table as new_rows for each statement execute function search_terms_sync('contacts', 'search');
create trigger contacts_terms_del after delete on contacts
  referencing old table as old_rows for each statement execute function search_terms_sync('contacts', 'search');

create trigger knowledge_terms_ins after insert on knowledge_nodes
  referencing new table as new_rows for each statement execute function search_terms_sync('knowledge', 'search');
create trigger knowledge_terms_upd after update on knowledge_nodes
  referencing old table as old_rows new table as new_rows for each statement execute function search_terms_sync('knowledge', 'search');
create trigger knowledge_terms_del after delete on knowledge_nodes
  referencing old table as old_rows for each statement execute function search_terms_sync('knowledge', 'search');
create trigger knowledge_titles_ins after insert on knowledge_nodes
  referencing new table as new_rows for each statement execute function search_terms_sync('knowledge_titles', 'title_words');
create trigger knowledge_titles_upd after update on knowledge_nodes
  referencing old table as old_rows new table as new_rows for each statement execute function search_terms_sync('knowledge_titles', 'title_words');
create trigger knowledge_titles_del after delete on knowledge_nodes
  referencing old table as old_rows for each statement execute function search_terms_sync('knowledge_titles', 'title_words');

select switchboard_force_rls();

-- Backfill every tenant's existing rows, as the one role whose policy spans tenants.
set local role switchboard_system;
insert into search_terms (tenant_id, corpus, term, doc_id)
select c.tenant_id, 'contacts', t.term, c.id from contacts c, unnest(tsvector_to_array(c.search)) as t(term)
on conflict do nothing;
insert into search_terms (tenant_id, corpus, term, doc_id)
select n.tenant_id, 'knowledge', t.term, n.id from knowledge_nodes n, unnest(tsvector_to_array(n.search)) as t(term)
on conflict do nothing;
insert into search_terms (tenant_id, corpus, term, doc_id)
select n.tenant_id, 'knowledge_titles', t.term, n.id from knowledge_nodes n, unnest(tsvector_to_array(n.title_words)) as t(term)
on conflict do nothing;
reset role;
