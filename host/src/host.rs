//! [`Host`]: the embedding API. Open it on a data directory, load plugins, and
//! use entities, routes, widgets and settings from Rust without any server.

use crate::capabilities::settings;
use crate::embedder::EmbedderInterfaces;
use crate::engine::EngineProfile;
use crate::entity_writes::{Entities, EntitiesHandle};
use crate::error::HostError;
#[cfg(feature = "legacy")]
use crate::legacy::{LegacyError, LegacyRunner};
use crate::plugin::cache::{COMPILED_DIR, CodeSource};
use crate::plugin::invoke::Invoker;
use crate::plugin::reserve::Reserves;
use crate::plugin::vet::Loader;
use crate::plugin_log::PluginLog;
use crate::registry::Registry;
use crate::reload::Folders;
use crate::sandbox::{EngineSettings, PoolSize, Sandbox};
use crate::store::Backend;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod calls;
mod config;
mod entities;
mod info;
mod jobs;
mod messages;
mod nodes;
mod plugins;
mod switches;

pub use config::{DEFAULT_MAX_WASM_STACK, HostConfig};
pub use info::PluginInfo;

/// A Plinth host: the engine, the database and the loaded plugins.
///
/// All methods take `&self`; a `Host` can be shared between threads (`Arc<Host>`).
pub struct Host {
    /// Runs every call into a plugin (and owns the engine and the backend).
    invoker: Arc<Invoker>,
    /// Vets and loads plugins.
    loader: Loader,
    /// The loaded plugins and the switched-off ones, shared with the invoker.
    registry: Arc<Registry>,
    /// Which plugin folders failed to load, and how each looked when loaded.
    folders: Folders,
    /// Runs the calls of the blocking API; stopped in the background on drop
    /// (a host may be dropped inside another runtime).
    runtime: Option<tokio::runtime::Runtime>,
    #[cfg(feature = "legacy")]
    legacy: Option<LegacyRunner>,
    /// Installs: their configuration, their lock and the versions followed
    /// (private to the install module). Crate-visible because an install
    /// step is a `Host` method in `install/`: it loads, reloads and unloads
    /// plugins through the host as well as moving files.
    #[cfg(feature = "install")]
    pub(crate) installs: crate::install::Installs,
    data_dir: PathBuf,
    /// Entities: reads, writes with their hooks and deliveries, and field
    /// configurations.
    entities: Arc<Entities>,
    /// This node's report: withdrawn once the host stops, then written no more.
    node_report: crate::nodes::NodeReport,
    /// Scheduled jobs: this node's share of the due runs.
    scheduler: crate::jobs::Scheduler,
}

impl Host {
    /// Opens a host with default limits on `data_dir` (created if missing).
    pub fn open(data_dir: impl Into<PathBuf>) -> Result<Host, HostError> {
        Host::with_config(HostConfig::new(data_dir))
    }

