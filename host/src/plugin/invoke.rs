//! One call into a plugin: a call slot and the circuit breaker first, then a
//! fresh `Store` and instance, the call, its storage changes committed only on
//! success, its log published, and wasmtime's error turned into a typed
//! [`CallError`]. A store is never reused, so a trap cannot leak into the next
//! call; a panic in host code ends only this call.
//!
//! Storage is serializable per call: when the commit finds that another call
//! changed what this one read (or together they would pass the quota), the
//! call runs again from scratch in a fresh instance, this time alone among
//! the plugin's calls (widget calls aside), so it cannot conflict with them
//! again on this host. The attempt
//! that conflicted leaves nothing behind: no writes, no log records.

use super::LoadedPlugin;
use super::health::conflict_backoff;
use super::health::{BreakerConfig, Clock, Outcome};
use super::phase::Phase;
use super::reserve::Reserves;
use crate::GuestError;
use crate::capabilities::chain::{TREE_WRITES, share_budget, takes_steps};
use crate::capabilities::storage::StorageConflict;
use crate::embedder::EmbedderFault;
use crate::error::{CallError, CallErrorKind};
use crate::limits::Limits;
use crate::plugin_log::{LogLevel, LogSource, PluginLog, bounded, escaped, now_millis};
use crate::registry::Registry;
use crate::sandbox::{InvocationState, Sandbox, StoreMaker};
use crate::store::{Backend, CommitError, DeliveryMark, JobMark, JobOutcome, Usage};
use crate::types::HookOutcome;
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Instance;
use wasmtime::{Store, Trap};

/// Runs of one call at most: the first alongside the plugin's other calls,
/// the others alone after a storage conflict.
const ATTEMPTS: usize = 3;

/// Runs calls into plugins: what every call needs from the host.
pub(crate) struct Invoker {
    /// Instances made ahead and discarded off the call's path (dropped before
    /// the sandbox: its thread may be waiting on an instance's start-up).
    pub reserves: Reserves,
    /// Makes a fresh store when no instance is ready.
    pub stores: StoreMaker,
    /// The engine and the linker every instance comes from.
    pub sandbox: Sandbox,
    /// Where storage commits (and a hook's done mark) go.
    pub backend: Backend,
    /// Where each call's log records are published.
    pub log: PluginLog,
    pub breaker: BreakerConfig,
    /// The time the breakers count back-offs in.
    pub clock: Clock,
    /// The host's runtime: its timers bound every call, whatever executor
    /// polls it, and the blocking API runs calls on it.
    pub runtime: tokio::runtime::Handle,
    /// Which plugins are switched off: checked before every call.
    pub registry: Arc<Registry>,
    /// Every message committed here, plugins' and the application's, for
    /// whoever listens (`Host::subscribe_messages`).
    pub message_feed: tokio::sync::broadcast::Sender<crate::types::Message>,
}

impl Invoker {
    /// Whether plugin `id` is switched off.
    pub(crate) fn is_disabled(&self, id: &str) -> bool {
        self.registry.is_disabled(id)
    }

    /// Runs `call` in a fresh instance of `plugin`, for exports that return
    /// the WIT `result<T, error>`: the plugin's own error comes back as
    /// [`CallErrorKind::Guest`], and its storage writes are dropped.
    pub(crate) async fn run<R: Send>(
        &self,
        plugin: &LoadedPlugin,
        phase: Phase,
        call: GuestCall<'_, R>,
    ) -> Result<R, CallError> {
        self.run_accepting(plugin, phase, call, &|_| Ok(())).await
    }

