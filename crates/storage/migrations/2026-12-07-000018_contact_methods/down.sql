DELETE FROM notification_deliveries WHERE contact_method_id IS NOT NULL;
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_status_check;
ALTER TABLE notification_deliveries
    ADD CONSTRAINT notification_deliveries_status_check CHECK (status IN ('pending', 'sent', 'dead'));
ALTER TABLE notification_deliveries DROP COLUMN contact_method_id;
DROP TABLE user_notification_rules;
DROP TABLE user_contact_methods;
