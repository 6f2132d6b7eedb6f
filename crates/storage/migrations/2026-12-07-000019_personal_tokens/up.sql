-- Personal API tokens (docs/sign-in.md, "Personal API tokens"): a person's own tokens for scripts
-- and the CLI, acting as that person with their roles, limited to the scopes chosen when the token
-- was made. Only the SHA-256 of the secret is kept (the secret is shown once, at creation), so a
-- copy of this table authenticates nobody.
CREATE TABLE personal_tokens (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text        NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 100),
    secret_sha256 bytea       NOT NULL UNIQUE CHECK (octet_length(secret_sha256) = 32),
    -- A subset of read, act and admin (admin only for admins, checked again at each use).
    scopes        text[]      NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 3
                                              AND scopes <@ ARRAY['read', 'act', 'admin']),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Every token expires: a forgotten one stops working by itself.
    expires_at    timestamptz NOT NULL,
    -- Written at most once a minute per token, so that a busy script does not write on every call.
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    UNIQUE (user_id, name)
);

CREATE INDEX personal_tokens_by_user ON personal_tokens (user_id);