    /// Like [`Invoker::run`], with `accept` judging the result before the
    /// storage writes are committed: a refused result commits nothing.
    pub(crate) async fn run_accepting<R: Send>(
        &self,
        plugin: &LoadedPlugin,
        phase: Phase,
        call: GuestCall<'_, R>,
        accept: Accept<'_, R>,
    ) -> Result<R, CallError> {
        let context = &plugin.context;
        let label = phase.label();
        let error = |kind| CallError::new(&context.id, &label, kind);
        if !phase.runs_when_switched_off() && self.is_disabled(&context.id) {
            return Err(error(CallErrorKind::Disabled));
        }
        // The slot first: a refusal for being busy must not touch the breaker.
        let Some(_slot) = context.health.enter(context.limits.max_concurrent) else {
            context.health.refused();
            return Err(error(CallErrorKind::Busy { limit: context.limits.max_concurrent }));
        };
        let admitted = match context.health.admit(self.clock.now()) {
            Ok(admitted) => admitted,
            Err(wait) => return Err(error(CallErrorKind::Degraded { retry_in_ms: wait.as_millis() })),
        };
        // One deadline for the whole call: waiting for the serial lock and
        // every run count against it.
        let limit = phase.timeout(&context.limits);
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started + limit);
        let invocation = Invocation {
            invoker: self,
            plugin,
            phase: &phase,
            label: &label,
            call,
            accept,
            started,
            limit,
            deadline,
        };
        let timed_out = || invocation.timed_out();
        // From here every path reaches `record`, which also ends a half-open test call.
        let mut result = Err(error(CallErrorKind::Conflict { attempts: ATTEMPTS }));
        for run in 0..ATTEMPTS {
            // The first run shares the plugin's serial lock with its other
            // calls; a re-run after a conflict holds it alone.
            let outcome = if !phase.takes_serial_lock() {
                invocation.attempt().await
            } else if run == 0 {
                match self.by_deadline(deadline, context.serial.read()).await {
                    Ok(_shared) => invocation.attempt().await,
                    Err(_) => Attempt::Done(Err(timed_out())),
                }
            } else {
                match self.by_deadline(deadline, context.serial.write()).await {
                    Ok(_alone) => invocation.attempt().await,
                    Err(_) => Attempt::Done(Err(timed_out())),
                }
            };
            match outcome {
                Attempt::Done(done) => {
                    result = done;
                    break;
                }
                // Alone, only another host on the same database can still pass
                // the quota first; then the quota is the answer, not a conflict.
                Attempt::Conflict(CommitError::QuotaExceeded { .. }) if run + 1 == ATTEMPTS => {
                    let message = format!("plugin `{}`: its storage quota is full", context.id);
                    result = Err(error(CallErrorKind::Guest(GuestError::QuotaExceeded(message))));
                }
                Attempt::Conflict(reason) => {
                    tracing::debug!(plugin = %context.id, phase = %label, run, "storage conflict ({reason}); running the call again");
                    context.health.conflicted();
                    // Calls that collided on a hot key would collide again at
                    // once: each waits a little, and not the same time.
                    // (A timer made by `by_deadline`, on the host's runtime.)
                    if run + 1 < ATTEMPTS {
                        let until = (tokio::time::Instant::now() + conflict_backoff(run)).min(deadline);
                        let _ = self.by_deadline(until, std::future::pending::<()>()).await;
                    }
                }
            }
        }
        // Host failures (`Internal`), conflicts and refusals are not the plugin's doing.
        let outcome = match result.as_ref().map_err(|e| &e.kind) {
            Err(CallErrorKind::Trap { .. }) => Outcome::Trap,
            Err(CallErrorKind::Timeout { .. }) => Outcome::Timeout,
            Err(CallErrorKind::LimitExceeded { .. }) => Outcome::LimitExceeded,
            Err(CallErrorKind::Embedder { .. }) => Outcome::Unjudged,
            _ => Outcome::Completed,
        };
        if admitted.record(outcome, &self.breaker, self.clock.now()) {
            let message = format!(
                "plugin `{}` is degraded for {} s after repeated failures: its hooks are skipped and its calls refused",
                context.id,
                self.breaker.backoff.as_secs(),
            );
            self.log.record(&context.id, LogLevel::Error, LogSource::Host, &message);
        }
        result
    }

    /// `future`, cut at `deadline` by a timer on the host's own runtime, so
    /// the deadline holds whatever executor polls the call.
    fn by_deadline<F: Future>(&self, deadline: tokio::time::Instant, future: F) -> tokio::time::Timeout<F> {
        let _host_timer = self.runtime.enter();
        tokio::time::timeout_at(deadline, future)
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

/// Judges a call's result before its storage writes are committed: a
/// refusal says what is wrong with it.
pub(crate) type Accept<'c, R> = &'c (dyn Fn(&R) -> Result<(), CallErrorKind> + Send + Sync);

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
    invoker: &'a Invoker,
    plugin: &'a LoadedPlugin,
    phase: &'a Phase,
    label: &'a str,
    call: GuestCall<'a, R>,
    accept: Accept<'a, R>,
    /// When the call began, its time limit, and when it must end (all runs together).
    started: Instant,
    limit: Duration,
    deadline: tokio::time::Instant,
}

