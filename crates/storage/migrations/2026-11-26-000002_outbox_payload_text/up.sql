-- The outbox holds each event as the JSON text the relay publishes as it is: parsing it into jsonb
-- on the way in and printing it again on the way out was the largest cost per alert.
ALTER TABLE outbox ALTER COLUMN payload TYPE text USING payload::text;
