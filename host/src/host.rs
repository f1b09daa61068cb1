//! [`Host`]: the embedding API. Open it on a data directory, load plugins, and
//! use entities, routes, widgets and settings from Rust without any server.

use crate::capabilities::settings;
use crate::engine::EngineProfile;
use crate::entity_writes::EntityWrites;
use crate::error::{HostError, LoadError};
#[cfg(feature = "legacy")]
use crate::legacy::{LegacyConfig, LegacyError, LegacyRunner};
use crate::limits::Limits;
use crate::plugin::cache::{COMPILED_DIR, CodeSource};
use crate::plugin::health::{BreakerConfig, PluginHealth};
use crate::plugin::invoke::Invoker;
use crate::plugin::routes::RouteInfo;
use crate::plugin::vet::Loader;
use crate::plugin::{self, LoadedPlugin, WidgetInfo};
use crate::plugin_log::{LogRecord, PluginLog};
use crate::registry::{Refused, Registry};
use crate::reload::{Folders, plugin_dirs};
use crate::sandbox::{EngineSettings, PoolSize, Sandbox};
use crate::store::Backend;
use crate::types::{Entity, EntityQuery};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to open a [`Host`].
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where the database (unless [`HostConfig::backend`] names another) and
    /// the compiled-component cache live; created if missing.
    pub data_dir: PathBuf,
    /// The database: `None` for the embedded SQLite file in `data_dir`.
    pub backend: Option<Backend>,
    /// The limits of a plugin that asks for none.
    pub limits: Limits,
    /// The most a plugin may ask for in its manifest's `limits`.
    pub ceilings: Limits,
    /// When a failing plugin is degraded, and for how long.
    pub breaker: BreakerConfig,
    /// The time the breakers count back-offs in: the system's, or a
    /// [`Clock::manual`](crate::Clock::manual) a test moves by hand.
    pub clock: crate::Clock,
    /// Wasm stack per call, for every plugin (an engine-wide setting).
    pub max_wasm_stack: usize,
    /// How plugin code runs: native code (the default) or the Pulley
    /// interpreter, for platforms without JIT (`docs/platforms.md`).
    pub engine: crate::engine::EngineKind,
    /// Trust precompiled artifacts found in plugin folders (and beside legacy
    /// modules) as the application's own code: for plugins shipped inside a
    /// signed application bundle. Off by default: only the compile cache and
    /// installed packages' artifacts are loaded (see [`crate::artifact`]).
    pub trust_precompiled: bool,
    /// Largest component file accepted.
    pub max_component_bytes: u64,
    /// Keep compiled components to skip compiling on the next load.
    pub compile_cache: bool,
    /// Where compiled components are kept: `DATA_DIR/_compiled` when `None`.
    /// Several data directories (tests, tenants) may share one.
    pub compile_cache_dir: Option<PathBuf>,
    /// Instances the pooling allocator keeps ready (`None`: allocate on demand).
    /// When the address space cannot hold the pool, the host falls back to on-demand.
    pub pooling: Option<u32>,
    /// Per pooled memory slot, how much of what a call dirtied stays mapped for
    /// the next call: faster calls for more resident memory (up to this much per
    /// slot used). 0 unmaps everything a call touched, the lean choice for small devices.
    pub keep_resident_bytes: usize,
    /// The legacy adapter and its limits; `None` (the default) leaves it off:
    /// no worker threads, no `_sandbox/` or `_external_modules/` folders.
    #[cfg(feature = "legacy")]
    pub legacy: Option<LegacyConfig>,
    /// Told of every host function any plugin calls (test harnesses).
    pub host_call_observer: Option<crate::capabilities::HostCallObserver>,
    /// The rules for installing packages (sizes, trusted keys, signatures).
    #[cfg(feature = "install")]
    pub install: crate::install::InstallConfig,
}

impl HostConfig {
    /// Default limits, data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            data_dir: data_dir.into(),
            backend: None,
            limits: Limits::default(),
            ceilings: Limits::default_ceilings(),
            breaker: BreakerConfig::default(),
            clock: crate::Clock::system(),
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            engine: crate::engine::EngineKind::default(),
            trust_precompiled: false,
            max_component_bytes: 64 << 20,
            compile_cache: true,
            compile_cache_dir: None,
            pooling: Some(128),
            keep_resident_bytes: 1 << 20,
            #[cfg(feature = "legacy")]
            legacy: None,
            host_call_observer: None,
            #[cfg(feature = "install")]
            install: Default::default(),
        }
    }

    /// The compile cache folder in the user's own cache folder:
    /// `$XDG_CACHE_HOME/plinth-compile-cache`, else
    /// `~/.cache/plinth-compile-cache` (absolute paths only), shared by the
    /// `plinth` tool and `plinth-test`. Compiled code is loaded as native
    /// code, so it never lives where another user could write (no shared temp
    /// folder); `None` without a home.
    pub fn user_compile_cache_dir() -> Option<PathBuf> {
        let absolute = |dir: PathBuf| dir.is_absolute().then_some(dir);
        let cache = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).and_then(absolute).or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")).and_then(absolute)
        });
        cache.map(|dir| dir.join("plinth-compile-cache"))
    }
}

