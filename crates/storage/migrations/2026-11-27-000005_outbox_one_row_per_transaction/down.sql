-- Back to one row per event, in the order the events were written.
CREATE TEMPORARY TABLE outbox_events ON COMMIT DROP AS
SELECT u.event_id, u.event::text AS payload, u.traceparent, o.created_at, o.id AS batch, u.position
  FROM outbox o,
       unnest(o.event_ids, ARRAY(SELECT jsonb_array_elements(o.events::jsonb)), o.traceparents)
           WITH ORDINALITY AS u(event_id, event, traceparent, position);
DELETE FROM outbox;
ALTER TABLE outbox
    DROP CONSTRAINT outbox_one_trace_context_per_event,
    DROP COLUMN event_ids,
    DROP COLUMN traceparents,
    ADD COLUMN event_id uuid UNIQUE,
    ADD COLUMN traceparent text;
ALTER TABLE outbox RENAME COLUMN events TO payload;
INSERT INTO outbox (event_id, payload, traceparent, created_at)
SELECT event_id, payload, traceparent, created_at FROM outbox_events ORDER BY batch, position;
ALTER TABLE outbox ALTER COLUMN event_id SET NOT NULL;
