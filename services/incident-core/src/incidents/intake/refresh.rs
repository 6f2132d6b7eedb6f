//! Reports of occurrences still firing: their alerts take the latest annotations and the time of
//! the report, in one statement.

use super::Round;
use diesel::sql_types::{Array, Int8, Jsonb, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use time::OffsetDateTime;
use tocsin_storage::StorageError;
use tocsin_storage::rows::{AlertRow, JsonbMap};

pub(super) async fn apply(
    conn: &mut AsyncPgConnection,
    round: &Round<'_>,
    refreshed: &[(usize, &AlertRow)],
) -> Result<(), StorageError> {
    if refreshed.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = refreshed.iter().map(|(_, row)| row.id).collect();
    let annotations: Vec<JsonbMap<'_>> =
        refreshed.iter().map(|(p, _)| JsonbMap(&round.reports[*p].alert.annotations)).collect();
    let received: Vec<OffsetDateTime> = refreshed.iter().map(|(p, _)| round.reports[*p].received_at).collect();
    diesel::sql_query(
        "UPDATE alerts AS a SET annotations = d.annotations, last_received_at = $4, \
         last_firing_report_at = GREATEST(a.last_firing_report_at, d.received) \
         FROM unnest($1::bigint[], $2::jsonb[], $3::timestamptz[]) AS d(id, annotations, received) \
         WHERE a.id = d.id",
    )
    .bind::<Array<Int8>, _>(ids)
    .bind::<Array<Jsonb>, _>(annotations)
    .bind::<Array<Timestamptz>, _>(received)
    .bind::<Timestamptz, _>(round.now)
    .execute(conn)
    .await?;
    Ok(())
}
