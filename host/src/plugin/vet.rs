//! Vetting a plugin before any of its code runs: the manifest and its
//! effective limits, the component read (bounded), compiled or taken from
//! the cache, its imports checked against the versions and interfaces this
//! host provides, linked, and its exported roles found.

use super::cache::CodeSource;
use super::exports::{EventsExport, JobsExport, RoutesExport, SubscriberExport, WidgetsExport};
use super::role_names;
use crate::artifact::ArtifactError;
use crate::capabilities::{HostCallObserver, WIT_VERSIONS, built_against, plinth_version, provides};
use crate::error::LoadError;
use crate::limits::Limits;
use crate::manifest::Manifest;
use crate::sandbox::{InvocationState, Sandbox};
use crate::sync::locked;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::RwLock;
use wasmtime::component::InstancePre;

/// What loading needs from the host beyond the invoker: the limit model,
/// where compiled code comes from, and what a plugin's context shares
/// across its reloads.
pub(crate) struct Loader {
    pub defaults: Limits,
    pub ceilings: Limits,
    pub max_component_bytes: u64,
    /// The most concurrent calls one plugin may have: half the instance pool.
    pub pool_share: Option<usize>,
    /// Where compiled code comes from: artifacts, the compile cache, the compiler.
    pub code: CodeSource,
    /// Each plugin id's serial lock (see `PluginContext::serial`), kept here
    /// so the versions of a reloaded plugin share it.
    pub serial_locks: Mutex<HashMap<String, Arc<RwLock<()>>>>,
    pub observer: Option<HostCallObserver>,
}

impl Loader {
    /// The serial lock of plugin `id`.
    pub(crate) fn serial_lock(&self, id: &str) -> Arc<RwLock<()>> {
        let mut locks = locked(&self.serial_locks);
        locks.entry(id.to_string()).or_default().clone()
    }
}

/// Reads the manifest in `dir`.
pub(crate) fn read_manifest(dir: &Path) -> Result<Manifest, LoadError> {
    let text = std::fs::read_to_string(dir.join("plugin.json"))
        .map_err(|source| LoadError::ManifestUnreadable { dir: dir.to_path_buf(), source })?;
    let invalid = |error| LoadError::ManifestInvalid { dir: dir.to_path_buf(), error };
    let manifest = Manifest::parse(&text).map_err(invalid)?;
    manifest.check_ui_files(dir).map_err(invalid)?;
    Ok(manifest)
}

/// A plugin checked without running any of its code: its manifest and
/// effective limits, its component compiled and linked, the roles it exports.
pub(crate) struct Vetted {
    pub manifest: Manifest,
    pub limits: crate::limits::Limits,
    pub pre: Option<InstancePre<InvocationState>>,
    pub wit_version: &'static str,
    pub events: Option<EventsExport>,
    pub routes: Option<RoutesExport>,
    pub widgets: Option<WidgetsExport>,
    pub jobs: Option<JobsExport>,
    pub subscriber: Option<SubscriberExport>,
}

impl Vetted {
    /// The exported roles, by WIT interface name.
    #[cfg_attr(not(feature = "install"), allow(dead_code))]
    pub(crate) fn exports(&self) -> Vec<&'static str> {
        role_names(
            self.events.is_some(),
            self.routes.is_some(),
            self.widgets.is_some(),
            self.jobs.is_some(),
            self.subscriber.is_some(),
        )
    }
}

/// The component a core module becomes (feature `componentize`), or why not
/// and what to do.
#[cfg(feature = "componentize")]
fn as_component(module: Vec<u8>, cache_dir: Option<&Path>) -> Result<Vec<u8>, (String, &'static str)> {
    super::componentize::component_of(&module, cache_dir)
        .map_err(|problem| (problem, super::componentize::FIX))
}

#[cfg(not(feature = "componentize"))]
fn as_component(_: Vec<u8>, _: Option<&Path>) -> Result<Vec<u8>, (String, &'static str)> {
    Err((
        "this host was built without the `componentize` feature".into(),
        "build it for wasm32-wasip2, or load it with the plinth tool, which wraps such modules",
    ))
}

