//! Hook outcomes in SQLite, the most recent [`KEPT`] kept.

use super::{Sqlite, fail};
use crate::store::{HOOK_RECORDS_KEPT as KEPT, HOOK_RECORDS_TRIM_EVERY as TRIM_EVERY, event_name, event_of};
use crate::store::{HookRecords, StoreError};
use crate::types::HookOutcome;
use rusqlite::{Connection, params};

/// Appends `outcomes` and, every [`TRIM_EVERY`] records, drops the oldest
/// beyond [`KEPT`], inside the caller's transaction.
pub(super) fn append(db: &Connection, outcomes: &[HookOutcome]) -> rusqlite::Result<()> {
    for outcome in outcomes {
        db.prepare_cached(
            "INSERT INTO hook_records (plugin_id, event, entity_id, at, duration_us, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            outcome.plugin_id,
            event_name(outcome.event),
            outcome.entity_id,
            outcome.at,
            outcome.duration_us,
            outcome.error
        ])?;
    }
    let last = db.last_insert_rowid();
    // The new records' sequence numbers passed a multiple of TRIM_EVERY.
    if last % TRIM_EVERY < i64::try_from(outcomes.len()).unwrap_or(i64::MAX) {
        db.prepare_cached("DELETE FROM hook_records WHERE seq <= ?1")?.execute([last - KEPT])?;
    }
    Ok(())
}

impl HookRecords for Sqlite {
    fn recent(&self, limit: usize) -> Result<Vec<HookOutcome>, StoreError> {
        let db = self.lock();
        let run = || -> rusqlite::Result<Vec<HookOutcome>> {
            let mut rows: Vec<HookOutcome> = db
                .prepare_cached(
                    "SELECT plugin_id, event, entity_id, at, duration_us, error FROM hook_records
                     ORDER BY seq DESC LIMIT ?1",
                )?
                // The table may hold a few beyond KEPT until the next trim.
                .query_map([i64::try_from(limit).unwrap_or(i64::MAX).min(KEPT)], |row| {
                    Ok(HookOutcome {
                        plugin_id: row.get(0)?,
                        event: event_of(&row.get::<_, String>(1)?),
                        entity_id: row.get(2)?,
                        at: row.get(3)?,
                        duration_us: row.get(4)?,
                        error: row.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            rows.reverse();
            Ok(rows)
        };
        run().map_err(fail("reading hook outcomes"))
    }
}