impl<R: Send> Invocation<'_, R> {
    fn error(&self, kind: CallErrorKind) -> CallError {
        CallError::new(&self.plugin.context.id, self.label, kind)
    }

    fn timed_out(&self) -> CallError {
        let (limit_ms, elapsed_ms) = (self.limit.as_millis(), self.started.elapsed().as_millis());
        self.error(CallErrorKind::Timeout { limit_ms, elapsed_ms })
    }

    async fn attempt(&self) -> Attempt<R> {
        let Invocation { invoker, plugin, phase, label, call, accept, deadline, .. } = *self;
        let context = &plugin.context;
        let internal = |message: String| self.error(CallErrorKind::Internal { message });
        // An instance made ahead if one is ready, else one made now.
        let ready =
            plugin.reserve.as_ref().and_then(|reserve| invoker.reserves.take(reserve, deadline.into_std()));
        let (mut store, made_ahead) = match ready {
            Some(ready) => (ready.store, Some(ready.instance)),
            None => match invoker.stores.store(context.clone(), deadline.into_std()) {
                Ok(store) => (store, None),
                Err(e) => return Attempt::Done(Err(internal(format!("{e:#}")))),
            },
        };
        // Routes and hooks write entities; a hook's writes continue the
        // chain of writes that led to its event.
        store.data_mut().caller.chain = phase.write_chain();
        // The deadline is a timer around the whole call: dropping the call's
        // future stops the guest wherever it is (computing, sleeping, waiting in a
        // host call). A panic in host code ends only this call.
        let guest = async {
            let instance = match made_ahead {
                Some(instance) => instance,
                None => plugin.instance_pre()?.instantiate_async(&mut store).await?,
            };
            call(&mut store, instance).await
        };
        let timed = invoker.by_deadline(deadline, AssertUnwindSafe(guest).catch_unwind()).await;
        let outcome = match timed {
            Ok(outcome) => outcome,
            Err(_elapsed) => Ok(Err(wasmtime::Error::new(DeadlinePassed))),
        };
        store.data_mut().take_output();
        let exhausted = store.data().limiter.exhausted;
        // What the host keeps of the call; with a reserve, the store goes off
        // the call's path (without one, a plugin's calls stay all on its path).
        let state = store.data_mut();
        let (storage, mut log) = (std::mem::take(&mut state.storage), std::mem::take(&mut state.caller.log));
        let (entity_changes, messages, budget) = (
            std::mem::take(&mut state.caller.entity_changes),
            std::mem::take(&mut state.caller.messages),
            state.caller.chain.as_ref().and_then(|chain| chain.budget).unwrap_or(TREE_WRITES),
        );
        match &plugin.reserve {
            Some(reserve) => invoker.reserves.hand_back(reserve, store),
            None => drop(store),
        }
        let result = match outcome {
            Err(panic) => Err(internal(format!(
                "the host panicked during the call: {}",
                crate::embedder::panic_message(&*panic)
            ))),
            Ok(Ok(result)) => {
                // A failed call writes nothing, but its answer still rests on what
                // it read: that is checked like a success's.
                let result = result
                    .map_err(|error| self.error(CallErrorKind::Guest(bounded_guest(error))))
                    .and_then(|value| accept(&value).map(|()| value).map_err(|kind| self.error(kind)));
                let mut changes = storage.into_changes();
                (changes.entities, changes.messages) = (entity_changes, messages);
                let registry = &invoker.registry;
                let can_write =
                    |id: &str| registry.get(id).is_some_and(|plugin| takes_steps(&plugin.context));
                let steps = changes.entities.iter_mut().map(|change| &mut change.deliveries);
                let steps = steps.chain(changes.messages.iter_mut().map(|change| &mut change.deliveries));
                share_budget(steps.collect(), budget, can_write);
                if result.is_err() {
                    changes.writes.clear();
                    changes.entities.clear();
                    changes.messages.clear();
                }
                // A hook's commit settles its delivery, failed or not.
                let hook = phase.delivery();
                changes.delivery = hook.map(|(event, delivery)| DeliveryMark {
                    id: delivery.id,
                    outcome: HookOutcome {
                        plugin_id: context.id.clone(),
                        event,
                        entity_id: delivery.entity_id.clone(),
                        at: now_millis(),
                        duration_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
                        error: result.as_ref().err().map(ToString::to_string),
                    },
                });
                let job = phase.job_run().filter(|run| run.claim.is_some());
                changes.job =
                    job.and_then(|run| Some((run, run.claim.as_ref()?))).map(|(run, claim)| JobMark {
                        plugin_id: context.id.clone(),
                        job_id: run.job_id.clone(),
                        node: claim.node.clone(),
                        due: claim.due,
                        next_due: claim.next_due,
                        outcome: JobOutcome {
                            at: run.started_at,
                            duration_us: u64::try_from(self.started.elapsed().as_micros())
                                .unwrap_or(u64::MAX),
                            error: result.as_ref().err().map(ToString::to_string),
                        },
                    });
                let limits = &context.limits;
                let quota = Usage { bytes: limits.storage_bytes, keys: limits.storage_keys };
                let committed = match changes.needs_commit() {
                    true => {
                        let committed;
                        // A hook's own commit may wait for its write's other
                        // hooks', holding its call slot: only while the plugin
                        // has another for its other calls.
                        let gathered =
                            hook.is_some() && context.health.has_spare_slot(context.limits.max_concurrent);
                        (changes, committed) = super::gathering::commit(
                            &*invoker.backend.kv,
                            gathered,
                            &context.id,
                            changes,
                            quota,
                        )
                        .await;
                        committed
                    }
                    false => Ok(()),
                };
                match committed {
                    Ok(()) => {
                        if !changes.entities.is_empty() || !changes.messages.is_empty() {
                            // Their deliveries are due now.
                            invoker.backend.outbox.wake_ups().notify_one();
                        }
                        // Copied for listeners only: a call may publish 6 MiB.
                        if invoker.message_feed.receiver_count() > 0 {
                            for change in &changes.messages {
                                let _ = invoker.message_feed.send(change.message.clone());
                            }
                        }
                        if let (Some((_, delivery)), Some(mark)) = (hook, changes.delivery) {
                            // Always empty before: a call commits at most once.
                            let _ = delivery.settled.set(mark.outcome);
                        }
                        if let (Some(run), Some(mark)) = (job, changes.job) {
                            let _ = run.settled.set(mark.outcome);
                        }
                        result
                    }
                    Err(CommitError::Store(e)) => {
                        Err(internal(format!("committing its storage writes failed: {e}")))
                    }
                    Err(CommitError::Delivered) => Err(self.error(CallErrorKind::AlreadyDelivered)),
                    Err(conflict) => return Attempt::Conflict(conflict),
                }
            }
            Ok(Err(error)) if error.downcast_ref::<StorageConflict>().is_some() => {
                return Attempt::Conflict(CommitError::Conflict { key: "a key read twice".into() });
            }
            Ok(Err(error)) if error.downcast_ref::<DeadlinePassed>().is_some() => Err(self.timed_out()),
            // A full pool is the host's load, not the plugin's fault.
            Ok(Err(error)) if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
                Err(self.error(CallErrorKind::HostBusy))
            }
            Ok(Err(ref error)) if let Some(fault) = error.downcast_ref::<EmbedderFault>() => {
                log.push(
                    LogLevel::Error,
                    LogSource::Host,
                    format!("{label}: the application's function {fault}"),
                );
                let problem = bounded(&fault.problem, 1024).into_owned();
                Err(self.error(CallErrorKind::Embedder { function: fault.function.clone(), problem }))
            }
            Ok(Err(error)) => {
                let classified = self.error(classify(self.limit, &context.limits, exhausted, &error));
                if matches!(classified.kind, CallErrorKind::Trap { .. }) {
                    // The operator gets the whole story (wasm backtrace included),
                    // in the plugin's log; the caller a short message.
                    log.push(LogLevel::Error, LogSource::Host, format!("{label} trapped: {error:?}"));
                }
                Err(classified)
            }
        };
        log.publish(&invoker.log, &context.id);
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

/// What a trap or a host error from the guest's run means, given the call's
/// time limit and whether a memory or table growth was refused.
fn classify(limit: Duration, limits: &Limits, exhausted: bool, error: &wasmtime::Error) -> CallErrorKind {
    let exceeded = |limit: String| CallErrorKind::LimitExceeded { limit };
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            let limit_ms = limit.as_millis();
            CallErrorKind::Timeout { limit_ms, elapsed_ms: limit_ms }
        }
        Some(Trap::OutOfFuel) => exceeded(format!("fuel ({} units)", limits.fuel.unwrap_or_default())),
        Some(Trap::StackOverflow) => exceeded("wasm stack".to_string()),
        _ if exhausted => exceeded(format!("memory ({} MiB)", limits.memory_bytes >> 20)),
        // The trap itself (`wasm trap: ...`) or the innermost cause, without
        // the backtrace: short, and all a client needs.
        Some(trap) => CallErrorKind::Trap { message: trap.to_string() },
        None => CallErrorKind::Trap { message: bounded(&error.root_cause().to_string(), 1024).into_owned() },
    }
}
