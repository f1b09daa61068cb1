//! Every node's health, visible from any node. Each host's circuit breakers
//! and counters are its own (a plugin may be degraded on one node and fine
//! on another), so each host writes a report of them to the shared database
//! every few seconds ([`Host::start_background`](crate::Host::start_background)),
//! and any host lists every node's last report
//! ([`Host::nodes`](crate::Host::nodes)), marking the ones gone quiet.

use crate::capabilities::in_place;
use crate::error::HostError;
use crate::store::Backend;
use crate::sync::locked;
use serde::Serialize;
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;

/// How often a host reports.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(5);
/// A report older than this is marked stale: its node stopped reporting
/// (killed, cut off from the database, or not running the report loop).
pub const STALE_AFTER: Duration = Duration::from_secs(15);
/// A node silent this long is dropped from the list.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// This node's own report: written, or withdrawn for good once the host
/// stops. The part that owns the `nodes` table for this node.
pub(crate) struct NodeReport {
    backend: Backend,
    /// This host's name (as in the outbox's leases).
    node: String,
    gate: ReportGate,
}

impl NodeReport {
    pub(crate) fn new(backend: Backend, node: &str) -> NodeReport {
        NodeReport { backend, node: node.to_string(), gate: ReportGate::default() }
    }

    /// Writes `report()` as this node's report, unless it has withdrawn.
    pub(crate) fn write(&self, report: impl FnOnce() -> Value) -> Result<(), HostError> {
        self.gate.write(|| Ok(in_place(|| self.backend.nodes.report(&self.node, &report(), FORGET_AFTER))?))
    }

    /// Removes this node's report: no report follows.
    pub(crate) fn withdraw(&self) -> Result<(), HostError> {
        self.gate.withdraw(|| Ok(in_place(|| self.backend.nodes.withdraw(&self.node))?))
    }

    /// Every node's last report, this one's as it was last written.
    pub(crate) fn nodes(&self) -> Result<Vec<NodeStatus>, HostError> {
        let reports = in_place(|| self.backend.nodes.reports())?;
        Ok(reports
            .into_iter()
            .map(|report| {
                let field = |name: &str| report.report.get(name).cloned().unwrap_or(Value::Null);
                NodeStatus {
                    this_node: report.node == self.node,
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
}

/// Withdrawn or not: a report being written holds the lock, so a withdrawal
/// never lands before it (which would leave a stopped node listed).
#[derive(Default)]
struct ReportGate {
    withdrawn: Mutex<bool>,
}

impl ReportGate {
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

/// One node as [`Host::nodes`](crate::Host::nodes) lists it.
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

#[cfg(test)]
mod tests {
    use super::ReportGate;
    use std::sync::mpsc::channel;

    #[test]
    fn a_withdrawn_node_writes_no_more_and_a_write_in_flight_lands_first() {
        let report = ReportGate::default();
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
