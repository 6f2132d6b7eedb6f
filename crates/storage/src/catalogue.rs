//! The service catalogue (which team owns each service) and the audit log that records every
//! change to it. query edits the catalogue; incident-core reads it into memory to give a new
//! incident its team when its alert carries no `team` label.
//!
//! Each change and its audit entry are written in one transaction by the caller.

use crate::StorageError;
use crate::schema::{audit_log, catalogue_services, teams};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tocsin_domain::TeamMapping;
use uuid::Uuid;

/// Longest service name the catalogue takes: every real one, and well within a btree entry.
pub const MAX_SERVICE_BYTES: usize = 1000;
/// Longest team slug.
pub const MAX_TEAM_BYTES: usize = 200;
/// Most services the catalogue holds: incident-core keeps all of them in memory.
pub const MAX_ENTRIES: i64 = 10_000;

/// The actor of entries seeded from incident-core's `SERVICE_TEAMS`.
pub const SEED_ACTOR: &str = "SERVICE_TEAMS";

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct CatalogueEntry {
    pub service: String,
    pub team: String,
    pub updated_at: OffsetDateTime,
    pub updated_by: String,
}

#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct AuditEntry {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: Value,
}

/// What setting an owner did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Moved,
    Unchanged,
}

/// Every entry, by service.
pub async fn entries(conn: &mut AsyncPgConnection) -> Result<Vec<CatalogueEntry>, StorageError> {
    Ok(catalogue_services::table
        .inner_join(teams::table)
        .select((
            catalogue_services::service,
            teams::slug,
            catalogue_services::updated_at,
            catalogue_services::updated_by,
        ))
        .order(catalogue_services::service)
        .load(conn)
        .await?)
}

pub async fn count(conn: &mut AsyncPgConnection) -> Result<i64, StorageError> {
    Ok(catalogue_services::table.count().get_result(conn).await?)
}

/// The catalogue as incident-core gives teams to new incidents.
pub async fn team_mapping(conn: &mut AsyncPgConnection) -> Result<TeamMapping, StorageError> {
    let pairs: Vec<(String, String)> = catalogue_services::table
        .inner_join(teams::table)
        .select((catalogue_services::service, teams::slug))
        .load(conn)
        .await?;
    Ok(pairs.into_iter().collect())
}

/// The slug of the team that owns `service` in the catalogue, if any.
pub async fn owner_of(conn: &mut AsyncPgConnection, service: &str) -> Result<Option<String>, StorageError> {
    Ok(catalogue_services::table
        .inner_join(teams::table)
        .filter(catalogue_services::service.eq(service))
        .select(teams::slug)
        .first(conn)
        .await
        .optional()?)
}

/// Gives `service` to `team` (created, named after its slug, if it is new), with an audit entry.
pub async fn set_owner(
    conn: &mut AsyncPgConnection,
    service: &str,
    team: &str,
    actor: &str,
) -> Result<Change, StorageError> {
    let previous: Option<String> = catalogue_services::table
        .inner_join(teams::table)
        .filter(catalogue_services::service.eq(service))
        .select(teams::slug)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    if previous.as_deref() == Some(team) {
        return Ok(Change::Unchanged);
    }
    let team_id = team_id(conn, team).await?;
    diesel::insert_into(catalogue_services::table)
        .values((
            catalogue_services::service.eq(service),
            catalogue_services::team_id.eq(team_id),
            catalogue_services::updated_by.eq(actor),
        ))
        .on_conflict(catalogue_services::service)
        .do_update()
        .set((
            catalogue_services::team_id.eq(excluded(catalogue_services::team_id)),
            catalogue_services::updated_at.eq(diesel::dsl::now),
            catalogue_services::updated_by.eq(excluded(catalogue_services::updated_by)),
        ))
        .execute(conn)
        .await?;
    record(conn, actor, "catalogue.set", service, json!({ "team": team, "previous_team": previous })).await?;
    Ok(if previous.is_some() { Change::Moved } else { Change::Added })
}

/// Takes `service` out of the catalogue, with an audit entry; false when it was not in it.
pub async fn remove(conn: &mut AsyncPgConnection, service: &str, actor: &str) -> Result<bool, StorageError> {
    let team_id: Option<Uuid> =
        diesel::delete(catalogue_services::table.filter(catalogue_services::service.eq(service)))
            .returning(catalogue_services::team_id)
            .get_result(conn)
            .await
            .optional()?;
    let Some(team_id) = team_id else {
        return Ok(false);
    };
    let team: String = teams::table.find(team_id).select(teams::slug).first(conn).await?;
    record(conn, actor, "catalogue.remove", service, json!({ "previous_team": team })).await?;
    Ok(true)
}

/// Adds the services of `seed` the catalogue has never had: an entry someone edited is never
/// overwritten, nor one someone removed put back. Returns how many were added.
pub async fn seed(conn: &mut AsyncPgConnection, seed: &TeamMapping) -> Result<usize, StorageError> {
    let mut added = 0;
    for (service, team) in seed.iter() {
        let history: i64 = audit_log::table
            .filter(audit_log::subject.eq(service))
            .filter(audit_log::action.like("catalogue.%"))
            .count()
            .get_result(conn)
            .await?;
        if history == 0 && set_owner(conn, service, team, SEED_ACTOR).await? == Change::Added {
            added += 1;
        }
    }
    Ok(added)
}

/// The newest audit entries first, `limit` of them, older than `before` (an entry's id) if given.
pub async fn audit_entries(
    conn: &mut AsyncPgConnection,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<AuditEntry>, StorageError> {
    let mut query = audit_log::table.into_boxed();
    if let Some(before) = before {
        query = query.filter(audit_log::id.lt(before));
    }
    Ok(query
        .select((
            audit_log::id,
            audit_log::at,
            audit_log::actor,
            audit_log::action,
            audit_log::subject,
            audit_log::details,
        ))
        .order(audit_log::id.desc())
        .limit(limit)
        .load(conn)
        .await?)
}

/// Writes one audit entry, in the caller's transaction.
pub async fn record(
    conn: &mut AsyncPgConnection,
    actor: &str,
    action: &str,
    subject: &str,
    details: Value,
) -> Result<(), StorageError> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor.eq(actor),
            audit_log::action.eq(action),
            audit_log::subject.eq(subject),
            audit_log::details.eq(details),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The id of the team named `slug`, created if it does not exist.
async fn team_id(conn: &mut AsyncPgConnection, slug: &str) -> Result<Uuid, StorageError> {
    // The no-op update makes RETURNING give the id of a team that already exists.
    Ok(diesel::insert_into(teams::table)
        .values((teams::id.eq(Uuid::now_v7()), teams::slug.eq(slug), teams::name.eq(slug)))
        .on_conflict(teams::slug)
        .do_update()
        .set(teams::slug.eq(excluded(teams::slug)))
        .returning(teams::id)
        .get_result(conn)
        .await?)
}
