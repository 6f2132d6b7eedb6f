-- Retention and archival (docs/operations.md, "Retention and archival") find rows by the day they
-- are filed under: incidents (with their alerts, timeline and notification threads) by the day
-- they were created, command outcomes by the day they were applied, deliveries by the day they
-- were recorded. These indexes let the daily archive and the batched deletes read one day, or the
-- oldest expired rows, without scanning the tables.
CREATE INDEX incidents_by_creation ON incidents (created_at);
CREATE INDEX command_outcomes_by_application ON command_outcomes (applied_at);
CREATE INDEX notification_deliveries_by_creation ON notification_deliveries (created_at);
