//! What the host tells about a loaded plugin.

use crate::limits::Limits;
use crate::plugin::LoadedPlugin;
use crate::plugin::WidgetInfo;
use crate::plugin::health::PluginHealth;
use crate::plugin::invoke::Invoker;
use crate::plugin::routes::RouteInfo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// False while an operator has it switched off ([`Host::set_plugin_enabled`](crate::Host::set_plugin_enabled)).
    pub enabled: bool,
}

impl PluginInfo {
    /// Whether the route at `path` (below `/api/plugins/{id}`, no query) is
    /// one of its `route_pages`, whose HTML answers may run scripts.
    pub fn is_route_page(&self, path: &str) -> bool {
        crate::manifest::route_page_matches(&self.route_pages, path)
    }

    pub(super) fn of(plugin: &LoadedPlugin, invoker: &Invoker) -> PluginInfo {
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
            health: PluginHealth {
                ready_instances: plugin.reserve.as_ref().map_or(0, |reserve| reserve.ready()),
                ..plugin.context.health.snapshot(invoker.clock.now())
            },
            limits: plugin.context.limits,
            settings: manifest.capabilities.settings.clone(),
            panels: manifest.panels.clone(),
            route_pages: manifest.route_pages.clone(),
            enabled: !invoker.is_disabled(&manifest.id),
        }
    }
}
