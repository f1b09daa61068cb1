//! Typed errors at the host boundary. Each names the plugin, the phase, and
//! what to do about it.

use crate::GuestError;
use std::path::PathBuf;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A precompiled artifact is missing (on a host without a compiler),
    /// untrusted, stale, changed or made for another engine.
    #[error("plugin `{plugin}` (load): {error}; {remedy}")]
    Artifact {
        /// The plugin's id.
        plugin: String,
        /// What is wrong with the artifact.
        error: crate::artifact::ArtifactError,
        /// What to do about it.
        remedy: String,
    },
    /// The file is a core module, not a component.
    #[error(
        "plugin `{plugin}` (load): {path} is a core WebAssembly module that cannot become a component ({problem}); {fix}"
    )]
    CoreModule {
        /// The plugin's id.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// Why it cannot be wrapped (or that this build does not wrap modules).
        problem: String,
        /// What to do.
        fix: &'static str,
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
        "plugin `{plugin}` (link): imports {}, which Plinth does not provide; a plugin may import {} and WASI 0.2 (cli, io, clocks, random, filesystem, sockets: all granting nothing){}",
        imports.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "),
        provided_imports(),
        toolchain_hint(imports)
    )]
    UnsupportedImport {
        /// The plugin's id.
        plugin: String,
        /// Every import the host does not provide.
        imports: Vec<String>,
    },
    /// The component was built against a version of `plinth:plugin` this
    /// host does not know.
    #[error(
        "plugin `{plugin}` (link): built against plinth:plugin@{}, which this host does not support; it supports {}: rebuild the plugin against wit/{} (or, for a plugin newer than this host, run a Plinth that supports its version)",
        versions.join(", @"),
        crate::capabilities::WIT_VERSIONS.join(", "),
        crate::capabilities::WIT_VERSION
    )]
    UnsupportedVersion {
        /// The plugin's id.
        plugin: String,
        /// The unknown versions it names.
        versions: Vec<String>,
    },
    /// Linking failed for another reason (a type mismatch).
    #[error(
        "plugin `{plugin}` (link): {message}; rebuild the plugin against this host's wit/{} (plinth:plugin@{}, WASI 0.2)",
        crate::capabilities::WIT_VERSION,
        crate::capabilities::WIT_VERSION
    )]
    Link {
        /// The plugin's id.
        plugin: String,
        /// Wasmtime's reason.
        message: String,
    },
    /// The component exports none of the plugin interfaces.
    #[error(
        "plugin `{plugin}` (load): exports none of plinth:plugin/events, routes or field-widget (@{}); export at least one (with the Rust SDK: plinth_sdk::export!(MyPlugin: routes))",
        crate::capabilities::WIT_VERSIONS.join(" or @")
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
    /// Several plugin folders declare this id; none of them is loaded.
    #[error(
        "plugin `{plugin}` (load): the folders {} all declare this id, so none is loaded; give each plugin its own id",
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    DuplicateId {
        /// The id.
        plugin: String,
        /// The folders that declare it.
        dirs: Vec<PathBuf>,
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
            | LoadError::Artifact { plugin, .. }
            | LoadError::Compile { plugin, .. }
            | LoadError::UnsupportedImport { plugin, .. }
            | LoadError::Link { plugin, .. }
            | LoadError::NoExports { plugin }
            | LoadError::UnsupportedVersion { plugin, .. }
            | LoadError::Init { plugin, .. }
            | LoadError::Invalid { plugin, .. }
            | LoadError::NotLoaded { plugin }
            | LoadError::DuplicateId { plugin, .. }
            | LoadError::AlreadyLoaded { plugin, .. } => Some(plugin),
        }
    }
}

/// The host interfaces, as an error text lists them
/// (`plinth:plugin/{entities,…}@{0.1.0,0.2.0}`).
fn provided_imports() -> String {
    use crate::capabilities::{INTERFACES, WIT_VERSIONS};
    let names: Vec<&str> = INTERFACES.iter().map(|i| i.name).filter(|name| *name != "types").collect();
    format!("plinth:plugin/{{{}}}@{{{}}}", names.join(","), WIT_VERSIONS.join(","))
}

