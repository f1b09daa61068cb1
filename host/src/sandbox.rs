//! The sandbox every plugin call runs in: one engine for the host, an epoch
//! ticker that bounds run time, and the state a fresh `Store` carries for one
//! invocation (plugin identity, grants, limits, a WASI context that inherits
//! nothing).

use crate::capabilities;
use crate::db::Database;
use crate::manifest::{HostFunction, SettingSchema};
use crate::plugin_log::{LogLevel, LogSource, PluginLog};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the epoch advances; call deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Resource limits applied to every plugin call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Wall-clock time one call may run before it is interrupted.
    pub call_timeout: Duration,
    /// Bytes of stdout and of stderr kept per call; writes beyond fail.
    pub output_bytes: usize,
    /// Largest component file accepted.
    pub max_component_bytes: u64,
    /// Largest value a plugin may store under one key.
    pub storage_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            call_timeout: Duration::from_secs(5),
            output_bytes: 64 << 10,
            max_component_bytes: 64 << 20,
            storage_value_bytes: 1 << 20,
        }
    }
}

/// What a plugin is, as its calls need it.
pub(crate) struct PluginContext {
    pub id: String,
    pub grants: BTreeSet<HostFunction>,
    pub settings: BTreeMap<String, SettingSchema>,
}

/// The engine, the linker with every host interface, and the epoch ticker.
pub(crate) struct Sandbox {
    pub engine: Engine,
    pub linker: Linker<InvocationState>,
    pub limits: Limits,
    ticker: Option<EpochTicker>,
}

impl Sandbox {
    pub(crate) fn new(limits: Limits) -> wasmtime::Result<Sandbox> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        capabilities::add_to_linker(&mut linker)?;
        let ticker = Some(EpochTicker::start(engine.clone())?);
        Ok(Sandbox { engine, linker, limits, ticker })
    }

    /// A fresh store for one call of `plugin`, with its deadline set.
    pub(crate) fn new_store(
        &self,
        plugin: Arc<PluginContext>,
        db: Database,
        log: PluginLog,
    ) -> Store<InvocationState> {
        let stdout = MemoryOutputPipe::new(self.limits.output_bytes);
        let stderr = MemoryOutputPipe::new(self.limits.output_bytes);
        let wasi = WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build();
        let state = InvocationState {
            plugin,
            db,
            log,
            wasi,
            table: ResourceTable::new(),
            limits: self.limits,
            store_limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.store_limits);
        let ticks = self.limits.call_timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`], so a guest stuck in a loop
/// reaches its deadline and traps.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("plinth-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker { stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// The state of one invocation: who is calling, what it may do, and where its
/// output goes.
pub(crate) struct InvocationState {
    pub plugin: Arc<PluginContext>,
    pub db: Database,
    pub log: PluginLog,
    pub limits: Limits,
    wasi: WasiCtx,
    table: ResourceTable,
    store_limits: StoreLimits,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl InvocationState {
    /// Checks a grant. A missing one is logged under the plugin's id and
    /// becomes the typed `denied` error the guest sees.
    pub(crate) fn require(&self, function: HostFunction) -> Result<(), crate::GuestError> {
        if self.plugin.grants.contains(&function) {
            return Ok(());
        }
        let message = format!(
            "plugin `{}` called {function} without the grant: add \"{function}\" to capabilities.host_functions in plugin.json",
            self.plugin.id
        );
        self.log.record(&self.plugin.id, LogLevel::Warn, LogSource::Host, &message);
        Err(crate::GuestError::Denied(message))
    }

    /// Moves what the guest printed into the plugin log.
    pub(crate) fn flush_output(&self) {
        for (pipe, source) in [(&self.stdout, LogSource::Stdout), (&self.stderr, LogSource::Stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes).lines().filter(|l| !l.is_empty()) {
                self.log.record(&self.plugin.id, LogLevel::Info, source, line);
            }
        }
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
