-- Maintenance windows (docs/noise.md): planned quiet for the incidents their matchers catch.
-- Written by query (settings, like schedules), read by incident-core when an incident opens or
-- reopens.
CREATE TABLE maintenance_windows (
    id          uuid        PRIMARY KEY,
    -- Alertmanager's API v2 form, [{"name", "value", "isRegex", "isEqual"}], as the domain's
    -- `ApiMatcher` writes it: at least one.
    matchers    jsonb       NOT NULL CHECK (jsonb_typeof(matchers) = 'array' AND jsonb_array_length(matchers) >= 1),
    starts_at   timestamptz NOT NULL,
    -- Exclusive: the window applies over [starts_at, ends_at).
    ends_at     timestamptz NOT NULL,
    reason      text        NOT NULL CHECK (reason <> ''),
    -- The principal who created it (a person's login, or a token's owner).
    author      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    -- Set when someone ends it before ends_at.
    ended_at    timestamptz,
    ended_by    text,
    CHECK (ends_at > starts_at)
);

-- What incident-core reads at every open: the windows not over yet.
CREATE INDEX maintenance_windows_ending ON maintenance_windows (ends_at) WHERE ended_at IS NULL;

-- Which windows held which incidents: attached when the incident opened or reopened inside a
-- matching window, never re-evaluated afterwards. Many to many: overlapping windows each attach.
-- `until` is the end of the occurrence that applied (moved earlier when the window is ended
-- early); it is the timer of the release, which claims the due rows with FOR UPDATE SKIP LOCKED
-- and sets `released_at` in the transaction that notifies the incident and starts its
-- escalation, so each is released once.
--
-- No foreign key to incidents, like the other hot tables (migration 000008): the attachment is
-- written in the alert intake's transactions. Retention deletes an incident's rows here with it.
CREATE TABLE incident_maintenance (
    incident_id uuid        NOT NULL,
    window_id   uuid        NOT NULL REFERENCES maintenance_windows (id) ON DELETE CASCADE,
    -- The occurrence that applied: its start, and when it ends.
    occurrence  timestamptz NOT NULL,
    until       timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL,
    released_at timestamptz,
    PRIMARY KEY (incident_id, window_id, occurrence)
);

-- The release's claim: only the attachments still holding an incident.
CREATE INDEX incident_maintenance_due ON incident_maintenance (until) WHERE released_at IS NULL;
-- Whether an incident is held, read for every event written about it.
CREATE INDEX incident_maintenance_holding ON incident_maintenance (incident_id) WHERE released_at IS NULL;
CREATE INDEX incident_maintenance_window ON incident_maintenance (window_id);
