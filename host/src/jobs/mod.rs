//! Scheduled jobs (WIT 0.3.0): a plugin declares them in `plugin.json`
//! (`schedule.rs`) and exports `jobs.run-job`. Their state is shared by
//! every node (`store::jobs`); each node's job loop claims the due runs of
//! the plugins it has loaded, under a lease, and runs them, so a due run
//! happens on one node. A run's storage commit settles it, so its writes
//! take effect once.
//!
//! Runs missed while no node ran the plugin (all down, or it was switched
//! off) are not made up one by one: the job runs once as soon as a node
//! can, and its schedule goes on from then (an interval from that run's
//! start, a cron expression at its next time after it). A run refused
//! because the plugin is degraded after repeated failures is recorded as
//! skipped, and its schedule goes on; one refused for reasons not the
//! plugin's (it is busy, say) is given back and tried again a second later.

mod schedule;

use crate::capabilities::in_place;
use crate::error::{CallError, CallErrorKind, HostError};
use crate::plugin::exports::JobsExport;
use crate::plugin::phase::{JobClaim, JobRun, Phase};
use crate::plugin::{LoadedPlugin, invoke};
use crate::plugin_log::{LogLevel, LogSource, now_millis};
use crate::store::{DeclaredJob, DueRun, JobMark, JobOutcome, StoreError};
pub use schedule::{JobDeclaration, MAX_JOBS};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the job loop looks for due runs.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Runs claimed at a time: one, so its lease covers only its own run.
const CLAIM_BATCH: usize = 1;
/// How long a claim outlasts the longest job time limit among the plugins
/// claimed for: a node that dies mid-run leaves the run to another node
/// after this.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// How soon a run given back (its plugin busy, say) may be claimed again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Times one run is given back on this node before it is settled as failed:
/// a refusal that never ends (a host fault at every try) must not hold the
/// job forever, unrecorded.
const MAX_GIVE_BACKS: u32 = 20;

/// The job part: runs this node's share of the due jobs.
pub(crate) struct Scheduler {
    invoker: Arc<crate::plugin::invoke::Invoker>,
    /// This node's name in the leases (the same as the outbox's).
    node: String,
    /// How often this node gave back each run (plugin, job, due time).
    given_back: std::sync::Mutex<std::collections::HashMap<(String, String, u64), u32>>,
}

/// `plugin`'s declared jobs as the store keeps them, each first due at its
/// next time after `now`.
pub(crate) fn declared(jobs: &[JobDeclaration], now: u64) -> Vec<DeclaredJob> {
    jobs.iter()
        .map(|job| DeclaredJob {
            job_id: job.id.clone(),
            schedule: job.describe(),
            first_due: job.schedule().ok().and_then(|schedule| schedule.next_after(now)),
        })
        .collect()
}

/// Whether a call was refused for reasons that are not the plugin's: its
/// slots or the host's pool full, its storage busy with its other calls,
/// switched off after the claim, or the host failing. Such a run is given
/// back rather than lost (at most [`MAX_GIVE_BACKS`] times), as a busy
/// plugin's hook delivery is.
fn not_the_plugins(kind: &CallErrorKind) -> bool {
    matches!(
        kind,
        CallErrorKind::Busy { .. }
            | CallErrorKind::HostBusy
            | CallErrorKind::Conflict { .. }
            | CallErrorKind::Disabled
            | CallErrorKind::Internal { .. }
    )
}

impl Scheduler {
    pub(crate) fn new(invoker: Arc<crate::plugin::invoke::Invoker>, node: String) -> Scheduler {
        Scheduler { invoker, node, given_back: Default::default() }
    }

    /// Records the jobs a plugin just loaded declares (none: its old ones go).
    pub(crate) fn declare(&self, plugin: &LoadedPlugin) -> Result<(), StoreError> {
        let jobs = declared(&plugin.manifest.jobs, now_millis());
        in_place(|| self.invoker.backend.jobs.declare(plugin.id(), &jobs))
    }

    /// Claims a due run of the jobs of plugins loaded (and switched on)
    /// here, and runs it; how many it claimed (0 or 1).
    pub(crate) async fn run_due(&self) -> Result<usize, HostError> {
        let plugins = self.invoker.registry.job_plugins();
        if plugins.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = plugins.iter().map(|plugin| plugin.id().to_string()).collect();
        let longest = plugins.iter().map(|plugin| plugin.context.limits.route_timeout).max();
        let lease = longest.unwrap_or_default() + LEASE_MARGIN;
        let jobs = &self.invoker.backend.jobs;
        let claimed = in_place(|| jobs.claim_due(&self.node, &ids, now_millis(), lease, CLAIM_BATCH))?;
        let count = claimed.len();
        for due in claimed {
            if let Some(plugin) = plugins.iter().find(|plugin| plugin.id() == due.plugin_id) {
                self.run(plugin, due).await;
            }
        }
        Ok(count)
    }

    /// Runs due runs until none is due (one round of the job loop); how
    /// many it ran.
    pub(crate) async fn run_all_due(&self) -> Result<usize, HostError> {
        let mut claimed = 0;
        while self.run_due().await? == CLAIM_BATCH {
            claimed += CLAIM_BATCH;
        }
        Ok(claimed)
    }

