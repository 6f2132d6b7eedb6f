//! Claiming due escalations and firing their steps, each in one transaction of its own: the claim
//! (`FOR UPDATE SKIP LOCKED` on the escalation's row, never on the incident's), deciding the
//! policy when the epoch has none yet, working out who the step reaches, the pages under their
//! idempotency key, the `paged` timeline entry and outbox event, and the next step.
//!
//! Why this gives every step exactly once: the row stays locked from the claim to the commit,
//! which also moves it to its next step, so a second replica skips it and a crash in between rolls
//! the whole step back (the row is due again, nothing was sent). The pages' unique key (incident,
//! epoch, step, pass, person or channel) refuses a step written twice even if that reasoning ever
//! failed: a step whose pages are already there writes no second event.
//!
//! Why it never deadlocks with people: acknowledging takes the incident's row and then, through
//! the timeline hook, the escalation's; the engine takes the escalation's and then only inserts
//! (timeline, outbox, pages: no foreign keys, so no key-share lock on the incident either) and
//! reads the incident without locking it.

use super::statements;
use super::targets;
use super::task::{PersonPaged, is_night};
use crate::incidents::timeline::{self, Change};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use tocsin_domain::escalation::{self, Due, Position};
use tocsin_domain::{EventKind, IncidentStatus, PageUrgency, Paged, PagedUser, Severity};
use tocsin_storage::StorageError;
use tocsin_storage::escalation::{PolicyVersion, load_version, policy_for};
use tocsin_storage::rows::IncidentRow;
use tocsin_storage::schedules::LoadError;
use tocsin_storage::schema::incidents;
use uuid::Uuid;

/// Who signs what the engine writes on the timeline.
pub const ACTOR: &str = "tocsin";

/// How long an escalation whose policy cannot be read waits before the engine tries it again,
/// so that one broken policy neither stops the others nor spins.
const RETRY_BROKEN_AFTER: time::Duration = time::Duration::minutes(1);

/// What one call of [`fire_due`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FiredSummary {
    /// Due rows claimed, whatever became of them.
    pub claimed: usize,
    /// Steps that paged at least one person.
    pub paged: usize,
    /// Steps that found nobody to page (the next step was due at once).
    pub nobody: usize,
    /// Escalations that fired their last step of their last pass.
    pub ran_out: usize,
    /// Escalations whose policy was decided without a step firing yet: no policy, notify-only,
    /// acknowledged before the first step, waiting for working hours.
    pub decided: usize,
    /// Rows whose incident is gone or resolved, or whose policy version is gone.
    pub ended: usize,
    /// Rows that could not be fired (a policy that cannot be read), tried again a minute later.
    pub failed: usize,
    /// For each step fired, seconds from when it was due to when it fired.
    pub delays: Vec<f64>,
    /// Each person each step paged, in order.
    pub people_paged: Vec<PersonPaged>,
}

impl FiredSummary {
    /// Steps fired.
    pub fn fired(&self) -> usize {
        self.paged + self.nobody
    }
}

#[derive(Debug, thiserror::Error)]
enum FireError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Stored data that cannot be used (a policy, an incident's severity): the row is retried later.
    #[error("{0}")]
    Data(String),
}

impl From<diesel::result::Error> for FireError {
    fn from(error: diesel::result::Error) -> Self {
        FireError::Storage(error.into())
    }
}

impl From<LoadError> for FireError {
    fn from(error: LoadError) -> Self {
        match error {
            LoadError::Storage(error) => FireError::Storage(error),
            LoadError::Data(message) => FireError::Data(message),
        }
    }
}

/// What became of one claimed row.
#[derive(Debug, Clone, PartialEq)]
enum Fired {
    Step { reached_anyone: bool, ran_out: bool, delay: f64, people: Vec<PersonPaged> },
    Decided,
    Ended,
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = SqlUuid)]
    incident_id: Uuid,
    #[diesel(sql_type = BigInt)]
    epoch: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    policy_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Integer>)]
    policy_version: Option<i32>,
    #[diesel(sql_type = Integer)]
    step: i32,
    #[diesel(sql_type = Integer)]
    pass: i32,
    #[diesel(sql_type = Timestamptz)]
    next_at: OffsetDateTime,
    #[diesel(sql_type = Timestamptz)]
    started_at: OffsetDateTime,
}

