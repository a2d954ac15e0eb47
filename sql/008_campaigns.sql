-- Outbound campaigns: the campaign and its leads, each lead's append-only event timeline, review-mode
-- approvals, the tenant-wide suppression list, email sends (one per lead and step), the shared send
-- counters behind the caps, SendGrid events and inbound replies (each applied once), call slots.

create table campaigns (
  tenant_id    text not null references tenants(id) on delete cascade,
  id           text not null,
  name         text not null,
  goal         text not null,
  -- The validated definition as created (audience summary, sequence, sender, policy): immutable.
  definition   jsonb not null,
  status       text not null default 'draft' check (status in ('draft', 'running', 'paused', 'cancelled', 'completed')),
  created_at   timestamptz not null default now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  updated_at   timestamptz not null default now(),
  primary key (tenant_id, id)
);

create table campaign_leads (
  tenant_id    text not null,
  campaign_id  text not null,
  id           text not null,
  -- Feeding order: the campaign workflow starts leads by ascending seq.
  seq          bigint generated always as identity,
  contact_id   text,
  email        text,
  phone        text,
  first_name   text,
  last_name    text,
  company      text,
  timezone     text,
  fields       jsonb not null default '{}',
  state        text not null default 'pending' check (state in (
                 'pending', 'active', 'replied', 'booked', 'opted_out', 'suppressed', 'not_now', 'wrong_person',
                 'exhausted', 'cancelled', 'failed')),
  step_index   integer,
  -- The research brief (Claude), kept here rather than in workflow history.
  brief        text,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  primary key (tenant_id, campaign_id, id),
  foreign key (tenant_id, campaign_id) references campaigns (tenant_id, id) on delete cascade
);
create unique index campaign_leads_email on campaign_leads (tenant_id, campaign_id, email) where email is not null;
create unique index campaign_leads_phone on campaign_leads (tenant_id, campaign_id, phone) where phone is not null;
create index campaign_leads_feed on campaign_leads (tenant_id, campaign_id, seq);
create index campaign_leads_state on campaign_leads (tenant_id, campaign_id, state);

-- The lead's event-sourced timeline. Rows are only ever inserted (see the trigger below); a retried
-- activity carries the same event_key and appends once.
create table lead_events (
  id           bigint generated always as identity primary key,
  tenant_id    text not null references tenants(id) on delete cascade,
  campaign_id  text not null,
  lead_id      text not null,
  kind         text not null,
  step_index   integer,
  data         jsonb not null default '{}',
  -- Workflow time of the event (what the lead experienced); recorded_at is when the row was written.
  occurred_at  timestamptz not null,
  recorded_at  timestamptz not null default now(),
  event_key    text not null,
  unique (tenant_id, event_key)
);
create index lead_events_lead on lead_events (tenant_id, campaign_id, lead_id, id);
create index lead_events_kind on lead_events (tenant_id, campaign_id, kind);

create function lead_events_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'lead_events is append-only';
end $$;
create trigger lead_events_append_only before update or delete on lead_events
  for each row execute function lead_events_append_only();

-- Review mode: a draft waits here until a person approves, edits or rejects it.
create table campaign_approvals (
  tenant_id    text not null references tenants(id) on delete cascade,
  id           text not null,
  campaign_id  text not null,
  lead_id      text not null,
  step_index   integer,
  kind         text not null check (kind in ('email', 'reply')),
  -- The email_sends row the draft belongs to.
  send_key     text not null,
  status       text not null default 'pending' check (status in ('pending', 'approved', 'edited', 'rejected')),
  draft        jsonb not null,
  final        jsonb,
  note         text,
  decided_by   text,
  decided_at   timestamptz,
  created_at   timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, send_key)
);
create index campaign_approvals_pending on campaign_approvals (tenant_id, status, created_at);

-- Global per tenant: an address, number or CRM contact here is never emailed, called or texted again.
create table suppressions (
  tenant_id   text not null references tenants(id) on delete cascade,
  channel     text not null check (channel in ('email', 'phone', 'contact')),
  -- Lower-cased email, E.164 phone, or GHL contact id.
  value       text not null,
  reason      text not null,
  source      text,
  created_at  timestamptz not null default now(),
  primary key (tenant_id, channel, value)
);

