-- Issue 18: Inbound Parse is authenticated by a per-tenant secret in its URL (sealed under the
-- master key, so the tenant's admin can be shown the URL again); a reply records what SendGrid
-- said about its SPF/DKIM and whether we acted on it or held it for a person to review.

create table inbound_parse_secrets (
  tenant_id    text primary key references tenants(id) on delete cascade,
  -- lib/secrets.ts sealed (AES-256-GCM, tenant id as AAD).
  secret       text not null,
  created_at   timestamptz not null default now()
);
alter table inbound_parse_secrets enable row level security;
create policy tenant_isolation on inbound_parse_secrets using (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on inbound_parse_secrets to switchboard_tenant;

alter table inbound_emails add column spf text;
alter table inbound_emails add column dkim text;
-- 'accepted' (signalled to the lead), or why it was held: 'unauthenticated', 'sender-mismatch', 'over-limit'.
alter table inbound_emails add column verdict text not null default 'accepted';
create index inbound_emails_lead on inbound_emails (tenant_id, campaign_id, lead_id);
