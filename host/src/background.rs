//! The host's background loops, started together by one supervisor: hook
//! delivery (due deliveries, every second and whenever the outbox wakes it),
//! scheduled jobs (due runs, every second),
//! install sync (the shared install list, feature `install`) and node reports
//! (this node's plugins' health, for every node's `/api/nodes`). Each loop
//! holds the host weakly and ends once the host is dropped; [`Background`]
//! stops them at once.

use crate::Host;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// The running loops of one host. Dropping it leaves them running until the
/// host is dropped.
#[derive(Debug, Default)]
pub struct Background {
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// Stops every loop. A round already running stops at its next await;
    /// database work it handed to the blocking pool still finishes.
    pub fn stop(self) {
        for task in self.loops {
            task.abort();
        }
    }
}

/// One round of a loop's work.
type Round = Pin<Box<dyn Future<Output = ()> + Send>>;

/// When a loop runs a round.
struct Cadence {
    /// At least this often.
    every: Duration,
    /// And at once when this is told.
    woken_by: Option<Arc<Notify>>,
    /// A first round at start, before the first wait.
    at_start: bool,
}

impl Host {
    /// Starts the host's background loops on its runtime: hook delivery,
    /// scheduled jobs, install sync (feature `install`) and node reports. `plinth serve`
    /// runs them; an embedder that shares its database with other nodes, or
    /// whose plugins write entities (their hooks run from the outbox), does too.
    pub fn start_background(host: &Arc<Host>) -> Background {
        let mut loops = vec![spawn(
            host,
            Cadence {
                every: crate::entity_writes::POLL_INTERVAL,
                woken_by: Some(host.backend().outbox.wake_ups()),
                at_start: false,
            },
            |host| Box::pin(host.deliver_round()),
        )];
        loops.push(spawn(
            host,
            Cadence { every: crate::jobs::POLL_INTERVAL, woken_by: None, at_start: true },
            |host| Box::pin(host.job_round()),
        ));
        #[cfg(feature = "install")]
        loops.push(spawn(
            host,
            Cadence {
                every: crate::install::SYNC_INTERVAL,
                woken_by: Some(host.backend().packages.changes()),
                at_start: false,
            },
            |host| Box::pin(async move { host.sync_installs_in_background().await }),
        ));
        loops.push(spawn(
            host,
            Cadence { every: crate::nodes::REPORT_INTERVAL, woken_by: None, at_start: true },
            |host| Box::pin(async move { host.report_node_in_background().await }),
        ));
        Background { loops }
    }
}

/// Runs `round` at `cadence` while the host lives.
fn spawn(
    host: &Arc<Host>,
    cadence: Cadence,
    round: impl Fn(Arc<Host>) -> Round + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let weak: Weak<Host> = Arc::downgrade(host);
    host.runtime().spawn(async move {
        let mut first = cadence.at_start;
        loop {
            if !std::mem::take(&mut first) {
                match &cadence.woken_by {
                    // Woken or not: a round either way.
                    Some(wake) => drop(tokio::time::timeout(cadence.every, wake.notified()).await),
                    None => tokio::time::sleep(cadence.every).await,
                }
            }
            let Some(host) = weak.upgrade() else { return };
            round(host).await;
        }
    })
}
