-- What Slack's `users.info` said of a Slack user's e-mail address, kept for a bounded time
-- (docs/oncall.md, "Who clicked in Slack"): a click by a Slack user is done by the tocsin user with
-- that address, and a storm of clicks asks Slack once per person rather than once per click. The
-- row is written by the notifier; `email` is NULL when Slack gave no address (a bot, a guest
-- without the scope), which is kept too, so that such a clicker is not asked about on every click.
CREATE TABLE slack_users (
    slack_user_id text        PRIMARY KEY CHECK (octet_length(slack_user_id) BETWEEN 1 AND 64),
    email         text        CHECK (octet_length(email) <= 320),
    fetched_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX slack_users_by_age ON slack_users (fetched_at);
