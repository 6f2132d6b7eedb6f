//! Teams' members with their roles, and who is an admin: what query decides a signed-in person's
//! rights from (`tocsin_domain::roles`, docs/sign-in.md "Teams and roles"). query writes them,
//! each change with its audit entry, in the caller's transaction.
//!
//! A change to a team's members first locks the team's row ([`lock_team`]), and a change to who
//! is an admin locks every admin's row, so two changes at once are applied one after the other:
//! two managers demoting each other, or two admins removing each other, cannot leave a team
//! without a manager or tocsin without an admin.

use crate::StorageError;
use crate::catalogue::record;
use crate::people::UserRow;
use crate::schema::{team_members, teams, users};
use diesel::dsl::{exists, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use time::OffsetDateTime;
use tocsin_domain::roles::{self, DefaultRole, Memberships, Refusal, Role, Standing};
use uuid::Uuid;

/// Most members one team has: the team page lists them all.
pub const MAX_MEMBERS: i64 = 1_000;

/// A team with how many members it has.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct TeamSummary {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub slug: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: OffsetDateTime,
    #[diesel(sql_type = BigInt)]
    pub members: i64,
    #[diesel(sql_type = BigInt)]
    pub managers: i64,
}

/// A team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// One member of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: UserRow,
    pub role: Role,
    pub added_by: String,
    pub added_at: OffsetDateTime,
}

/// A person's role in one team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub team: String,
    pub team_name: String,
    pub role: Role,
}

/// How a user is named in a request: by id, or by e-mail address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRef<'a> {
    Id(Uuid),
    Email(&'a str),
}

/// Who a [`UserRef`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundUser {
    One(UserRow),
    None,
    /// Several users share the e-mail address (from different identity providers): name one by id.
    Several,
}

/// What setting a member's role did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Added,
    Changed { previous: Role },
    Unchanged,
}

/// Why a change to a team's members was not made.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("the change would leave the team without a manager")]
    LastManager,
    #[error("the team has its maximum of {MAX_MEMBERS} members")]
    TooManyMembers,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for MembershipError {
    fn from(error: diesel::result::Error) -> Self {
        MembershipError::Storage(error.into())
    }
}

/// Why a change to who is an admin was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the change would leave tocsin without an admin")]
    LastAdmin,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<diesel::result::Error> for AdminError {
    fn from(error: diesel::result::Error) -> Self {
        AdminError::Storage(error.into())
    }
}

/// Every team, by slug, with its number of members and of managers.
pub async fn teams(conn: &mut AsyncPgConnection) -> Result<Vec<TeamSummary>, StorageError> {
    Ok(diesel::sql_query(
        "SELECT t.id, t.slug, t.name, t.created_at, count(m.user_id) AS members, \
                count(m.user_id) FILTER (WHERE m.role = 'manager') AS managers \
         FROM teams t LEFT JOIN team_members m ON m.team_id = t.id \
         GROUP BY t.id ORDER BY t.slug",
    )
    .load(conn)
    .await?)
}

/// The team `slug`, if there is one.
pub async fn team(conn: &mut AsyncPgConnection, slug: &str) -> Result<Option<TeamRow>, StorageError> {
    let row: Option<(Uuid, String, String, OffsetDateTime)> = teams::table
        .filter(teams::slug.eq(slug))
        .select((teams::id, teams::slug, teams::name, teams::created_at))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(id, slug, name, created_at)| TeamRow { id, slug, name, created_at }))
}

/// The team `slug`, locked until the caller's transaction ends: changes to its members are made
/// one after the other. `None` if there is no such team.
pub async fn lock_team(conn: &mut AsyncPgConnection, slug: &str) -> Result<Option<TeamRow>, StorageError> {
    let row: Option<(Uuid, String, String, OffsetDateTime)> = teams::table
        .filter(teams::slug.eq(slug))
        .select((teams::id, teams::slug, teams::name, teams::created_at))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(id, slug, name, created_at)| TeamRow { id, slug, name, created_at }))
}

