-- The notifier's own tables. An incident event becomes one delivery per target it is routed to;
-- the delivery row is written before the event is acknowledged on the stream, so a crash never
-- loses a notification, and the (event_id, target) key makes a redelivered event a no-op.
CREATE TABLE notification_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    event_id        UUID        NOT NULL,
    target          TEXT        NOT NULL,
    incident_id     UUID        NOT NULL,
    -- The IncidentEvent JSON, exactly as it came off the events stream.
    event           TEXT        NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A replica working on the delivery holds it until then; past it, another replica may take over.
    claimed_until   TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ,
    UNIQUE (event_id, target)
);

-- The worker takes the oldest pending delivery of each (target, incident), so an incident's
-- messages reach a channel in the order its events happened.
CREATE INDEX notification_deliveries_pending
    ON notification_deliveries (target, incident_id, id)
    WHERE status = 'pending';

-- Where an incident's notification lives on a target: the Slack message a later event edits and
-- replies to, the GitHub issue it comments on.
CREATE TABLE notification_threads (
    incident_id UUID        NOT NULL,
    target      TEXT        NOT NULL,
    channel     TEXT        NOT NULL,
    reference   TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, target)
);
