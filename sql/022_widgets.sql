-- The embeddable website chat (issue 16). One widget per tenant: a public id (in the script tag on
-- the tenant's site), the persona it talks as, the exact origins allowed to embed it, a greeting and
-- the knowledge it may quote. Each visitor who passes the lead gate (name, email, consent) is a lead:
-- the GHL contact made for them, their conversation, and the one note that carries it.

create table widgets (
  tenant_id        text primary key references tenants(id) on delete cascade,
  id               text not null unique check (id ~ '^wg_[a-z0-9]{16}$'),
  enabled          boolean not null default false,
  agent_id         text not null,
  allowed_origins  text[] not null default '{}',
  greeting         text not null default '' check (length(greeting) <= 500),
  -- Visitors' agent sees only this part of the knowledge base (e.g. /public).
  knowledge_scope  text not null default '/public',
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  foreign key (tenant_id, agent_id) references agents (tenant_id, id)
);
create policy tenant_isolation on widgets using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on widgets to switchboard_tenant;

create table widget_leads (
  tenant_id        text not null references tenants(id) on delete cascade,
  id               text not null,
  widget_id        text not null,
  conversation_id  text not null,
  name             text not null check (length(name) between 1 and 200),
  email            text not null check (length(email) between 3 and 320),
  -- What the visitor ticked, word for word, and when.
  consent_text     text not null,
  consented_at     timestamptz not null default now(),
  page_origin      text not null,
  contact_id       text,
  note_id          text,
  created_at       timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, conversation_id)
);
create policy tenant_isolation on widget_leads using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on widget_leads to switchboard_tenant;

-- Widget chats are conversations too (the persona's workflow), marked so their tools stay the visitors'.
alter table conversations drop constraint if exists conversations_origin_check;
alter table conversations add constraint conversations_origin_check
  check (origin in ('user', 'brief', 'agent', 'widget'));

select switchboard_force_rls();