/// The team `slug`, locked, created (named after its slug, with an audit entry) if it did not
/// exist, as the catalogue creates a team it gives a service to.
pub async fn lock_or_create_team(
    conn: &mut AsyncPgConnection,
    slug: &str,
    actor: &str,
) -> Result<TeamRow, StorageError> {
    let created: Option<Uuid> = diesel::insert_into(teams::table)
        .values((teams::id.eq(Uuid::now_v7()), teams::slug.eq(slug), teams::name.eq(slug)))
        .on_conflict(teams::slug)
        .do_nothing()
        .returning(teams::id)
        .get_result(conn)
        .await
        .optional()?;
    if created.is_some() {
        record(conn, actor, "team.create", slug, json!({})).await?;
    }
    lock_team(conn, slug).await?.ok_or_else(|| StorageError::Corrupt(format!("team {slug:?} vanished while created")))
}

/// The team's members, by name.
pub async fn members(conn: &mut AsyncPgConnection, team_id: Uuid) -> Result<Vec<Member>, StorageError> {
    let rows: Vec<(UserRow, String, String, OffsetDateTime)> = team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq(team_id))
        .select((UserRow::as_select(), team_members::role, team_members::added_by, team_members::added_at))
        .order((users::name, users::id))
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(user, role, added_by, added_at)| Ok(Member { user, role: role_of(&role)?, added_by, added_at }))
        .collect()
}

/// The teams `user_id` is a member of, by slug.
pub async fn memberships(conn: &mut AsyncPgConnection, user_id: Uuid) -> Result<Vec<Membership>, StorageError> {
    let rows: Vec<(String, String, String)> = team_members::table
        .inner_join(teams::table)
        .filter(team_members::user_id.eq(user_id))
        .select((teams::slug, teams::name, team_members::role))
        .order(teams::slug)
        .load(conn)
        .await?;
    rows.into_iter().map(|(team, team_name, role)| Ok(Membership { team, team_name, role: role_of(&role)? })).collect()
}

/// Whether team `slug` has members, and whether any team has.
pub async fn membership_facts(conn: &mut AsyncPgConnection, slug: &str) -> Result<Memberships, StorageError> {
    let team_has_members: bool = diesel::select(exists(
        team_members::table.inner_join(teams::table).filter(teams::slug.eq(slug)).select(team_members::user_id),
    ))
    .get_result(conn)
    .await?;
    let any = team_has_members || any_memberships(conn).await?;
    Ok(Memberships { team_has_members, any })
}

/// A person's roles as they are now: whether they are an admin, and their role in each team.
pub async fn standing(conn: &mut AsyncPgConnection, user_id: Uuid, is_admin: bool) -> Result<Standing, StorageError> {
    let memberships = memberships(conn, user_id).await?;
    Ok(Standing {
        is_admin,
        memberships: memberships.into_iter().map(|membership| (membership.team, membership.role)).collect(),
    })
}

/// Whether the person `user_id` may acknowledge, resolve, reopen or assign an incident of `team`,
/// read as it is now and decided by [`roles::may_act_on_incident`]: what query asks for an API
/// call and the notifier for a Slack click, so the two never disagree.
pub async fn may_act_on_incident(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    is_admin: bool,
    team: &str,
    default_role: DefaultRole,
) -> Result<Result<(), Refusal>, StorageError> {
    let person = standing(conn, user_id, is_admin).await?;
    let facts = membership_facts(conn, team).await?;
    Ok(roles::may_act_on_incident(&person, team, facts, default_role))
}

/// Whether any team has a member.
pub async fn any_memberships(conn: &mut AsyncPgConnection) -> Result<bool, StorageError> {
    Ok(diesel::select(exists(team_members::table.select(team_members::user_id))).get_result(conn).await?)
}

/// The user `user` names. E-mail addresses are compared without regard to case, as mail
/// systems do.
pub async fn find_user(conn: &mut AsyncPgConnection, user: UserRef<'_>) -> Result<FoundUser, StorageError> {
    let found: Vec<UserRow> = match user {
        UserRef::Id(id) => users::table.find(id).select(UserRow::as_select()).load(conn).await?,
        UserRef::Email(email) => {
            users::table
                .filter(sql::<Bool>("lower(users.email) = lower(").bind::<Text, _>(email).sql(")"))
                .select(UserRow::as_select())
                .limit(2)
                .load(conn)
                .await?
        }
    };
    let mut found = found.into_iter();
    Ok(match (found.next(), found.next()) {
        (Some(user), None) => FoundUser::One(user),
        (None, _) => FoundUser::None,
        (Some(_), Some(_)) => FoundUser::Several,
    })
}

