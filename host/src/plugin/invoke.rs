//! One call into a plugin: a call slot and the circuit breaker first, then a
//! fresh `Store` and instance, the call, its storage changes committed only on
//! success, its log published, and wasmtime's error turned into a typed
//! [`CallError`]. A store is never reused, so a trap cannot leak into the next
//! call; a panic in host code ends only this call.
//!
//! Storage is serializable per call: when the commit finds that another call
//! changed what this one read (or together they would pass the quota), the
//! call runs again from scratch in a fresh instance, this time alone among
//! the plugin's calls, so it cannot conflict again on this host. The attempt
//! that conflicted leaves nothing behind: no writes, no log records.

use super::LoadedPlugin;
use super::health::{BreakerConfig, Outcome};
use crate::GuestError;
use crate::capabilities::in_place;
use crate::capabilities::storage::StorageConflict;
use crate::error::{CallError, CallErrorKind};
use crate::limits::Limits;
use crate::plugin_log::{LogLevel, LogSource, PluginLog, bounded, escaped};
use crate::sandbox::{CallKind, InvocationState, Sandbox};
use crate::store::{Backend, CommitError, Usage};
use futures_util::FutureExt;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::RwLock;
use wasmtime::component::Instance;
use wasmtime::{Store, Trap};

/// Runs of one call at most: the first alongside the plugin's other calls,
/// the others alone after a storage conflict.
const ATTEMPTS: usize = 3;

/// What every call shares: the backend, the log, and the host's limit model.
#[derive(Clone)]
pub(crate) struct Shared {
    pub backend: Backend,
    pub log: PluginLog,
    pub defaults: Limits,
    pub ceilings: Limits,
    pub breaker: BreakerConfig,
    pub max_component_bytes: u64,
    /// The most concurrent calls one plugin may have: half the instance pool.
    pub pool_share: Option<usize>,
    /// Where compiled code comes from: artifacts, the compile cache, the compiler.
    pub code: super::cache::CodeSource,
    /// Each plugin id's serial lock (see `PluginContext::serial`), kept here
    /// so the versions of a reloaded plugin share it.
    pub serial_locks: Arc<Mutex<HashMap<String, Arc<RwLock<()>>>>>,
    /// The host's runtime, which the blocking API runs calls on.
    pub runtime: tokio::runtime::Handle,
    pub observer: Option<crate::capabilities::HostCallObserver>,
    /// The plugins an operator switched off, as this node last read them
    /// (`switches.rs`): checked before every call.
    pub disabled: Arc<std::sync::RwLock<std::collections::BTreeSet<String>>>,
}

impl Shared {
    /// Whether plugin `id` is switched off.
    pub(crate) fn is_disabled(&self, id: &str) -> bool {
        self.disabled.read().unwrap_or_else(|p| p.into_inner()).contains(id)
    }

    /// The serial lock of plugin `id`.
    pub(crate) fn serial_lock(&self, id: &str) -> Arc<RwLock<()>> {
        let mut locks = self.serial_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id.to_string()).or_default().clone()
    }
}

/// The future of one guest call, borrowing only the store.
pub(crate) type GuestFuture<'s, R> =
    Pin<Box<dyn Future<Output = wasmtime::Result<Result<R, GuestError>>> + Send + 's>>;

/// The guest call of an invocation; may run more than once (after a storage
/// conflict), each time in a fresh store.
pub(crate) type GuestCall<'c, R> =
    &'c (dyn for<'s> Fn(&'s mut Store<InvocationState>, Instance) -> GuestFuture<'s, R> + Send + Sync);

/// Gives a closure the type of a [`GuestCall`] (a closure's own signature
/// cannot say that its future borrows its store argument).
pub(crate) fn guest_call<R, F>(call: F) -> F
where
    F: for<'s> Fn(&'s mut Store<InvocationState>, Instance) -> GuestFuture<'s, R> + Send + Sync,
{
    call
}

