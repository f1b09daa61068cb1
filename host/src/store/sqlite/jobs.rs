//! Scheduled jobs in SQLite (`store::jobs`): the `plugin_jobs` table.

use super::{Sqlite, fail};
use crate::plugin_log::now_millis;
use crate::store::jobs::lease_end;
use crate::store::{DeclaredJob, DueRun, JobMark, JobOutcome, JobState, JobStore, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use std::time::Duration;

/// Settles `mark` inside the caller's transaction: `false` (nothing done)
/// when its node no longer holds that run.
pub(super) fn settle(db: &Connection, mark: &JobMark) -> rusqlite::Result<bool> {
    let outcome = &mark.outcome;
    let changed = db
        .prepare_cached(
            "UPDATE plugin_jobs SET next_due = ?5, lease_owner = '', lease_until = 0, runs = runs + 1,
                 last_at = ?6, last_duration_us = ?7, last_error = ?8
             WHERE plugin_id = ?1 AND job_id = ?2 AND lease_owner = ?3 AND next_due = ?4",
        )?
        .execute(params![
            mark.plugin_id,
            mark.job_id,
            mark.node,
            mark.due,
            mark.next_due,
            outcome.at,
            outcome.duration_us,
            outcome.error,
        ])?;
    Ok(changed == 1)
}

impl JobStore for Sqlite {
    fn declare(&self, plugin: &str, jobs: &[DeclaredJob]) -> Result<(), StoreError> {
        let mut db = self.lock();
        let mut run = || -> rusqlite::Result<()> {
            let transaction = db.transaction()?;
            let ids = serde_json::to_string(&jobs.iter().map(|job| &job.job_id).collect::<Vec<_>>())
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            transaction
                .prepare_cached(
                    "DELETE FROM plugin_jobs WHERE plugin_id = ?1 AND job_id NOT IN (SELECT value FROM json_each(?2))",
                )?
                .execute(params![plugin, ids])?;
            for job in jobs {
                let stored: Option<String> = transaction
                    .prepare_cached("SELECT schedule FROM plugin_jobs WHERE plugin_id = ?1 AND job_id = ?2")?
                    .query_row(params![plugin, job.job_id], |row| row.get(0))
                    .optional()?;
                if stored.as_deref() != Some(job.schedule.as_str()) {
                    transaction
                        .prepare_cached(
                            "INSERT INTO plugin_jobs (plugin_id, job_id, schedule, next_due) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (plugin_id, job_id) DO UPDATE
                             SET schedule = excluded.schedule, next_due = excluded.next_due,
                                 lease_owner = '', lease_until = 0",
                        )?
                        .execute(params![plugin, job.job_id, job.schedule, job.first_due])?;
                }
            }
            transaction.commit()
        };
        run().map_err(fail("declaring scheduled jobs"))
    }

    fn claim_due(
        &self,
        node: &str,
        plugins: &[String],
        now: u64,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<DueRun>, StoreError> {
        let plugins = serde_json::to_string(plugins)
            .map_err(|e| StoreError::Failed { operation: "claiming due jobs", message: e.to_string() })?;
        self.lock()
            .prepare_cached(
                "UPDATE plugin_jobs SET lease_owner = ?1, lease_until = ?2
                 WHERE (plugin_id, job_id) IN (
                     SELECT plugin_id, job_id FROM plugin_jobs
                     WHERE plugin_id IN (SELECT value FROM json_each(?3))
                       AND next_due <= ?4 AND lease_until <= ?4
                     ORDER BY next_due LIMIT ?5)
                 RETURNING plugin_id, job_id, next_due",
            )
            .and_then(|mut statement| {
                statement
                    .query_map(
                        params![
                            node,
                            lease_end(now, lease),
                            plugins,
                            now,
                            i64::try_from(limit).unwrap_or(i64::MAX)
                        ],
                        |row| Ok(DueRun { plugin_id: row.get(0)?, job_id: row.get(1)?, due: row.get(2)? }),
                    )?
                    .collect()
            })
            .map_err(fail("claiming due jobs"))
    }

    fn finish(&self, mark: &JobMark) -> Result<bool, StoreError> {
        settle(&self.lock(), mark).map_err(fail("finishing a job run"))
    }

    fn release(&self, run: &DueRun, node: &str, after: Duration) -> Result<(), StoreError> {
        self.lock()
            .prepare_cached(
                "UPDATE plugin_jobs SET lease_owner = '', lease_until = ?5
                 WHERE plugin_id = ?1 AND job_id = ?2 AND lease_owner = ?3 AND next_due = ?4",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    run.plugin_id,
                    run.job_id,
                    node,
                    run.due,
                    lease_end(now_millis(), after)
                ])
            })
            .map(drop)
            .map_err(fail("giving back a job run"))
    }

    fn jobs(&self, plugin: Option<&str>) -> Result<Vec<JobState>, StoreError> {
        self.read()?
            .prepare_cached(
                "SELECT plugin_id, job_id, schedule, next_due, runs, last_at, last_duration_us, last_error
                 FROM plugin_jobs WHERE ?1 IS NULL OR plugin_id = ?1 ORDER BY plugin_id, job_id",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([plugin], |row| {
                        let last_at: Option<u64> = row.get(5)?;
                        Ok(JobState {
                            plugin_id: row.get(0)?,
                            job_id: row.get(1)?,
                            schedule: row.get(2)?,
                            next_due: row.get(3)?,
                            runs: row.get(4)?,
                            last_run: match last_at {
                                Some(at) => {
                                    Some(JobOutcome { at, duration_us: row.get(6)?, error: row.get(7)? })
                                }
                                None => None,
                            },
                        })
                    })?
                    .collect()
            })
            .map_err(fail("listing scheduled jobs"))
    }
}
