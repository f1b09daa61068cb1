//! What the capability tests share: a plugin's context with chosen grants
//! and limits, and a real backend on a temporary SQLite database.

use super::{HostCallObserver, HostFunction, PluginContext};
use crate::limits::Limits;
use crate::store::Backend;
use std::sync::Arc;

/// A temporary SQLite backend; keep the folder alive as long as the backend.
pub(super) fn backend() -> (tempfile::TempDir, Backend) {
    let data = tempfile::tempdir().expect("temp dir");
    let backend = Backend::sqlite(data.path()).expect("backend");
    (data, backend)
}

/// Plugin `id`'s context with `grants` and `limits`, telling `observer` of its host calls.
pub(super) fn context(
    id: &str,
    grants: &[HostFunction],
    limits: Limits,
    observer: Option<HostCallObserver>,
) -> Arc<PluginContext> {
    Arc::new(PluginContext {
        id: id.into(),
        grants: grants.iter().copied().collect(),
        embedder_grants: Default::default(),
        entity_types: Default::default(),
        outbound_hosts: Default::default(),
        publishes: ["news".to_string()].into(),
        settings: Default::default(),
        limits,
        health: Default::default(),
        serial: Default::default(),
        observer,
        slow_reads: Default::default(),
    })
}

/// Runs a view's future (a host call) to its end.
pub(super) fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(future)
}
