//! Escalation policies as stored (migration 000016), read back as `tocsin_domain::escalation`'s
//! [`Policy`]. A policy lives in versions that are never changed: [`put_version`] adds the next
//! one, and an incident keeps escalating on the version it started with (docs/oncall.md).

use crate::StorageError;
use crate::schedules::{LoadError, restrictions, zone};
use diesel::sql_types::{Bool, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tocsin_domain::Severity;
use tocsin_domain::escalation::{LowUrgency, Policy, PolicyError, Step, Target, Urgency};
use uuid::Uuid;

/// A version of a policy as it is written, in the API and in the `definition` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDefinition {
    pub steps: Vec<StepDefinition>,
    /// How many more times the policy runs after its last step.
    #[serde(default)]
    pub repeat: u32,
    /// Re-escalate an acknowledged incident nobody resolved within this many minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_timeout_minutes: Option<u32>,
    #[serde(default)]
    pub urgency: UrgencyDefinition,
}

/// A step: its targets (1 to 20) are paged together, and the next step fires after
/// `escalate_after_minutes` (1 to 1,440) unless someone acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDefinition {
    pub targets: Vec<Target>,
    pub escalate_after_minutes: u32,
}

/// Which incidents page at once, and what the others do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UrgencyDefinition {
    /// Incidents at least this severe page at once.
    #[serde(default = "critical")]
    pub high_from: Severity,
    #[serde(default)]
    pub low: LowUrgencyDefinition,
}

impl Default for UrgencyDefinition {
    fn default() -> UrgencyDefinition {
        UrgencyDefinition { high_from: critical(), low: LowUrgencyDefinition::NotifyOnly }
    }
}

fn critical() -> Severity {
    Severity::Critical
}

/// Incidents below `high_from`: `"notify_only"` (the channels hear, nobody is paged), or
/// `{"working_hours": {...}}` (paged like the others, but only within those hours).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LowUrgencyDefinition {
    #[default]
    NotifyOnly,
    /// `hours`: `[{"days": ["monday", …], "start": "09:00", "minutes": 480}]`, as a schedule
    /// layer's restrictions are written.
    WorkingHours {
        time_zone: String,
        #[schema(value_type = Vec<Object>)]
        hours: serde_json::Value,
    },
}

/// Why a version was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// Over a limit or not a policy; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("no escalation policy {0}")]
    UnknownPolicy(Uuid),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for PutError {
    fn from(error: diesel::result::Error) -> Self {
        PutError::Storage(error.into())
    }
}

impl PolicyDefinition {
    /// The domain's policy; [`LoadError::Data`] for a zone or working hours jiff cannot read.
    pub fn to_policy(&self) -> Result<Policy, LoadError> {
        let minutes = |count: u32| SignedDuration::from_mins(i64::from(count));
        Ok(Policy {
            steps: self
                .steps
                .iter()
                .map(|step| Step {
                    targets: step.targets.clone(),
                    escalate_after: minutes(step.escalate_after_minutes),
                })
                .collect(),
            repeat: self.repeat,
            acknowledge_timeout: self.acknowledge_timeout_minutes.map(minutes),
            urgency: Urgency {
                high_from: self.urgency.high_from,
                low: match &self.urgency.low {
                    LowUrgencyDefinition::NotifyOnly => LowUrgency::NotifyOnly,
                    LowUrgencyDefinition::WorkingHours { time_zone, hours } => {
                        LowUrgency::WorkingHours { time_zone: zone(time_zone)?, hours: restrictions(hours.clone())? }
                    }
                },
            },
        })
    }

    /// The policy, checked against the domain's limits: what [`put_version`] stores.
    pub fn validated(&self) -> Result<Policy, String> {
        let policy = self.to_policy().map_err(|error| error.to_string())?;
        policy.validate().map_err(|error: PolicyError| error.to_string())?;
        Ok(policy)
    }
}

pub async fn create_policy(conn: &mut AsyncPgConnection, team_id: Uuid, name: &str) -> Result<Uuid, StorageError> {
    let id = Uuid::now_v7();
    diesel::sql_query("INSERT INTO escalation_policies (id, team_id, name) VALUES ($1, $2, $3)")
        .bind::<SqlUuid, _>(id)
        .bind::<SqlUuid, _>(team_id)
        .bind::<Text, _>(name)
        .execute(conn)
        .await?;
    Ok(id)
}