/// Judges a call's result before its storage writes are committed.
pub(crate) type Accept<'c, R> = &'c (dyn Fn(&R) -> Result<(), CallError> + Send + Sync);

/// Runs `call` in a fresh instance of `plugin`, for exports that return the
/// WIT `result<T, error>`: the plugin's own error comes back as
/// [`CallErrorKind::Guest`], and its storage writes are dropped.
pub(crate) async fn run_fallible<R: Send>(
    plugin: &LoadedPlugin,
    sandbox: &Sandbox,
    shared: &Shared,
    kind: CallKind,
    phase: &str,
    call: GuestCall<'_, R>,
) -> Result<R, CallError> {
    run_checked(plugin, sandbox, shared, kind, phase, call, &|_| Ok(())).await
}

/// Like [`run_fallible`], with `accept` judging the result before the storage
/// writes are committed: a refused result commits nothing.
pub(crate) async fn run_checked<R: Send>(
    plugin: &LoadedPlugin,
    sandbox: &Sandbox,
    shared: &Shared,
    kind: CallKind,
    phase: &str,
    call: GuestCall<'_, R>,
    accept: Accept<'_, R>,
) -> Result<R, CallError> {
    let context = &plugin.context;
    let error = |kind| CallError::new(&context.id, phase, kind);
    // Switched off: no route, hook or widget runs; loading (`init`) still
    // does, so the plugin is ready the moment it is switched on again.
    if kind != CallKind::Init && shared.is_disabled(&context.id) {
        return Err(error(CallErrorKind::Disabled));
    }
    // The slot first: a refusal for being busy must not touch the breaker.
    let Some(_slot) = context.health.enter(context.limits.max_concurrent) else {
        context.health.refused();
        return Err(error(CallErrorKind::Busy { limit: context.limits.max_concurrent }));
    };
    let admitted = match context.health.admit() {
        Ok(admitted) => admitted,
        Err(wait) => return Err(error(CallErrorKind::Degraded { retry_in_ms: wait.as_millis() })),
    };
    // One deadline for the whole call: waiting for the serial lock and every
    // run count against it.
    let limit = kind.timeout(&context.limits);
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + limit);
    let timed_out = || {
        let (limit_ms, elapsed_ms) = (limit.as_millis(), started.elapsed().as_millis());
        error(CallErrorKind::Timeout { limit_ms, elapsed_ms })
    };
    // From here every path reaches `record`, which also ends a half-open test call.
    let mut result = Err(error(CallErrorKind::Conflict { attempts: ATTEMPTS }));
    for run in 0..ATTEMPTS {
        // The first run shares the plugin's serial lock with its other calls;
        // a re-run after a conflict holds it alone.
        let invocation = Invocation { plugin, sandbox, shared, kind, phase, call, accept, started, deadline };
        let outcome = if run == 0 {
            match until(shared, deadline, context.serial.read()).await {
                Ok(_shared) => invocation.attempt().await,
                Err(_) => Attempt::Done(Err(timed_out())),
            }
        } else {
            match until(shared, deadline, context.serial.write()).await {
                Ok(_alone) => invocation.attempt().await,
                Err(_) => Attempt::Done(Err(timed_out())),
            }
        };
        match outcome {
            Attempt::Done(done) => {
                result = done;
                break;
            }
            // Alone, only another host on the same database can still pass the
            // quota first; then the quota is the answer, not a conflict.
            Attempt::Conflict(CommitError::QuotaExceeded { .. }) if run + 1 == ATTEMPTS => {
                let message = format!("plugin `{}`: its storage quota is full", context.id);
                result = Err(error(CallErrorKind::Guest(GuestError::QuotaExceeded(message))));
            }
            Attempt::Conflict(reason) => {
                tracing::debug!(plugin = %context.id, phase, run, "storage conflict ({reason}); running the call again");
            }
        }
    }
    // Host failures (`Internal`), conflicts and refusals are not the plugin's doing.
    let outcome = match result.as_ref().map_err(|e| &e.kind) {
        Err(CallErrorKind::Trap { .. }) => Outcome::Trap,
        Err(CallErrorKind::Timeout { .. }) => Outcome::Timeout,
        Err(CallErrorKind::LimitExceeded { .. }) => Outcome::LimitExceeded,
        _ => Outcome::Completed,
    };
    if admitted.record(outcome, &shared.breaker) {
        let message = format!(
            "plugin `{}` is degraded for {} s after repeated failures: its hooks are skipped and its calls refused",
            context.id,
            shared.breaker.backoff.as_secs(),
        );
        shared.log.record(&context.id, LogLevel::Error, LogSource::Host, &message);
    }
    result
}

