//! A loaded plugin: its manifest, its component compiled once with imports
//! checked and an `InstancePre` ready, the roles it exports, and its routes and
//! widgets. Every call gets a fresh `Store` and instance (see [`invoke`]).

pub(crate) mod cache;
#[cfg(feature = "componentize")]
mod componentize;
pub(crate) mod exports;
pub(crate) mod health;
pub(crate) mod invoke;
pub mod routes;

use crate::artifact::ArtifactError;
use crate::capabilities::{PluginContext, WIT_VERSIONS, built_against, plinth_version, provides};
use crate::error::{CallError, LoadError};
use crate::manifest::Manifest;
use crate::plugin_log::bounded;
use crate::sandbox::{CallKind, InvocationState, Sandbox};
use exports::{EventsExport, RoutesExport, WidgetsExport};
use routes::{RouteInfo, RouteTable};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::InstancePre;

/// Most field widgets a plugin may list.
pub const MAX_WIDGETS: usize = 100;

/// A field widget as the host lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WidgetInfo {
    /// `plugin:{plugin-id}:{widget-id}`.
    pub id: String,
    /// The plugin providing it.
    pub plugin_id: String,
    /// Its id within the plugin.
    pub widget_id: String,
    /// A label for people.
    pub label: String,
    /// Field types it edits.
    pub field_types: Vec<String>,
    /// Its HTML page for web front ends, relative to the plugin's folder
    /// (front ends without one show the WASM `render` output).
    pub html: Option<String>,
    /// Whether the server checks values with its WASM `validate` on every
    /// write: false for a page-only widget of a plugin without a component.
    pub server_validation: bool,
    /// The options a field's configuration may give it (the manifest's
    /// `config_schema`), checked when a configuration is saved.
    pub config_schema: std::collections::BTreeMap<String, crate::manifest::SettingSchema>,
}

pub(crate) struct LoadedPlugin {
    pub manifest: Manifest,
    pub dir: PathBuf,
    pub context: Arc<PluginContext>,
    /// None for a front-end-only plugin (panels and page-only widgets).
    pre: Option<InstancePre<InvocationState>>,
    /// The version of `plinth:plugin` the component was built against.
    pub wit_version: &'static str,
    pub events: Option<EventsExport>,
    pub routes: Option<(RoutesExport, RouteTable)>,
    pub widgets: Option<(WidgetsExport, Vec<WidgetInfo>)>,
    /// A front-end-only plugin's widgets: pages, without WASM render or validate.
    pub page_widgets: Vec<WidgetInfo>,
}

impl LoadedPlugin {
    pub(crate) fn id(&self) -> &str {
        &self.context.id
    }

    pub(crate) fn route_infos(&self) -> Vec<RouteInfo> {
        self.routes.as_ref().map(|(_, table)| table.infos()).unwrap_or_default()
    }

    pub(crate) fn widget_infos(&self) -> &[WidgetInfo] {
        self.widgets.as_ref().map_or(self.page_widgets.as_slice(), |(_, widgets)| widgets.as_slice())
    }

    /// The component's pre-instantiated form; a front-end-only plugin has none
    /// (no call reaches it: it exports nothing).
    pub(crate) fn instance_pre(&self) -> wasmtime::Result<&InstancePre<InvocationState>> {
        self.pre.as_ref().ok_or_else(|| wasmtime::format_err!("plugin {} has no component", self.id()))
    }

    /// The exported roles, by WIT interface name.
    pub(crate) fn exports(&self) -> Vec<&'static str> {
        role_names(self.events.is_some(), self.routes.is_some(), self.widgets.is_some())
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
    pre: Option<InstancePre<InvocationState>>,
    pub wit_version: &'static str,
    events: Option<EventsExport>,
    routes: Option<RoutesExport>,
    widgets: Option<WidgetsExport>,
}

impl Vetted {
    /// The exported roles, by WIT interface name.
    #[cfg_attr(not(feature = "install"), allow(dead_code))]
    pub(crate) fn exports(&self) -> Vec<&'static str> {
        role_names(self.events.is_some(), self.routes.is_some(), self.widgets.is_some())
    }
}

fn role_names(events: bool, routes: bool, widgets: bool) -> Vec<&'static str> {
    [(events, "events"), (routes, "routes"), (widgets, "field-widget")]
        .into_iter()
        .filter_map(|(has, name)| has.then_some(name))
        .collect()
}

