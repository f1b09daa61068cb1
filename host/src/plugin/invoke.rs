//! One call into a plugin: a call slot and the circuit breaker first, then a
//! fresh `Store` and instance, the call, the guest's output moved to the plugin
//! log, its storage writes committed only on success, and wasmtime's error
//! turned into a typed [`CallError`]. A store is never reused, so a trap
//! cannot leak into the next call; a panic in host code ends only this call.

use super::LoadedPlugin;
use super::health::{BreakerConfig, Outcome};
use crate::GuestError;
use crate::db::Database;
use crate::error::CallError;
use crate::limits::Limits;
use crate::plugin_log::{LogLevel, LogSource, PluginLog};
use crate::sandbox::{CallKind, InvocationState, Sandbox};
use std::panic::{AssertUnwindSafe, catch_unwind};
use wasmtime::component::Instance;
use wasmtime::{Store, Trap};

/// What every call shares: the database, the log, and the host's limit model.
#[derive(Clone)]
pub(crate) struct Shared {
    pub db: Database,
    pub log: PluginLog,
    pub defaults: Limits,
    pub ceilings: Limits,
    pub breaker: BreakerConfig,
    pub max_component_bytes: u64,
    pub compile_cache: super::cache::CompileCache,
}

/// Runs `call` in a fresh instance of `plugin`.
pub(crate) fn run<R>(
    plugin: &LoadedPlugin,
    sandbox: &Sandbox,
    shared: &Shared,
    kind: CallKind,
    phase: &str,
    call: impl FnOnce(&mut Store<InvocationState>, &Instance) -> wasmtime::Result<R>,
) -> Result<R, CallError> {
    let call = |store: &mut Store<InvocationState>, instance: &Instance| call(store, instance).map(Ok);
    run_checked(plugin, sandbox, shared, kind, phase, call, |_| Ok(()))
}

/// Like [`run`], for exports that return the WIT `result<T, error>`: the
/// plugin's own error comes back as [`CallError::Guest`], and its storage
/// writes are dropped.
pub(crate) fn run_fallible<R>(
    plugin: &LoadedPlugin,
    sandbox: &Sandbox,
    shared: &Shared,
    kind: CallKind,
    phase: &str,
    call: impl FnOnce(&mut Store<InvocationState>, &Instance) -> wasmtime::Result<Result<R, GuestError>>,
) -> Result<R, CallError> {
    run_checked(plugin, sandbox, shared, kind, phase, call, |_| Ok(()))
}

/// Like [`run_fallible`], with `accept` judging the result before the storage
/// writes are committed: a refused result commits nothing.
pub(crate) fn run_checked<R>(
    plugin: &LoadedPlugin,
    sandbox: &Sandbox,
    shared: &Shared,
    kind: CallKind,
    phase: &str,
    call: impl FnOnce(&mut Store<InvocationState>, &Instance) -> wasmtime::Result<Result<R, GuestError>>,
    accept: impl FnOnce(&R) -> Result<(), CallError>,
) -> Result<R, CallError> {
    let context = &plugin.context;
    let id = || context.id.clone();
    let internal = |message: String| CallError::Internal { plugin: id(), phase: phase.to_string(), message };
    // The slot first: a refusal for being busy must not touch the breaker.
    let Some(_slot) = context.health.enter(context.limits.max_concurrent) else {
        context.health.refused();
        return Err(CallError::Busy { plugin: id(), limit: context.limits.max_concurrent });
    };
    if let Err(wait) = context.health.admit() {
        return Err(CallError::Degraded { plugin: id(), retry_in_ms: wait.as_millis() });
    }
    // From here every path reaches `record`, which also ends a half-open test call.
    let result = (|| {
        let mut store = sandbox
            .new_store(context.clone(), kind, shared.db.clone(), shared.log.clone())
            .map_err(|e| internal(format!("{e:#}")))?;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            plugin.pre.instantiate(&mut store).and_then(|instance| call(&mut store, &instance))
        }));
        store.data().flush_output();
        match outcome {
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned());
                Err(internal(format!("the host panicked during the call: {}", reason.unwrap_or_default())))
            }
            Ok(Ok(Ok(value))) => {
                accept(&value)?;
                let state = store.into_data();
                state
                    .storage
                    .commit(&mut shared.db.lock(), &context.id)
                    .map_err(|e| internal(format!("committing its storage writes failed: {e}")))?;
                Ok(value)
            }
            Ok(Ok(Err(error))) => Err(CallError::Guest { plugin: id(), phase: phase.to_string(), error }),
            Ok(Err(error)) => {
                let exhausted = store.data().limiter.exhausted;
                Err(classify(&context.id, phase, kind, &context.limits, exhausted, error))
            }
        }
    })();
    // Host failures (`Internal`) and refusals are not the plugin's doing.
    let outcome = match &result {
        Err(CallError::Trap { .. }) => Outcome::Trap,
        Err(CallError::Timeout { .. }) => Outcome::Timeout,
        Err(CallError::LimitExceeded { .. }) => Outcome::LimitExceeded,
        _ => Outcome::Completed,
    };
    if context.health.record(outcome, &shared.breaker) {
        let message = format!(
            "plugin `{}` is degraded for {} s after repeated failures: its hooks are skipped and its calls refused",
            context.id,
            shared.breaker.backoff.as_secs(),
        );
        shared.log.record(&context.id, LogLevel::Error, LogSource::Host, &message);
    }
    result
}

fn classify(
    plugin: &str,
    phase: &str,
    kind: CallKind,
    limits: &Limits,
    exhausted: bool,
    error: wasmtime::Error,
) -> CallError {
    let limit = |limit: String| CallError::LimitExceeded {
        plugin: plugin.to_string(),
        phase: phase.to_string(),
        limit,
    };
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout {
            plugin: plugin.to_string(),
            phase: phase.to_string(),
            limit_ms: kind.timeout(limits).as_millis(),
        },
        Some(Trap::OutOfFuel) => limit(format!("fuel ({} units)", limits.fuel.unwrap_or_default())),
        Some(Trap::StackOverflow) => limit("wasm stack".to_string()),
        _ if exhausted => limit(format!("memory ({} MiB)", limits.memory_bytes >> 20)),
        _ => CallError::Trap {
            plugin: plugin.to_string(),
            phase: phase.to_string(),
            message: format!("{error:#}"),
        },
    }
}
