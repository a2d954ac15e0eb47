-- Phone calls (issue 4). The voiceCall workflow is the source of truth while a call lives; these
-- tables hold what must not sit in workflow history (raw provider events, transcripts) and the read
-- model behind GET /v1/calls.

-- A tenant's voice setup: which assistant answers, which tools it may call, where bookings go,
-- when outbound calls may ring, and the deadlines we hold ourselves to.
create table voice_settings (
  tenant_id              text primary key references tenants(id) on delete cascade,
  settings               jsonb not null,
  updated_at             timestamptz not null default now()
);

-- One row per call workflow (inbound: one provider call; outbound: every attempt of one request).
create table calls (
  tenant_id         text not null references tenants(id) on delete cascade,
  workflow_id       text not null,
  provider          text not null check (provider in ('vapi', 'retell')),
  direction         text not null check (direction in ('inbound', 'outbound')),
  provider_call_id  text,
  customer_phone    text,
  our_phone         text,
  contact_id        text,
  purpose           text,
  status            text not null,
  ended_reason      text,
  attempts          integer not null default 0,
  started_at        timestamptz,
  ended_at          timestamptz,
  cost              numeric(12, 4),
  recording_url     text,
  summary           text,
  sentiment         text,
  outcome           text,
  next_action       text,
  -- What the call changed in the CRM: note, tags, task, appointments.
  crm_effects       jsonb not null default '{}',
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  primary key (tenant_id, workflow_id)
);
create index calls_phone on calls (tenant_id, customer_phone, created_at desc);
create index calls_created on calls (tenant_id, created_at desc);

-- Every provider call id we have seen, pointing at its workflow (outbound attempts carry our ref).
create table call_provider_ids (
  tenant_id         text not null references tenants(id) on delete cascade,
  provider          text not null,
  provider_call_id  text not null,
  workflow_id       text not null,
  attempt           integer not null default 1,
  created_at        timestamptz not null default now(),
  primary key (tenant_id, provider, provider_call_id)
);

-- The inbox: each provider event once (idempotency key), bodies kept out of workflow history.
create table call_events (
  tenant_id         text not null references tenants(id) on delete cascade,
  workflow_id       text not null,
  event_key         text not null,
  type              text not null,
  provider_call_id  text not null,
  payload           jsonb not null,
  received_at       timestamptz not null default now(),
  primary key (tenant_id, workflow_id, event_key)
);

-- The transcript, ordered: replaced as a whole from the end-of-call record (idempotent).
create table call_utterances (
  tenant_id           text not null references tenants(id) on delete cascade,
  workflow_id         text not null,
  seq                 integer not null,
  role                text not null,
  text                text not null,
  seconds_from_start  double precision,
  primary key (tenant_id, workflow_id, seq)
);

-- Every tool the voice agent called during the call, with its answer and how long it took.
create table call_tool_calls (
  tenant_id     text not null references tenants(id) on delete cascade,
  workflow_id   text not null,
  tool_call_id  text not null,
  name          text not null,
  arguments     jsonb not null,
  result        text,
  error         text,
  latency_ms    integer not null,
  created_at    timestamptz not null default now(),
  primary key (tenant_id, workflow_id, tool_call_id)
);

-- Side effects in the CRM keyed by idempotency key: a retried activity finds its first result.
create table crm_effects (
  tenant_id        text not null references tenants(id) on delete cascade,
  idempotency_key  text not null,
  kind             text not null,
  result           jsonb not null,
  created_at       timestamptz not null default now(),
  primary key (tenant_id, idempotency_key)
);

alter table voice_settings enable row level security;
create policy tenant_isolation on voice_settings using (tenant_id = current_setting('app.tenant_id', true));
alter table calls enable row level security;
create policy tenant_isolation on calls using (tenant_id = current_setting('app.tenant_id', true));
alter table call_provider_ids enable row level security;
create policy tenant_isolation on call_provider_ids using (tenant_id = current_setting('app.tenant_id', true));
alter table call_events enable row level security;
create policy tenant_isolation on call_events using (tenant_id = current_setting('app.tenant_id', true));
alter table call_utterances enable row level security;
create policy tenant_isolation on call_utterances using (tenant_id = current_setting('app.tenant_id', true));
alter table call_tool_calls enable row level security;
create policy tenant_isolation on call_tool_calls using (tenant_id = current_setting('app.tenant_id', true));
alter table crm_effects enable row level security;
create policy tenant_isolation on crm_effects using (tenant_id = current_setting('app.tenant_id', true));

grant select, insert, update, delete on voice_settings, calls, call_provider_ids, call_events, call_utterances, call_tool_calls, crm_effects to switchboard_tenant;
