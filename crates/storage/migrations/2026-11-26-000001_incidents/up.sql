-- Incidents, the alerts attached to them, their timeline, the outbox of events not yet on the
-- events stream, and the outcome of every command. incident-core is the only writer.

CREATE TABLE incidents (
    id                 uuid PRIMARY KEY,
    correlation_key    text        NOT NULL,
    title              text        NOT NULL,
    service            text        NOT NULL,
    environment        text        NOT NULL,
    severity           text        NOT NULL CHECK (severity IN ('info', 'warning', 'high', 'critical')),
    team               text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    assignee           text,
    runbook_url        text,
    source_fingerprint text        NOT NULL,
    source_starts_at   timestamptz NOT NULL,
    source_labels      jsonb       NOT NULL,
    alert_count        integer     NOT NULL DEFAULT 0 CHECK (alert_count >= 0),
    firing_count       integer     NOT NULL DEFAULT 0 CHECK (firing_count >= 0),
    opened_at          timestamptz NOT NULL,
    acknowledged_at    timestamptz,
    acknowledged_by    text,
    resolved_at        timestamptz,
    resolved_by        text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    version            bigint      NOT NULL DEFAULT 1
);

-- Correlation: at most one active incident per key, enforced here so that two incident-core
-- replicas racing for the same key still produce a single incident.
CREATE UNIQUE INDEX incidents_one_active_per_key ON incidents (correlation_key) WHERE status <> 'resolved';
-- The list API pages newest first by (opened_at, id).
CREATE INDEX incidents_newest_first ON incidents (opened_at DESC, id DESC);
CREATE INDEX incidents_active_newest_first ON incidents (opened_at DESC, id DESC) WHERE status <> 'resolved';
-- The reopen window looks for the latest resolved incident of a key.
CREATE INDEX incidents_resolved_by_key ON incidents (correlation_key, resolved_at DESC) WHERE status = 'resolved';

CREATE TABLE alerts (
    id                    bigserial PRIMARY KEY,
    incident_id           uuid        NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    fingerprint           text        NOT NULL,
    starts_at             timestamptz NOT NULL,
    ends_at               timestamptz,
    state                 text        NOT NULL CHECK (state IN ('firing', 'resolved')),
    labels                jsonb       NOT NULL,
    annotations           jsonb       NOT NULL,
    generator_url         text        NOT NULL,
    receiver              text        NOT NULL,
    group_key             text        NOT NULL,
    first_received_at     timestamptz NOT NULL,
    last_received_at      timestamptz NOT NULL,
    last_firing_report_at timestamptz NOT NULL,
    -- Dedup: one row per occurrence, whatever Alertmanager resends and the stream redelivers.
    CONSTRAINT alerts_one_row_per_occurrence UNIQUE (fingerprint, starts_at)
);
CREATE INDEX alerts_by_incident ON alerts (incident_id, starts_at);

CREATE TABLE timeline_entries (
    id          bigserial PRIMARY KEY,
    incident_id uuid        NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    kind        text        NOT NULL,
    actor       text        NOT NULL,
    -- The incident's status after this entry, for entries that changed it.
    status      text        CHECK (status IN ('open', 'acknowledged', 'resolved')),
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_entries_by_incident ON timeline_entries (incident_id, at, id);

-- Events written in the same transaction as the change they describe; a relay moves them to the
-- events stream and deletes them, so a crash between commit and XADD loses nothing.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- What became of each command, so a redelivered command is answered, not applied twice, and the
-- query service can tell the person who asked.
CREATE TABLE command_outcomes (
    command_id  uuid PRIMARY KEY,
    incident_id uuid        NOT NULL,
    action      text        NOT NULL,
    actor       text        NOT NULL,
    outcome     jsonb       NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
