-- People who sign in with OpenID Connect (query's /auth routes), their sessions, and the sign-in
-- attempts between sending a browser to the identity provider and its coming back. query writes
-- these three tables (docs/sign-in.md).

-- A person, known by the identity provider's issuer and subject: the pair is the one identity an
-- OpenID Connect provider promises to keep stable (an e-mail address or a name may change, and is
-- updated from the ID token at each sign-in).
CREATE TABLE users (
    id           UUID        PRIMARY KEY,
    issuer       TEXT        NOT NULL,
    subject      TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    email        TEXT,
    -- An IANA time zone name (Europe/Paris); null: the browser's.
    time_zone    TEXT,
    is_admin     BOOLEAN     NOT NULL DEFAULT false,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);

-- A signed-in browser. The cookie holds a random value; only its SHA-256 is stored, so a copy of
-- this table signs nobody in. A session ends when it expires or is revoked (sign-out, an admin).
CREATE TABLE sessions (
    id_sha256  BYTEA       PRIMARY KEY CHECK (octet_length(id_sha256) = 32),
    user_id    UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Sent back by the page in X-CSRF-Token on every state-changing request.
    csrf_token TEXT        NOT NULL,
    -- The provider's ID token, handed back to it as id_token_hint at sign-out (RP-initiated logout).
    id_token   TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- One sign-in in flight: what the callback needs to finish it. `state` comes back in the
-- callback's URL; `browser_sha256` is the SHA-256 of a cookie set on the browser that started it,
-- so a callback URL opened in another browser does not sign that browser in. Taken (deleted) by
-- the first callback that presents it, so a replayed callback finds nothing.
CREATE TABLE sign_in_attempts (
    state          TEXT        PRIMARY KEY,
    browser_sha256 BYTEA       NOT NULL CHECK (octet_length(browser_sha256) = 32),
    pkce_verifier  TEXT        NOT NULL,
    nonce          TEXT        NOT NULL,
    -- The local path to go back to once signed in.
    return_to      TEXT        NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX sign_in_attempts_by_age ON sign_in_attempts (created_at);
