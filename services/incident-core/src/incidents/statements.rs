//! The statements that write a batch of alerts, by name, with their parameters in order.
//!
//! They live here rather than inline because `make bench`'s ceiling (crates/loadgen/src/bench/
//! ceiling.rs) runs these same texts on the same rows with none of tocsin's logic in between: the
//! ceiling is the machine's limit for this work only while it is this work, so it reads the text
//! from the one place incident-core does. Each takes whole columns as arrays: one statement per
//! step whatever the batch's size, prepared once (a multi-row `VALUES` would bind a dozen
//! parameters per alert, parsed and planned afresh for every batch).

/// Advisory locks on alert occurrences, taken in one sorted order so that replicas never wait on
/// each other in a cycle. `$1`: the occurrence keys.
pub const LOCK_OCCURRENCES: &str = "SELECT count(pg_advisory_xact_lock(h)) FROM \
     (SELECT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks";

/// The columns of new alerts. `$1`–`$11`: incident ids, fingerprints, starts, ends, states,
/// labels, annotations, generator URLs, receivers, group keys, times received; `$12`: now.
pub const INSERT_ALERTS: &str = "INSERT INTO alerts (incident_id, fingerprint, starts_at, ends_at, state, labels, \
     annotations, generator_url, receiver, group_key, first_received_at, last_received_at, last_firing_report_at) \
     SELECT incident_id, fingerprint, starts_at, ends_at, state, labels, annotations, generator_url, \
     receiver, group_key, $12, $12, received_at \
     FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::jsonb[], \
     $7::jsonb[], $8::text[], $9::text[], $10::text[], $11::timestamptz[]) \
     AS d(incident_id, fingerprint, starts_at, ends_at, state, labels, annotations, generator_url, \
     receiver, group_key, received_at)";

/// The rows of new incidents as they stand after their first alerts, without arbitration.
macro_rules! insert_incidents {
    () => {
        "INSERT INTO incidents (id, correlation_key, title, service, environment, severity, team, status, \
         runbook_url, source_fingerprint, source_starts_at, source_labels, alert_count, firing_count, opened_at, \
         created_at, updated_at) \
         SELECT id, correlation_key, title, service, environment, severity, team, 'open', runbook_url, \
         source_fingerprint, source_starts_at, source_labels, alert_count, firing_count, source_starts_at, $14, $14 \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::timestamptz[], $11::jsonb[], $12::int4[], $13::int4[]) \
         AS d(id, correlation_key, title, service, environment, severity, team, runbook_url, source_fingerprint, \
         source_starts_at, source_labels, alert_count, firing_count)"
    };
}

/// New incidents' rows, each inserted only if no active incident holds its key: the partial
/// unique index arbitrates the race between replicas for a key, and its predicate is spelled out
/// as a literal because PostgreSQL matches it at planning time. Returns the rows inserted.
/// `$1`–`$13`: ids, correlation keys, titles, services, environments, severities, teams, runbook
/// URLs, source fingerprints, source starts, source labels, alert counts, firing counts; `$14`: now.
pub const OPEN_INCIDENTS: &str =
    concat!(insert_incidents!(), " ON CONFLICT (correlation_digest) WHERE status <> 'resolved' DO NOTHING RETURNING *");

/// [`OPEN_INCIDENTS`] without the arbitration: the rows alone, which is what the bench's ceiling
/// measures PostgreSQL against (incident-core itself always arbitrates).
pub const INSERT_INCIDENT_ROWS: &str = insert_incidents!();

/// Moves incidents' counts by what a step added. `$1`–`$4`: incident ids, alerts added, of them
/// firing, the earliest start among them; `$5`: now. Returns the incidents as they now stand.
pub const ADD_TO_COUNTS: &str = "UPDATE incidents AS i SET alert_count = i.alert_count + d.added, \
     firing_count = i.firing_count + d.firing, opened_at = LEAST(i.opened_at, d.earliest), \
     version = i.version + 1, updated_at = $5 \
     FROM unnest($1::uuid[], $2::int4[], $3::int4[], $4::timestamptz[]) AS d(id, added, firing, earliest) \
     WHERE i.id = d.id RETURNING i.*";

/// Timeline entries. `$1`–`$6`: incident ids, times, kinds, actors, statuses, details.
pub const INSERT_TIMELINE: &str = "INSERT INTO timeline_entries (incident_id, at, kind, actor, status, detail) \
     SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::jsonb[])";
