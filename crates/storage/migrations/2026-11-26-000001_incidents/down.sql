DROP TABLE command_outcomes;
DROP TABLE outbox;
DROP TABLE timeline_entries;
DROP TABLE alerts;
DROP TABLE incidents;