#[derive(QueryableByName)]
struct VersionNumber {
    #[diesel(sql_type = Integer)]
    version: i32,
}

/// Stores `definition` as the policy's next version and returns its number. Two edits at once
/// take turns on the policy's row, so each gets a number of its own.
pub async fn put_version(
    conn: &mut AsyncPgConnection,
    policy_id: Uuid,
    definition: &PolicyDefinition,
    created_by: &str,
) -> Result<i32, PutError> {
    definition.validated().map_err(PutError::Invalid)?;
    let text = serde_json::to_value(definition).map_err(|error| PutError::Invalid(error.to_string()))?;
    // In a transaction of its own (a savepoint in the caller's): the lock on the policy's row is
    // held until the insert commits, and the insert, a statement after the wait, sees the version
    // the other edit added.
    conn.transaction(async |conn| {
        let locked = diesel::sql_query("SELECT 0 AS version FROM escalation_policies WHERE id = $1 FOR UPDATE")
            .bind::<SqlUuid, _>(policy_id)
            .get_result::<VersionNumber>(conn)
            .await
            .optional()?;
        if locked.is_none() {
            return Err(PutError::UnknownPolicy(policy_id));
        }
        let stored = diesel::sql_query(
            "INSERT INTO escalation_policy_versions (policy_id, version, definition, created_by) \
             SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM escalation_policy_versions WHERE policy_id = $1 \
             RETURNING version",
        )
        .bind::<SqlUuid, _>(policy_id)
        .bind::<Jsonb, _>(text)
        .bind::<Text, _>(created_by)
        .get_result::<VersionNumber>(conn)
        .await?;
        Ok(stored.version)
    })
    .await
}

#[derive(QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Jsonb)]
    definition: serde_json::Value,
}

/// A version of a policy as written, and as the domain takes it.
#[derive(Debug, Clone)]
pub struct PolicyVersion {
    pub policy_id: Uuid,
    pub version: i32,
    pub definition: PolicyDefinition,
    pub policy: Policy,
}

/// Version `version` of the policy, or its newest when `None`; `None` when there is no such version.
pub async fn load_version(
    conn: &mut AsyncPgConnection,
    policy_id: Uuid,
    version: Option<i32>,
) -> Result<Option<PolicyVersion>, LoadError> {
    let row = diesel::sql_query(
        "SELECT version, definition FROM escalation_policy_versions \
         WHERE policy_id = $1 AND ($2::int4 IS NULL OR version = $2) ORDER BY version DESC LIMIT 1",
    )
    .bind::<SqlUuid, _>(policy_id)
    .bind::<Nullable<Integer>, _>(version)
    .get_result::<VersionRow>(conn)
    .await
    .optional()?;
    let Some(row) = row else { return Ok(None) };
    let definition: PolicyDefinition = serde_json::from_value(row.definition)
        .map_err(|error| LoadError::Data(format!("escalation policy {policy_id} version {}: {error}", row.version)))?;
    let policy = definition.to_policy()?;
    Ok(Some(PolicyVersion { policy_id, version: row.version, definition, policy }))
}

#[derive(QueryableByName)]
struct PolicyId {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    policy_id: Option<Uuid>,
}

/// The policy incidents of `service` escalate on: the service's own in the catalogue, else its
/// owning team's (`team`, the incident's), else none.
pub async fn policy_for(conn: &mut AsyncPgConnection, service: &str, team: &str) -> Result<Option<Uuid>, StorageError> {
    let found = diesel::sql_query(
        "SELECT coalesce( \
             (SELECT escalation_policy_id FROM catalogue_services WHERE service = $1), \
             (SELECT escalation_policy_id FROM teams WHERE slug = $2)) AS policy_id",
    )
    .bind::<Text, _>(service)
    .bind::<Text, _>(team)
    .get_result::<PolicyId>(conn)
    .await?;
    Ok(found.policy_id)
}

