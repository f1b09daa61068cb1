//! Why a plugin could not be loaded: each error names the plugin (once its
//! manifest is read), the phase, and what to do.

use crate::CallError;
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
        "plugin `{plugin}` (link): imports {}, which neither Plinth nor the application embedding it provides; a plugin may import {} and WASI 0.2 (cli, io, clocks, random, filesystem, sockets: all granting nothing), and the interfaces the application registers ({}; see docs/embedding.md){}",
        imports.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "),
        provided_imports(),
        registered_imports(registered),
        toolchain_hint(imports)
    )]
    UnsupportedImport {
        /// The plugin's id.
        plugin: String,
        /// Every import the host does not provide.
        imports: Vec<String>,
        /// The interfaces the embedding application registered.
        registered: Vec<String>,
    },
    /// The component imports an interface the embedding application
    /// registered, but its manifest does not grant it.
    #[error(
        "plugin `{plugin}` (link): imports `{interface}` without its grant: add \"{grant}\" to capabilities.embedder_functions in plugin.json"
    )]
    EmbedderGrantMissing {
        /// The plugin's id.
        plugin: String,
        /// The interface imported.
        interface: String,
        /// The grant it needs.
        grant: String,
    },
    /// The component imports `wasi:http`, but its manifest grants no host
    /// to call.
    #[error(
        "plugin `{plugin}` (link): imports `{interface}` but grants no host to call: list the hosts it calls in capabilities.outbound_hosts in plugin.json (`api.example.com`, `https://api.example.com:8443`), or build it without outbound HTTP (componentize-js adds wasi:http unless told not to: `-d http -d fetch-event`)"
    )]
    OutboundHostsMissing {
        /// The plugin's id.
        plugin: String,
        /// The interface imported.
        interface: String,
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
            | LoadError::EmbedderGrantMissing { plugin, .. }
            | LoadError::OutboundHostsMissing { plugin, .. }
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
/// (`plinth:plugin/{entities,…}@{0.1.0,0.2.0,0.3.0}`).
fn provided_imports() -> String {
    use crate::capabilities::{INTERFACES, WIT_VERSIONS};
    let names: Vec<&str> = INTERFACES.iter().map(|i| i.name).filter(|name| *name != "types").collect();
    format!("plinth:plugin/{{{}}}@{{{}}}", names.join(","), WIT_VERSIONS.join(","))
}

/// The interfaces an embedding application registered, if any.
fn registered_imports(registered: &[String]) -> String {
    match registered.is_empty() {
        true => "this one registers none".into(),
        false => format!("this one registers {}", registered.join(", ")),
    }
}

/// The fix for an import a known toolchain adds by mistake.
fn toolchain_hint(imports: &[String]) -> &'static str {
    if imports.iter().any(|import| import.starts_with("wasi:http/")) {
        match cfg!(feature = "outbound-http") {
            true => {
                ". This host provides wasi:http/types and outgoing-handler 0.2 only; componentize-js adds wasi:http unless told not to: build with `-d http -d fetch-event`"
            }
            false => {
                ". wasi:http needs a host built with plinth-host's `outbound-http` feature (the plinth binary has it) and hosts granted in capabilities.outbound_hosts; componentize-js adds it unless told not to: build with `-d http -d fetch-event`"
            }
        }
    } else {
        ""
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
            registered: Vec::new(),
        };
        assert!(error.to_string().contains("build with `-d http -d fetch-event`"), "{error}");
        let other = LoadError::UnsupportedImport {
            plugin: "w".into(),
            imports: vec!["acme:app/query".into()],
            registered: vec!["acme:desktop/notify@1.0.0".into()],
        };
        assert!(!other.to_string().contains("fetch-event"), "{other}");
        assert!(other.to_string().contains("this one registers acme:desktop/notify@1.0.0"), "{other}");
    }
}
