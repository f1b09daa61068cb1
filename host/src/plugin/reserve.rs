//! Instances made ahead of their calls. Every call still gets an instance no
//! other call has touched, but making one (instantiation, the guest's own
//! start-up code) and discarding it (returning its pool slot, resetting its
//! memory) happen on a background thread instead of on the call's path.
//!
//! Bounded three ways: a plugin keeps at most `limits.reserve_instances`
//! ready (under the host's ceiling), the host at most its budget in all (a
//! quarter of the instance pool, so reserves never starve calls), and each
//! instance at most the plugin's memory limit. A reserve fills after the
//! plugin's first call (loading makes one, if the plugin has routes or
//! widgets), and refills after each call that takes from it; it goes when the
//! plugin is unloaded or reloaded.

use crate::capabilities::PluginContext;
use crate::sandbox::{EPOCH_TICK, InvocationState, StoreMaker, stoppable};
use crate::sync::locked;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

/// Calls' used stores waiting for the thread (at most the budget, too);
/// past this a call discards its own. Small, since each holds a pool slot
/// until it is discarded.
const BACKLOG: usize = 8;

/// A made instance and its store, not yet used by any call.
pub(crate) struct Ready {
    pub store: Store<InvocationState>,
    pub instance: Instance,
}

/// One plugin's instances made ahead.
pub(crate) struct Reserve {
    size: usize,
    ready: Mutex<Vec<Ready>>,
    /// A refill is queued or running: a take does not queue another.
    refilling: AtomicBool,
    /// Making an instance ahead failed (the guest's start-up trapped or ran
    /// out of time): calls make their own, and report what goes wrong.
    failed: AtomicBool,
    pre: InstancePre<InvocationState>,
    context: Arc<PluginContext>,
    /// The host's count of ready instances, which this reserve's share leaves when it goes.
    held: Arc<AtomicUsize>,
}

impl Reserve {
    /// How many instances are ready now.
    pub(crate) fn ready(&self) -> usize {
        locked(&self.ready).len()
    }
}

impl Drop for Reserve {
    fn drop(&mut self) {
        let ready = self.ready.get_mut().map_or(0, |ready| ready.len());
        self.held.fetch_sub(ready, Ordering::Relaxed);
    }
}

/// What a call leaves the thread: its used store, and its plugin's reserve
/// to refill. One message per call, so the thread is woken once.
struct Job {
    used: Box<Store<InvocationState>>,
    refill: Option<Arc<Reserve>>,
}

/// The host's background thread that makes and discards instances for every plugin.
pub(crate) struct Reserves {
    /// Jobs for the thread; `None` tells it to stop.
    jobs: SyncSender<Option<Job>>,
    /// Taken (and joined) by the first `stop`.
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Ready instances across all plugins.
    held: Arc<AtomicUsize>,
    /// Whether the engine meters fuel (then every store needs some).
    fuel: bool,
    /// Instances ready at most, across all plugins.
    budget: usize,
}

impl Reserves {
    /// Starts the thread; it makes at most `budget` instances ahead in all
    /// (none when `budget` is 0), using `runtime`'s timers for their deadlines.
    pub(crate) fn start(
        stores: StoreMaker,
        runtime: tokio::runtime::Handle,
        budget: usize,
    ) -> std::io::Result<Reserves> {
        let held = Arc::new(AtomicUsize::new(0));
        let (jobs, queue) = mpsc::sync_channel::<Option<Job>>(BACKLOG.min(budget));
        let fuel = stores.fuel;
        let maker = Maker { stores, runtime, held: held.clone(), budget };
        let thread = std::thread::Builder::new().name("plinth-reserve".into()).spawn(move || {
            while let Ok(Some(Job { used, refill })) = queue.recv() {
                // Its pool slot back first: the refill may need it.
                drop(used);
                if let Some(reserve) = refill {
                    maker.refill(&reserve);
                }
            }
        })?;
        Ok(Reserves { jobs, thread: Mutex::new(Some(thread)), held, fuel, budget })
    }