/// Makes `policy_id` the team's policy (`None`: the team has none).
pub async fn set_team_policy(
    conn: &mut AsyncPgConnection,
    team_id: Uuid,
    policy_id: Option<Uuid>,
) -> Result<(), StorageError> {
    diesel::sql_query("UPDATE teams SET escalation_policy_id = $2 WHERE id = $1")
        .bind::<SqlUuid, _>(team_id)
        .bind::<Nullable<SqlUuid>, _>(policy_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes `policy_id` the service's own policy (`None`: its team's applies); false when the
/// catalogue has no such service.
pub async fn set_service_policy(
    conn: &mut AsyncPgConnection,
    service: &str,
    policy_id: Option<Uuid>,
) -> Result<bool, StorageError> {
    let updated = diesel::sql_query("UPDATE catalogue_services SET escalation_policy_id = $2 WHERE service = $1")
        .bind::<Text, _>(service)
        .bind::<Nullable<SqlUuid>, _>(policy_id)
        .execute(conn)
        .await?;
    Ok(updated > 0)
}

/// Longest policy name (the table's CHECK).
pub const MAX_POLICY_NAME_BYTES: usize = 200;

/// A policy as listed: whose it is, its name, and its newest version.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct PolicyEntry {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub team_id: Uuid,
    /// The team's slug.
    #[diesel(sql_type = Text)]
    pub team: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    /// None only inside the transaction that creates the policy, before its first version.
    #[diesel(sql_type = Nullable<Integer>)]
    pub newest_version: Option<i32>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: OffsetDateTime,
}

const POLICY_ENTRY: &str = "SELECT p.id, p.team_id, t.slug AS team, p.name, p.created_at, \
     (SELECT max(version) FROM escalation_policy_versions v WHERE v.policy_id = p.id) AS newest_version \
     FROM escalation_policies p JOIN teams t ON t.id = p.team_id";

/// Every policy, or the team's, by team then name.
pub async fn list_policies(
    conn: &mut AsyncPgConnection,
    team_id: Option<Uuid>,
) -> Result<Vec<PolicyEntry>, StorageError> {
    Ok(diesel::sql_query(format!("{POLICY_ENTRY} WHERE ($1::uuid IS NULL OR p.team_id = $1) ORDER BY t.slug, p.name"))
        .bind::<Nullable<SqlUuid>, _>(team_id)
        .load(conn)
        .await?)
}

pub async fn get_policy(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<PolicyEntry>, StorageError> {
    Ok(diesel::sql_query(format!("{POLICY_ENTRY} WHERE p.id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
        .optional()?)
}

/// The policy, its row locked until the caller's transaction ends: a change and the check of
/// who may make it see the same team.
pub async fn lock_policy(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Option<PolicyEntry>, StorageError> {
    Ok(diesel::sql_query(format!("{POLICY_ENTRY} WHERE p.id = $1 FOR UPDATE OF p"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)
        .await
        .optional()?)
}

/// Whether the team has a policy of that name (names are unique within a team).
pub async fn name_taken(conn: &mut AsyncPgConnection, team_id: Uuid, name: &str) -> Result<bool, StorageError> {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = Bool)]
        taken: bool,
    }
    let found = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM escalation_policies WHERE team_id = $1 AND name = $2) AS taken",
    )
    .bind::<SqlUuid, _>(team_id)
    .bind::<Text, _>(name)
    .get_result::<Taken>(conn)
    .await?;
    Ok(found.taken)
}

/// One version of a policy as listed: who added it, when.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct VersionEntry {
    #[diesel(sql_type = Integer)]
    pub version: i32,
    #[diesel(sql_type = Text)]
    pub created_by: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: OffsetDateTime,
}

/// The policy's versions, newest first.
pub async fn versions(conn: &mut AsyncPgConnection, policy_id: Uuid) -> Result<Vec<VersionEntry>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT version, created_by, created_at FROM escalation_policy_versions WHERE policy_id = $1 \
         ORDER BY version DESC",
    )
    .bind::<SqlUuid, _>(policy_id)
    .load(conn)
    .await?)
}

/// The team owning `service` in the catalogue, as (id, slug), with the service's row locked until
/// the caller's transaction ends; None when the catalogue has no such service.
pub async fn lock_service_team(
    conn: &mut AsyncPgConnection,
    service: &str,
) -> Result<Option<(Uuid, String)>, StorageError> {
    #[derive(QueryableByName)]
    struct Owner {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        slug: String,
    }
    let owner = diesel::sql_query(
        "SELECT t.id, t.slug FROM catalogue_services c JOIN teams t ON t.id = c.team_id \
         WHERE c.service = $1 FOR UPDATE OF c",
    )
    .bind::<Text, _>(service)
    .get_result::<Owner>(conn)
    .await
    .optional()?;
    Ok(owner.map(|owner| (owner.id, owner.slug)))
}

