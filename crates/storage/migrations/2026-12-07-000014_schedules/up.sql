-- On-call schedules: the inputs of tocsin_domain::schedule::shifts, which works out who is on
-- call from them (docs/oncall.md). Times a person means on the clock (a hand-off at 09:00) are
-- stored as local `timestamp` with the IANA zone beside them, never as offsets or UTC, so that
-- daylight saving moves nothing; instants (when a version or an override starts and ends) are
-- `timestamptz` ranges, half-open.
--
-- btree_gist gives the exclusion constraints below their `=` on uuid; on Azure the extension
-- must be allow-listed (azure.extensions, terraform/modules/postgres).
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE schedules (
    id         uuid PRIMARY KEY,
    team_id    uuid NOT NULL REFERENCES teams (id),
    name       text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 200),
    -- An IANA zone name, checked by query before it is stored (jiff knows the database).
    time_zone  text NOT NULL CHECK (octet_length(time_zone) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, name)
);

-- One version of a layer, in force over `effective`. An edit ends the current version and starts
-- the next at the same instant, so who was on call in the past never changes; the exclusion
-- constraint keeps two versions of one layer from being in force at once, whoever writes them.
CREATE TABLE schedule_layers (
    id            uuid PRIMARY KEY,
    schedule_id   uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    -- The layer across its versions.
    layer         uuid NOT NULL,
    priority      integer NOT NULL,
    -- Null: the schedule's zone.
    time_zone     text CHECK (octet_length(time_zone) BETWEEN 1 AND 64),
    first_handoff timestamp NOT NULL,
    shift_unit    text NOT NULL CHECK (shift_unit IN ('hours', 'days', 'weeks', 'months')),
    shift_count   integer NOT NULL CHECK (shift_count BETWEEN 1 AND 1000),
    -- [{"days": ["monday", ...], "start": "09:00", "minutes": 480}, ...]; empty: the whole week.
    restrictions  jsonb NOT NULL DEFAULT '[]',
    effective     tstzrange NOT NULL
        CHECK (NOT isempty(effective) AND lower_inc(effective) AND NOT upper_inc(effective) AND NOT lower_inf(effective)),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schedule_layers_one_version_at_a_time EXCLUDE USING gist (layer WITH =, effective WITH &&)
);
CREATE INDEX schedule_layers_by_schedule ON schedule_layers (schedule_id);

CREATE TABLE schedule_layer_members (
    layer_version_id uuid NOT NULL REFERENCES schedule_layers (id) ON DELETE CASCADE,
    position         integer NOT NULL CHECK (position >= 0),
    user_id          uuid NOT NULL REFERENCES users (id),
    PRIMARY KEY (layer_version_id, position)
);

-- Someone on call instead, for a time range: in place of one person (replaces_user_id) or of
-- whoever is on call (null). Two overrides of one schedule never overlap: the database refuses the
-- second, so two people taking the same shift at the same moment cannot both succeed.
CREATE TABLE schedule_overrides (
    id               uuid PRIMARY KEY,
    schedule_id      uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id),
    replaces_user_id uuid REFERENCES users (id),
    during           tstzrange NOT NULL
        CHECK (NOT isempty(during) AND lower_inc(during) AND NOT upper_inc(during)
               AND NOT lower_inf(during) AND NOT upper_inf(during)),
    reason           text NOT NULL DEFAULT '' CHECK (octet_length(reason) <= 1000),
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schedule_overrides_never_overlap EXCLUDE USING gist (schedule_id WITH =, during WITH &&)
);
