-- The users, invites, sessions and password resets of 012 (added after 011 forced RLS on every
-- tenant table): forced like the others, so the owning user sees none of their rows either.
select switchboard_force_rls();
