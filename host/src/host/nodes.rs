//! Every node's health as the embedding API offers it: this host's report
//! is made here (its plugins' health and failed loads) and written through
//! its `NodeReport` part (`crate::nodes`).

use super::Host;
use crate::error::HostError;
use crate::nodes::NodeStatus;
use serde_json::{Map, Value, json};
use std::sync::Arc;

impl Host {
    /// Writes this host's report (its plugins' health and failed loads) to
    /// the database, for [`Host::nodes`] on every node.
    pub fn report_node(&self) -> Result<(), HostError> {
        self.node_report.write(|| {
            let now = self.invoker.clock.now();
            let plugins: Map<String, Value> = self
                .loaded_all()
                .iter()
                .map(|plugin| (plugin.id().to_string(), json!(plugin.context.health.snapshot(now))))
                .collect();
            json!({
                "version": env!("CARGO_PKG_VERSION"),
                "plugins": plugins,
                "failed_loads": self.failed_loads(),
            })
        })
    }

    /// Every node sharing the database, with its plugins' health as it last
    /// reported it; this host's report is written first, so it is current.
    pub fn nodes(&self) -> Result<Vec<NodeStatus>, HostError> {
        self.report_node()?;
        self.node_report.nodes()
    }

    /// Removes this host's report (it is stopping), so the other nodes stop
    /// listing it; it reports no more.
    pub fn withdraw_node(&self) -> Result<(), HostError> {
        self.node_report.withdraw()
    }

    /// One round of the node-report loop (`Host::start_background`).
    pub(crate) async fn report_node_in_background(self: Arc<Self>) {
        let runtime = self.invoker.runtime.clone();
        if let Ok(Err(error)) = runtime.spawn_blocking(move || self.report_node()).await {
            tracing::warn!("reporting this node's health to the database failed: {error}");
        }
    }
}
