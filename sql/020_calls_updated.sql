-- The console's live call list (GET /v1/calls/stream) asks every second, per open stream, for the
-- tenant's calls changed since its cursor: an index on the change time keeps that a short range scan.
create index if not exists calls_updated on calls (tenant_id, updated_at);

select switchboard_force_rls();
