//! How to open a [`Host`](super::Host): the data directory, the database,
//! the limit model, the engine and the optional parts.

#[cfg(feature = "legacy")]
use crate::legacy::LegacyConfig;
use crate::limits::Limits;
use crate::plugin::health::BreakerConfig;
use crate::store::Backend;
use std::path::PathBuf;

/// How to open a [`Host`](super::Host).
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
    /// The application's own interfaces, offered to the plugins whose
    /// manifests grant them (`docs/embedding.md`).
    pub embedder_interfaces: Vec<crate::EmbedderInterface>,
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
            embedder_interfaces: Vec::new(),
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
