//! Every node's health, visible from any node. Each host's circuit breakers
//! and counters are its own (a plugin may be degraded on one node and fine
//! on another), so each host writes a report of them to the shared database
//! every few seconds ([`Host::start_background`]), and any host lists every
//! node's last report ([`Host::nodes`]), marking the ones gone quiet.

use crate::Host;
use crate::capabilities::in_place;
use crate::error::HostError;
use crate::sync::locked;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a host reports.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// A report older than this is marked stale: its node stopped reporting
/// (killed, cut off from the database, or not running the report loop).
pub const STALE_AFTER: Duration = Duration::from_secs(15);
/// A node silent this long is dropped from the list.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// This node's own report: written, or withdrawn for good once the host
/// stops. A report being written holds the lock, so a withdrawal never lands
/// before it (which would leave a stopped node listed).
#[derive(Default)]
pub(crate) struct NodeReport {
    withdrawn: Mutex<bool>,
}

impl NodeReport {
    /// Runs `write` unless this node has withdrawn.
    fn write(&self, write: impl FnOnce() -> Result<(), HostError>) -> Result<(), HostError> {
        let withdrawn = locked(&self.withdrawn);
        if *withdrawn { Ok(()) } else { write() }
    }

    /// Marks this node withdrawn (no report follows), then runs `remove`.
    fn withdraw(&self, remove: impl FnOnce() -> Result<(), HostError>) -> Result<(), HostError> {
        *locked(&self.withdrawn) = true;
        remove()
    }
}

/// One node as [`Host::nodes`] lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// Its name (as in the outbox's leases).
    pub node: String,
    /// Whether it is the host asked.
    pub this_node: bool,
    /// How long ago it last reported, in milliseconds.
    pub reported_ms_ago: u64,
    /// Whether it has been silent for longer than [`STALE_AFTER`].
    pub stale: bool,
    /// Its Plinth version.
    pub version: Value,
    /// Each loaded plugin's [`PluginHealth`](crate::PluginHealth), by id.
    pub plugins: Value,
    /// Plugin folders that did not load there, with why.
    pub failed_loads: Value,
}

impl Host {
    /// Writes this host's report (its plugins' health and failed loads) to
    /// the database, for [`Host::nodes`] on every node.
    pub fn report_node(&self) -> Result<(), HostError> {
        self.node_report.write(|| self.write_node_report())
    }

    fn write_node_report(&self) -> Result<(), HostError> {
        let plugins: Map<String, Value> = self
            .loaded_all()
            .iter()
            .map(|plugin| {
                (plugin.id().to_string(), json!(plugin.context.health.snapshot(self.invoker.clock.now())))
            })
            .collect();
        let report = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "plugins": plugins,
            "failed_loads": self.failed_loads(),
        });
        in_place(|| self.invoker.backend.nodes.report(self.node_id(), &report, FORGET_AFTER))?;
        Ok(())
    }

    /// Every node sharing the database, with its plugins' health as it last
    /// reported it; this host's report is written first, so it is current.
    pub fn nodes(&self) -> Result<Vec<NodeStatus>, HostError> {
        self.report_node()?;
        let reports = in_place(|| self.invoker.backend.nodes.reports())?;
        Ok(reports
            .into_iter()
            .map(|report| {
                let field = |name: &str| report.report.get(name).cloned().unwrap_or(Value::Null);
                NodeStatus {
                    this_node: report.node == self.node_id(),
                    reported_ms_ago: u64::try_from(report.age.as_millis()).unwrap_or(u64::MAX),
                    stale: report.age > STALE_AFTER,
                    version: field("version"),
                    plugins: field("plugins"),
                    failed_loads: field("failed_loads"),
                    node: report.node,
                }
            })
            .collect())
    }

    /// Removes this host's report (it is stopping), so the other nodes stop
    /// listing it; it reports no more.
    pub fn withdraw_node(&self) -> Result<(), HostError> {
        self.node_report.withdraw(|| Ok(in_place(|| self.invoker.backend.nodes.withdraw(self.node_id()))?))
    }

    /// One round of the node-report loop (`Host::start_background`).
    pub(crate) async fn report_node_in_background(self: Arc<Self>) {
        let runtime = self.invoker.runtime.clone();
        if let Ok(Err(error)) = runtime.spawn_blocking(move || self.report_node()).await {
            tracing::warn!("reporting this node's health to the database failed: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NodeReport;
    use std::sync::mpsc::channel;

    #[test]
    fn a_withdrawn_node_writes_no_more_and_a_write_in_flight_lands_first() {
        let report = NodeReport::default();
        let (order, seen) = channel();
        let (release, wait) = channel::<()>();
        std::thread::scope(|scope| {
            let (writer_order, withdrawal_order) = (order.clone(), order.clone());
            let report = &report;
            scope.spawn(move || {
                report.write(|| {
                    writer_order.send("write begins").expect("send");
                    wait.recv().expect("released");
                    writer_order.send("write ends").expect("send");
                    Ok(())
                })
            });
            assert_eq!(seen.recv().expect("order"), "write begins");
            let withdrawing = scope.spawn(move || {
                report.withdraw(|| {
                    withdrawal_order.send("withdrawn").expect("send");
                    Ok(())
                })
            });
            // Time for the withdrawal to reach the lock: without it, it would land now.
            std::thread::sleep(std::time::Duration::from_millis(20));
            release.send(()).expect("release");
            withdrawing.join().expect("thread").expect("withdraw");
        });
        drop(order);
        let happened: Vec<_> = seen.try_iter().collect();
        assert_eq!(happened, ["write ends", "withdrawn"]);
        report.write(|| panic!("a withdrawn node wrote")).expect("nothing to write");
    }
}
