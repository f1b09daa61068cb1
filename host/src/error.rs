//! Typed errors at the host boundary. Each names the plugin, the phase, and
//! what to do about it.

use crate::GuestError;
use std::path::PathBuf;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// `plugin.json` is missing or unreadable.
    #[error(
        "plugin at {dir}: cannot read plugin.json ({source}); each plugin folder needs a plugin.json manifest"
    )]
    ManifestUnreadable {
        /// The plugin's folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `plugin.json` is not a valid manifest.
    #[error("plugin at {dir}: plugin.json is invalid at {error}")]
    ManifestInvalid {
        /// The plugin's folder.
        dir: PathBuf,
        /// The field and the problem.
        error: crate::manifest::ManifestError,
    },
    /// The component file named by `wasm.module` cannot be read.
    #[error(
        "plugin `{plugin}` (load): cannot read the component {path} ({source}); build the plugin (cargo build --target wasm32-wasip2 --release) or fix wasm.module in plugin.json"
    )]
    WasmUnreadable {
        /// The plugin's id.
        plugin: String,
        /// The path tried.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than the host accepts.
    #[error("plugin `{plugin}` (load): {path} is {size} bytes, over the {max}-byte limit for components")]
    WasmTooLarge {
        /// The plugin's id.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file is not WebAssembly at all.
    #[error(
        "plugin `{plugin}` (load): {path} is not WebAssembly: {what}; point wasm.module at the built .wasm component"
    )]
    NotWasm {
        /// The plugin's id.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// What it seems to be instead.
        what: String,
    },
    /// The file is a core module, not a component.
    #[error(
        "plugin `{plugin}` (load): {path} is a core WebAssembly module, not a component; build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule {
        /// The plugin's id.
        plugin: String,
        /// The file.
        path: PathBuf,
    },
    /// Wasmtime could not compile the component.
    #[error("plugin `{plugin}` (compile): {path} is not a valid component: {message}")]
    Compile {
        /// The plugin's id.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// Wasmtime's reason.
        message: String,
    },
    /// The component imports something the host does not provide.
    #[error(
        "plugin `{plugin}` (link): imports {}, which Plinth does not provide; a plugin may import plinth:plugin/{{entities,storage,settings,logging}}@0.1.0 and WASI 0.2 (cli, io, clocks, random, filesystem, sockets: all granting nothing)",
        imports.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
    )]
    UnsupportedImport {
        /// The plugin's id.
        plugin: String,
        /// Every import the host does not provide.
        imports: Vec<String>,
    },
    /// Linking failed for another reason (a version or type mismatch).
    #[error(
        "plugin `{plugin}` (link): {message}; rebuild the plugin against this host's wit/ (plinth:plugin@0.1.0, WASI 0.2)"
    )]
    Link {
        /// The plugin's id.
        plugin: String,
        /// Wasmtime's reason.
        message: String,
    },
    /// The component exports none of the plugin interfaces.
    #[error(
        "plugin `{plugin}` (load): exports none of plinth:plugin/events, routes or field-widget @0.1.0; export at least one (with the Rust SDK: plinth_sdk::export!(MyPlugin: routes))"
    )]
    NoExports {
        /// The plugin's id.
        plugin: String,
    },
    /// Initialising the plugin (asking for its routes and widgets) failed.
    #[error("plugin `{plugin}` (init): {source}")]
    Init {
        /// The plugin's id.
        plugin: String,
        /// What failed.
        source: Box<CallError>,
    },
    /// A route or widget the plugin declares is malformed or inconsistent.
    #[error("plugin `{plugin}` (init): {problem}")]
    Invalid {
        /// The plugin's id.
        plugin: String,
        /// What is wrong.
        problem: String,
    },
    /// Reloading needs a loaded plugin.
    #[error("plugin `{plugin}` (reload): it is not loaded; load its folder first")]
    NotLoaded {
        /// The plugin's id.
        plugin: String,
    },
    /// A plugin with this id is loaded already.
    #[error(
        "plugin `{plugin}` (load): a plugin with this id is already loaded from {existing}; unload it first or give this one another id"
    )]
    AlreadyLoaded {
        /// The plugin's id.
        plugin: String,
        /// Where the loaded one came from.
        existing: PathBuf,
    },
}

impl LoadError {
    /// The plugin's id, when the manifest could be read.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            LoadError::ManifestUnreadable { .. } | LoadError::ManifestInvalid { .. } => None,
            LoadError::WasmUnreadable { plugin, .. }
            | LoadError::WasmTooLarge { plugin, .. }
            | LoadError::NotWasm { plugin, .. }
            | LoadError::CoreModule { plugin, .. }
            | LoadError::Compile { plugin, .. }
            | LoadError::UnsupportedImport { plugin, .. }
            | LoadError::Link { plugin, .. }
            | LoadError::NoExports { plugin }
            | LoadError::Init { plugin, .. }
            | LoadError::Invalid { plugin, .. }
            | LoadError::NotLoaded { plugin }
            | LoadError::AlreadyLoaded { plugin, .. } => Some(plugin),
        }
    }
}

