DROP TABLE notification_threads;
DROP TABLE notification_deliveries;