    /// Opens a host with `config`.
    pub fn with_config(config: HostConfig) -> Result<Host, HostError> {
        let legacy_memory = legacy_memory(&config);
        let data_dir = config.data_dir;
        std::fs::create_dir_all(&data_dir)
            .map_err(|source| HostError::DataDir { path: data_dir.clone(), source })?;
        let backend = match config.backend {
            Some(backend) => backend,
            #[cfg(feature = "sqlite")]
            None => Backend::sqlite(&data_dir)?,
            #[cfg(not(feature = "sqlite"))]
            None => return Err(HostError::NoBackend),
        };
        // Fuel metering is an engine setting: on when the default limits use it.
        let settings = EngineSettings {
            max_wasm_stack: config.max_wasm_stack,
            target: config.engine.target(),
            fuel: config.limits.fuel.is_some(),
            pool: config.pooling.map(|instances| PoolSize {
                instances,
                max_memory_bytes: config.ceilings.memory_bytes.max(legacy_memory),
                keep_resident_bytes: config.keep_resident_bytes,
            }),
        };
        let mut sandbox = Sandbox::new(&settings).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        sandbox.embedder = EmbedderInterfaces::link(&mut sandbox.linker, &config.embedder_interfaces)
            .map_err(HostError::EmbedderInterface)?;
        let pool_share = match (sandbox.pooled, settings.pool) {
            (true, Some(pool)) => Some((pool.instances as usize / 2).max(1)),
            _ => None,
        };
        let cache_dir = config.compile_cache_dir.unwrap_or_else(|| data_dir.join(COMPILED_DIR));
        // Installed packages were verified when installed: their artifacts are trusted.
        #[cfg(feature = "install")]
        let trusted_roots = vec![data_dir.join(crate::install::INSTALLED_DIR)];
        #[cfg(not(feature = "install"))]
        let trusted_roots = Vec::new();
        let code = CodeSource::new(
            EngineProfile::new(settings.target.clone(), settings.fuel),
            &cache_dir,
            config.compile_cache,
            trusted_roots,
            config.trust_precompiled,
        )
        .map_err(|source| HostError::DataDir { path: cache_dir.clone(), source })?;
        // One worker for timers; a blocking call runs its future on the
        // caller's own thread. Built last, and shut down in the background on
        // any later failure (dropping a runtime inside async code panics).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("plinth-runtime")
            .enable_all()
            .build()
            .map_err(|source| HostError::DataDir { path: data_dir.clone(), source })?;
        #[cfg(feature = "legacy")]
        let legacy = match config.legacy {
            Some(legacy) => {
                let handle = runtime.handle().clone();
                let code = crate::legacy::ModuleCode {
                    profile: EngineProfile::new(settings.target.clone(), settings.fuel),
                    trust_folders: config.trust_precompiled,
                };
                match LegacyRunner::new(sandbox.engine.clone(), &data_dir, legacy, code, handle) {
                    Ok(runner) => Some(runner),
                    Err(error) => {
                        runtime.shutdown_background();
                        return Err(error.into());
                    }
                }
            }
            None => None,
        };
        #[cfg(feature = "install")]
        crate::install::recover(&data_dir);
        let disabled = crate::capabilities::in_place(|| backend.switches.disabled())?;
        let registry = Arc::new(Registry::new(disabled));
        let entities = EntitiesHandle::default();
        let stores = sandbox.store_maker(backend.clone(), entities.clone());
        let reserves =
            match Reserves::start(stores.clone(), runtime.handle().clone(), reserve_budget(&settings)) {
                Ok(reserves) => reserves,
                Err(source) => {
                    runtime.shutdown_background();
                    return Err(HostError::DataDir { path: data_dir, source });
                }
            };
        let invoker = Arc::new(Invoker {
            reserves,
            stores,
            sandbox,
            backend,
            log: PluginLog::default(),
            breaker: config.breaker,
            clock: config.clock,
            runtime: runtime.handle().clone(),
            registry: registry.clone(),
            message_feed: tokio::sync::broadcast::channel(messages::MESSAGE_FEED_CAPACITY).0,
        });
        let entities = Entities::start(invoker.clone(), &entities);
        let node_report = crate::nodes::NodeReport::new(invoker.backend.clone(), entities.node());
        let scheduler = crate::jobs::Scheduler::new(invoker.clone(), entities.node().to_string());
        Ok(Host {
            scheduler,
            entities,
            invoker,
            loader: Loader {
                defaults: config.limits,
                ceilings: config.ceilings,
                max_component_bytes: config.max_component_bytes,
                pool_share,
                code,
                serial_locks: Default::default(),
                observer: config.host_call_observer,
            },
            registry,
            folders: Folders::default(),
            runtime: Some(runtime),
            #[cfg(feature = "legacy")]
            legacy,
            #[cfg(feature = "install")]
            installs: crate::install::Installs::new(config.install),
            data_dir,
            node_report,
        })
    }

