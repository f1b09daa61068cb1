//! Node reports in PostgreSQL: one row per node, its report as `jsonb`,
//! stamped with the database's clock so ages do not depend on the nodes'.

use super::{Error, NOW_MS, Postgres, millis, to_u64};
use crate::store::{NodeReport, NodeReports, StoreError};
use serde_json::Value;
use std::time::Duration;

impl NodeReports for Postgres {
    fn report(&self, node: &str, report: &Value, forget_after: Duration) -> Result<(), StoreError> {
        let (node, report) = (node.to_owned(), report.clone());
        self.run("storing this node's report", move |pool| async move {
            let client = pool.get().await?;
            let forget = client
                .prepare_cached(&format!("DELETE FROM node_reports WHERE reported_at < {NOW_MS} - $1"))
                .await?;
            client.execute(&forget, &[&millis(forget_after)?]).await?;
            let upsert = client
                .prepare_cached(&format!(
                    "INSERT INTO node_reports (node, reported_at, report) VALUES ($1, {NOW_MS}, $2)
                     ON CONFLICT (node) DO UPDATE SET reported_at = excluded.reported_at, report = excluded.report"
                ))
                .await?;
            client.execute(&upsert, &[&node, &report]).await?;
            Ok(())
        })
    }

    fn reports(&self) -> Result<Vec<NodeReport>, StoreError> {
        self.run("reading the nodes' reports", move |pool| async move {
            let client = pool.get().await?;
            let statement = client
                .prepare_cached(&format!(
                    "SELECT node, GREATEST({NOW_MS} - reported_at, 0), report FROM node_reports ORDER BY node"
                ))
                .await?;
            client
                .query(&statement, &[])
                .await?
                .iter()
                .map(|row| -> Result<NodeReport, Error> {
                    Ok(NodeReport {
                        node: row.try_get(0)?,
                        age: Duration::from_millis(to_u64(row.try_get(1)?)?),
                        report: row.try_get(2)?,
                    })
                })
                .collect()
        })
    }

    fn withdraw(&self, node: &str) -> Result<(), StoreError> {
        let node = node.to_owned();
        self.run("withdrawing this node's report", move |pool| async move {
            let client = pool.get().await?;
            client.execute("DELETE FROM node_reports WHERE node = $1", &[&node]).await?;
            Ok(())
        })
    }
}
