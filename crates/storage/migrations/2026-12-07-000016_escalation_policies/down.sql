ALTER TABLE catalogue_services DROP COLUMN escalation_policy_id;
ALTER TABLE teams DROP COLUMN escalation_policy_id;
DROP TABLE escalation_policy_versions;
DROP TABLE escalation_policies;
