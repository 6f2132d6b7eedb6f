DROP TABLE incident_maintenance;
DROP TABLE maintenance_windows;
