//! Scheduled jobs in PostgreSQL (`store::jobs`): the `plugin_jobs` table.
//! A claim locks the due rows it takes (`FOR UPDATE SKIP LOCKED`), so nodes
//! claiming at once never get the same run; leases run on the database's
//! clock, as the outbox's do. Due times are the nodes' own clocks (each
//! works out the next one from its schedule), so nodes' clocks should agree
//! (NTP) for a job to run when its schedule says.

use super::{Error, NOW_MS, Postgres, millis, to_i64, to_u64};
use crate::store::{DeclaredJob, DueRun, JobMark, JobOutcome, JobState, JobStore, StoreError};
use deadpool_postgres::GenericClient;
use std::time::Duration;

/// Settles `mark` with the caller's client (inside the run's commit
/// transaction): `false` (nothing done) when its node no longer holds that run.
pub(super) async fn settle(client: &impl GenericClient, mark: &JobMark) -> Result<bool, Error> {
    let outcome = &mark.outcome;
    let statement = client
        .prepare_cached(
            "UPDATE plugin_jobs SET next_due = $5, lease_owner = '', lease_until = 0, runs = runs + 1,
                 last_at = $6, last_duration_us = $7, last_error = $8
             WHERE plugin_id = $1 AND job_id = $2 AND lease_owner = $3 AND next_due = $4",
        )
        .await?;
    let next_due = mark.next_due.map(to_i64).transpose()?;
    let changed = client
        .execute(
            &statement,
            &[
                &mark.plugin_id,
                &mark.job_id,
                &mark.node,
                &to_i64(mark.due)?,
                &next_due,
                &to_i64(outcome.at)?,
                &to_i64(outcome.duration_us)?,
                &outcome.error,
            ],
        )
        .await?;
    Ok(changed == 1)
}

impl JobStore for Postgres {
    fn declare(&self, plugin: &str, jobs: &[DeclaredJob]) -> Result<(), StoreError> {
        let (plugin, jobs) = (plugin.to_owned(), jobs.to_vec());
        self.run("declaring scheduled jobs", move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let ids: Vec<&str> = jobs.iter().map(|job| job.job_id.as_str()).collect();
            transaction
                .execute("DELETE FROM plugin_jobs WHERE plugin_id = $1 AND NOT job_id = ANY($2::text[])", &[
                    &plugin, &ids,
                ])
                .await?;
            for job in &jobs {
                let first_due = job.first_due.map(to_i64).transpose()?;
                // A job whose schedule is unchanged keeps its state.
                transaction
                    .execute(
                        "INSERT INTO plugin_jobs (plugin_id, job_id, schedule, next_due) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (plugin_id, job_id) DO UPDATE
                         SET schedule = excluded.schedule, next_due = excluded.next_due,
                             lease_owner = '', lease_until = 0
                         WHERE plugin_jobs.schedule <> excluded.schedule",
                        &[&plugin, &job.job_id, &job.schedule, &first_due],
                    )
                    .await?;
            }
            transaction.commit().await?;
            Ok(())
        })
    }

    fn claim_due(
        &self,
        node: &str,
        plugins: &[String],
        now: u64,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<DueRun>, StoreError> {
        let (node, plugins) = (node.to_owned(), plugins.to_vec());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run("claiming due jobs", move |pool| async move {
            let (lease, now) = (millis(lease)?, to_i64(now)?);
            let client = pool.get().await?;
            let claim = client
                .prepare_cached(&format!(
                    "WITH due AS (
                        SELECT plugin_id, job_id FROM plugin_jobs
                        WHERE plugin_id = ANY($2::text[]) AND next_due <= $3 AND lease_until <= {NOW_MS}
                        ORDER BY next_due LIMIT $4 FOR UPDATE SKIP LOCKED)
                     UPDATE plugin_jobs AS j SET lease_owner = $1, lease_until = {NOW_MS} + $5
                     FROM due WHERE j.plugin_id = due.plugin_id AND j.job_id = due.job_id
                     RETURNING j.plugin_id, j.job_id, j.next_due"
                ))
                .await?;
            client
                .query(&claim, &[&node, &plugins, &now, &limit, &lease])
                .await?
                .into_iter()
                .map(|row| {
                    Ok(DueRun {
                        plugin_id: row.try_get(0)?,
                        job_id: row.try_get(1)?,
                        due: to_u64(row.try_get(2)?)?,
                    })
                })
                .collect()
        })
    }

    fn finish(&self, mark: &JobMark) -> Result<bool, StoreError> {
        let mark = mark.clone();
        self.run("finishing a job run", move |pool| async move { settle(&pool.get().await?, &mark).await })
    }

    fn release(&self, run: &DueRun, node: &str, after: Duration) -> Result<(), StoreError> {
        let (run, node) = (run.clone(), node.to_owned());
        self.run("giving back a job run", move |pool| async move {
            let client = pool.get().await?;
            let statement = client
                .prepare_cached(&format!(
                    "UPDATE plugin_jobs SET lease_owner = '', lease_until = {NOW_MS} + $5
                     WHERE plugin_id = $1 AND job_id = $2 AND lease_owner = $3 AND next_due = $4"
                ))
                .await?;
            client
                .execute(
                    &statement,
                    &[&run.plugin_id, &run.job_id, &node, &to_i64(run.due)?, &millis(after)?],
                )
                .await?;
            Ok(())
        })
    }

    fn jobs(&self, plugin: Option<&str>) -> Result<Vec<JobState>, StoreError> {
        let plugin = plugin.map(str::to_owned);
        self.run("listing scheduled jobs", move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT plugin_id, job_id, schedule, next_due, runs, last_at, last_duration_us, last_error
                     FROM plugin_jobs WHERE $1::text IS NULL OR plugin_id = $1 ORDER BY plugin_id, job_id",
                    &[&plugin],
                )
                .await?;
            rows.into_iter()
                .map(|row| {
                    let last_at: Option<i64> = row.try_get(5)?;
                    let last_run = match last_at {
                        Some(at) => Some(JobOutcome {
                            at: to_u64(at)?,
                            duration_us: to_u64(row.try_get::<_, Option<i64>>(6)?.unwrap_or(0))?,
                            error: row.try_get(7)?,
                        }),
                        None => None,
                    };
                    Ok(JobState {
                        plugin_id: row.try_get(0)?,
                        job_id: row.try_get(1)?,
                        schedule: row.try_get(2)?,
                        next_due: row.try_get::<_, Option<i64>>(3)?.map(to_u64).transpose()?,
                        last_run,
                        runs: to_u64(row.try_get(4)?)?,
                    })
                })
                .collect()
        })
    }
}
