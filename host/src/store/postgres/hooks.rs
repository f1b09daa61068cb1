//! Hook outcomes in PostgreSQL, the most recent [`KEPT`] kept, each
//! recorded in the statement that removes its delivery. `seq` (a
//! sequence) orders them; the trim keeps the newest [`KEPT`] rows by `seq`
//! rather than a range of numbers, so gaps a sequence may leave (a rolled
//! back insert) never make it keep fewer.

use super::{Error, Postgres, to_i64, to_u64};
use crate::store::{HOOK_RECORDS_KEPT as KEPT, HOOK_RECORDS_TRIM_EVERY as TRIM_EVERY, event_name, event_of};
use crate::store::{HookRecords, StoreError};
use crate::types::HookOutcome;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

/// Runs `removal` (a `DELETE … RETURNING id` of one delivery, whose
/// parameters are `params`) and, when it removed the row, records `outcome`
/// in the same statement: one round trip settles a delivery. The record's
/// `seq` if it removed the row (for [`trim_if_due`]).
pub(super) async fn record_if_removed<C: GenericClient>(
    client: &C,
    removal: &str,
    params: &[&(dyn ToSql + Sync)],
    outcome: &HookOutcome,
) -> Result<Option<i64>, Error> {
    let n = params.len();
    let record = client
        .prepare_cached(&format!(
            r#"WITH removed AS ({removal})
               INSERT INTO hook_records (plugin_id, event, entity_id, "at", duration_us, error)
               SELECT ${}::text, ${}::text, ${}::text, ${}::bigint, ${}::bigint, ${}::text FROM removed
               RETURNING seq"#,
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6
        ))
        .await?;
    let (event, at, duration_us) =
        (event_name(outcome.event), to_i64(outcome.at)?, to_i64(outcome.duration_us)?);
    let mut all: Vec<&(dyn ToSql + Sync)> = params.to_vec();
    all.extend([
        &outcome.plugin_id as &(dyn ToSql + Sync),
        &event,
        &outcome.entity_id,
        &at,
        &duration_us,
        &outcome.error,
    ]);
    match client.query(&record, &all).await?.first() {
        Some(row) => Ok(Some(row.try_get(0)?)),
        None => Ok(None),
    }
}

/// When record `seq` is a multiple of [`TRIM_EVERY`], drops the oldest
/// records beyond [`KEPT`]. The trim skips rows another commit's trim
/// holds, so hook commits never queue on the oldest record.
pub(super) async fn trim_if_due<C: GenericClient>(client: &C, seq: i64) -> Result<(), Error> {
    if seq % TRIM_EVERY == 0 {
        let trim = client
            .prepare_cached(
                "DELETE FROM hook_records WHERE seq IN (
                    SELECT seq FROM hook_records
                    WHERE seq < (SELECT seq FROM hook_records ORDER BY seq DESC OFFSET $1 LIMIT 1)
                    FOR UPDATE SKIP LOCKED)",
            )
            .await?;
        client.execute(&trim, &[&(KEPT - 1)]).await?;
    }
    Ok(())
}

impl HookRecords for Postgres {
    fn recent(&self, limit: usize) -> Result<Vec<HookOutcome>, StoreError> {
        // The table may hold a few beyond KEPT until the next trim.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX).min(KEPT);
        self.run("reading hook outcomes", move |pool| async move {
            let client = pool.get().await?;
            let statement = client
                .prepare_cached(
                    r#"SELECT plugin_id, event, entity_id, "at", duration_us, error FROM hook_records
                       ORDER BY seq DESC LIMIT $1"#,
                )
                .await?;
            let mut outcomes = Vec::new();
            for row in client.query(&statement, &[&limit]).await? {
                outcomes.push(HookOutcome {
                    plugin_id: row.try_get(0)?,
                    event: event_of(row.try_get(1)?),
                    entity_id: row.try_get(2)?,
                    at: to_u64(row.try_get(3)?)?,
                    duration_us: to_u64(row.try_get(4)?)?,
                    error: row.try_get(5)?,
                });
            }
            outcomes.reverse();
            Ok(outcomes)
        })
    }
}
