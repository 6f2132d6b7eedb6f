-- A correlation key is made of label values and is as long as they are; a btree entry holds at
-- most about 2.7 kB, so a key longer than that failed the insert of its incident after ingest
-- had accepted the alert. The indexes hold the key's SHA-256 instead: 32 bytes whatever the key.
-- incident-core computes the same digest (tocsin_domain::correlation::digest) to look keys up;
-- the key itself stays in `correlation_key`, readable.
--
-- convert_to is only STABLE (a conversion could be redefined); to UTF-8 in a UTF-8 database it
-- never changes anything, so the wrapper may say IMMUTABLE, which a generated column requires.
CREATE FUNCTION correlation_digest(correlation_key text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT sha256(convert_to(correlation_key, 'UTF8')) $$;

ALTER TABLE incidents
    ADD COLUMN correlation_digest bytea NOT NULL GENERATED ALWAYS AS (correlation_digest(correlation_key)) STORED;

-- At most one active incident per key, as before, now by digest.
CREATE UNIQUE INDEX incidents_one_active_per_digest ON incidents (correlation_digest) WHERE status <> 'resolved';
CREATE INDEX incidents_resolved_by_digest ON incidents (correlation_digest, resolved_at DESC) WHERE status = 'resolved';
DROP INDEX incidents_one_active_per_key;
DROP INDEX incidents_resolved_by_key;