/// The component a core module becomes (feature `componentize`), or why not
/// and what to do.
#[cfg(feature = "componentize")]
fn as_component(module: Vec<u8>, cache_dir: Option<&Path>) -> Result<Vec<u8>, (String, &'static str)> {
    componentize::component_of(&module, cache_dir).map_err(|problem| (problem, componentize::FIX))
}

#[cfg(not(feature = "componentize"))]
fn as_component(_: Vec<u8>, _: Option<&Path>) -> Result<Vec<u8>, (String, &'static str)> {
    Err((
        "this host was built without the `componentize` feature".into(),
        "build it for wasm32-wasip2, or load it with the plinth tool, which wraps such modules",
    ))
}

/// Loads the plugin in `dir`: manifest, component, imports, exports, routes, widgets.
pub(crate) fn load(
    sandbox: &Sandbox,
    shared: &invoke::Shared,
    dir: &Path,
) -> Result<LoadedPlugin, LoadError> {
    let Vetted { manifest, limits, pre, wit_version, events, routes, widgets } = vet(sandbox, shared, dir)?;
    let id = manifest.id.clone();
    let context = Arc::new(PluginContext {
        id: id.clone(),
        grants: manifest.capabilities.host_functions.clone(),
        settings: manifest.capabilities.settings.clone(),
        limits,
        health: Default::default(),
        serial: shared.serial_lock(&id),
        observer: shared.observer.clone(),
    });
    let mut plugin = LoadedPlugin {
        manifest,
        dir: dir.to_path_buf(),
        context,
        pre,
        wit_version,
        events,
        routes: None,
        widgets: None,
        page_widgets: Vec::new(),
    };
    if plugin.pre.is_some() {
        initialise(&mut plugin, sandbox, shared, routes, widgets)?;
    } else {
        plugin.page_widgets = page_widgets(&plugin.manifest);
    }
    Ok(plugin)
}

/// Checks the plugin in `dir` as far as can be done without running it:
/// manifest, limits, component, imports (versions and grants' interfaces),
/// link, exports.
pub(crate) fn vet(sandbox: &Sandbox, shared: &invoke::Shared, dir: &Path) -> Result<Vetted, LoadError> {
    let manifest = read_manifest(dir)?;
    let id = manifest.id.clone();
    for warning in &manifest.warnings {
        tracing::warn!(plugin = %id, "plugin.json {warning}");
    }
    let mut limits = manifest
        .limits
        .resolve(&shared.defaults, &shared.ceilings)
        .map_err(|problem| LoadError::Invalid { plugin: id.clone(), problem })?;
    // No plugin may hold more than half the instance pool, so one plugin's
    // many waiting calls cannot starve the others.
    if let Some(share) = shared.pool_share
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
        });
    };
    let path = dir.join(module);
    let bytes = read_component_bytes(&id, &path, shared.max_component_bytes)?;
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm { plugin: id, path, what: describe_non_wasm(&bytes) });
    }
    let bytes = if wasmparser::Parser::is_core_wasm(&bytes) {
        as_component(bytes, shared.code.cache_dir()).map_err(|(problem, fix)| LoadError::CoreModule {
            plugin: id.clone(),
            path: path.clone(),
            problem,
            fix,
        })?
    } else {
        bytes
    };
    let component =
        shared.code.component(&sandbox.engine, dir, &path, &bytes).map_err(|error| match error {
            ArtifactError::Compile { message, .. } => {
                LoadError::Compile { plugin: id.clone(), path: path.clone(), message }
            }
            error => LoadError::Artifact {
                plugin: id.clone(),
                remedy: error.remedy(dir, &shared.code.profile),
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
    let unsupported: Vec<String> = imports
        .iter()
        .filter(|import| !provides(import) && !import.starts_with("wasi:"))
        .map(|import| import.to_string())
        .collect();
    if !unsupported.is_empty() {
        return Err(LoadError::UnsupportedImport { plugin: id, imports: unsupported });
    }
    let pre = sandbox
        .linker
        .instantiate_pre(&component)
        .map_err(|e| LoadError::Link { plugin: id.clone(), message: format!("{e:#}") })?;

    let events = EventsExport::new(&pre);
    let route_indices = RoutesExport::new(&pre);
    let widget_indices = WidgetsExport::new(&pre);
    let versions: Vec<&'static str> = [
        events.as_ref().map(|e| e.version),
        route_indices.as_ref().map(|e| e.version),
        widget_indices.as_ref().map(|e| e.version),
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
    })
}

