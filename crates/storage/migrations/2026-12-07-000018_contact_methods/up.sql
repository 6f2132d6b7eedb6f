-- How each person is paged (docs/oncall.md, "Notification rules"): their contact methods (a Slack
-- direct message, e-mail, SMS, a voice call, a signed webhook) and the rules that say which method
-- is used how long after a page of each urgency. query writes both, each change with its audit
-- entry; the notifier reads them when a `paged` event arrives.
CREATE TABLE user_contact_methods (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('slack', 'email', 'sms', 'voice', 'webhook')),
    -- Checked by tocsin_storage::contacts::check_address for its kind before it is stored: a Slack
    -- member id or e-mail address, an e-mail address, an E.164 phone number, an https URL.
    address    text NOT NULL CHECK (octet_length(address) BETWEEN 1 AND 2048),
    label      text NOT NULL DEFAULT '' CHECK (octet_length(label) <= 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A method kept but not used: rules on it send nothing.
    disabled   boolean NOT NULL DEFAULT false,
    UNIQUE (user_id, kind, address),
    -- What a rule's foreign key names, so a rule cannot use another person's method.
    UNIQUE (id, user_id)
);

CREATE TABLE user_notification_rules (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL,
    contact_method_id uuid NOT NULL,
    urgency           text NOT NULL CHECK (urgency IN ('high', 'low')),
    -- Counted from the page (the `paged` event's time), not from the rule before.
    delay_minutes     integer NOT NULL CHECK (delay_minutes BETWEEN 0 AND 120),
    created_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (contact_method_id, user_id) REFERENCES user_contact_methods (id, user_id) ON DELETE CASCADE,
    UNIQUE (contact_method_id, urgency, delay_minutes)
);

CREATE INDEX user_notification_rules_by_user ON user_notification_rules (user_id, urgency);

-- A page to one person is a delivery like any other (claims, retries, dead letters), due when its
-- rule's delay has passed (next_attempt_at), and sent through the contact method it names rather
-- than a routing target. Acknowledging or resolving the incident cancels the pages still waiting.
-- No foreign key: a method removed after the page was queued makes its delivery fail for good,
-- which the dead-letter stream records.
ALTER TABLE notification_deliveries ADD COLUMN contact_method_id uuid;
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_status_check;
ALTER TABLE notification_deliveries
    ADD CONSTRAINT notification_deliveries_status_check CHECK (status IN ('pending', 'sent', 'dead', 'cancelled'));
