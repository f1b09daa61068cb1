//! The sandbox every plugin call runs in: one engine for the host, an epoch
//! ticker that bounds run time, and the state a fresh `Store` carries for one
//! invocation (plugin identity, grants, limits, a WASI context that inherits
//! nothing).

use crate::capabilities::entities::{self, EntitiesView};
use crate::capabilities::logging::{self, LoggingCtx, LoggingView};
use crate::capabilities::messages::{self, MessagesView};
use crate::capabilities::settings::{self, SettingsView};
use crate::capabilities::storage::{self, StorageCtx, StorageView};
use crate::capabilities::{self as caps, Caller, PluginContext};
use crate::entity_writes::EntitiesHandle;
#[cfg(feature = "outbound-http")]
use crate::outbound::OutboundHttp;
use crate::plugin_log::LogSource;
use crate::store::Backend;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{
    Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
#[cfg(feature = "outbound-http")]
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

/// How often the epoch advances; call deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide settings: what cannot differ between plugins.
#[derive(Debug, Clone)]
pub(crate) struct EngineSettings {
    pub max_wasm_stack: usize,
    /// Native code for this machine, or the Pulley interpreter.
    pub target: crate::engine::Target,
    pub fuel: bool,
    pub pool: Option<PoolSize>,
}

/// How large a pool the pooling allocator keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSize {
    /// Component instances alive at once (each call holds one while it runs).
    pub instances: u32,
    /// The largest memory any instance may grow to.
    pub max_memory_bytes: usize,
    /// Per memory slot, how much of what a call dirtied stays mapped for the
    /// next call (tables keep a sixteenth of it).
    pub keep_resident_bytes: usize,
}

impl PoolSize {
    /// Sized for components of several core modules (a Python or JavaScript
    /// guest has a dozen or more) and for the legacy jobs on the same engine.
    fn config(self) -> PoolingAllocationConfig {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(self.instances)
            .total_core_instances(self.instances * 24)
            .total_memories(self.instances * 4)
            .total_tables(self.instances * 24)
            .max_core_instances_per_component(64)
            .max_memories_per_component(16)
            .max_tables_per_component(64)
            .max_core_instance_size(4 << 20)
            .max_component_instance_size(4 << 20)
            .table_elements(100_000)
            .max_memory_size(self.max_memory_bytes)
            // Reset a returning slot by rewriting only its dirty pages (found
            // with PAGEMAP_SCAN where the kernel has it) instead of unmapping
            // them: the next instance takes no page faults and no TLB flush.
            .linear_memory_keep_resident(self.keep_resident_bytes)
            .table_keep_resident(self.keep_resident_bytes / 16)
            .pagemap_scan(Enabled::Auto);
        pool
    }
}

/// The engine, the linker with every host interface, and the epoch ticker.
pub(crate) struct Sandbox {
    pub engine: Engine,
    pub linker: Linker<InvocationState>,
    /// Whether instances come from the pool (false after the on-demand fallback).
    pub pooled: bool,
    /// The embedding application's interfaces linked, with their grants.
    pub embedder: crate::embedder::EmbedderInterfaces,
    fuel: bool,
    ticker: Option<EpochTicker>,
}

impl Sandbox {
    pub(crate) fn new(settings: &EngineSettings) -> wasmtime::Result<Sandbox> {
        let mut config = crate::engine::config(&settings.target, settings.fuel, settings.max_wasm_stack)?;
        let (engine, pooled) = match settings.pool {
            Some(pool) => {
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool.config()));
                match Engine::new(&config) {
                    Ok(engine) => (engine, true),
                    Err(error) => {
                        tracing::warn!(
                            "the pooling allocator is unavailable ({error:#}); allocating on demand"
                        );
                        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                        (Engine::new(&config)?, false)
                    }
                }
            }
            None => (Engine::new(&config)?, false),
        };
        let mut linker = Linker::new(&engine);
        link(&mut linker)?;
        let ticker = Some(EpochTicker::start(engine.clone())?);
        Ok(Sandbox { engine, linker, pooled, embedder: Default::default(), fuel: settings.fuel, ticker })
    }

    /// What makes the stores of this engine's calls, to hand to another thread.
    pub(crate) fn store_maker(&self, backend: Backend, entities: EntitiesHandle) -> StoreMaker {
        StoreMaker {
            engine: self.engine.clone(),
            fuel: self.fuel,
            backend,
            entities,
            #[cfg(feature = "outbound-http")]
            outbound_mock: Default::default(),
        }
    }
}