/// Why a call into a plugin failed: the plugin, the phase, and what happened.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct CallError {
    /// The plugin concerned: the id asked for, or the one that ran; `None`
    /// when a widget id names no plugin.
    pub plugin: Option<String>,
    /// What was running: `init`, `on-entity-created`, `route GET /stats/{entity_type}`,
    /// `widget render word-count`; `None` when the call never started (no
    /// such plugin, route or widget).
    pub phase: Option<String>,
    /// What happened.
    pub kind: CallErrorKind,
}

/// What went wrong in a call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CallErrorKind {
    /// No plugin with this id is loaded.
    UnknownPlugin,
    /// The plugin does not export the interface the call needs.
    NotExported {
        /// The missing interface.
        interface: &'static str,
    },
    /// No route of the plugin matches the path.
    RouteNotFound {
        /// The method asked for.
        method: &'static str,
        /// The path asked for.
        path: String,
    },
    /// A route matches the path, but not with this method.
    MethodNotAllowed {
        /// The method asked for.
        method: &'static str,
        /// The path asked for.
        path: String,
        /// The methods it accepts, comma-separated.
        allowed: String,
    },
    /// The widget id is malformed or names no loaded widget.
    UnknownWidget {
        /// The id asked for.
        widget: String,
    },
    /// The plugin ran past its time limit and was stopped.
    Timeout {
        /// The limit.
        limit_ms: u128,
        /// How long the call ran before it was stopped.
        elapsed_ms: u128,
    },
    /// The plugin trapped (a panic, an out-of-bounds access).
    Trap {
        /// Wasmtime's description.
        message: String,
    },
    /// The call hit a memory, fuel or stack limit.
    LimitExceeded {
        /// Which limit, with its value.
        limit: String,
    },
    /// The plugin has its maximum of calls running already.
    Busy {
        /// Its concurrent-call limit.
        limit: usize,
    },
    /// Every instance of the host's pool is in use (by all plugins together).
    HostBusy,
    /// An operator switched the plugin off (it stays installed).
    Disabled,
    /// The plugin failed repeatedly and is left alone for a while.
    Degraded {
        /// When it is tried again.
        retry_in_ms: u128,
    },
    /// A request body over the plugin's limit.
    RequestTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A response body over the plugin's limit.
    ResponseTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The plugin's answer is not a valid HTTP response (a status outside
    /// 200–599, a malformed header, too many headers).
    InvalidResponse {
        /// What is wrong.
        problem: String,
    },
    /// Other calls of the plugin kept changing the storage this call read,
    /// through every run of it: nothing of it was committed; try again.
    Conflict {
        /// How many times it ran.
        attempts: usize,
    },
    /// The call was a hook delivery that another node completed while it
    /// ran: its storage writes were dropped, so the event took effect once.
    AlreadyDelivered,
    /// The host failed around the call (its database, say); the plugin is not to blame.
    Internal {
        /// What failed.
        message: String,
    },
    /// The plugin returned one of the WIT errors.
    Guest(GuestError),
}

impl CallError {
    /// The HTTP status a server answers this error with (one table, shared
    /// by `plinth serve` and the test cases that expect a status).
    pub fn http_status(&self) -> u16 {
        match &self.kind {
            CallErrorKind::UnknownPlugin
            | CallErrorKind::RouteNotFound { .. }
            | CallErrorKind::UnknownWidget { .. }
            | CallErrorKind::NotExported { .. } => 404,
            CallErrorKind::MethodNotAllowed { .. } => 405,
            CallErrorKind::Timeout { .. } => 504,
            CallErrorKind::Trap { .. }
            | CallErrorKind::Internal { .. }
            | CallErrorKind::ResponseTooLarge { .. } => 500,
            CallErrorKind::LimitExceeded { .. } => 507,
            CallErrorKind::Busy { .. }
            | CallErrorKind::HostBusy
            | CallErrorKind::Degraded { .. }
            | CallErrorKind::Disabled => 503,
            CallErrorKind::RequestTooLarge { .. } => 413,
            CallErrorKind::Conflict { .. } | CallErrorKind::AlreadyDelivered => 409,
            CallErrorKind::Guest(error) => match error {
                GuestError::NotFound(_) => 404,
                GuestError::Denied(_) => 403,
                GuestError::InvalidInput(_) => 400,
                GuestError::QuotaExceeded(_) => 507,
                GuestError::Internal(_) => 500,
            },
            #[allow(unreachable_patterns, reason = "CallErrorKind is non_exhaustive for other crates")]
            _ => 500,
        }
    }

