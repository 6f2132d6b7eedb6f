-- One outbox row per transaction instead of one per event. A batch of 500 alerts made 500 rows,
-- each with two index entries, then 500 deletes once relayed: a large share of the write-ahead log
-- of an alert. Now a batch writes one row holding its events as a JSON array (large enough to be
-- TOASTed and compressed) with their ids and trace contexts in the same order, and the relay
-- deletes one row. Events already waiting are kept, each as a batch of one.
ALTER TABLE outbox ADD COLUMN event_ids uuid[], ADD COLUMN traceparents text[];
UPDATE outbox SET payload = '[' || payload || ']', event_ids = ARRAY[event_id], traceparents = ARRAY[traceparent];
ALTER TABLE outbox
    DROP COLUMN event_id,
    DROP COLUMN traceparent,
    ALTER COLUMN event_ids SET NOT NULL,
    ALTER COLUMN traceparents SET NOT NULL,
    ADD CONSTRAINT outbox_one_trace_context_per_event
        CHECK (cardinality(event_ids) > 0 AND cardinality(traceparents) = cardinality(event_ids));
ALTER TABLE outbox RENAME COLUMN payload TO events;
