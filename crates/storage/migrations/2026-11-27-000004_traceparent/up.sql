-- The W3C trace context a row hands on (docs/configuration.md, "OpenTelemetry"): on an outbox event,
-- the span that applied the change, which the relay's span continues; on a delivery, the notifier's
-- span that routed the event, which each delivery attempt continues, however much later it runs.
-- NULL when traces are off or the trace was not sampled. Nullable without a default, so adding the
-- columns rewrites nothing.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
ALTER TABLE notification_deliveries ADD COLUMN traceparent TEXT;
