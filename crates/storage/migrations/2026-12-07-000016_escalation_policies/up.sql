-- Escalation policies (docs/oncall.md, "Escalation"): who is paged, step by step, until someone
-- acknowledges. A policy belongs to a team and lives in versions that are never changed once
-- written: an incident escalates on the version in force when it opened, so an edit applies to the
-- incidents that open after it and never breaks one already escalating.
CREATE TABLE escalation_policies (
    id         uuid PRIMARY KEY,
    team_id    uuid NOT NULL REFERENCES teams (id),
    name       text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, name)
);

CREATE TABLE escalation_policy_versions (
    policy_id  uuid NOT NULL REFERENCES escalation_policies (id) ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version >= 1),
    -- The steps, repeats, acknowledgement timeout and urgency, as tocsin_storage::escalation's
    -- PolicyDefinition writes them; checked against the domain's limits before they are stored.
    definition jsonb NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (policy_id, version)
);

-- The policy a service's incidents escalate on, and a team's for its services that name none.
ALTER TABLE teams ADD COLUMN escalation_policy_id uuid REFERENCES escalation_policies (id);
ALTER TABLE catalogue_services ADD COLUMN escalation_policy_id uuid REFERENCES escalation_policies (id);