-- One row per email we mean to send; send_key (campaign:lead:step, or a reply's key) makes the send
-- happen once however often the activity runs.
create table email_sends (
  tenant_id     text not null references tenants(id) on delete cascade,
  send_key      text not null,
  campaign_id   text not null,
  lead_id       text not null,
  step_index    integer,
  kind          text not null check (kind in ('sequence', 'answer', 'confirmation')),
  to_email      text not null,
  from_email    text not null,
  subject       text not null,
  body          text not null,
  -- How the text was made: model, template, fallback, or edited by a reviewer.
  origin        text not null,
  status        text not null default 'drafted' check (status in ('drafted', 'sending', 'sent', 'suppressed', 'rejected')),
  -- Plus-address token in reply_to: routes the recipient's answer back to this lead.
  reply_token   text not null unique,
  message_id    text,
  -- Workflow time of the send (the send window and caps are judged on it) and the cap buckets used.
  sent_at       timestamptz,
  hour_bucket   timestamptz,
  day_bucket    date,
  claimed_at    timestamptz,
  created_at    timestamptz not null default now(),
  primary key (tenant_id, send_key)
);
create index email_sends_message on email_sends (tenant_id, message_id);
create index email_sends_campaign_day on email_sends (tenant_id, campaign_id, day_bucket) where status = 'sent';

-- Shared counters behind the hourly and daily caps (per tenant and per sender), incremented in the
-- same transaction that marks a send as reserved, so no crash or race can exceed a cap.
create table send_counters (
  tenant_id  text not null references tenants(id) on delete cascade,
  scope      text not null,
  bucket     timestamptz not null,
  count      integer not null default 0,
  primary key (tenant_id, scope, bucket)
);

-- SendGrid Event Webhook: each sg_event_id applied once.
create table sendgrid_events (
  tenant_id    text not null references tenants(id) on delete cascade,
  sg_event_id  text not null,
  event        text not null,
  email        text,
  message_id   text,
  campaign_id  text,
  lead_id      text,
  send_key     text,
  payload      jsonb not null,
  received_at  timestamptz not null default now(),
  primary key (tenant_id, sg_event_id)
);
create index sendgrid_events_campaign on sendgrid_events (tenant_id, campaign_id, event);
create index sendgrid_events_send on sendgrid_events (tenant_id, send_key);

-- Inbound Parse: each reply (by its Message-ID) stored and routed once.
create table inbound_emails (
  tenant_id    text not null references tenants(id) on delete cascade,
  id           bigint generated always as identity,
  dedupe_key   text not null,
  from_email   text,
  to_email     text,
  subject      text,
  text         text not null,
  campaign_id  text,
  lead_id      text,
  category     text,
  received_at  timestamptz not null default now(),
  primary key (tenant_id, id),
  unique (tenant_id, dedupe_key)
);

-- Concurrent campaign calls per tenant: a slot per lead and step, taken and released idempotently.
create table campaign_call_slots (
  tenant_id    text not null references tenants(id) on delete cascade,
  slot_key     text not null,
  acquired_at  timestamptz not null default now(),
  primary key (tenant_id, slot_key)
);

alter table campaigns enable row level security;
create policy tenant_isolation on campaigns using (tenant_id = current_setting('app.tenant_id', true));
alter table campaign_leads enable row level security;
create policy tenant_isolation on campaign_leads using (tenant_id = current_setting('app.tenant_id', true));
alter table lead_events enable row level security;
create policy tenant_isolation on lead_events using (tenant_id = current_setting('app.tenant_id', true));
alter table campaign_approvals enable row level security;
create policy tenant_isolation on campaign_approvals using (tenant_id = current_setting('app.tenant_id', true));
alter table suppressions enable row level security;
create policy tenant_isolation on suppressions using (tenant_id = current_setting('app.tenant_id', true));
alter table email_sends enable row level security;
create policy tenant_isolation on email_sends using (tenant_id = current_setting('app.tenant_id', true));
alter table send_counters enable row level security;
create policy tenant_isolation on send_counters using (tenant_id = current_setting('app.tenant_id', true));
alter table sendgrid_events enable row level security;
create policy tenant_isolation on sendgrid_events using (tenant_id = current_setting('app.tenant_id', true));
alter table inbound_emails enable row level security;
create policy tenant_isolation on inbound_emails using (tenant_id = current_setting('app.tenant_id', true));
alter table campaign_call_slots enable row level security;
create policy tenant_isolation on campaign_call_slots using (tenant_id = current_setting('app.tenant_id', true));

grant select, insert, update on campaigns to switchboard_tenant;
grant select, insert, update on campaign_leads to switchboard_tenant;
grant select, insert on lead_events to switchboard_tenant;
grant select, insert, update on campaign_approvals to switchboard_tenant;
grant select, insert on suppressions to switchboard_tenant;
grant select, insert, update on email_sends to switchboard_tenant;
grant select, insert, update on send_counters to switchboard_tenant;
grant select, insert on sendgrid_events to switchboard_tenant;
grant select, insert, update on inbound_emails to switchboard_tenant;
grant select, insert, delete on campaign_call_slots to switchboard_tenant;
