//! One call into a plugin: a fresh `Store` and instance, the call, the guest's
//! output moved to the plugin log, and wasmtime's error turned into a typed
//! [`CallError`]. A store is never reused, so a trap cannot leak into the next call.

use super::LoadedPlugin;
use crate::db::Database;
use crate::error::CallError;
use crate::plugin_log::PluginLog;
use crate::sandbox::{InvocationState, Sandbox};
use wasmtime::component::Instance;
use wasmtime::{Store, Trap};

/// What every call shares: the database and the log.
#[derive(Clone)]
pub(crate) struct Shared {
    pub db: Database,
    pub log: PluginLog,
}

/// Runs `call` in a fresh instance of `plugin`.
pub(crate) fn run<R>(
    plugin: &LoadedPlugin,
    sandbox: &Sandbox,
    shared: &Shared,
    phase: &str,
    call: impl FnOnce(&mut Store<InvocationState>, &Instance) -> wasmtime::Result<R>,
) -> Result<R, CallError> {
    let mut store = sandbox.new_store(plugin.context.clone(), shared.db.clone(), shared.log.clone());
    let outcome = plugin.pre.instantiate(&mut store).and_then(|instance| call(&mut store, &instance));
    store.data().flush_output();
    outcome.map_err(|error| classify(plugin.id(), phase, sandbox, error))
}

/// Like [`run`], for exports that return the WIT `result<T, error>`.
pub(crate) fn run_fallible<R>(
    plugin: &LoadedPlugin,
    sandbox: &Sandbox,
    shared: &Shared,
    phase: &str,
    call: impl FnOnce(&mut Store<InvocationState>, &Instance) -> wasmtime::Result<Result<R, crate::GuestError>>,
) -> Result<R, CallError> {
    run(plugin, sandbox, shared, phase, call)?.map_err(|error| CallError::Guest {
        plugin: plugin.id().to_string(),
        phase: phase.to_string(),
        error,
    })
}

fn classify(plugin: &str, phase: &str, sandbox: &Sandbox, error: wasmtime::Error) -> CallError {
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return CallError::Timeout {
            plugin: plugin.to_string(),
            phase: phase.to_string(),
            limit_ms: sandbox.limits.call_timeout.as_millis(),
        };
    }
    CallError::Trap { plugin: plugin.to_string(), phase: phase.to_string(), message: format!("{error:#}") }
}
