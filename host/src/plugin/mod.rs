//! A loaded plugin: its manifest, its component compiled once with imports
//! checked and an `InstancePre` ready, the roles it exports, and its routes and
//! widgets. Every call gets a fresh `Store` and instance (see [`invoke`]).

pub(crate) mod cache;
#[cfg(feature = "componentize")]
mod componentize;
pub(crate) mod exports;
pub(crate) mod gathering;
pub(crate) mod health;
pub(crate) mod invoke;
pub(crate) mod phase;
pub(crate) mod reserve;
pub mod routes;
pub(crate) mod vet;

use crate::capabilities::PluginContext;
use crate::error::{CallError, LoadError};
use crate::manifest::Manifest;
use crate::plugin_log::bounded;
use crate::sandbox::InvocationState;
use exports::{EventsExport, JobsExport, RoutesExport, SubscriberExport, WidgetsExport};
use invoke::Invoker;
use phase::Phase;
use routes::{RouteInfo, RouteTable};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub(crate) use vet::read_manifest;
use vet::{Loader, Vetted, vet};
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
    /// Instances made ahead of calls (None without a component, or with a reserve of 0).
    pub reserve: Option<Arc<reserve::Reserve>>,
    /// The version of `plinth:plugin` the component was built against.
    pub wit_version: &'static str,
    pub events: Option<EventsExport>,
    pub routes: Option<(RoutesExport, RouteTable)>,
    pub widgets: Option<(WidgetsExport, Vec<WidgetInfo>)>,
    /// `run-job`, for the jobs `manifest.jobs` declares (`crate::jobs`).
    pub jobs: Option<JobsExport>,
    /// `on-message`, for the topics `manifest.capabilities.subscribes` lists.
    pub subscriber: Option<SubscriberExport>,
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

    /// Whether the plugin gets the messages of `topic`: it lists the topic
    /// in `capabilities.subscribes` and exports `subscriber`.
    pub(crate) fn subscribes_to(&self, topic: &str) -> bool {
        self.subscriber.is_some()
            && self.manifest.capabilities.subscribes.iter().any(|listed| listed == topic)
    }

    /// The exported roles, by WIT interface name.
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

fn role_names(events: bool, routes: bool, widgets: bool, jobs: bool, subscriber: bool) -> Vec<&'static str> {
    let roles = [(events, "events"), (routes, "routes"), (widgets, "field-widget"), (jobs, "jobs")];
    roles
        .into_iter()
        .chain([(subscriber, "subscriber")])
        .filter_map(|(has, name)| has.then_some(name))
        .collect()
}

/// Loads the plugin in `dir`: manifest, component, imports, exports, routes, widgets.
pub(crate) fn load(invoker: &Invoker, loader: &Loader, dir: &Path) -> Result<LoadedPlugin, LoadError> {
    let Vetted { manifest, limits, pre, wit_version, events, routes, widgets, jobs, subscriber } =
        vet(&invoker.sandbox, loader, dir)?;
    let id = manifest.id.clone();
    let context = Arc::new(PluginContext {
        id: id.clone(),
        grants: manifest.capabilities.host_functions.clone(),
        embedder_grants: manifest.capabilities.embedder_functions.clone(),
        entity_types: manifest.capabilities.entity_types.clone(),
        outbound_hosts: manifest.capabilities.outbound_hosts.clone(),
        publishes: manifest.capabilities.publishes.iter().cloned().collect(),
        settings: manifest.capabilities.settings.clone(),
        limits,
        health: Default::default(),
        serial: loader.serial_lock(&id),
        observer: loader.observer.clone(),
        slow_reads: Default::default(),
    });
    let mut plugin = LoadedPlugin {
        manifest,
        dir: dir.to_path_buf(),
        reserve: pre
            .as_ref()
            .and_then(|pre| invoker.reserves.reserve(limits.reserve_instances, pre, &context)),
        context,
        pre,
        wit_version,
        events,
        routes: None,
        widgets: None,
        jobs,
        subscriber,
        page_widgets: Vec::new(),
    };
    if plugin.pre.is_some() {
        initialise(&mut plugin, invoker, routes, widgets)?;
    } else {
        plugin.page_widgets = page_widgets(&plugin.manifest);
    }
    Ok(plugin)
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

/// Instantiates the plugin once: type-checks every export it has and asks for
/// its routes and widgets, so a broken plugin fails at load, not on first use.
fn initialise(
    plugin: &mut LoadedPlugin,
    invoker: &Invoker,
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
    let init = invoker.run(plugin, Phase::Init, &call);
    let (routes, widgets) = invoker.runtime.block_on(init).map_err(init_error)?;

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
