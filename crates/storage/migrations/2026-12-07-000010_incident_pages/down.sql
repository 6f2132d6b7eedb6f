CREATE INDEX alerts_by_incident ON alerts (incident_id, starts_at);
DROP INDEX alerts_by_incident_page;
