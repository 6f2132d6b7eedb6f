-- The service catalogue: which team owns each service. An incident's team is its alert's `team`
-- label, else its service's owner here, else "unowned" (tocsin_domain::facts). incident-core
-- reads the catalogue into memory and refreshes it every CATALOGUE_REFRESH, so an edit applies
-- to incidents opened after the next refresh; incidents already open keep their team.
--
-- Teams are named by the slug alerts carry in their `team` label. Members and roles come with
-- sign-in (people); a team exists here as soon as a service is given to it.
CREATE TABLE teams (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (octet_length(slug) BETWEEN 1 AND 200),
    name text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Service names are label values; 1,000 bytes holds every real one and keeps the key well under
-- a btree entry's limit (migration 000009).
CREATE TABLE catalogue_services (
    service text PRIMARY KEY CHECK (octet_length(service) BETWEEN 1 AND 1000),
    team_id uuid NOT NULL REFERENCES teams (id),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);
CREATE INDEX catalogue_services_by_team ON catalogue_services (team_id);

-- Who changed what outside incidents (the catalogue now; teams, members, tokens and settings as
-- they arrive), in the transaction of the change. Incidents have their own timeline.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    subject text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}'
);