    /// Runs one claimed run and settles it: its commit did, or `finish`
    /// does; a run refused for reasons not the plugin's is given back.
    async fn run(&self, plugin: &LoadedPlugin, due: DueRun) -> JobOutcome {
        let started_at = now_millis();
        let started = Instant::now();
        let declaration = plugin.manifest.jobs.iter().find(|job| job.id == due.job_id);
        // Missed runs collapse into this one: the schedule goes on from now.
        let next_due = declaration
            .and_then(|job| job.schedule().ok())
            .and_then(|schedule| schedule.next_after(started_at.max(due.due)));
        let claim = JobClaim { due: due.due, node: self.node.clone(), next_due };
        let run =
            JobRun { job_id: due.job_id.clone(), claim: Some(claim), started_at, settled: Arc::default() };
        let error = match (&plugin.jobs, declaration) {
            (Some(export), Some(_)) => {
                let settled = run.settled.clone();
                let result = self.call(plugin, export, run).await;
                if let Some(outcome) = settled.get() {
                    self.log_failure(plugin.id(), &due.job_id, outcome);
                    return outcome.clone();
                }
                match result {
                    Ok(()) => None,
                    // Another node holds the run now: it settles it.
                    Err(error) if matches!(error.kind, CallErrorKind::AlreadyDelivered) => {
                        return JobOutcome { at: started_at, duration_us: 0, error: None };
                    }
                    Err(error) if matches!(error.kind, CallErrorKind::Degraded { .. }) => {
                        Some(format!("skipped: {error}"))
                    }
                    // Not the plugin's doing: the run stays due, and is tried again.
                    Err(error) if not_the_plugins(&error.kind) => match self.give_back(&due) {
                        Some(times) => {
                            tracing::warn!(plugin = %plugin.id(), job = %due.job_id, times, "job run given back: {error}");
                            return JobOutcome {
                                at: started_at,
                                duration_us: 0,
                                error: Some(error.to_string()),
                            };
                        }
                        None => Some(format!("{error} (given up after {MAX_GIVE_BACKS} tries)")),
                    },
                    Err(error) => Some(error.to_string()),
                }
            }
            _ => Some(format!(
                "plugin `{}` no longer declares job `{}` with a `jobs` export",
                plugin.id(),
                due.job_id
            )),
        };
        let outcome = JobOutcome {
            at: started_at,
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            error,
        };
        self.log_failure(plugin.id(), &due.job_id, &outcome);
        let mark = JobMark {
            plugin_id: plugin.id().to_string(),
            job_id: due.job_id,
            node: self.node.clone(),
            due: due.due,
            next_due,
            outcome: outcome.clone(),
        };
        if let Err(error) = in_place(|| self.invoker.backend.jobs.finish(&mark)) {
            // The run's lease runs out, and a node runs the job again then.
            tracing::error!(plugin = %mark.plugin_id, job = %mark.job_id, "job run not recorded: {error}");
        }
        outcome
    }

    /// Gives `due` back to the store, due again after [`RETRY_AFTER`]: how
    /// often it has been given back here, or `None` when that is
    /// [`MAX_GIVE_BACKS`] already (then it is settled as failed instead).
    fn give_back(&self, due: &DueRun) -> Option<u32> {
        let key = (due.plugin_id.clone(), due.job_id.clone(), due.due);
        let times = {
            let mut given_back = crate::sync::locked(&self.given_back);
            // Only runs still being retried are kept.
            given_back.retain(|(plugin, job, at), _| !(plugin == &key.0 && job == &key.1 && *at != key.2));
            let times = given_back.entry(key.clone()).or_insert(0);
            *times += 1;
            *times
        };
        if times > MAX_GIVE_BACKS {
            crate::sync::locked(&self.given_back).remove(&key);
            return None;
        }
        let jobs = &self.invoker.backend.jobs;
        if let Err(failed) = in_place(|| jobs.release(due, &self.node, RETRY_AFTER)) {
            tracing::warn!(plugin = %due.plugin_id, job = %due.job_id, "job run not given back: {failed}");
        }
        Some(times)
    }

    /// Runs job `job_id` of `plugin` once, now, outside its schedule: its
    /// state (next due time, last run) is left as it is.
    pub(crate) async fn run_now(&self, plugin: &LoadedPlugin, job_id: &str) -> Result<(), CallError> {
        let declared = plugin.manifest.jobs.iter().any(|job| job.id == job_id);
        let (Some(export), true) = (&plugin.jobs, declared) else {
            let kind = CallErrorKind::JobNotFound { job: job_id.to_string() };
            return Err(CallError::new(plugin.id(), &format!("job {job_id}"), kind));
        };
        let run = JobRun {
            job_id: job_id.to_string(),
            claim: None,
            started_at: now_millis(),
            settled: Arc::default(),
        };
        self.call(plugin, export, run).await
    }

    /// Calls `run-job` for `run`.
    async fn call(&self, plugin: &LoadedPlugin, export: &JobsExport, run: JobRun) -> Result<(), CallError> {
        let job_id = run.job_id.clone();
        let call = invoke::guest_call(|store, instance| {
            let (export, job_id) = (export.clone(), job_id.clone());
            Box::pin(async move { export.call_run_job(store, &instance, &job_id).await })
        });
        self.invoker.run(plugin, Phase::Job { run }, &call).await
    }

    /// A failed run's error, in its plugin's log.
    /// (Refusals a run is given back for are not logged: it runs soon.)
    fn log_failure(&self, plugin: &str, job: &str, outcome: &JobOutcome) {
        if let Some(error) = &outcome.error {
            let message = format!("job `{job}`: {error}");
            self.invoker.log.record(plugin, LogLevel::Error, LogSource::Host, &message);
        }
    }
}