#[derive(QueryableByName)]
struct PageId {
    #[allow(dead_code, reason = "only counted")]
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Fires the steps due at `now`, at most `limit` rows, each in a transaction of its own on
/// `conn`, most overdue first. A step that reaches nobody makes the next one due at `now`, which
/// the same call fires. Tests call it with the instant they choose: the engine reads no clock.
pub async fn fire_due(
    conn: &mut AsyncPgConnection,
    now: OffsetDateTime,
    limit: usize,
) -> Result<FiredSummary, StorageError> {
    let mut summary = FiredSummary::default();
    let mut read = ReadOnce { on_call_at: targets::OnCallAt::new(now), zones: targets::Zones::default() };
    while summary.claimed < limit {
        let mut claimed = None;
        let result = conn
            .transaction(async |conn| {
                let Some(row) = diesel::sql_query(statements::CLAIM)
                    .bind::<Timestamptz, _>(now)
                    .get_result::<DueRow>(conn)
                    .await
                    .optional()?
                else {
                    return Ok::<_, FireError>(None);
                };
                claimed = Some(row.incident_id);
                fire_one(conn, row, &mut read).await.map(Some)
            })
            .await;
        match result {
            Ok(None) => break,
            Ok(Some(fired)) => {
                summary.claimed += 1;
                match fired {
                    Fired::Step { reached_anyone, ran_out, delay, people } => {
                        if reached_anyone {
                            summary.paged += 1;
                        } else {
                            summary.nobody += 1;
                        }
                        summary.ran_out += usize::from(ran_out);
                        summary.delays.push(delay);
                        summary.people_paged.extend(people);
                    }
                    Fired::Decided => summary.decided += 1,
                    Fired::Ended => summary.ended += 1,
                }
            }
            Err(FireError::Storage(error)) => return Err(error),
            Err(FireError::Data(error)) => {
                let Some(incident_id) = claimed else { return Err(StorageError::Corrupt(error)) };
                tracing::error!(incident.id = %incident_id, %error, "cannot escalate the incident: trying again in a minute");
                summary.claimed += 1;
                summary.failed += 1;
                diesel::sql_query(
                    "UPDATE incident_escalations SET next_at = $2 WHERE incident_id = $1 AND next_at <= $3",
                )
                .bind::<SqlUuid, _>(incident_id)
                .bind::<Timestamptz, _>(now + RETRY_BROKEN_AFTER)
                .bind::<Timestamptz, _>(now)
                .execute(conn)
                .await?;
            }
        }
    }
    Ok(summary)
}

/// What one [`fire_due`] call reads once and its steps share: who is on call at its instant, and
/// where the people it pages are.
struct ReadOnce {
    on_call_at: targets::OnCallAt,
    zones: targets::Zones,
}

/// Fires `row`'s step (deciding its policy first if need be) at `read.on_call_at.at`.
async fn fire_one(conn: &mut AsyncPgConnection, row: DueRow, read: &mut ReadOnce) -> Result<Fired, FireError> {
    let now = read.on_call_at.at;
    // Read, not locked: see the module's documentation.
    let incident =
        incidents::table.find(row.incident_id).select(IncidentRow::as_select()).first(conn).await.optional()?;
    let Some(incident) = incident else {
        diesel::sql_query("DELETE FROM incident_escalations WHERE incident_id = $1")
            .bind::<SqlUuid, _>(row.incident_id)
            .execute(conn)
            .await?;
        return Ok(Fired::Ended);
    };
    let status = incident.status()?;
    if status == IncidentStatus::Resolved {
        // The resolve's hook clears `next_at`; a row still due is one written before it.
        advance(conn, row.incident_id, Position { step: 0, pass: 0 }, None).await?;
        return Ok(Fired::Ended);
    }
    let severity = Severity::parse(&incident.severity)
        .ok_or_else(|| FireError::Data(format!("incident {} has severity `{}`", incident.id, incident.severity)))?;

    let (version, due) = match (row.policy_id, row.policy_version) {
        (Some(policy_id), Some(number)) => {
            let Some(version) = load_version(conn, policy_id, Some(number)).await? else {
                tracing::warn!(incident.id = %incident.id, policy.id = %policy_id, number, "the escalation's policy is gone: it ends");
                advance(conn, row.incident_id, position_of(&row), None).await?;
                return Ok(Fired::Ended);
            };
            (version, Due { position: position_of(&row), at: instant(row.next_at) })
        }
        _ => {
            let Some(version) = decide(conn, &incident).await? else {
                store_decision(conn, row.incident_id, None, None).await?;
                return Ok(Fired::Decided);
            };
            let started = instant(row.started_at);
            let first = if status == IncidentStatus::Acknowledged {
                // Acknowledged before the engine decided the policy: only its timer runs.
                escalation::acknowledgement_expires(&version.policy, started)
            } else {
                escalation::start(&version.policy, severity, started).map_err(|error| {
                    FireError::Data(format!("policy {} version {}: {error}", version.policy_id, version.version))
                })?
            };
            store_decision(conn, row.incident_id, Some(&version), first).await?;
            match first {
                Some(due) if status != IncidentStatus::Acknowledged && moment(due.at)? <= now => (version, due),
                _ => return Ok(Fired::Decided),
            }
        }
    };
    let urgency = if severity >= version.policy.urgency.high_from { PageUrgency::High } else { PageUrgency::Low };
    fire_step(conn, &row, &incident, urgency, &version, due, read).await
}

/// The newest version of the policy incidents like this one escalate on; `None` when there is none.
async fn decide(conn: &mut AsyncPgConnection, incident: &IncidentRow) -> Result<Option<PolicyVersion>, FireError> {
    let Some(policy_id) = policy_for(conn, &incident.service, &incident.team).await? else { return Ok(None) };
    Ok(load_version(conn, policy_id, None).await?)
}

async fn store_decision(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    version: Option<&PolicyVersion>,
    first: Option<Due>,
) -> Result<(), FireError> {
    let timeout = version.and_then(|version| version.policy.acknowledge_timeout).map(|timeout| timeout.as_secs());
    let position = first.map_or(Position::FIRST, |due| due.position);
    let next_at = first.map(|due| moment(due.at)).transpose()?;
    diesel::sql_query(statements::DECIDE)
        .bind::<SqlUuid, _>(incident_id)
        .bind::<Nullable<SqlUuid>, _>(version.map(|version| version.policy_id))
        .bind::<Nullable<Integer>, _>(version.map(|version| version.version))
        .bind::<Nullable<BigInt>, _>(timeout)
        .bind::<Integer, _>(number(position.step)?)
        .bind::<Integer, _>(number(position.pass)?)
        .bind::<Nullable<Timestamptz>, _>(next_at)
        .execute(conn)
        .await?;
    Ok(())
}

async fn fire_step(
    conn: &mut AsyncPgConnection,
    row: &DueRow,
    incident: &IncidentRow,
    urgency: PageUrgency,
    version: &PolicyVersion,
    due: Due,
    read: &mut ReadOnce,
) -> Result<Fired, FireError> {
    let now = read.on_call_at.at;
    let position = due.position;
    let Some(step) = usize::try_from(position.step).ok().and_then(|index| version.policy.steps.get(index)) else {
        advance(conn, row.incident_id, position, None).await?;
        return Ok(Fired::Ended);
    };
    let reached = targets::resolve(conn, &step.targets, &mut read.on_call_at).await?;
    let reached_anyone = !reached.users.is_empty();
    let next = escalation::after(&version.policy, position, instant(now), reached_anyone);
    let next_at = next.map(|due| moment(due.at)).transpose()?;

    let mut page_users: Vec<Option<Uuid>> = reached.users.iter().map(|user| Some(user.id)).collect();
    let mut page_channels: Vec<Option<&str>> = vec![None; page_users.len()];
    for channel in &reached.channels {
        page_users.push(None);
        page_channels.push(Some(channel));
    }
    if page_users.is_empty() {
        // The mark of a step that reached nobody, under the same key.
        page_users.push(None);
        page_channels.push(None);
    }
    let written = diesel::sql_query(statements::INSERT_PAGES)
        .bind::<SqlUuid, _>(row.incident_id)
        .bind::<BigInt, _>(row.epoch)
        .bind::<Integer, _>(number(position.step)?)
        .bind::<Integer, _>(number(position.pass)?)
        .bind::<Timestamptz, _>(now)
        .bind::<Array<Nullable<SqlUuid>>, _>(page_users)
        .bind::<Array<Nullable<Text>>, _>(page_channels)
        .load::<PageId>(conn)
        .await?;
    if written.is_empty() {
        // This step of this epoch fired before: its event is written already.
        tracing::warn!(incident.id = %row.incident_id, epoch = row.epoch, step = position.step, pass = position.pass, "a step fired twice was refused by its idempotency key");
        advance(conn, row.incident_id, next.map_or(position, |due| due.position), next_at).await?;
        return Ok(Fired::Ended);
    }

    let people = people_paged(conn, &mut read.zones, version.policy_id, &reached.users, now).await?;
    let paged = Paged {
        epoch: row.epoch,
        policy_id: version.policy_id,
        policy_version: version.version,
        step: position.step,
        pass: position.pass,
        urgency,
        users: reached.users,
        channels: reached.channels,
        unreached: reached.unreached,
        next_at,
    };
    let detail = serde_json::to_value(&paged)
        .map_err(|error| StorageError::Corrupt(format!("the paged detail does not serialise: {error}")))?;
    timeline::record(conn, incident, vec![Change::new(EventKind::Paged, now, ACTOR, detail)], now).await?;
    advance(conn, row.incident_id, next.map_or(position, |due| due.position), next_at).await?;
    let delay = (now - moment(due.at)?).as_seconds_f64().max(0.0);
    Ok(Fired::Step { reached_anyone, ran_out: next.is_none(), delay, people })
}

/// The people-paged metric's labels for `users`, paged at `now` on `policy`.
async fn people_paged(
    conn: &mut AsyncPgConnection,
    zones: &mut targets::Zones,
    policy: Uuid,
    users: &[PagedUser],
    now: OffsetDateTime,
) -> Result<Vec<PersonPaged>, FireError> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let team = zones.team(conn, policy).await?;
    let ids: Vec<Uuid> = users.iter().map(|user| user.id).collect();
    let user_zones = zones.of_users(conn, &ids).await?;
    let team_zone = team.as_ref().and_then(|team| team.time_zone.as_deref());
    let slug = team.as_ref().map_or("", |team| team.slug.as_str());
    Ok(users
        .iter()
        .zip(user_zones)
        .map(|(user, zone)| PersonPaged {
            team: slug.to_owned(),
            person: user.name.clone(),
            night: if is_night(instant(now), &[zone.as_deref(), team_zone]) { "true" } else { "false" },
        })
        .collect())
}