/// The wasm stack a call may use unless [`HostConfig::max_wasm_stack`] says otherwise.
pub const DEFAULT_MAX_WASM_STACK: usize = 512 << 10;

/// What the host knows about a loaded plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// The manifest's id.
    pub id: String,
    /// The manifest's name.
    pub name: String,
    /// The manifest's version.
    pub version: String,
    /// The manifest's description.
    pub description: Option<String>,
    /// The folder it was loaded from.
    pub dir: PathBuf,
    /// The version of `plinth:plugin` its component was built against.
    pub wit_version: &'static str,
    /// The plugin interfaces it exports: `events`, `routes`, `field-widget`.
    pub exports: Vec<&'static str>,
    /// Its routes, relative to `/api/plugins/{id}`.
    pub routes: Vec<RouteInfo>,
    /// Its field widgets.
    pub widgets: Vec<WidgetInfo>,
    /// The host functions its manifest grants.
    pub host_functions: Vec<String>,
    /// Its call counters and circuit-breaker state.
    pub health: PluginHealth,
    /// The limits its calls run under.
    pub limits: Limits,
    /// The settings its manifest declares (types, defaults, descriptions).
    pub settings: BTreeMap<String, crate::manifest::SettingSchema>,
    /// Its front-end panels.
    pub panels: Vec<crate::manifest::PanelDeclaration>,
    /// The routes whose HTML answers may run scripts (the manifest's `route_pages`).
    pub route_pages: Vec<String>,
    /// False while an operator has it switched off ([`Host::set_plugin_enabled`]).
    pub enabled: bool,
}

impl PluginInfo {
    /// Whether the route at `path` (below `/api/plugins/{id}`, no query) is
    /// one of its `route_pages`, whose HTML answers may run scripts.
    pub fn is_route_page(&self, path: &str) -> bool {
        crate::manifest::route_page_matches(&self.route_pages, path)
    }

    fn of(plugin: &LoadedPlugin, invoker: &Invoker) -> PluginInfo {
        let manifest = &plugin.manifest;
        PluginInfo {
            id: manifest.id.clone(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            description: manifest.description.clone(),
            dir: plugin.dir.clone(),
            wit_version: plugin.wit_version,
            exports: plugin.exports(),
            routes: plugin.route_infos(),
            widgets: plugin.widget_infos().to_vec(),
            host_functions: manifest.capabilities.grant_names(),
            health: plugin.context.health.snapshot(invoker.clock.now()),
            limits: plugin.context.limits,
            settings: manifest.capabilities.settings.clone(),
            panels: manifest.panels.clone(),
            route_pages: manifest.route_pages.clone(),
            enabled: !invoker.is_disabled(&manifest.id),
        }
    }
}

/// Hook outcomes a slow subscriber may fall behind by before it misses some
/// (it is told how many, and the history still has them).
const HOOK_FEED_CAPACITY: usize = 1024;

/// A Plinth host: the engine, the database and the loaded plugins.
///
/// All methods take `&self`; a `Host` can be shared between threads (`Arc<Host>`).
pub struct Host {
    /// Runs every call into a plugin (and owns the engine and the backend).
    pub(crate) invoker: Invoker,
    /// Vets and loads plugins.
    pub(crate) loader: Loader,
    /// The loaded plugins and the switched-off ones, shared with the invoker.
    pub(crate) registry: Arc<Registry>,
    pub(crate) folders: Folders,
    /// Runs the calls of the blocking API; stopped in the background on drop
    /// (a host may be dropped inside another runtime).
    runtime: Option<tokio::runtime::Runtime>,
    #[cfg(feature = "legacy")]
    legacy: Option<LegacyRunner>,
    #[cfg(feature = "install")]
    pub(crate) install_config: crate::install::InstallConfig,
    /// One install step at a time: each ends with renames that must not interleave.
    #[cfg(feature = "install")]
    pub(crate) install_lock: std::sync::Mutex<()>,
    /// The approved versions this host serves, and those it gave up on.
    #[cfg(feature = "install")]
    pub(crate) installs_followed: crate::install::Followed,
    data_dir: PathBuf,
    /// Hook outcomes as they happen, for [`Host::subscribe_hooks`].
    pub(crate) hook_feed: tokio::sync::broadcast::Sender<crate::HookOutcome>,
    /// Entity writes: the store, the hook plugins and this host's name in
    /// the outbox's leases and the node reports (shared with the invoker).
    pub(crate) entity_writes: Arc<EntityWrites>,
    /// Set once this host withdrew its node report (it is stopping): it
    /// reports no more.
    pub(crate) node_withdrawn: std::sync::Mutex<bool>,
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
        let sandbox = Sandbox::new(&settings).map_err(|e| HostError::Engine(format!("{e:#}")))?;
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
        let node = format!("node-{}", uuid::Uuid::new_v4());
        let entity_writes =
            Arc::new(EntityWrites { backend: backend.clone(), registry: registry.clone(), node });
        Ok(Host {
            invoker: Invoker {
                sandbox,
                backend,
                log: PluginLog::default(),
                breaker: config.breaker,
                clock: config.clock,
                runtime: runtime.handle().clone(),
                registry: registry.clone(),
                entity_writes: entity_writes.clone(),
            },
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
            entity_writes,
            folders: Folders::default(),
            runtime: Some(runtime),
            #[cfg(feature = "legacy")]
            legacy,
            #[cfg(feature = "install")]
            install_config: config.install,
            #[cfg(feature = "install")]
            install_lock: Default::default(),
            #[cfg(feature = "install")]
            installs_followed: Default::default(),
            data_dir,
            hook_feed: tokio::sync::broadcast::channel(HOOK_FEED_CAPACITY).0,
            node_withdrawn: Default::default(),
        })
    }