/// `future`, cut at `deadline` by a timer on the host's own runtime, so the
/// deadline holds whatever executor polls the call.
fn until<F: Future>(shared: &Shared, deadline: tokio::time::Instant, future: F) -> tokio::time::Timeout<F> {
    let _host_timer = shared.runtime.enter();
    tokio::time::timeout_at(deadline, future)
}

/// The call's timer ran out before it ended.
#[derive(Debug)]
struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call's time limit passed")
    }
}

impl std::error::Error for DeadlinePassed {}

/// How one run of a call ended.
enum Attempt<R> {
    Done(Result<R, CallError>),
    /// Another call's commit got in the way; nothing of this run remains.
    Conflict(CommitError),
}

/// Everything one run of a call needs.
struct Invocation<'a, R> {
    plugin: &'a LoadedPlugin,
    sandbox: &'a Sandbox,
    shared: &'a Shared,
    kind: CallKind,
    phase: &'a str,
    call: GuestCall<'a, R>,
    accept: Accept<'a, R>,
    /// When the call began, and when it must end (all runs together).
    started: Instant,
    deadline: tokio::time::Instant,
}

impl<R: Send> Invocation<'_, R> {
    async fn attempt(&self) -> Attempt<R> {
        let Invocation { plugin, sandbox, shared, kind, phase, call, accept, started, deadline } = *self;
        let context = &plugin.context;
        let internal =
            |message: String| CallError::new(&context.id, phase, CallErrorKind::Internal { message });
        let mut store = match sandbox.new_store(context.clone(), deadline.into_std(), shared.backend.clone())
        {
            Ok(store) => store,
            Err(e) => return Attempt::Done(Err(internal(format!("{e:#}")))),
        };
        // The deadline is a timer around the whole call: dropping the call's
        // future stops the guest wherever it is (computing, sleeping, waiting in a
        // host call). A panic in host code ends only this call.
        let limit = kind.timeout(&context.limits);
        let guest = async {
            let instance = plugin.instance_pre()?.instantiate_async(&mut store).await?;
            call(&mut store, instance).await
        };
        let timed = until(shared, deadline, AssertUnwindSafe(guest).catch_unwind()).await;
        let outcome = match timed {
            Ok(outcome) => outcome,
            Err(_elapsed) => Ok(Err(wasmtime::Error::new(DeadlinePassed))),
        };
        store.data_mut().take_output();
        let exhausted = store.data().limiter.exhausted;
        let mut state = store.into_data();
        let result = match outcome {
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned());
                Err(internal(format!("the host panicked during the call: {}", reason.unwrap_or_default())))
            }
            Ok(Ok(result)) => {
                // A failed call writes nothing, but its answer still rests on what
                // it read: that is checked like a success's.
                let result = result
                    .map_err(|error| {
                        CallError::new(&context.id, phase, CallErrorKind::Guest(bounded_guest(error)))
                    })
                    .and_then(|value| accept(&value).map(|()| value));
                let mut changes = state.storage.into_changes();
                if result.is_err() {
                    changes.writes.clear();
                }
                let limits = &context.limits;
                let quota = Usage { bytes: limits.storage_bytes, keys: limits.storage_keys };
                let committed = match changes.needs_commit() {
                    true => in_place(|| shared.backend.kv.commit(&context.id, &changes, quota)),
                    false => Ok(()),
                };
                match committed {
                    Ok(()) => result,
                    Err(CommitError::Store(e)) => {
                        Err(internal(format!("committing its storage writes failed: {e}")))
                    }
                    Err(CommitError::Delivered) => {
                        Err(CallError::new(&context.id, phase, CallErrorKind::AlreadyDelivered))
                    }
                    Err(conflict) => return Attempt::Conflict(conflict),
                }
            }
            Ok(Err(error)) if error.downcast_ref::<StorageConflict>().is_some() => {
                return Attempt::Conflict(CommitError::Conflict { key: "a key read twice".into() });
            }
            Ok(Err(error)) if error.downcast_ref::<DeadlinePassed>().is_some() => {
                let limit_ms = limit.as_millis();
                let elapsed_ms = started.elapsed().as_millis();
                Err(CallError::new(&context.id, phase, CallErrorKind::Timeout { limit_ms, elapsed_ms }))
            }
            // A full pool is the host's load, not the plugin's fault.
            Ok(Err(error)) if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
                Err(CallError::new(&context.id, phase, CallErrorKind::HostBusy))
            }
            Ok(Err(error)) => {
                let classified = classify(&context.id, phase, kind, &context.limits, exhausted, &error);
                if matches!(classified.kind, CallErrorKind::Trap { .. }) {
                    // The operator gets the whole story (wasm backtrace included),
                    // in the plugin's log; the caller a short message.
                    state.caller.log.push(
                        LogLevel::Error,
                        LogSource::Host,
                        format!("{phase} trapped: {error:?}"),
                    );
                }
                Err(classified)
            }
        };
        state.caller.log.publish(&shared.log, &context.id);
        Attempt::Done(result)
    }
}

