//! Who a step's targets name at the moment it fires: a user, whoever is on call in a schedule, a
//! team's responders and managers (not its viewers), a channel by name. A target that names nobody
//! (a schedule with a gap, a team without responders, a user who no longer exists, a schedule that
//! was deleted or cannot be computed) is reported as unreached, never skipped in silence.

use super::statements;
use diesel::sql_types::{Array, Nullable, Text, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};
use tocsin_domain::PagedUser;
use tocsin_domain::escalation::Target;
use tocsin_domain::roles::Role;
use tocsin_domain::schedule::{ON_CALL_HORIZON, on_call_at};
use tocsin_storage::StorageError;
use tocsin_storage::schedules::{self, LoadError};
use tocsin_storage::teams;
use uuid::Uuid;

/// Who one step reaches.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reached {
    /// Each person once, in the order the targets first named them.
    pub users: Vec<PagedUser>,
    /// Each channel once.
    pub channels: Vec<String>,
    pub unreached: Vec<Target>,
}

impl Reached {
    fn add_user(&mut self, user: PagedUser) {
        if !self.users.iter().any(|known| known.id == user.id) {
            self.users.push(user);
        }
    }
}

/// Who is on call in each schedule at one instant, worked out once per [`super::fire_due`] call:
/// in an incident storm hundreds of steps page the same schedule at the same `now`, and reading it
/// and computing its shifts over the on-call horizon is most of a step's cost.
#[derive(Debug)]
pub(crate) struct OnCallAt {
    pub at: OffsetDateTime,
    on_call: HashMap<Uuid, Option<Uuid>>,
}

impl OnCallAt {
    pub fn new(at: OffsetDateTime) -> OnCallAt {
        OnCallAt { at, on_call: HashMap::new() }
    }
}

/// Where the people a [`super::fire_due`] call pages are, for the night-pages metric: each
/// person's own time zone and each policy's team (its slug, and the zone of its oldest schedule,
/// teams having no zone of their own), each read once per call, in the transaction of the first
/// step that needs it.
#[derive(Debug, Default)]
pub(crate) struct Zones {
    users: HashMap<Uuid, Option<String>>,
    policies: HashMap<Uuid, PolicyTeam>,
}

#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct PolicyTeam {
    #[diesel(sql_type = Text)]
    pub slug: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub time_zone: Option<String>,
}

impl Zones {
    /// The team of `policy`; `None` when the policy is gone.
    pub async fn team(
        &mut self,
        conn: &mut AsyncPgConnection,
        policy: Uuid,
    ) -> Result<Option<PolicyTeam>, StorageError> {
        if let Some(team) = self.policies.get(&policy) {
            return Ok(Some(team.clone()));
        }
        let team: Option<PolicyTeam> =
            diesel::sql_query(statements::POLICY_TEAM).bind::<SqlUuid, _>(policy).get_result(conn).await.optional()?;
        if let Some(team) = &team {
            self.policies.insert(policy, team.clone());
        }
        Ok(team)
    }

    /// The time zone each of `users` set, `None` for one who set none; one statement for those not
    /// read yet.
    pub async fn of_users(
        &mut self,
        conn: &mut AsyncPgConnection,
        users: &[Uuid],
    ) -> Result<Vec<Option<String>>, StorageError> {
        #[derive(QueryableByName)]
        struct UserZone {
            #[diesel(sql_type = SqlUuid)]
            id: Uuid,
            #[diesel(sql_type = Nullable<Text>)]
            time_zone: Option<String>,
        }
        let unknown: Vec<Uuid> = users.iter().filter(|id| !self.users.contains_key(id)).copied().collect();
        if !unknown.is_empty() {
            let zones: Vec<UserZone> =
                diesel::sql_query(statements::USER_ZONES).bind::<Array<SqlUuid>, _>(&unknown).load(conn).await?;
            for id in unknown {
                self.users.insert(id, None);
            }
            for zone in zones {
                self.users.insert(zone.id, zone.time_zone);
            }
        }
        Ok(users.iter().map(|id| self.users.get(id).cloned().flatten()).collect())
    }
}

/// Resolves `targets` at `on_call_at.at`.
pub(crate) async fn resolve(
    conn: &mut AsyncPgConnection,
    targets: &[Target],
    on_call_at: &mut OnCallAt,
) -> Result<Reached, StorageError> {
    let at = on_call_at.at;
    let mut reached = Reached::default();
    for target in targets {
        let users = match target {
            Target::User(id) => users(conn, &[*id]).await?,
            Target::Schedule(id) => {
                let member = match on_call_at.on_call.get(id) {
                    Some(member) => *member,
                    None => {
                        let member = on_call(conn, *id, at).await?;
                        on_call_at.on_call.insert(*id, member);
                        member
                    }
                };
                match member {
                    Some(member) => users(conn, &[member]).await?,
                    None => Vec::new(),
                }
            }
            Target::Team(id) => teams::members(conn, *id)
                .await?
                .into_iter()
                .filter(|member| matches!(member.role, Role::Responder | Role::Manager))
                .map(|member| PagedUser { id: member.user.id, name: member.user.name, email: member.user.email })
                .collect(),
            Target::Channel(name) => {
                if !reached.channels.contains(name) {
                    reached.channels.push(name.clone());
                }
                continue;
            }
        };
        if users.is_empty() {
            reached.unreached.push(target.clone());
        }
        for user in users {
            reached.add_user(user);
        }
    }
    Ok(reached)
}

async fn users(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> Result<Vec<PagedUser>, StorageError> {
    Ok(schedules::users_by_id(conn, ids)
        .await?
        .into_iter()
        .map(|member| PagedUser { id: member.id, name: member.name, email: member.email })
        .collect())
}

/// Who is on call in schedule `id` at `at`; `None` in a gap, or when the schedule is gone or its
/// stored layers cannot be read (that one is logged: an operator must fix the schedule).
async fn on_call(conn: &mut AsyncPgConnection, id: Uuid, at: OffsetDateTime) -> Result<Option<Uuid>, StorageError> {
    let horizon = Duration::seconds(ON_CALL_HORIZON.as_secs());
    let schedule = match schedules::load(conn, id, at - horizon, at + horizon).await {
        Ok(Some(schedule)) => schedule,
        Ok(None) => return Ok(None),
        Err(LoadError::Storage(error)) => return Err(error),
        Err(LoadError::Data(error)) => {
            tracing::error!(schedule.id = %id, %error, "a schedule an escalation pages cannot be read: nobody is paged through it");
            return Ok(None);
        }
    };
    let instant = super::instant(at);
    match on_call_at(&schedule, instant) {
        Ok(shift) => Ok(shift.map(|shift| shift.member)),
        Err(error) => {
            tracing::error!(schedule.id = %id, %error, "who is on call cannot be worked out: nobody is paged through it");
            Ok(None)
        }
    }
}