    /// Runs `future` to its end on the calling thread: the blocking API, for
    /// code without an async runtime. From async code, use the `_async` methods.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.invoker.runtime.block_on(future)
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

    /// Loads the plugin in `dir` (a folder with `plugin.json`). A failure is
    /// also kept in [`Host::failed_loads`] until the folder loads.
    pub fn load_plugin(&self, dir: impl AsRef<Path>) -> Result<PluginInfo, LoadError> {
        let dir = dir.as_ref();
        let result = self.load_new(dir);
        self.folders.record(dir, &result);
        result
    }

    fn load_new(&self, dir: &Path) -> Result<PluginInfo, LoadError> {
        let manifest = plugin::read_manifest(dir)?;
        if let Some(existing) = self.loaded(&manifest.id) {
            return Err(LoadError::AlreadyLoaded { plugin: manifest.id, existing: existing.dir.clone() });
        }
        let loaded = Arc::new(plugin::load(&self.invoker, &self.loader, dir)?);
        let info = PluginInfo::of(&loaded, &self.invoker);
        if let Err(Refused::Taken(existing)) = self.registry.add(loaded) {
            return Err(LoadError::AlreadyLoaded { plugin: info.id, existing });
        }
        tracing::info!(plugin = %info.id, exports = ?info.exports, "plugin loaded");
        Ok(info)
    }

    /// Loads every sub-folder of `dir` that holds a `plugin.json`, in name
    /// order. One plugin failing does not stop the others.
    pub fn load_plugins_in(
        &self,
        dir: impl AsRef<Path>,
    ) -> std::io::Result<Vec<(PathBuf, Result<PluginInfo, LoadError>)>> {
        Ok(self.load_dirs(plugin_dirs(dir.as_ref())?, |_| None))
    }