/// Why a call into a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No plugin with this id is loaded.
    #[error("no plugin `{0}` is loaded")]
    UnknownPlugin(String),
    /// The plugin does not export the interface the call needs.
    #[error("plugin `{plugin}` does not export {interface}")]
    NotExported {
        /// The plugin's id.
        plugin: String,
        /// The missing interface.
        interface: &'static str,
    },
    /// No route of the plugin matches the path.
    #[error("plugin `{plugin}` has no route for {method} {path}")]
    RouteNotFound {
        /// The plugin's id.
        plugin: String,
        /// The method asked for.
        method: String,
        /// The path asked for.
        path: String,
    },
    /// A route matches the path, but not with this method.
    #[error("plugin `{plugin}`: {path} does not accept {method} (it accepts {allowed})")]
    MethodNotAllowed {
        /// The plugin's id.
        plugin: String,
        /// The method asked for.
        method: String,
        /// The path asked for.
        path: String,
        /// The methods it accepts, comma-separated.
        allowed: String,
    },
    /// The widget id is malformed or names no loaded widget.
    #[error("no widget `{0}`; widget ids look like plugin:{{plugin-id}}:{{widget-id}} (see the widget list)")]
    UnknownWidget(String),
    /// The plugin ran past its time limit and was stopped.
    #[error("plugin `{plugin}` ({phase}): stopped after its {limit_ms} ms time limit")]
    Timeout {
        /// The plugin's id.
        plugin: String,
        /// What was running.
        phase: String,
        /// The limit.
        limit_ms: u128,
    },
    /// The plugin trapped (a panic, an out-of-bounds access, memory exhausted).
    #[error("plugin `{plugin}` ({phase}): trapped: {message}")]
    Trap {
        /// The plugin's id.
        plugin: String,
        /// What was running.
        phase: String,
        /// Wasmtime's description.
        message: String,
    },
    /// The call hit a memory, fuel or stack limit.
    #[error("plugin `{plugin}` ({phase}): stopped at its {limit} limit")]
    LimitExceeded {
        /// The plugin's id.
        plugin: String,
        /// What was running.
        phase: String,
        /// Which limit, with its value.
        limit: String,
    },
    /// The plugin has its maximum of calls running already.
    #[error("plugin `{plugin}` is busy: {limit} calls are running, its limit; try again shortly")]
    Busy {
        /// The plugin's id.
        plugin: String,
        /// Its concurrent-call limit.
        limit: usize,
    },
    /// The plugin failed repeatedly and is left alone for a while.
    #[error("plugin `{plugin}` is degraded after repeated failures; it is tried again in {retry_in_ms} ms")]
    Degraded {
        /// The plugin's id.
        plugin: String,
        /// When it is tried again.
        retry_in_ms: u128,
    },
    /// A request body over the plugin's limit.
    #[error("plugin `{plugin}`: the request body of {size} bytes is over its {limit}-byte limit")]
    RequestTooLarge {
        /// The plugin's id.
        plugin: String,
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A response body over the plugin's limit.
    #[error("plugin `{plugin}`: its response of {size} bytes is over its {limit}-byte limit")]
    ResponseTooLarge {
        /// The plugin's id.
        plugin: String,
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Other calls of the plugin kept changing the storage this call read,
    /// through every run of it: nothing of it was committed; try again.
    #[error(
        "plugin `{plugin}` ({phase}): its storage changed under it in all {attempts} runs (a storage conflict); nothing was committed, try again"
    )]
    Conflict {
        /// The plugin's id.
        plugin: String,
        /// What was running.
        phase: String,
        /// How many times it ran.
        attempts: usize,
    },
    /// The host failed around the call (its database, say); the plugin is not to blame.
    #[error("plugin `{plugin}` ({phase}): the host failed: {message}")]
    Internal {
        /// The plugin's id.
        plugin: String,
        /// What was running.
        phase: String,
        /// What failed.
        message: String,
    },
    /// The plugin returned one of the WIT errors.
    #[error("plugin `{plugin}` ({phase}): {} error: {}", error.kind(), error.message())]
    Guest {
        /// The plugin's id.
        plugin: String,
        /// What was running.
        phase: String,
        /// The error it returned.
        error: GuestError,
    },
}