/// Where an incident's escalation stands, as `GET /incidents/{id}` shows it (docs/oncall.md, "The
/// escalation engine").
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EscalationStatus {
    /// The policy and version it escalates on; null until the engine decides it (within a tick of
    /// opening) and when no policy applies to the incident.
    pub policy: Option<EscalatingOn>,
    /// What the current round paged (since the incident opened, was acknowledged or reopened),
    /// oldest first, at most 100.
    pub pages: Vec<PageSent>,
    /// The step that fires next and when; null when nothing is due (acknowledged with no
    /// acknowledge timeout, resolved, or the steps ran out).
    pub next_step: Option<NextStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EscalatingOn {
    pub id: Uuid,
    pub name: String,
    pub version: i32,
}

/// One page: a person, a channel, or (both null) a step whose targets reached nobody.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PageSent {
    /// The step (0: the first) and the pass through the policy (0: the first).
    pub step: i32,
    pub pass: i32,
    pub user_id: Option<Uuid>,
    /// Null for a person deleted since: the page is history and stays listed.
    pub user_name: Option<String>,
    pub channel: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NextStep {
    /// The step (0: the first) and the pass through the policy (0: the first); after an
    /// acknowledgement, the first step, due when the acknowledge timeout runs out.
    pub step: i32,
    pub pass: i32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// A step to a team of hundreds pages hundreds: the incident page shows the first ones.
pub const MAX_SHOWN_PAGES: i64 = 100;

#[derive(QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    epoch: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    policy_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    policy_name: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    policy_version: Option<i32>,
    #[diesel(sql_type = Integer)]
    step: i32,
    #[diesel(sql_type = Integer)]
    pass: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    next_at: Option<OffsetDateTime>,
}

#[derive(QueryableByName)]
struct PageRow {
    #[diesel(sql_type = Integer)]
    step: i32,
    #[diesel(sql_type = Integer)]
    pass: i32,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    user_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    user_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    channel: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    paged_at: OffsetDateTime,
}

/// The escalation of `incident`; `None` for an incident that never had one (opened before the
/// engine existed, or restored from the archive).
pub async fn escalation_status(
    conn: &mut AsyncPgConnection,
    incident: Uuid,
) -> Result<Option<EscalationStatus>, StorageError> {
    let Some(row) = diesel::sql_query(
        "SELECT e.epoch, e.policy_id, p.name AS policy_name, e.policy_version, e.step, e.pass, e.next_at \
         FROM incident_escalations AS e LEFT JOIN escalation_policies AS p ON p.id = e.policy_id \
         WHERE e.incident_id = $1",
    )
    .bind::<SqlUuid, _>(incident)
    .get_result::<StatusRow>(conn)
    .await
    .optional()?
    else {
        return Ok(None);
    };
    let pages = diesel::sql_query(
        "SELECT pg.step, pg.pass, pg.user_id, u.name AS user_name, pg.channel, pg.paged_at \
         FROM pages AS pg LEFT JOIN users AS u ON u.id = pg.user_id \
         WHERE pg.incident_id = $1 AND pg.epoch = $2 ORDER BY pg.paged_at, pg.id LIMIT $3",
    )
    .bind::<SqlUuid, _>(incident)
    .bind::<diesel::sql_types::BigInt, _>(row.epoch)
    .bind::<diesel::sql_types::BigInt, _>(MAX_SHOWN_PAGES)
    .load::<PageRow>(conn)
    .await?;
    let policy = match (row.policy_id, row.policy_name, row.policy_version) {
        (Some(id), Some(name), Some(version)) => Some(EscalatingOn { id, name, version }),
        _ => None,
    };
    Ok(Some(EscalationStatus {
        policy,
        pages: pages
            .into_iter()
            .map(|page| PageSent {
                step: page.step,
                pass: page.pass,
                user_id: page.user_id,
                user_name: page.user_name,
                channel: page.channel,
                at: page.paged_at,
            })
            .collect(),
        next_step: row.next_at.map(|at| NextStep { step: row.step, pass: row.pass, at }),
    }))
}