async fn advance(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    position: Position,
    next_at: Option<OffsetDateTime>,
) -> Result<(), FireError> {
    diesel::sql_query(statements::ADVANCE)
        .bind::<SqlUuid, _>(incident_id)
        .bind::<Integer, _>(number(position.step)?)
        .bind::<Integer, _>(number(position.pass)?)
        .bind::<Nullable<Timestamptz>, _>(next_at)
        .execute(conn)
        .await?;
    Ok(())
}

fn position_of(row: &DueRow) -> Position {
    Position { step: u32::try_from(row.step).unwrap_or(0), pass: u32::try_from(row.pass).unwrap_or(0) }
}

fn number(value: u32) -> Result<i32, FireError> {
    i32::try_from(value).map_err(|_| FireError::Data(format!("step or pass {value} out of range")))
}

/// The domain's instant for a PostgreSQL time.
pub(crate) fn instant(at: OffsetDateTime) -> jiff::Timestamp {
    // Every time PostgreSQL holds is within jiff's range (years -9999 to 9999).
    jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos()).unwrap_or(jiff::Timestamp::MAX)
}

fn moment(at: jiff::Timestamp) -> Result<OffsetDateTime, FireError> {
    OffsetDateTime::from_unix_timestamp_nanos(at.as_nanosecond())
        .map_err(|error| FireError::Data(format!("instant {at} out of range: {error}")))
}
