DROP TABLE pages;
DROP TABLE incident_escalations;
