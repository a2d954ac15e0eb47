-- Persona agents and their conversations (issue 15). Each tenant gets the four personas
-- (Strategist, Builder, Closer, Operator) on first use; an agent's prompt is versioned and a
-- conversation records the version it ran with. Messages live here, not in workflow history:
-- the conversation workflow keeps ids and counts.

create table agents (
  tenant_id        text not null references tenants(id) on delete cascade,
  id               text not null check (id ~ '^[a-z][a-z0-9-]{1,39}$'),
  name             text not null check (length(name) between 1 and 80),
  role             text not null check (length(role) between 1 and 300),
  model            text,
  colour           text not null check (colour ~ '^#[0-9a-f]{6}$'),
  icon             text not null check (length(icon) between 1 and 40),
  tools            text[] not null default '{}',
  -- Tools that act in the world (book, call, text, email, start a campaign) wait for a yes.
  confirm_tools    text[] not null default '{}',
  enabled          boolean not null default true,
  prompt_version   integer not null default 1,
  -- When the agent speaks up first: {"cron": "0 8 * * 1-5", "timezone": "America/Chicago"} or null.
  brief            jsonb,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  primary key (tenant_id, id)
);
alter table agents enable row level security;
create policy tenant_isolation on agents using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on agents to switchboard_tenant;

create table agent_prompts (
  tenant_id   text not null references tenants(id) on delete cascade,
  agent_id    text not null,
  version     integer not null check (version >= 1),
  prompt      text not null check (length(prompt) between 1 and 50000),
  created_at  timestamptz not null default now(),
  primary key (tenant_id, agent_id, version),
  foreign key (tenant_id, agent_id) references agents (tenant_id, id) on delete cascade
);
alter table agent_prompts enable row level security;
create policy tenant_isolation on agent_prompts using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert on agent_prompts to switchboard_tenant;

create table conversations (
  tenant_id        text not null references tenants(id) on delete cascade,
  id               text not null check (id ~ '^[A-Za-z0-9_-]{1,120}$'),
  agent_id         text not null,
  prompt_version   integer not null,
  workflow_id      text not null,
  title            text not null default '',
  -- user: the owner started it; brief: the agent spoke up first; agent: another agent asked.
  origin           text not null default 'user' check (origin in ('user', 'brief', 'agent')),
  parent_id        text,
  status           text not null default 'open' check (status in ('open', 'closed')),
  turns            integer not null default 0,
  input_tokens     bigint not null default 0,
  output_tokens    bigint not null default 0,
  cache_read_tokens bigint not null default 0,
  cost_usd         numeric(12, 6) not null default 0,
  -- The summary continue-as-new carries (model-written), and the message it covers up to.
  summary          text,
  summary_seq      bigint,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, agent_id) references agents (tenant_id, id)
);
create index conversations_recent on conversations (tenant_id, updated_at desc);
alter table conversations enable row level security;
create policy tenant_isolation on conversations using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on conversations to switchboard_tenant;

-- One row per message: the user's words, each model answer (its content blocks), each tool result.
-- `key` is the writer's idempotency key (workflow id + turn + step): a retried activity writes once.
create table conversation_messages (
  tenant_id        text not null references tenants(id) on delete cascade,
  conversation_id  text not null,
  seq              bigint generated always as identity,
  id               text not null,
  key              text not null,
  turn             integer not null,
  role             text not null check (role in ('user', 'assistant', 'tool', 'summary')),
  content          jsonb not null,
  text             text not null default '',
  input_tokens     integer not null default 0,
  output_tokens    integer not null default 0,
  created_at       timestamptz not null default now(),
  primary key (tenant_id, conversation_id, seq),
  unique (tenant_id, key),
  foreign key (tenant_id, conversation_id) references conversations (tenant_id, id) on delete cascade
);
create index conversation_messages_id on conversation_messages (tenant_id, id);
alter table conversation_messages enable row level security;
create policy tenant_isolation on conversation_messages using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert on conversation_messages to switchboard_tenant;

-- The deltas of a reply being written, in order: the API relays them as SSE (woken by NOTIFY on
-- `switchboard_chat`), and a reconnect with Last-Event-ID reads on from its seq. Kept briefly.
create table conversation_deltas (
  tenant_id        text not null references tenants(id) on delete cascade,
  conversation_id  text not null,
  message_id       text not null,
  seq              integer not null,
  step             integer not null default 0,
  kind             text not null check (kind in ('delta', 'reset', 'tool', 'done')),
  text             text not null default '',
  created_at       timestamptz not null default now(),
  primary key (tenant_id, conversation_id, message_id, seq)
);
create index conversation_deltas_age on conversation_deltas (created_at);
alter table conversation_deltas enable row level security;
create policy tenant_isolation on conversation_deltas using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, delete on conversation_deltas to switchboard_tenant;

select switchboard_force_rls();