/// Longest message of a plugin's own error that the host keeps or forwards.
const MAX_ERROR_MESSAGE_BYTES: usize = 4096;

/// The plugin's error with its message bounded and control characters escaped.
fn bounded_guest(error: GuestError) -> GuestError {
    let tidy = |message: &str| escaped(&bounded(message, MAX_ERROR_MESSAGE_BYTES)).into_owned();
    match &error {
        GuestError::NotFound(m) => GuestError::NotFound(tidy(m)),
        GuestError::Denied(m) => GuestError::Denied(tidy(m)),
        GuestError::InvalidInput(m) => GuestError::InvalidInput(tidy(m)),
        GuestError::QuotaExceeded(m) => GuestError::QuotaExceeded(tidy(m)),
        GuestError::Internal(m) => GuestError::Internal(tidy(m)),
    }
}

fn classify(
    plugin: &str,
    phase: &str,
    kind: CallKind,
    limits: &Limits,
    exhausted: bool,
    error: &wasmtime::Error,
) -> CallError {
    let limit = |limit: String| CallErrorKind::LimitExceeded { limit };
    let kind = match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            let limit_ms = kind.timeout(limits).as_millis();
            CallErrorKind::Timeout { limit_ms, elapsed_ms: limit_ms }
        }
        Some(Trap::OutOfFuel) => limit(format!("fuel ({} units)", limits.fuel.unwrap_or_default())),
        Some(Trap::StackOverflow) => limit("wasm stack".to_string()),
        _ if exhausted => limit(format!("memory ({} MiB)", limits.memory_bytes >> 20)),
        // The trap itself (`wasm trap: ...`) or the innermost cause, without
        // the backtrace: short, and all a client needs.
        Some(trap) => CallErrorKind::Trap { message: trap.to_string() },
        None => CallErrorKind::Trap { message: bounded(&error.root_cause().to_string(), 1024).into_owned() },
    };
    CallError::new(plugin, phase, kind)
}
