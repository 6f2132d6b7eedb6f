DROP TABLE audit_log;
DROP TABLE catalogue_services;
DROP TABLE teams;