/// Gives `user` the role `role` in `team`, adding them if they were not a member, with an audit
/// entry. `keep_a_manager`: refuse a change that leaves the team, which has a manager, without one.
pub async fn set_member(
    conn: &mut AsyncPgConnection,
    team: &TeamRow,
    user: &UserRow,
    role: Role,
    actor: &str,
    keep_a_manager: bool,
) -> Result<MemberChange, MembershipError> {
    let previous = role_in(conn, team, user.id).await?;
    let change = match previous {
        Some(previous) if previous == role => return Ok(MemberChange::Unchanged),
        Some(previous) => {
            if keep_a_manager && previous == Role::Manager && managers(conn, team).await? == 1 {
                return Err(MembershipError::LastManager);
            }
            diesel::update(team_members::table.find((team.id, user.id)))
                .set(team_members::role.eq(role.name()))
                .execute(conn)
                .await?;
            MemberChange::Changed { previous }
        }
        None => {
            let count: i64 =
                team_members::table.filter(team_members::team_id.eq(team.id)).count().get_result(conn).await?;
            if count >= MAX_MEMBERS {
                return Err(MembershipError::TooManyMembers);
            }
            diesel::insert_into(team_members::table)
                .values((
                    team_members::team_id.eq(team.id),
                    team_members::user_id.eq(user.id),
                    team_members::role.eq(role.name()),
                    team_members::added_by.eq(actor),
                ))
                .execute(conn)
                .await?;
            MemberChange::Added
        }
    };
    let details = json!({
        "user": user_details(user),
        "role": role.name(),
        "previous_role": previous.map(Role::name),
    });
    record(conn, actor, "team.member.set", &team.slug, details).await?;
    Ok(change)
}

/// Takes `user` out of `team`, with an audit entry; their role, or `None` when they were not a
/// member. `keep_a_manager` as for [`set_member`].
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    team: &TeamRow,
    user: &UserRow,
    actor: &str,
    keep_a_manager: bool,
) -> Result<Option<Role>, MembershipError> {
    let Some(previous) = role_in(conn, team, user.id).await? else {
        return Ok(None);
    };
    if keep_a_manager && previous == Role::Manager && managers(conn, team).await? == 1 {
        return Err(MembershipError::LastManager);
    }
    diesel::delete(team_members::table.find((team.id, user.id))).execute(conn).await?;
    let details = json!({ "user": user_details(user), "previous_role": previous.name() });
    record(conn, actor, "team.member.remove", &team.slug, details).await?;
    Ok(Some(previous))
}

/// Makes `user` an admin or not, with an audit entry; whether anything changed. Refuses to take
/// the role from the last admin: nobody could give it back but someone with `psql`.
pub async fn set_admin(
    conn: &mut AsyncPgConnection,
    user: &UserRow,
    admin: bool,
    actor: &str,
) -> Result<bool, AdminError> {
    // Locks every admin's row: a concurrent change of who is an admin waits for this one.
    let admins: Vec<Uuid> =
        users::table.filter(users::is_admin.eq(true)).select(users::id).for_update().load(conn).await?;
    let was_admin = admins.contains(&user.id);
    if was_admin == admin {
        return Ok(false);
    }
    if !admin && admins.len() == 1 {
        return Err(AdminError::LastAdmin);
    }
    diesel::update(users::table.find(user.id)).set(users::is_admin.eq(admin)).execute(conn).await?;
    let subject = user.email.clone().unwrap_or_else(|| user.id.to_string());
    record(conn, actor, "user.admin", &subject, json!({ "user": user_details(user), "admin": admin })).await?;
    Ok(true)
}

async fn role_in(conn: &mut AsyncPgConnection, team: &TeamRow, user_id: Uuid) -> Result<Option<Role>, StorageError> {
    let role: Option<String> =
        team_members::table.find((team.id, user_id)).select(team_members::role).first(conn).await.optional()?;
    role.as_deref().map(role_of).transpose()
}

async fn managers(conn: &mut AsyncPgConnection, team: &TeamRow) -> Result<i64, StorageError> {
    Ok(team_members::table
        .filter(team_members::team_id.eq(team.id))
        .filter(team_members::role.eq(Role::Manager.name()))
        .count()
        .get_result(conn)
        .await?)
}

fn role_of(name: &str) -> Result<Role, StorageError> {
    Role::parse(name).ok_or_else(|| StorageError::Corrupt(format!("team_members.role {name:?}")))
}

fn user_details(user: &UserRow) -> serde_json::Value {
    json!({ "id": user.id, "name": user.name, "email": user.email })
}
