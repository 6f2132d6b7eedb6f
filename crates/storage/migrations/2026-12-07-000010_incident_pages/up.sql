-- An incident's alerts are read a page at a time, oldest `starts_at` first, the id breaking ties
-- (GET /incidents/{id}/alerts, keyset cursors). With the id in the index, a page is one range scan
-- that stops after the page, however many alerts share a `starts_at` (one webhook of thousands of
-- alerts often does); without it, every alert at the cursor's time was read and sorted first.
-- It replaces the narrower index, which served nothing the new one does not.
CREATE INDEX alerts_by_incident_page ON alerts (incident_id, starts_at, id);
DROP INDEX alerts_by_incident;
