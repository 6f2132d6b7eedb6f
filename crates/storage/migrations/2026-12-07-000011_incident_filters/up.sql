-- The list API filters by status, service and team and pages newest first by (opened_at, id).
-- With only the (opened_at DESC, id DESC) indexes, PostgreSQL walks the incidents newest first
-- and drops those that do not match: cheap for a value most incidents have, but a quiet service,
-- a small team or the few thousand open incidents among a year of resolved ones made it read
-- hundreds of thousands of rows for one page, and the whole table for the last page of a filter
-- (make bench-data, docs/benchmarks.md "A year of data"). Each index here starts at the filter's
-- value and is already in the list's order, so a page reads about the rows it returns.
--
-- The partial incidents_active_newest_first serves `status <> 'resolved'` only; a full index on
-- status serves each status, open as well as resolved.
CREATE INDEX incidents_by_status_newest_first ON incidents (status, opened_at DESC, id DESC);

-- Service and team are label values, which ingest accepts up to INGEST_MAX_LABEL_VALUE_BYTES
-- (4,096 by default), and a btree entry holds about 2.7 kB: an index of the whole value would
-- fail the insert of an incident with a longer one, after its alert was accepted (the reason for
-- migration 000009). These index the values of up to 1,000 bytes, every real service and team;
-- the list adds the same `octet_length(...) <= 1000` to a filter on such a value so that
-- PostgreSQL may use them (tocsin_storage::reads::list_incidents), and reads a longer value's
-- incidents without them.
CREATE INDEX incidents_by_service_newest_first ON incidents (service, opened_at DESC, id DESC)
    WHERE octet_length(service) <= 1000;
CREATE INDEX incidents_by_team_newest_first ON incidents (team, opened_at DESC, id DESC)
    WHERE octet_length(team) <= 1000;