    /// An error of `kind` in the phase labelled `phase` of `plugin`'s call.
    pub(crate) fn new(plugin: &str, phase: &str, kind: CallErrorKind) -> CallError {
        CallError { plugin: Some(plugin.to_string()), phase: Some(phase.to_string()), kind }
    }

    /// An error of `kind` found before any call started.
    pub(crate) fn before_call(plugin: Option<&str>, kind: CallErrorKind) -> CallError {
        CallError { plugin: plugin.map(str::to_string), phase: None, kind }
    }

    fn describe(&self) -> String {
        let plugin = self.plugin.as_deref().unwrap_or_default();
        let phase = self.phase.as_deref().unwrap_or("before the call");
        match &self.kind {
            CallErrorKind::UnknownPlugin => format!("no plugin `{plugin}` is loaded"),
            CallErrorKind::NotExported { interface } => {
                format!("plugin `{plugin}` does not export {interface}")
            }
            CallErrorKind::RouteNotFound { method, path } => {
                format!("plugin `{plugin}` has no route for {method} {path}")
            }
            CallErrorKind::MethodNotAllowed { method, path, allowed } => {
                format!("plugin `{plugin}`: {path} does not accept {method} (it accepts {allowed})")
            }
            CallErrorKind::UnknownWidget { widget } => format!(
                "no widget `{widget}`; widget ids look like plugin:{{plugin-id}}:{{widget-id}} (see the widget list)"
            ),
            CallErrorKind::Timeout { limit_ms, elapsed_ms } => format!(
                "plugin `{plugin}` ({phase}): stopped at its {limit_ms} ms time limit, after running {elapsed_ms} ms"
            ),
            CallErrorKind::Trap { message } => format!("plugin `{plugin}` ({phase}): trapped: {message}"),
            CallErrorKind::LimitExceeded { limit } => {
                format!("plugin `{plugin}` ({phase}): stopped at its {limit} limit")
            }
            CallErrorKind::Busy { limit } => {
                format!("plugin `{plugin}` is busy: {limit} calls are running, its limit; try again shortly")
            }
            CallErrorKind::HostBusy => {
                format!(
                    "plugin `{plugin}` ({phase}): every instance of the host's pool is in use; try again shortly"
                )
            }
            CallErrorKind::Disabled => format!(
                "plugin `{plugin}` is switched off by an operator; switch it on in the console's Plugins page or with POST /api/plugins/{plugin}/enable"
            ),
            CallErrorKind::Degraded { retry_in_ms } => format!(
                "plugin `{plugin}` is degraded after repeated failures; it is tried again in {retry_in_ms} ms"
            ),
            CallErrorKind::RequestTooLarge { size, limit } => {
                format!("plugin `{plugin}`: the request body of {size} bytes is over its {limit}-byte limit")
            }
            CallErrorKind::ResponseTooLarge { size, limit } => {
                format!("plugin `{plugin}`: its response of {size} bytes is over its {limit}-byte limit")
            }
            CallErrorKind::InvalidResponse { problem } => {
                format!("plugin `{plugin}` ({phase}): its answer is not a valid HTTP response: {problem}")
            }
            CallErrorKind::Conflict { attempts } => format!(
                "plugin `{plugin}` ({phase}): its storage changed under it in all {attempts} runs (a storage conflict); nothing was committed, try again"
            ),
            CallErrorKind::AlreadyDelivered => format!(
                "plugin `{plugin}` ({phase}): another node delivered this event first; this run's storage writes were dropped"
            ),
            CallErrorKind::Internal { message } => {
                format!("plugin `{plugin}` ({phase}): the host failed: {message}")
            }
            CallErrorKind::Guest(error) => {
                format!("plugin `{plugin}` ({phase}): {} error: {}", error.kind(), error.message())
            }
        }
    }

