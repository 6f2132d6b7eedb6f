-- The short codes a person answers an SMS page with (docs/oncall.md, "Answering a page"): "Reply
-- 1a to acknowledge, 1r to resolve". A code names one incident for one person; the notifier
-- writes it when it sends the SMS, and looks it up with the number the reply came from. A person
-- with several incidents paging them at once gets one code for each. Bounded: at most 99 rows a
-- person, a code being reused once its incident is resolved (or gone).
CREATE TABLE page_reply_codes (
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code           smallint    NOT NULL CHECK (code BETWEEN 1 AND 99),
    -- No foreign key: retention deletes resolved incidents, and their code is free by then.
    incident_id    uuid        NOT NULL,
    assigned_at    timestamptz NOT NULL DEFAULT now(),
    -- The provider's id (Twilio's MessageSid) of the last reply acted on: the same reply retried
    -- by the provider queues no second command.
    last_reply_sid text        CHECK (octet_length(last_reply_sid) <= 64),
    PRIMARY KEY (user_id, code),
    UNIQUE (user_id, incident_id)
);