    /// A reserve of `size` for a plugin (None when `size` or the host's
    /// budget is 0: then its calls make and discard their own instances).
    pub(crate) fn reserve(
        &self,
        size: usize,
        pre: &InstancePre<InvocationState>,
        context: &Arc<PluginContext>,
    ) -> Option<Arc<Reserve>> {
        (size > 0 && self.budget > 0).then(|| {
            Arc::new(Reserve {
                size,
                ready: Mutex::new(Vec::with_capacity(size)),
                refilling: AtomicBool::new(false),
                failed: AtomicBool::new(false),
                pre: pre.clone(),
                context: context.clone(),
                held: self.held.clone(),
            })
        })
    }

    /// A ready instance of the reserve's plugin, if one is, made ready for a
    /// call ending at `deadline` (the call's [`Reserves::hand_back`] refills).
    pub(crate) fn take(&self, reserve: &Reserve, deadline: Instant) -> Option<Ready> {
        let mut ready = locked(&reserve.ready).pop()?;
        self.held.fetch_sub(1, Ordering::Relaxed);
        // The call's own deadline and fuel, from now: start-up had its own.
        // Its epoch deadline too, or the guest would first yield to the
        // call's timer only when the start-up's limit ran out.
        ready.store.data_mut().caller.deadline = deadline;
        let limits = &reserve.context.limits;
        stoppable(&mut ready.store, self.fuel, limits.fuel).ok()?;
        ready.store.set_epoch_deadline(1);
        Some(ready)
    }

    /// Hands a call's used store to the thread, which discards it and then
    /// refills the plugin's reserve; when the thread is behind, the store is
    /// discarded here and the reserve refills after a later call.
    pub(crate) fn hand_back(&self, reserve: &Arc<Reserve>, used: Store<InvocationState>) {
        let refill = (!reserve.failed.load(Ordering::Relaxed)
            && !reserve.refilling.swap(true, Ordering::AcqRel))
        .then(|| reserve.clone());
        let job = Job { used: Box::new(used), refill };
        if let Err(TrySendError::Full(Some(job)) | TrySendError::Disconnected(Some(job))) =
            self.jobs.try_send(Some(job))
            && let Some(reserve) = job.refill
        {
            reserve.refilling.store(false, Ordering::Release);
        }
    }
}

impl Reserves {
    /// Stops the thread once its job is done; later calls make their own
    /// instances. The host calls it before its runtime shuts down.
    pub(crate) fn stop(&self) {
        if let Some(thread) = locked(&self.thread).take() {
            // Behind the jobs already queued: those stores are discarded first.
            let _ = self.jobs.send(None);
            let _ = thread.join();
        }
    }
}

impl Drop for Reserves {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread's side: makes instances ahead within the host's budget.
struct Maker {
    stores: StoreMaker,
    runtime: tokio::runtime::Handle,
    held: Arc<AtomicUsize>,
    budget: usize,
}

impl Maker {
    fn refill(&self, reserve: &Arc<Reserve>) {
        // Only the job holds the reserve: its plugin is gone.
        while Arc::strong_count(reserve) > 1 && reserve.ready() < reserve.size {
            if self.held.fetch_add(1, Ordering::Relaxed) >= self.budget {
                self.held.fetch_sub(1, Ordering::Relaxed);
                break;
            }
            match self.make(reserve) {
                Ok(ready) => locked(&reserve.ready).push(ready),
                Err(error) => {
                    self.held.fetch_sub(1, Ordering::Relaxed);
                    // A full pool is the host's load: try again on a later call.
                    if error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_none() {
                        tracing::debug!(plugin = %reserve.context.id, "no instances made ahead: {error:#}");
                        reserve.failed.store(true, Ordering::Relaxed);
                    }
                    break;
                }
            }
        }
        reserve.refilling.store(false, Ordering::Release);
    }

    /// One instance, its start-up bounded by the plugin's init time limit.
    /// The limit is an epoch deadline that traps, not a timer: the thread must
    /// finish its job even while the host's runtime shuts down.
    fn make(&self, reserve: &Reserve) -> wasmtime::Result<Ready> {
        let limit = reserve.context.limits.init_timeout;
        let mut store = self.stores.store(reserve.context.clone(), Instant::now() + limit)?;
        store.epoch_deadline_trap();
        store.set_epoch_deadline((limit.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64);
        let instantiate = reserve.pre.instantiate_async(&mut store);
        // A panic in host code during start-up is that start-up's failure.
        let instance =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.runtime.block_on(instantiate)))
                .map_err(|_| wasmtime::format_err!("the host panicked during start-up"))??;
        Ok(Ready { store, instance })
    }
}