impl CallError {
    /// A stable, machine-readable name for the error (`route_not_found`,
    /// `timeout`, `plugin_invalid_input`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            CallError::UnknownPlugin(_) => "unknown_plugin",
            CallError::NotExported { .. } => "not_exported",
            CallError::RouteNotFound { .. } => "route_not_found",
            CallError::MethodNotAllowed { .. } => "method_not_allowed",
            CallError::UnknownWidget(_) => "unknown_widget",
            CallError::Timeout { .. } => "timeout",
            CallError::Trap { .. } => "trap",
            CallError::LimitExceeded { .. } => "limit_exceeded",
            CallError::Busy { .. } => "busy",
            CallError::Degraded { .. } => "degraded",
            CallError::RequestTooLarge { .. } => "payload_too_large",
            CallError::ResponseTooLarge { .. } => "response_too_large",
            CallError::Internal { .. } => "internal",
            CallError::Conflict { .. } => "conflict",
            CallError::Guest { error, .. } => match error {
                GuestError::NotFound(_) => "plugin_not_found",
                GuestError::Denied(_) => "plugin_denied",
                GuestError::InvalidInput(_) => "plugin_invalid_input",
                GuestError::QuotaExceeded(_) => "plugin_quota_exceeded",
                GuestError::Internal(_) => "plugin_internal",
            },
        }
    }

    /// The plugin concerned, when there is one.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            CallError::UnknownPlugin(plugin)
            | CallError::NotExported { plugin, .. }
            | CallError::RouteNotFound { plugin, .. }
            | CallError::MethodNotAllowed { plugin, .. }
            | CallError::Timeout { plugin, .. }
            | CallError::Trap { plugin, .. }
            | CallError::LimitExceeded { plugin, .. }
            | CallError::Busy { plugin, .. }
            | CallError::Degraded { plugin, .. }
            | CallError::RequestTooLarge { plugin, .. }
            | CallError::ResponseTooLarge { plugin, .. }
            | CallError::Internal { plugin, .. }
            | CallError::Conflict { plugin, .. }
            | CallError::Guest { plugin, .. } => Some(plugin),
            CallError::UnknownWidget(_) => None,
        }
    }

    /// The HTTP status that fits this error.
    pub fn http_status(&self) -> u16 {
        match self {
            CallError::UnknownPlugin(_)
            | CallError::RouteNotFound { .. }
            | CallError::UnknownWidget(_)
            | CallError::NotExported { .. } => 404,
            CallError::MethodNotAllowed { .. } => 405,
            CallError::Timeout { .. } => 504,
            CallError::Trap { .. } | CallError::Internal { .. } | CallError::ResponseTooLarge { .. } => 500,
            CallError::LimitExceeded { .. } => 507,
            CallError::Busy { .. } | CallError::Degraded { .. } => 503,
            CallError::RequestTooLarge { .. } => 413,
            CallError::Conflict { .. } => 409,
            CallError::Guest { error, .. } => match error {
                GuestError::NotFound(_) => 404,
                GuestError::Denied(_) => 403,
                GuestError::InvalidInput(_) => 400,
                GuestError::QuotaExceeded(_) => 507,
                GuestError::Internal(_) => 500,
            },
        }
    }
}

/// Why an operation of the embedding API failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The data directory cannot be created or opened.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The legacy adapter could not be set up.
    #[cfg(feature = "legacy")]
    #[error("cannot set up the legacy adapter: {0}")]
    Legacy(#[from] crate::legacy::LegacyError),
    /// The WebAssembly engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// No entity has this id.
    #[error("no entity with id `{0}`")]
    EntityNotFound(String),
    /// An entity with this id exists already.
    #[error("an entity with id `{0}` already exists")]
    EntityExists(String),
    /// The entity or query given is malformed.
    #[error("invalid entity request: {0}")]
    InvalidEntity(String),
    /// No plugin with this id is loaded.
    #[error("no plugin `{0}` is loaded")]
    UnknownPlugin(String),
    /// A setting value does not fit the plugin's schema.
    #[error("plugin `{plugin}`: setting `{name}`: {problem}")]
    InvalidSetting {
        /// The plugin's id.
        plugin: String,
        /// The setting.
        name: String,
        /// What is wrong.
        problem: String,
    },
}

impl HostError {
    /// A stable, machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::DataDir { .. } | HostError::Engine(_) | HostError::Legacy(_) => "internal",
            HostError::Store(crate::store::StoreError::Unavailable { .. }) => "unavailable",
            HostError::Store(_) => "internal",
            HostError::EntityNotFound(_) => "entity_not_found",
            HostError::EntityExists(_) => "entity_exists",
            HostError::InvalidEntity(_) => "invalid_entity",
            HostError::UnknownPlugin(_) => "unknown_plugin",
            HostError::InvalidSetting { .. } => "invalid_setting",
        }
    }

    /// The HTTP status that fits this error.
    pub fn http_status(&self) -> u16 {
        match self {
            HostError::DataDir { .. } | HostError::Engine(_) | HostError::Legacy(_) => 500,
            HostError::Store(crate::store::StoreError::Unavailable { .. }) => 503,
            HostError::Store(_) => 500,
            HostError::EntityNotFound(_) | HostError::UnknownPlugin(_) => 404,
            HostError::EntityExists(_) => 409,
            HostError::InvalidEntity(_) => 400,
            HostError::InvalidSetting { .. } => 422,
        }
    }
}
