//! Node reports in SQLite: one row per node (processes sharing the file, or
//! hosts sharing one backend), stamped with this machine's clock.

use super::{Sqlite, fail};
use crate::plugin_log::now_millis;
use crate::store::{NodeReport, NodeReports, StoreError};
use rusqlite::params;
use serde_json::Value;
use std::time::Duration;

/// A millisecond count for an `INTEGER` column.
fn sql_millis(millis: u64) -> i64 {
    i64::try_from(millis).unwrap_or(i64::MAX)
}

impl NodeReports for Sqlite {
    fn report(&self, node: &str, report: &Value, forget_after: Duration) -> Result<(), StoreError> {
        let now = now_millis();
        let forget_before = now.saturating_sub(u64::try_from(forget_after.as_millis()).unwrap_or(u64::MAX));
        let mut db = self.lock();
        let mut run = || -> rusqlite::Result<()> {
            let transaction = db.transaction()?;
            transaction
                .prepare_cached("DELETE FROM node_reports WHERE reported_at < ?1")?
                .execute([sql_millis(forget_before)])?;
            transaction
                .prepare_cached(
                    "INSERT INTO node_reports (node, reported_at, report) VALUES (?1, ?2, ?3)
                     ON CONFLICT (node) DO UPDATE SET reported_at = excluded.reported_at, report = excluded.report",
                )?
                .execute(params![node, sql_millis(now), report.to_string()])?;
            transaction.commit()
        };
        run().map_err(fail("storing this node's report"))
    }

    fn reports(&self) -> Result<Vec<NodeReport>, StoreError> {
        let now = now_millis();
        let db = self.lock();
        let rows = || -> rusqlite::Result<Vec<(String, i64, String)>> {
            db.prepare_cached("SELECT node, reported_at, report FROM node_reports ORDER BY node")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        };
        Ok(rows()
            .map_err(fail("reading the nodes' reports"))?
            .into_iter()
            .map(|(node, at, text)| NodeReport {
                node,
                age: Duration::from_millis(now.saturating_sub(u64::try_from(at).unwrap_or(0))),
                // The column is CHECKed to hold JSON; a hand-edited one reads as null.
                report: serde_json::from_str(&text).unwrap_or(Value::Null),
            })
            .collect())
    }

    fn withdraw(&self, node: &str) -> Result<(), StoreError> {
        self.lock()
            .prepare_cached("DELETE FROM node_reports WHERE node = ?1")
            .and_then(|mut statement| statement.execute([node]))
            .map(drop)
            .map_err(fail("withdrawing this node's report"))
    }
}
