-- Where each incident's escalation stands (docs/oncall.md, "The escalation engine"): the step it
-- waits for and when that step fires. incident-core's timeline hook writes a row in the
-- transaction that changes the incident's status (opened and reopened: due at once with the
-- policy not yet decided; acknowledged: a new epoch, due again only when the policy's acknowledge
-- timeout runs out; resolved: the row goes), and the engine claims the due rows with
-- `FOR UPDATE SKIP LOCKED`, fires their step and sets the next one, in one transaction.
--
-- No foreign keys, like the other hot tables (migration 000008): the hook runs in the alert
-- intake's transactions. Retention deletes an incident's rows here with the incident.
CREATE TABLE incident_escalations (
    incident_id         uuid PRIMARY KEY,
    -- One more at every open, acknowledgement and reopen: a page of an older epoch is stale.
    epoch               bigint      NOT NULL CHECK (epoch >= 1),
    -- The policy and its version, decided by the engine when the epoch's first step is due; NULL
    -- until then, and after when the incident has no policy.
    policy_id           uuid,
    policy_version      integer,
    -- Copied from the version when it is decided, so the acknowledgement hook sets the timer in
    -- SQL without reading the policy.
    acknowledge_timeout interval,
    step                integer     NOT NULL DEFAULT 0 CHECK (step >= 0),
    pass                integer     NOT NULL DEFAULT 0 CHECK (pass >= 0),
    -- When the step fires; NULL: nothing is due (acknowledged for good, no policy, passes run out).
    next_at             timestamptz,
    -- When the epoch started: the open, reopen or acknowledgement.
    started_at          timestamptz NOT NULL
);

-- What the engine's claim scans: only the rows something is due on.
CREATE INDEX incident_escalations_due ON incident_escalations (next_at) WHERE next_at IS NOT NULL;

-- Every page a step sent: a person, a channel, or (both NULL) the mark of a step that reached
-- nobody. The unique key is the step's idempotency key: a step whose rows are already here has
-- fired, and firing it again inserts nothing and writes no second event.
CREATE TABLE pages (
    id          bigserial   PRIMARY KEY,
    incident_id uuid        NOT NULL,
    epoch       bigint      NOT NULL,
    step        integer     NOT NULL,
    pass        integer     NOT NULL,
    user_id     uuid,
    channel     text,
    paged_at    timestamptz NOT NULL,
    UNIQUE NULLS NOT DISTINCT (incident_id, epoch, step, pass, user_id, channel)
);