/// A front-end-only plugin's widgets, from its manifest: pages only.
fn page_widgets(manifest: &Manifest) -> Vec<WidgetInfo> {
    manifest
        .field_widgets
        .iter()
        .map(|declared| WidgetInfo {
            id: format!("plugin:{}:{}", manifest.id, declared.id),
            plugin_id: manifest.id.clone(),
            widget_id: declared.id.clone(),
            label: declared.label.clone().unwrap_or_else(|| declared.id.clone()),
            field_types: declared.field_types.clone(),
            html: declared.html.clone(),
            server_validation: false,
            config_schema: declared.config_schema.clone(),
        })
        .collect()
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

/// Instantiates the plugin once: type-checks every export it has and asks for
/// its routes and widgets, so a broken plugin fails at load, not on first use.
fn initialise(
    plugin: &mut LoadedPlugin,
    sandbox: &Sandbox,
    shared: &invoke::Shared,
    route_indices: Option<RoutesExport>,
    widget_indices: Option<WidgetsExport>,
) -> Result<(), LoadError> {
    let id = plugin.id().to_string();
    let init_error = |source: CallError| LoadError::Init { plugin: id.clone(), source: Box::new(source) };
    let call = invoke::guest_call(|store, instance| {
        let (events, routes, widgets) =
            (plugin.events.clone(), route_indices.clone(), widget_indices.clone());
        Box::pin(async move {
            if let Some(indices) = events {
                indices.load(&mut *store, &instance)?;
            }
            let routes = match routes {
                Some(indices) => {
                    Some(indices.load(&mut *store, &instance)?.call_register_routes(&mut *store).await?)
                }
                None => None,
            };
            let widgets = match widgets {
                Some(indices) => {
                    Some(indices.load(&mut *store, &instance)?.call_list_widgets(&mut *store).await?)
                }
                None => None,
            };
            Ok(Ok((routes, widgets)))
        })
    });
    let init = invoke::run_fallible(plugin, sandbox, shared, CallKind::Init, "init", &call);
    let (routes, widgets) = shared.runtime.block_on(init).map_err(init_error)?;

    let invalid = |problem: String| LoadError::Invalid { plugin: id.clone(), problem };
    if let (Some(indices), Some(routes)) = (route_indices, routes) {
        plugin.routes = Some((indices, RouteTable::new(routes).map_err(invalid)?));
    }
    if widget_indices.is_none() && !plugin.manifest.field_widgets.is_empty() {
        return Err(invalid(
            "plugin.json declares field widgets, but the component does not export plinth:plugin/field-widget".into(),
        ));
    }
    let listed = widgets.unwrap_or_default();
    if listed.len() > MAX_WIDGETS {
        return Err(invalid(format!(
            "it lists {} widgets; a plugin may have at most {MAX_WIDGETS}",
            listed.len()
        )));
    }
    let listed_ids: std::collections::HashSet<&str> = listed.iter().map(|w| w.id.as_str()).collect();
    if listed_ids.len() != listed.len() {
        return Err(invalid("its list-widgets names a widget id twice".into()));
    }
    for declared in &plugin.manifest.field_widgets {
        if !listed_ids.contains(declared.id.as_str()) {
            return Err(invalid(format!(
                "plugin.json declares field widget `{}`, but the component's list-widgets does not return it",
                declared.id
            )));
        }
    }
    if let Some(indices) = widget_indices {
        let mut infos: Vec<WidgetInfo> = Vec::new();
        for widget in listed {
            let text_fits = widget.label.len() <= 256
                && widget.field_types.len() <= 32
                && widget.field_types.iter().all(|t| t.len() <= 64);
            if !crate::manifest::is_identifier(&widget.id) || !text_fits {
                return Err(invalid(format!(
                    "widget `{}`: the id must be an identifier, the label at most 256 bytes, at most 32 field types of 64 bytes",
                    bounded(&widget.id, 64)
                )));
            }
            let declared = plugin.manifest.field_widgets.iter().find(|d| d.id == widget.id);
            infos.push(WidgetInfo {
                id: format!("plugin:{id}:{}", widget.id),
                plugin_id: id.clone(),
                widget_id: widget.id,
                html: declared.and_then(|d| d.html.clone()),
                label: widget.label,
                field_types: widget.field_types,
                server_validation: true,
                config_schema: declared.map(|d| d.config_schema.clone()).unwrap_or_default(),
            });
        }
        plugin.widgets = Some((indices, infos));
    }
    Ok(())
}