/// Checks the plugin in `dir` as far as can be done without running it:
/// manifest, limits, component, imports (versions and grants' interfaces),
/// link, exports.
pub(crate) fn vet(sandbox: &Sandbox, loader: &Loader, dir: &Path) -> Result<Vetted, LoadError> {
    let manifest = read_manifest(dir)?;
    let id = manifest.id.clone();
    for warning in &manifest.warnings {
        tracing::warn!(plugin = %id, "plugin.json {warning}");
    }
    let mut limits = manifest
        .limits
        .resolve(&loader.defaults, &loader.ceilings)
        .map_err(|problem| LoadError::Invalid { plugin: id.clone(), problem })?;
    // No plugin may hold more than half the instance pool, so one plugin's
    // many waiting calls cannot starve the others.
    if let Some(share) = loader.pool_share
        && limits.max_concurrent > share
    {
        tracing::warn!(plugin = %id, asked = limits.max_concurrent, share, "concurrent calls capped at half the instance pool");
        limits.max_concurrent = share;
    }
    let Some(module) = manifest.wasm_module() else {
        // Front-end only (panels, page-only widgets): nothing to compile or run.
        return Ok(Vetted {
            manifest,
            limits,
            pre: None,
            wit_version: "none",
            events: None,
            routes: None,
            widgets: None,
            jobs: None,
            subscriber: None,
        });
    };
    let path = dir.join(module);
    let bytes = read_component_bytes(&id, &path, loader.max_component_bytes)?;
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm { plugin: id, path, what: describe_non_wasm(&bytes) });
    }
    let bytes = if wasmparser::Parser::is_core_wasm(&bytes) {
        as_component(bytes, loader.code.cache_dir()).map_err(|(problem, fix)| LoadError::CoreModule {
            plugin: id.clone(),
            path: path.clone(),
            problem,
            fix,
        })?
    } else {
        bytes
    };
    let component =
        loader.code.component(&sandbox.engine, dir, &path, &bytes).map_err(|error| match error {
            ArtifactError::Compile { message, .. } => {
                LoadError::Compile { plugin: id.clone(), path: path.clone(), message }
            }
            error => LoadError::Artifact {
                plugin: id.clone(),
                remedy: error.remedy(dir, &loader.code.profile),
                error,
            },
        })?;
    let component_type = component.component_type();
    let imports: Vec<&str> = component_type.imports(&sandbox.engine).map(|(import, _)| import).collect();
    let exported: Vec<&str> = component_type.exports(&sandbox.engine).map(|(export, _)| export).collect();
    let mut unknown_versions: Vec<String> = imports
        .iter()
        .chain(&exported)
        .filter_map(|name| plinth_version(name))
        .filter(|version| !WIT_VERSIONS.contains(version))
        .map(str::to_string)
        .collect();
    unknown_versions.sort();
    unknown_versions.dedup();
    if !unknown_versions.is_empty() {
        return Err(LoadError::UnsupportedVersion { plugin: id, versions: unknown_versions });
    }
    let embedder = &sandbox.embedder;
    let unsupported: Vec<String> = imports
        .iter()
        .filter(|import| {
            !provides(import) && !import.starts_with("wasi:") && embedder.grant_for(import).is_none()
        })
        .map(|import| import.to_string())
        .collect();
    if !unsupported.is_empty() {
        let registered = embedder.names().map(str::to_string).collect();
        return Err(LoadError::UnsupportedImport { plugin: id, imports: unsupported, registered });
    }
    let granted = &manifest.capabilities.embedder_functions;
    if let Some((interface, grant)) = imports
        .iter()
        .filter_map(|import| embedder.grant_for(import).map(|grant| (import, grant)))
        .find(|(_, grant)| !granted.contains(*grant))
    {
        let (interface, grant) = (interface.to_string(), grant.to_string());
        return Err(LoadError::EmbedderGrantMissing { plugin: id, interface, grant });
    }
    if let Some(http) = imports.iter().find(|import| import.starts_with("wasi:http/")) {
        if !cfg!(feature = "outbound-http") {
            let imports = vec![http.to_string()];
            return Err(LoadError::UnsupportedImport { plugin: id, imports, registered: Vec::new() });
        }
        if manifest.capabilities.outbound_hosts.is_empty() {
            return Err(LoadError::OutboundHostsMissing { plugin: id, interface: http.to_string() });
        }
    }
    for unknown in granted.iter().filter(|grant| !embedder.has_grant(grant)) {
        tracing::warn!(plugin = %id, "plugin.json grants the application's `{unknown}`, which this application does not register");
    }
    let pre = sandbox
        .linker
        .instantiate_pre(&component)
        .map_err(|e| LoadError::Link { plugin: id.clone(), message: format!("{e:#}") })?;

    let events = EventsExport::new(&pre);
    let route_indices = RoutesExport::new(&pre);
    let widget_indices = WidgetsExport::new(&pre);
    let jobs = JobsExport::new(&pre);
    if jobs.is_none() && !manifest.jobs.is_empty() {
        return Err(LoadError::Invalid {
            plugin: id,
            problem: "plugin.json declares `jobs` but the component exports no `jobs` interface: export `plinth:plugin/jobs@0.3.0` (`run-job`), or remove the jobs".into(),
        });
    }
    let subscriber = SubscriberExport::new(&pre);
    if subscriber.is_none() && !manifest.capabilities.subscribes.is_empty() {
        return Err(LoadError::Invalid {
            plugin: id,
            problem: "plugin.json subscribes to topics (`capabilities.subscribes`) but the component exports no `subscriber` interface: export `plinth:plugin/subscriber@0.3.0` (`on-message`), or remove the topics".into(),
        });
    }
    let versions: Vec<&'static str> = [
        events.as_ref().map(|e| e.version),
        route_indices.as_ref().map(|e| e.version),
        widget_indices.as_ref().map(|e| e.version),
        jobs.as_ref().map(|e| e.version),
        subscriber.as_ref().map(|e| e.version),
    ]
    .into_iter()
    .flatten()
    .collect();
    if versions.is_empty() {
        return Err(LoadError::NoExports { plugin: id });
    }
    // Imports count too: a component exporting 0.1.0 roles may import 0.2.0 functions.
    let wit_version = built_against(imports.iter().chain(&exported).copied()).unwrap_or(versions[0]);
    Ok(Vetted {
        manifest,
        limits,
        pre: Some(pre),
        wit_version,
        events,
        routes: route_indices,
        widgets: widget_indices,
        jobs,
        subscriber,
    })
}

/// Says what a file that is not WebAssembly seems to be.
fn describe_non_wasm(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
    if bytes.is_empty() {
        "the file is empty".into()
    } else if bytes.starts_with(b"\x7fELF") {
        "it is an ELF executable".into()
    } else if text.trim_start().starts_with('(') {
        "it looks like WebAssembly text (WAT); compile it to binary first (wasm-tools parse)".into()
    } else {
        "it does not start with \\0asm".into()
    }
}

fn read_component_bytes(plugin: &str, path: &Path, max: u64) -> Result<Vec<u8>, LoadError> {
    let unreadable =
        |source| LoadError::WasmUnreadable { plugin: plugin.to_string(), path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > max {
        return Err(LoadError::WasmTooLarge {
            plugin: plugin.to_string(),
            path: path.to_path_buf(),
            size,
            max,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    Ok(bytes)
}
