//! Hook outcomes in PostgreSQL, the most recent [`KEPT`] kept. `seq` (a
//! sequence) orders them; the trim keeps the newest [`KEPT`] rows by `seq`
//! rather than a range of numbers, so gaps a sequence may leave (a rolled
//! back insert) never make it keep fewer.

use super::{Error, Postgres, to_i64, to_u64};
use crate::store::{HOOK_RECORDS_KEPT as KEPT, HOOK_RECORDS_TRIM_EVERY as TRIM_EVERY, event_name, event_of};
use crate::store::{HookRecords, StoreError};
use crate::types::HookOutcome;
use deadpool_postgres::Transaction;

/// Appends `outcomes` and, when one of them takes a multiple of
/// [`TRIM_EVERY`] as its `seq`, drops the oldest beyond [`KEPT`], inside the
/// caller's transaction. The trim skips rows another commit's trim holds, so
/// hook commits never queue on the oldest record.
pub(super) async fn append(transaction: &Transaction<'_>, outcomes: &[HookOutcome]) -> Result<(), Error> {
    let insert = transaction
        .prepare_cached(
            r#"INSERT INTO hook_records (plugin_id, event, entity_id, "at", duration_us, error)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq"#,
        )
        .await?;
    // One statement per outcome, in order, so `seq` follows the order given.
    let mut due = false;
    for outcome in outcomes {
        let (event, at, duration_us) =
            (event_name(outcome.event), to_i64(outcome.at)?, to_i64(outcome.duration_us)?);
        let seq: i64 = transaction
            .query_one(
                &insert,
                &[&outcome.plugin_id, &event, &outcome.entity_id, &at, &duration_us, &outcome.error],
            )
            .await?
            .try_get(0)?;
        due |= seq % TRIM_EVERY == 0;
    }
    if due {
        let trim = transaction
            .prepare_cached(
                "DELETE FROM hook_records WHERE seq IN (
                    SELECT seq FROM hook_records
                    WHERE seq < (SELECT seq FROM hook_records ORDER BY seq DESC OFFSET $1 LIMIT 1)
                    FOR UPDATE SKIP LOCKED)",
            )
            .await?;
        transaction.execute(&trim, &[&(KEPT - 1)]).await?;
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