/// Makes fresh stores: the engine and what every call's host functions use.
#[derive(Clone)]
pub(crate) struct StoreMaker {
    engine: Engine,
    /// Whether the engine meters fuel (then every store needs some).
    pub fuel: bool,
    backend: Backend,
    entities: EntitiesHandle,
    /// A test's mock answering plugins' outbound requests, for every store.
    #[cfg(feature = "outbound-http")]
    pub outbound_mock: crate::outbound::MockSlot,
}

impl StoreMaker {
    /// A fresh store for one call of `plugin`, with its limits set; host calls
    /// that can run long stop at `deadline`.
    pub(crate) fn store(
        &self,
        plugin: Arc<PluginContext>,
        deadline: std::time::Instant,
    ) -> wasmtime::Result<Store<InvocationState>> {
        let limits = plugin.limits;
        let state = InvocationState {
            caller: Caller::new(plugin, deadline),
            backend: self.backend.clone(),
            entities: self.entities.clone(),
            storage: StorageCtx::default(),
            logging: LoggingCtx::default(),
            wasi: None,
            #[cfg(feature = "outbound-http")]
            http: None,
            #[cfg(feature = "outbound-http")]
            outbound_mock: self.outbound_mock.clone(),
            output_bytes: limits.output_bytes,
            table: bounded_table(),
            limiter: Limiter {
                inner: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    .trap_on_grow_failure(true)
                    .build(),
                exhausted: false,
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        stoppable(&mut store, self.fuel, limits.fuel)?;
        Ok(store)
    }
}

/// The most resources (streams, pollables, HTTP headers and bodies) one
/// call may hold in the host at once.
const MAX_RESOURCES: usize = 4096;

/// A resource table of at most [`MAX_RESOURCES`] entries: each entry is
/// host memory, outside the guest's memory limit.
fn bounded_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    table
}

/// Makes a fresh store stoppable: the deadline itself is a timer around the
/// call (see `plugin::invoke`), which stops a guest whatever it does, and
/// running wasm yields to it at every epoch tick. A metering engine needs
/// fuel in every store: `fuel`, or all of it.
pub(crate) fn stoppable<T>(store: &mut Store<T>, metering: bool, fuel: Option<u64>) -> wasmtime::Result<()> {
    store.epoch_deadline_async_yield_and_update(1);
    if metering {
        store.set_fuel(fuel.unwrap_or(u64::MAX))?;
    }
    Ok(())
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`], so a guest stuck in a loop
/// reaches its deadline and traps. Waiting on a channel rather than sleeping
/// lets a dropped host stop the thread at once instead of up to a tick later.
struct EpochTicker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<EpochTicker> {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new().name("plinth-epoch".into()).spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker { stop, thread })
    }

    /// Disconnects the channel, which wakes the thread and ends its loop.
    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// `StoreLimits`, remembering whether a memory or table growth was refused, so
/// the resulting trap is reported as an exhausted limit.
pub(crate) struct Limiter {
    inner: StoreLimits,
    pub exhausted: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum);
        self.exhausted |= !matches!(allowed, Ok(true));
        allowed
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.table_growing(current, desired, maximum);
        self.exhausted |= !matches!(allowed, Ok(true));
        allowed
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Links WASI (granting nothing) and every Plinth host interface, in every
/// supported version. All are always linked; the grants decide, per call,
/// which succeed.
fn link(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    // Linked for every plugin; only one granted hosts may import it
    // (`vet`), and each request is checked against them (`outbound`).
    #[cfg(feature = "outbound-http")]
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    caps::add_types_to_linker(linker, |s| &mut s.caller)?;
    fn entities_view(s: &mut InvocationState) -> EntitiesView<'_> {
        EntitiesView { caller: &mut s.caller, store: &s.backend.entities, entities: &s.entities }
    }
    fn storage_view(s: &mut InvocationState) -> StorageView<'_> {
        StorageView { caller: &mut s.caller, kv: &*s.backend.kv, ctx: &mut s.storage }
    }
    fn settings_view(s: &mut InvocationState) -> SettingsView<'_> {
        SettingsView { caller: &mut s.caller, store: &*s.backend.settings }
    }
    fn logging_view(s: &mut InvocationState) -> LoggingView<'_> {
        LoggingView { caller: &mut s.caller, ctx: &mut s.logging }
    }
    entities::add_to_linker(linker, entities_view)?;
    messages::add_to_linker(linker, |s| MessagesView { caller: &mut s.caller, entities: &s.entities })?;
    storage::add_to_linker(linker, storage_view)?;
    settings::add_to_linker(linker, settings_view)?;
    logging::add_to_linker(linker, logging_view)?;
    // Older versions of plinth:plugin, each delegating to the newest.
    caps::v0_1::add_to_linker(linker, entities_view, storage_view, settings_view, logging_view)?;
    caps::v0_2::add_to_linker(linker, entities_view, storage_view, settings_view, logging_view)
}

/// The state of one invocation: who is calling, the backend its host calls
/// use, each capability's context, and where its output goes.
pub(crate) struct InvocationState {
    pub caller: Caller,
    backend: Backend,
    entities: EntitiesHandle,
    /// Storage reads and writes, committed only if the call succeeds.
    pub storage: StorageCtx,
    logging: LoggingCtx,
    /// Made at the call's first WASI call: a guest that makes none (one
    /// built without WASI imports, or one whose call needs no clock, random
    /// or output) never pays for it.
    wasi: Option<Wasi>,
    /// Made at the call's first `wasi:http` call, like `wasi`.
    #[cfg(feature = "outbound-http")]
    http: Option<OutboundHttp>,
    /// A test's mock answering outbound requests (`Host::answer_outbound_with`).
    #[cfg(feature = "outbound-http")]
    outbound_mock: crate::outbound::MockSlot,
    /// The most each of stdout and stderr keeps.
    output_bytes: usize,
    table: ResourceTable,
    pub limiter: Limiter,
}

/// A WASI context that inherits nothing, and the pipes it prints into.
struct Wasi {
    ctx: WasiCtx,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Wasi {
    fn new(output_bytes: usize) -> Wasi {
        let stdout = MemoryOutputPipe::new(output_bytes);
        let stderr = MemoryOutputPipe::new(output_bytes);
        let ctx = WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build();
        Wasi { ctx, stdout, stderr }
    }
}

impl InvocationState {
    /// Moves what the guest printed into the call's log: stdout at info,
    /// stderr at warn, where a Python traceback, a JavaScript error or a Rust
    /// panic message lands, so it shows in the plugin's `last_errors` and at
    /// warn in the server's log.
    pub(crate) fn take_output(&mut self) {
        use crate::plugin_log::LogLevel;
        #[cfg(feature = "outbound-http")]
        if let Some(http) = &self.http {
            http.log_refusals(&mut self.caller.log);
        }
        let Some(wasi) = &self.wasi else { return };
        for (pipe, source, level) in [
            (&wasi.stdout, LogSource::Stdout, LogLevel::Info),
            (&wasi.stderr, LogSource::Stderr, LogLevel::Warn),
        ] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes).lines().filter(|l| !l.is_empty()) {
                self.caller.log.push(level, source, line.to_string());
            }
        }
    }
}

#[cfg(feature = "outbound-http")]
impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let (plugin, deadline) = (&self.caller.plugin, self.caller.deadline);
        if !self.http.as_ref().is_some_and(|http| http.is_for(deadline)) {
            self.http = None;
        }
        let mock = &self.outbound_mock;
        let http = self.http.get_or_insert_with(|| {
            let mock = crate::sync::reading(mock).clone();
            OutboundHttp::new(plugin.clone(), deadline, mock)
        });
        http.view(&mut self.table)
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let output_bytes = self.output_bytes;
        let wasi = self.wasi.get_or_insert_with(|| Wasi::new(output_bytes));
        WasiCtxView { ctx: &mut wasi.ctx, table: &mut self.table }
    }
}
