ALTER TABLE notification_deliveries DROP COLUMN traceparent;
ALTER TABLE outbox DROP COLUMN traceparent;
