//! Scheduled jobs as the embedding API offers them: their state on every
//! node, and running this node's share of the due runs. The `Scheduler`
//! part (`crate::jobs`) owns the work.

use super::Host;
use crate::error::{CallError, CallErrorKind, HostError};
use crate::store::JobState;
use std::sync::Arc;

impl Host {
    /// The scheduled jobs of `plugin`, or of every plugin: each one's
    /// schedule, next due time and last run, as every node sharing the
    /// database sees them.
    pub fn jobs(&self, plugin: Option<&str>) -> Result<Vec<JobState>, HostError> {
        Ok(self.backend().jobs.jobs(plugin)?)
    }

    /// Claims the due runs of the jobs of plugins loaded here, one at a
    /// time, and runs each, until none is due; how many it ran. The job
    /// loop of [`Host::start_background`] does this every second; embedders
    /// that do not run it call this themselves.
    pub async fn run_due_jobs(&self) -> Result<usize, HostError> {
        self.scheduler.run_all_due().await
    }

    /// Runs job `job_id` of plugin `plugin` once, now, outside its schedule
    /// (a test, or an operator's "run now"): its schedule and recorded state
    /// are left as they are. `JobNotFound` when the plugin declares no such job.
    pub fn run_job(&self, plugin: &str, job_id: &str) -> Result<(), CallError> {
        self.block_on(self.run_job_async(plugin, job_id))
    }

    /// [`Host::run_job`], from async code.
    pub async fn run_job_async(&self, plugin: &str, job_id: &str) -> Result<(), CallError> {
        let Some(loaded) = self.registry.get(plugin) else {
            return Err(CallError::new(plugin, &format!("job {job_id}"), CallErrorKind::UnknownPlugin));
        };
        self.scheduler.run_now(&loaded, job_id).await
    }

    /// One round of the job loop: due runs until none is due.
    pub(crate) async fn job_round(self: Arc<Self>) {
        if let Err(error) = self.scheduler.run_all_due().await {
            tracing::warn!("running due jobs failed: {error}");
        }
    }

    /// Records the jobs plugin `id` (just loaded) declares; a failure is
    /// logged, and its jobs wait for its next load.
    pub(super) fn declare_jobs(&self, id: &str) {
        let Some(plugin) = self.registry.get(id) else { return };
        if let Err(error) = self.scheduler.declare(&plugin) {
            tracing::error!(plugin = %id, "its scheduled jobs were not recorded: {error}");
        }
    }
}
