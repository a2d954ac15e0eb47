-- A tool call records itself (the voiceCall workflow's local activity writes its row with its answer):
-- a retried attempt that finds the row answers from it, so it also needs what the tool found out.
alter table call_tool_calls add column if not exists contact_id text;
alter table call_tool_calls add column if not exists appointment_id text;

select switchboard_force_rls();
