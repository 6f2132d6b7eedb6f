//! The escalation engine's statements, by name, with their parameters in order. The three the
//! timeline hook runs take whole columns as arrays, one statement per kind of status change
//! whatever the batch's size (an incident storm opens thousands of incidents in one batch).

/// Opened and reopened incidents: a new epoch, with the policy not yet decided (the engine decides
/// it when the row comes due). Due at the change's time when a policy applies to the incident (its
/// service's in the catalogue, else its team's), else never: an incident opened while no policy
/// applies has nothing to escalate, and the engine never has to claim it (an incident storm in a
/// shop without policies costs one insert per batch and nothing after). An incident without a row
/// starts after the last epoch its pages name (none for a new one; some for one restored from the
/// archive and reopened), so an epoch is never used twice. An incident a maintenance window holds
/// (attached in the same transaction, before this runs) waits with nothing due: the release starts
/// it again when the hold ends (`crate::maintenance`). `$1`, `$2`: incident ids, times.
pub const START: &str = "INSERT INTO incident_escalations AS e (incident_id, epoch, step, pass, next_at, started_at) \
     SELECT d.id, coalesce((SELECT max(p.epoch) FROM pages p WHERE p.incident_id = d.id), 0) + 1, 0, 0, \
     CASE WHEN NOT EXISTS (SELECT 1 FROM incident_maintenance m WHERE m.incident_id = d.id AND m.released_at IS NULL) \
           AND (EXISTS (SELECT 1 FROM catalogue_services s \
                        WHERE s.service = i.service AND s.escalation_policy_id IS NOT NULL) \
                OR EXISTS (SELECT 1 FROM teams t WHERE t.slug = i.team AND t.escalation_policy_id IS NOT NULL)) \
          THEN d.at END, \
     d.at \
     FROM unnest($1::uuid[], $2::timestamptz[]) AS d(id, at) JOIN incidents i ON i.id = d.id \
     ON CONFLICT (incident_id) DO UPDATE SET epoch = e.epoch + 1, policy_id = NULL, policy_version = NULL, \
     acknowledge_timeout = NULL, step = 0, pass = 0, next_at = EXCLUDED.next_at, started_at = EXCLUDED.started_at";

/// An open incident whose severity a person raised: when its escalation was decided at the old
/// severity and has paged nobody in this epoch (a warning waiting for working hours, or notifying
/// only), the decision is undone and the row is due at the edit, so the engine decides again with
/// the new severity, from the epoch's start. An escalation that has paged already goes on; its
/// next steps read the severity when they fire. `$1`: incident id, `$2`: the edit's time.
pub const RAISED: &str = "UPDATE incident_escalations AS e SET policy_id = NULL, policy_version = NULL, \
     acknowledge_timeout = NULL, step = 0, pass = 0, next_at = $2 \
     WHERE e.incident_id = $1 AND e.policy_version IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.incident_id = e.incident_id AND p.epoch = e.epoch)";

/// Acknowledged incidents: a new epoch, due again from the first step when the policy's
/// acknowledge timeout runs out, or never. A row whose policy is still undecided stays due, so the
/// engine decides it, finds the incident acknowledged and sets the timer itself.
/// `$1`, `$2`: incident ids, times.
pub const ACKNOWLEDGE: &str = "UPDATE incident_escalations AS e SET epoch = e.epoch + 1, step = 0, pass = 0, \
     started_at = d.at, \
     next_at = CASE WHEN e.policy_version IS NULL AND e.next_at IS NOT NULL THEN e.next_at \
                    ELSE d.at + e.acknowledge_timeout END \
     FROM unnest($1::uuid[], $2::timestamptz[]) AS d(id, at) WHERE e.incident_id = d.id";

/// Locks the escalations of incidents being acknowledged before [`ACKNOWLEDGED_STEPS`] reads
/// them: a step the engine is firing is waited for, and the read that follows (a new snapshot)
/// sees its pages. `$1`: incident ids.
pub const LOCK_ACKNOWLEDGED: &str =
    "SELECT incident_id FROM incident_escalations WHERE incident_id = ANY($1) ORDER BY incident_id FOR UPDATE";

