//! Scheduled jobs' shared state: one row per declared job, holding when it
//! is next due and how its last run went. The row is the schedule's outbox:
//! a node claims a due run under a lease (so it runs on one node of all
//! that share the database), and the run's storage commit settles it (the
//! next due time and the outcome written in the same transaction), so a run
//! takes effect once however many nodes try it. A node that dies mid-run
//! leaves the lease to run out, and another node runs the job then.

use super::StoreError;
use std::time::Duration;

/// A job a loaded plugin declares, as [`JobStore::declare`] stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredJob {
    /// The job's id in `plugin.json`.
    pub job_id: String,
    /// Its schedule as text (`every 60 s`); a changed one restarts the job.
    pub schedule: String,
    /// When it is first due (milliseconds since the epoch; `None`: never).
    pub first_due: Option<u64>,
}

/// How a job's run went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobOutcome {
    /// When it started (milliseconds since the epoch).
    pub at: u64,
    /// How long it took.
    pub duration_us: u64,
    /// Why it failed, or was skipped; `None` when it succeeded.
    pub error: Option<String>,
}

/// A job's state on every node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobState {
    /// The plugin.
    pub plugin_id: String,
    /// The job's id.
    pub job_id: String,
    /// Its schedule as text.
    pub schedule: String,
    /// When it is next due (`None`: never again).
    pub next_due: Option<u64>,
    /// Its last run, if it ran.
    pub last_run: Option<JobOutcome>,
    /// How many runs were settled: ran, failed or skipped.
    pub runs: u64,
}

/// A due run a node claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRun {
    /// The plugin.
    pub plugin_id: String,
    /// The job.
    pub job_id: String,
    /// The time it was due: the run it is, for [`JobMark`].
    pub due: u64,
}

/// A run settled: by its storage commit, or by [`JobStore::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobMark {
    /// The plugin.
    pub plugin_id: String,
    /// The job.
    pub job_id: String,
    /// The node holding it.
    pub node: String,
    /// The due time it was claimed at.
    pub due: u64,
    /// When it is due next (`None`: never).
    pub next_due: Option<u64>,
    /// How it went.
    pub outcome: JobOutcome,
}

/// Where jobs' state lives (see the module doc).
pub trait JobStore: Send + Sync {
    /// Stores `plugin`'s declared jobs: a new job, or one whose schedule
    /// changed, is due at its `first_due` (a run of the old schedule still
    /// going then settles nothing); a stored job the plugin no longer
    /// declares is removed; the others keep their state.
    fn declare(&self, plugin: &str, jobs: &[DeclaredJob]) -> Result<(), StoreError>;
    /// Leases to `node`, for `lease`, up to `limit` runs due by `now` of
    /// `plugins`' jobs whose lease is free or ran out. Concurrent claims from
    /// several nodes never get the same run.
    fn claim_due(
        &self,
        node: &str,
        plugins: &[String],
        now: u64,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<DueRun>, StoreError>;
    /// Settles a run whose call committed nothing (it trapped, timed out,
    /// or was refused): `false` when `mark.node` no longer holds it.
    fn finish(&self, mark: &JobMark) -> Result<bool, StoreError>;
    /// Gives back a run `node` holds but could not start (its plugin was
    /// busy, switched off or the host's database failed): it stays due,
    /// and any node may claim it again after `after`.
    fn release(&self, run: &DueRun, node: &str, after: Duration) -> Result<(), StoreError>;
    /// The jobs of `plugin`, or of every plugin, by plugin and job id.
    fn jobs(&self, plugin: Option<&str>) -> Result<Vec<JobState>, StoreError>;
}

/// `now` plus `lease`, in milliseconds.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn lease_end(now: u64, lease: Duration) -> u64 {
    now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX))
}
