-- Fails, as it should, if an incident's key is too long for the btree: such incidents could not
-- have been stored before this migration.
CREATE UNIQUE INDEX incidents_one_active_per_key ON incidents (correlation_key) WHERE status <> 'resolved';
CREATE INDEX incidents_resolved_by_key ON incidents (correlation_key, resolved_at DESC) WHERE status = 'resolved';
DROP INDEX incidents_one_active_per_digest;
DROP INDEX incidents_resolved_by_digest;
ALTER TABLE incidents DROP COLUMN correlation_digest;
DROP FUNCTION correlation_digest(text);
