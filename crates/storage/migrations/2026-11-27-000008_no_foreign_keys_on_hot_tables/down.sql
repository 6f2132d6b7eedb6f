-- Back to foreign keys. Fails, naming the row, if an alert or timeline entry has no incident.
ALTER TABLE alerts
    ADD CONSTRAINT alerts_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id) ON DELETE CASCADE;
ALTER TABLE timeline_entries
    ADD CONSTRAINT timeline_entries_incident_id_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id) ON DELETE CASCADE;