/// The step each escalation being acknowledged had fired last in its epoch (none fired: no row),
/// the team whose policy it escalates on, and when the epoch started: what the time to
/// acknowledge a step is measured from. `$1`: incident ids.
pub const ACKNOWLEDGED_STEPS: &str = "SELECT e.incident_id, e.started_at, t.slug AS team, last.step \
     FROM incident_escalations AS e \
     JOIN escalation_policies AS ep ON ep.id = e.policy_id JOIN teams AS t ON t.id = ep.team_id \
     CROSS JOIN LATERAL (SELECT p.step FROM pages AS p WHERE p.incident_id = e.incident_id AND p.epoch = e.epoch \
                         ORDER BY p.pass DESC, p.step DESC LIMIT 1) AS last \
     WHERE e.incident_id = ANY($1)";

/// Whether an acknowledged incident's acknowledgement has run out: its escalation's epoch, which the
/// acknowledgement started, has paged someone (only the acknowledge timeout pages in that epoch).
/// `$1`: the incident.
pub const ACKNOWLEDGEMENT_EXPIRED: &str = "SELECT EXISTS (SELECT 1 FROM incident_escalations AS e \
     JOIN pages AS p ON p.incident_id = e.incident_id AND p.epoch = e.epoch WHERE e.incident_id = $1) AS expired";

/// Resolved incidents: a new epoch with nothing due. The row stays (retention deletes it with the
/// incident) so that a reopen starts the epoch after, never one whose pages are already written.
/// `$1`, `$2`: incident ids, times.
pub const END: &str = "UPDATE incident_escalations AS e SET epoch = e.epoch + 1, next_at = NULL, started_at = d.at \
     FROM unnest($1::uuid[], $2::timestamptz[]) AS d(id, at) WHERE e.incident_id = d.id";

/// Claims the most overdue due row nobody else holds, never waiting for one another transaction
/// holds. `$1`: now.
pub const CLAIM: &str = "SELECT incident_id, epoch, policy_id, policy_version, step, pass, next_at, started_at \
     FROM incident_escalations WHERE next_at <= $1 ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED";

/// Stores the decided policy and what is due next. `$1`: incident id; `$2`–`$7`: policy id,
/// version, acknowledge timeout in seconds, step, pass, next due time.
pub const DECIDE: &str = "UPDATE incident_escalations SET policy_id = $2, policy_version = $3, \
     acknowledge_timeout = $4 * interval '1 second', step = $5, pass = $6, next_at = $7 WHERE incident_id = $1";

/// Moves the escalation to its next step (`$2`, `$3`: step, pass) due at `$4` (NULL: nothing
/// more). `$1`: incident id.
pub const ADVANCE: &str = "UPDATE incident_escalations SET step = $2, pass = $3, next_at = $4 WHERE incident_id = $1";

/// The pages of one step, the idempotency key refusing any already written. `$1`–`$5`: incident
/// id, epoch, step, pass, when; `$6`, `$7`: the users and the channels paged, side by side, one of
/// each pair NULL (both NULL: the mark of a step that reached nobody). Returns one row per page
/// written.
pub const INSERT_PAGES: &str = "INSERT INTO pages (incident_id, epoch, step, pass, user_id, channel, paged_at) \
     SELECT $1, $2, $3, $4, d.user_id, d.channel, $5 FROM unnest($6::uuid[], $7::text[]) AS d(user_id, channel) \
     ON CONFLICT DO NOTHING RETURNING id";

/// Escalations whose step has been due for more than a minute: the engine is behind or down.
/// `$1`: a minute ago.
pub const OVERDUE: &str = "SELECT count(*) AS n FROM incident_escalations WHERE next_at < $1";

/// The team of a policy and the zone of its oldest schedule, for the night-pages metric. `$1`: the
/// policy.
pub const POLICY_TEAM: &str = "SELECT t.slug, (SELECT s.time_zone FROM schedules AS s WHERE s.team_id = t.id \
     ORDER BY s.created_at, s.id LIMIT 1) AS time_zone \
     FROM escalation_policies AS p JOIN teams AS t ON t.id = p.team_id WHERE p.id = $1";

/// People's own time zones. `$1`: user ids.
pub const USER_ZONES: &str = "SELECT id, time_zone FROM users WHERE id = ANY($1)";