    /// Runs `future` to its end on the calling thread: the blocking API, for
    /// code without an async runtime. From async code, use the `_async` methods.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.invoker.runtime.block_on(future)
    }

    /// The host's runtime: its timers bound every call, and the background
    /// loops run on it.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.invoker.runtime
    }

    /// The engine every plugin runs on, for embedders that compile or measure
    /// their own wasm with exactly the host's configuration. Instances made on
    /// it take slots from the host's pool, and its stores need an epoch
    /// deadline (the host's ticker advances the epoch every 10 ms).
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.invoker.sandbox.engine
    }

    /// Whether instances come from the pooling allocator: false when
    /// [`HostConfig::pooling`] is `None` or the address space could not hold
    /// the pool (the host then allocates on demand and logs a warning).
    pub fn pooling_active(&self) -> bool {
        self.invoker.sandbox.pooled
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The legacy adapter: wasip1 stdin/stdout JSON modules and their store;
    /// [`LegacyError::Disabled`] unless [`HostConfig::legacy`] was set.
    #[cfg(feature = "legacy")]
    pub fn legacy(&self) -> Result<&LegacyRunner, LegacyError> {
        self.legacy.as_ref().ok_or(LegacyError::Disabled)
    }

    /// A value a plugin stored (whether or not it is loaded).
    pub fn storage_get(&self, plugin_id: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.invoker.backend.kv.get(plugin_id, key)?.map(|stored| stored.value))
    }

    /// The keys a plugin stored under `prefix`, sorted.
    pub fn storage_keys(&self, plugin_id: &str, prefix: &str) -> Result<Vec<String>, HostError> {
        Ok(self.invoker.backend.kv.list_keys(plugin_id, prefix)?)
    }

    /// A loaded plugin's settings in force (set values, else defaults).
    pub fn settings(&self, plugin_id: &str) -> Result<Map<String, Value>, HostError> {
        let plugin = self.loaded(plugin_id).ok_or_else(|| HostError::UnknownPlugin(plugin_id.to_string()))?;
        Ok(settings::effective(&*self.invoker.backend.settings, plugin_id, &plugin.context.settings)?)
    }

    /// Sets some of a plugin's settings: every value is checked against the
    /// manifest's schema first, then all are stored together or none. A
    /// `null` value resets that setting to its default. Returns the settings
    /// in force afterwards.
    pub fn set_settings(
        &self,
        plugin_id: &str,
        values: Map<String, Value>,
    ) -> Result<Map<String, Value>, HostError> {
        let plugin = self.loaded(plugin_id).ok_or_else(|| HostError::UnknownPlugin(plugin_id.to_string()))?;
        // No setting type admits null, so null unambiguously means "back to the default".
        let (reset, set): (Map<String, Value>, Map<String, Value>) =
            values.into_iter().partition(|(_, value)| value.is_null());
        let invalid = |name: &str, problem| HostError::InvalidSetting {
            plugin: plugin_id.to_string(),
            name: name.to_string(),
            problem,
        };
        for (name, value) in &set {
            settings::validate(&plugin.context.settings, name, value)
                .map_err(|problem| invalid(name, problem))?;
        }
        let reset: Vec<String> = reset.into_iter().map(|(name, _)| name).collect();
        for name in &reset {
            settings::declared(&plugin.context.settings, name).map_err(|problem| invalid(name, problem))?;
        }
        self.invoker.backend.settings.change(plugin_id, &set, &reset)?;
        self.settings(plugin_id)
    }

    /// Removes the set values of some of a plugin's settings, so their
    /// defaults are in force again. Returns the settings in force afterwards.
    pub fn reset_settings(&self, plugin_id: &str, names: &[String]) -> Result<Map<String, Value>, HostError> {
        let plugin = self.loaded(plugin_id).ok_or_else(|| HostError::UnknownPlugin(plugin_id.to_string()))?;
        for name in names {
            settings::declared(&plugin.context.settings, name).map_err(|problem| {
                HostError::InvalidSetting { plugin: plugin_id.to_string(), name: name.clone(), problem }
            })?;
        }
        self.invoker.backend.settings.change(plugin_id, &Map::new(), names)?;
        self.settings(plugin_id)
    }

    /// The backend the host stores its data in.
    pub fn backend(&self) -> &Backend {
        &self.invoker.backend
    }
}

/// The memory a legacy job may use, for sizing the shared instance pool.
fn legacy_memory(config: &HostConfig) -> usize {
    #[cfg(feature = "legacy")]
    if let Some(legacy) = &config.legacy {
        return legacy.memory_bytes;
    }
    let _ = config;
    0
}

impl Drop for Host {
    fn drop(&mut self) {
        self.invoker.reserves.stop();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Instances the host keeps ready ahead of calls, for all plugins together: a
/// quarter of the pool, so that reserves never starve the calls themselves
/// (none for a pool under four); without a pool, what each may use bounds them.
fn reserve_budget(settings: &EngineSettings) -> usize {
    settings.pool.map_or(32, |pool| pool.instances as usize / 4)
}