    /// A stable, machine-readable name for the error (`route_not_found`,
    /// `timeout`, `plugin_invalid_input`, ...).
    pub fn code(&self) -> &'static str {
        match &self.kind {
            CallErrorKind::UnknownPlugin => "unknown_plugin",
            CallErrorKind::NotExported { .. } => "not_exported",
            CallErrorKind::RouteNotFound { .. } => "route_not_found",
            CallErrorKind::MethodNotAllowed { .. } => "method_not_allowed",
            CallErrorKind::UnknownWidget { .. } => "unknown_widget",
            CallErrorKind::Timeout { .. } => "timeout",
            CallErrorKind::Trap { .. } => "trap",
            CallErrorKind::LimitExceeded { .. } => "limit_exceeded",
            CallErrorKind::Busy { .. } => "busy",
            CallErrorKind::HostBusy => "host_busy",
            CallErrorKind::Degraded { .. } => "degraded",
            CallErrorKind::Disabled => "plugin_disabled",
            CallErrorKind::RequestTooLarge { .. } => "payload_too_large",
            CallErrorKind::ResponseTooLarge { .. } => "response_too_large",
            CallErrorKind::InvalidResponse { .. } => "invalid_response",
            CallErrorKind::Conflict { .. } => "conflict",
            CallErrorKind::AlreadyDelivered => "already_delivered",
            CallErrorKind::Internal { .. } => "internal",
            CallErrorKind::Guest(error) => match error {
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
        self.plugin.as_deref()
    }
}

/// Why an operation of the embedding API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A build without the `sqlite` feature was given no backend.
    #[cfg(not(feature = "sqlite"))]
    #[error(
        "this build has no embedded database (feature `sqlite`); set HostConfig::backend to the application's Backend"
    )]
    NoBackend,
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
    /// A field configuration is malformed.
    #[error("field configuration of `{entity_type}`: {message}")]
    InvalidFieldConfig {
        /// The entity type it configures.
        entity_type: String,
        /// What is wrong.
        message: String,
    },
    /// A field configuration was saved from an older version than the
    /// stored one: another editor saved first. Nothing was written.
    #[error(
        "field configuration of `{entity_type}`: it was changed by another save (now version {}) since this one was opened; review the current one and save again",
        .current.version.unwrap_or(0)
    )]
    FieldConfigConflict {
        /// The entity type it configures.
        entity_type: String,
        /// The configuration stored now.
        current: Box<crate::field_config::FieldConfig>,
    },
    /// A write was refused by the entity type's field configuration: a
    /// required field is empty or a widget's `validate` found problems.
    #[error("the {entity_type} was not saved: {}", describe_fields(.fields))]
    ValidationFailed {
        /// The entity type written.
        entity_type: String,
        /// The problems, by field name.
        fields: std::collections::BTreeMap<String, Vec<String>>,
    },
}

fn describe_fields(fields: &std::collections::BTreeMap<String, Vec<String>>) -> String {
    let each: Vec<String> =
        fields.iter().map(|(name, problems)| format!("`{name}`: {}", problems.join("; "))).collect();
    each.join(", ")
}

/// The fix for an import a known toolchain adds by mistake.
fn toolchain_hint(imports: &[String]) -> &'static str {
    if imports.iter().any(|import| import.starts_with("wasi:http/")) {
        ". componentize-js adds wasi:http unless told not to: build with `-d http -d fetch-event`"
    } else {
        ""
    }
}

impl HostError {
    /// A stable, machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::DataDir { .. } | HostError::Engine(_) => "internal",
            #[cfg(feature = "legacy")]
            HostError::Legacy(_) => "internal",
            #[cfg(not(feature = "sqlite"))]
            HostError::NoBackend => "internal",
            HostError::Store(crate::store::StoreError::Unavailable { .. }) => "unavailable",
            HostError::Store(_) => "internal",
            HostError::EntityNotFound(_) => "entity_not_found",
            HostError::EntityExists(_) => "entity_exists",
            HostError::InvalidEntity(_) => "invalid_entity",
            HostError::UnknownPlugin(_) => "unknown_plugin",
            HostError::InvalidSetting { .. } => "invalid_setting",
            HostError::InvalidFieldConfig { .. } => "invalid_field_config",
            HostError::FieldConfigConflict { .. } => "conflict",
            HostError::ValidationFailed { .. } => "validation_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_componentize_js_build_without_its_flags_gets_the_fix() {
        let error = LoadError::UnsupportedImport {
            plugin: "w".into(),
            imports: vec!["wasi:http/incoming-handler@0.2.3".into()],
        };
        assert!(error.to_string().contains("build with `-d http -d fetch-event`"), "{error}");
        let other =
            LoadError::UnsupportedImport { plugin: "w".into(), imports: vec!["acme:app/query".into()] };
        assert!(!other.to_string().contains("fetch-event"), "{other}");
    }
}
