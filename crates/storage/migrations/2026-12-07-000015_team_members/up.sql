-- Who is in which team, and with which role (docs/sign-in.md, "Teams and roles"): a viewer reads,
-- a responder also acts on the team's incidents (acknowledge, resolve, reopen, assign), a manager
-- also edits the team's members. Admins (users.is_admin) may do everything everywhere. query writes
-- this table, each change with its entry in audit_log, in one transaction.
--
-- A person is a member once per team; a change of role updates the row (the audit log keeps the
-- history), so added_by and added_at say who first put them in the team, and when.
CREATE TABLE team_members (
    team_id  uuid        NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     text        NOT NULL CHECK (role IN ('viewer', 'responder', 'manager')),
    added_by text        NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);

-- A person's teams, read at every action they take and by GET /auth/me.
CREATE INDEX team_members_by_user ON team_members (user_id);