    /// Loads `dirs` in parallel, except those `refused` answers for.
    pub(crate) fn load_dirs(
        &self,
        dirs: Vec<PathBuf>,
        refused: impl Fn(&Path) -> Option<LoadError> + Sync,
    ) -> Vec<(PathBuf, Result<PluginInfo, LoadError>)> {
        // Folders that declare the same id are all refused: which one would
        // win would depend on the order of loading, and the winner would read
        // the others' stored data.
        let mut by_id: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for dir in &dirs {
            if let Ok(manifest) = plugin::read_manifest(dir) {
                by_id.entry(manifest.id).or_default().push(dir.clone());
            }
        }
        let shared_ids: BTreeMap<&PathBuf, (&String, &Vec<PathBuf>)> = by_id
            .iter()
            .filter(|(_, dirs)| dirs.len() > 1)
            .flat_map(|(id, dirs)| dirs.iter().map(move |dir| (dir, (id, dirs))))
            .collect();
        let load = |dir: &PathBuf| match shared_ids.get(dir) {
            Some((id, dirs)) => {
                let result = Err(LoadError::DuplicateId { plugin: id.to_string(), dirs: dirs.to_vec() });
                self.folders.record(dir, &result);
                result
            }
            None => match refused(dir) {
                Some(refusal) => {
                    let result = Err(refusal);
                    self.folders.record(dir, &result);
                    result
                }
                None => self.load_plugin(dir),
            },
        };
        // Compile in parallel, one worker per core: each load is independent
        // until it registers.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(dirs.len());
        let mut results: Vec<(usize, Result<PluginInfo, LoadError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(dir) = dirs.get(index) else { break done };
                            done.push((index, load(dir)));
                        }
                    })
                })
                .collect();
            handles.into_iter().filter_map(|worker| worker.join().ok()).flatten().collect()
        });
        results.sort_by_key(|(index, _)| *index);
        results.into_iter().map(|(index, result)| (dirs[index].clone(), result)).collect()
    }

    /// Loads a plugin again from the folder it came from (to pick up a rebuilt
    /// component or an edited manifest) and swaps it in. When the new version
    /// fails to load, the old one stays in service, the error is returned and
    /// kept in [`Host::failed_loads`].
    pub fn reload_plugin(&self, id: &str) -> Result<PluginInfo, LoadError> {
        let dir = match self.loaded(id) {
            Some(existing) => existing.dir.clone(),
            None => {
                return Err(LoadError::NotLoaded { plugin: id.to_string() });
            }
        };
        let result = self.reload_from(id, &dir);
        self.folders.record(&dir, &result);
        result
    }

    fn reload_from(&self, id: &str, dir: &Path) -> Result<PluginInfo, LoadError> {
        let fresh = Arc::new(plugin::load(&self.invoker, &self.loader, dir)?);
        if fresh.id() != id {
            return Err(LoadError::Invalid {
                plugin: id.to_string(),
                problem: format!(
                    "its manifest now says id `{}`; unload it and load the folder instead",
                    fresh.id()
                ),
            });
        }
        let info = PluginInfo::of(&fresh, &self.invoker);
        // Unloaded while the new version compiled: stay unloaded.
        if self.registry.replace(fresh).is_err() {
            return Err(LoadError::NotLoaded { plugin: id.to_string() });
        }
        tracing::info!(plugin = %id, "plugin reloaded");
        Ok(info)
    }

    /// Unloads a plugin. Its storage and settings stay in the database.
    pub fn unload_plugin(&self, id: &str) -> Result<(), HostError> {
        match self.registry.remove(id) {
            true => Ok(()),
            false => Err(HostError::UnknownPlugin(id.to_string())),
        }
    }

    /// The loaded plugins, by id.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.loaded_all().iter().map(|p| PluginInfo::of(p, &self.invoker)).collect()
    }

    /// The effective limits of a loaded plugin.
    pub fn plugin_limits(&self, id: &str) -> Option<Limits> {
        self.loaded(id).map(|p| p.context.limits)
    }

    /// One loaded plugin.
    pub fn plugin(&self, id: &str) -> Option<PluginInfo> {
        self.loaded(id).map(|p| PluginInfo::of(&p, &self.invoker))
    }

    /// The most recent log records of a plugin (its log calls, its output, its
    /// denied calls and failed hooks), oldest first.
    pub fn plugin_log(&self, id: &str) -> Vec<LogRecord> {
        self.invoker.log.records(id)
    }

    pub(crate) fn loaded(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.registry.get(id)
    }

    pub(crate) fn loaded_all(&self) -> Vec<Arc<LoadedPlugin>> {
        self.registry.all()
    }

    /// One entity.
    pub fn entity(&self, id: &str) -> Result<Option<Entity>, HostError> {
        Ok(self.invoker.backend.entities.get(id)?)
    }

    /// The entities matching `query`, oldest first.
    pub fn entities(&self, query: &EntityQuery) -> Result<Vec<Entity>, HostError> {
        query.check().map_err(HostError::InvalidEntity)?;
        Ok(self.invoker.backend.entities.find(query, None)?)
    }

    /// How many entities match `query` (limit and offset ignored).
    pub fn count_entities(&self, query: &EntityQuery) -> Result<u64, HostError> {
        query.check().map_err(HostError::InvalidEntity)?;
        Ok(self.invoker.backend.entities.count(query, None)?)
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
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
