//! What the schema does not enforce by itself: every alert, timeline entry, page and escalation
//! belongs to an incident. Their foreign keys were dropped for speed (migration 000008;
//! docs/architecture.md, "Alerts and timeline entries without foreign keys") or never made
//! (migration 000017), and the writers keep the rule instead. The
//! tests that stress those writers (faults, two replicas, a crash mid-burst, retention) end by
//! checking it here; an operator can run [`ORPHANED_ROWS`] by hand (docs/operations.md).

use crate::StorageError;
use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Counts the alerts, timeline entries, pages and escalations whose incident does not exist.
pub const ORPHANED_ROWS: &str = "\
    SELECT (SELECT count(*) FROM alerts a \
            WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = a.incident_id)) AS alerts, \
           (SELECT count(*) FROM timeline_entries t \
            WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = t.incident_id)) AS timeline_entries, \
           (SELECT count(*) FROM pages p \
            WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = p.incident_id)) AS pages, \
           (SELECT count(*) FROM incident_escalations e \
            WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = e.incident_id)) AS escalations";

/// Rows filed under an incident that does not exist; all zero when the rule holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, QueryableByName)]
pub struct OrphanedRows {
    #[diesel(sql_type = BigInt)]
    pub alerts: i64,
    #[diesel(sql_type = BigInt)]
    pub timeline_entries: i64,
    #[diesel(sql_type = BigInt)]
    pub pages: i64,
    #[diesel(sql_type = BigInt)]
    pub escalations: i64,
}

pub async fn orphaned_rows(conn: &mut AsyncPgConnection) -> Result<OrphanedRows, StorageError> {
    Ok(diesel::sql_query(ORPHANED_ROWS).get_result(conn).await?)
}
