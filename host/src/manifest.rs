//! `plugin.json`: parsing and validation. Every error names the field path
//! (`capabilities.host_functions[2]`) so an author can fix it at once.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A plugin's manifest, validated. Unknown top-level fields are allowed (an
/// application may keep its own there); unknown fields inside the sections are
/// refused, since a typo there would silently change what the plugin may do.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Lower-case letters, digits, `-` and `_`; used in URLs and widget ids.
    pub id: String,
    /// A name for people; the id when the manifest has none (the migration
    /// guide's manifests name only the id).
    #[serde(default)]
    pub name: String,
    /// The plugin's version; [`DEFAULT_VERSION`] (with a warning) when missing.
    #[serde(default)]
    pub version: String,
    /// What the plugin does.
    #[serde(default)]
    pub description: Option<String>,
    /// Where the component is; none for a front-end-only plugin (panels and
    /// page-only widgets, which the guide's front ends keep unchanged).
    #[serde(default)]
    pub wasm: Option<WasmSection>,
    /// What the plugin may use.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Field widgets the plugin declares; each must be one the component lists.
    #[serde(default)]
    pub field_widgets: Vec<WidgetDeclaration>,
    /// Limits the plugin asks for, within the host's ceilings.
    #[serde(default)]
    pub limits: crate::limits::LimitRequest,
    /// Front-end panels: HTML pages a web front end shows in sandboxed frames.
    #[serde(default)]
    pub panels: Vec<PanelDeclaration>,
    /// Scheduled jobs (WIT 0.3.0, `jobs`): each runs `run-job` once per due
    /// run across all nodes (`crate::jobs`).
    #[serde(default)]
    pub jobs: Vec<crate::jobs::JobDeclaration>,
    /// Route paths whose HTML answers are pages that may run scripts
    /// (`/dashboard`, or `/reports/*` for every path below `/reports/`).
    /// Every other route answer is served with a policy that runs no script
    /// and loads nothing: a plugin opts a route into being a page.
    #[serde(default)]
    pub route_pages: Vec<String>,
    /// How to build the component from its sources (`plinth build`, `plinth dev`).
    #[serde(default)]
    pub build: Option<BuildSection>,
    /// What the manifest leaves to defaults or asks for in vain: said by
    /// `plinth check` and logged at load, never a refusal.
    #[serde(skip)]
    pub warnings: Vec<ManifestWarning>,
    /// Top-level keys Plinth does not read (an application may keep its own).
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// The version a manifest without one gets.
pub const DEFAULT_VERSION: &str = "0.0.0";

/// Where migrating authors find the old system's keys mapped to Plinth's.
const MIGRATING: &str = "docs/migrating.md";

/// Keys of the old Python plugin system, and what replaces them.
const OLD_SYSTEM_KEYS: [(&str, &str); 3] = [
    ("capabilities.backend", "the WASM module (`wasm.module`) exports the routes and event handlers"),
    ("routes", "the WASM module exports its routes (`register-routes`)"),
    ("event_handlers", "the WASM module exports its event handlers (`events`)"),
];

/// A manifest problem that does not stop the plugin: the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestWarning {
    /// Where in the JSON.
    pub path: String,
    /// What was assumed or ignored, and what to do.
    pub message: String,
}

impl fmt::Display for ManifestWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path, self.message)
    }
}

/// The `build` section: like `spin.toml`'s `[component.build]`. The host
/// never runs it; the `plinth` tool does, in the plugin's folder.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    /// A shell command (`sh -c`) that writes `wasm.module`.
    pub command: String,
    /// Files and folders (relative to the plugin's folder; folders count
    /// with everything inside) whose change calls for a new build.
    #[serde(default)]
    pub watch: Vec<String>,
}

/// The `wasm` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmSection {
    /// Path of the component, relative to the plugin's folder.
    pub module: String,
}

/// The `capabilities` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// The host functions the plugin may call.
    #[serde(default)]
    pub host_functions: BTreeSet<HostFunction>,
    /// Entity writes narrowed to entity types: for `entity_create`,
    /// `entity_update` or `entity_delete`, the only types it may write
    /// (a write grant not listed here writes every type).
    #[serde(default)]
    pub entity_types: BTreeMap<HostFunction, BTreeSet<String>>,
    /// The embedding application's interfaces the plugin may call, by the
    /// grant names it registered them under (`docs/embedding.md`).
    #[serde(default)]
    pub embedder_functions: BTreeSet<String>,
    /// The hosts the plugin may send HTTP requests to
    /// (`[http://|https://]host[:port]`, see `crate::outbound`).
    #[serde(default)]
    pub outbound_hosts: Vec<crate::outbound::OutboundGrant>,
    /// The message topics the plugin may publish (with `message_publish`).
    #[serde(default)]
    pub publishes: Vec<String>,
    /// The message topics the plugin gets (its `subscriber` export's
    /// `on-message`).
    #[serde(default)]
    pub subscribes: Vec<String>,
    /// The settings the plugin reads, with their types and defaults.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSchema>,
    /// The old Python system's `backend` (`routes.py`, `events.py`): read
    /// only to say what replaces it.
    #[serde(default)]
    backend: Option<Value>,
}

impl Capabilities {
    /// The granted host functions by their `plugin.json` names, sorted, an
    /// entity write narrowed to types with them (`entity_create:note,tag`),
    /// publishing with its topics (`message_publish:digest.written`), each
    /// granted host (`outbound_http:api.example.com`), the topics it
    /// subscribes to (`message_subscribe:digest.written`), then the
    /// embedding application's grants. Consent lists these, so an update
    /// that widens a narrowed grant, adds a topic or adds a host asks again.
    pub fn grant_names(&self) -> Vec<String> {
        let listed = |topics: &mut dyn Iterator<Item = &String>| {
            topics.cloned().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(",")
        };
        let own = self.host_functions.iter().map(|f| match self.entity_types.get(f) {
            Some(types) => format!("{f}:{}", listed(&mut types.iter())),
            None if *f == HostFunction::MessagePublish => {
                format!("{f}:{}", listed(&mut self.publishes.iter()))
            }
            None => f.name().to_string(),
        });
        let hosts = self.outbound_hosts.iter().map(|host| format!("outbound_http:{host}"));
        let subscribed = (!self.subscribes.is_empty())
            .then(|| format!("message_subscribe:{}", listed(&mut self.subscribes.iter())));
        own.chain(hosts).chain(subscribed).chain(self.embedder_functions.iter().cloned()).collect()
    }
}

pub use crate::capabilities::HostFunction;

mod front_end;
mod settings;
pub(crate) mod topics;

use front_end::{MAX_ROUTE_PAGES, check_ids, check_route_page, check_ui_path};
pub use front_end::{PanelDeclaration, WidgetDeclaration, route_page_matches};
use settings::check_schema;
pub use settings::{CONSTRAINT_KEYS, SettingSchema, SettingType};

/// Why a manifest was refused: the field path and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {message}")]
pub struct ManifestError {
    /// Where in the JSON (`capabilities.host_functions[2]`, or `.` for the whole).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ManifestError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ManifestError { path: path.into(), message: message.into() }
    }
}

impl Manifest {
    /// Parses and validates `plugin.json` text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let mut manifest: Manifest = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            ManifestError::at(path, e.into_inner().to_string())
        })?;
        manifest.validate()?;
        manifest.fill_defaults();
        Ok(manifest)
    }

    /// The name and version a manifest may leave out, and a warning for
    /// every key Plinth ignores.
    fn fill_defaults(&mut self) {
        let mut warn = |path: &str, message: String| {
            self.warnings.push(ManifestWarning { path: path.to_string(), message });
        };
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
        if self.version.is_empty() {
            self.version = DEFAULT_VERSION.to_string();
            warn(
                "version",
                format!(
                    "missing, so it is {DEFAULT_VERSION}; give the plugin a version (installs and updates compare it)"
                ),
            );
        }
        for (key, replacement) in OLD_SYSTEM_KEYS {
            let present = match key.strip_prefix("capabilities.") {
                Some(_) => self.capabilities.backend.is_some(),
                None => self.other.contains_key(key),
            };
            if present {
                warn(
                    key,
                    format!(
                        "belongs to the old Python plugin system and is ignored: {replacement} (see {MIGRATING})"
                    ),
                );
            }
        }
        for (name, schema) in &self.capabilities.settings {
            for key in schema.other.keys() {
                warn(
                    &format!("capabilities.settings.{name}.{key}"),
                    "is not a key Plinth knows; it is kept and passed to front ends, but the host does nothing with it".into(),
                );
            }
        }
    }

    fn validate(&self) -> Result<(), ManifestError> {
        if !is_identifier(&self.id) {
            return Err(ManifestError::at(
                "id",
                format!(
                    "`{}` is not a valid plugin id: use lower-case letters, digits, `-` and `_`, starting with a letter or digit",
                    self.id
                ),
            ));
        }
        match &self.wasm {
            // Only `.wasm` files: a manifest cannot make the host open any other file.
            Some(wasm) if !wasm.module.ends_with(".wasm") || wasm.module.len() <= ".wasm".len() => {
                return Err(ManifestError::at("wasm.module", "must name the component's .wasm file"));
            }
            Some(_) => {}
            None if self.is_front_end_only() => {}
            None => {
                return Err(ManifestError::at(
                    "wasm",
                    format!(
                        "missing: name the plugin's built WebAssembly in `wasm.module`; only a plugin whose panels and widgets are all pages (each widget with `html`) may have none; a plugin of the old Python system (`capabilities.backend`) is built as WASM first (see {MIGRATING})"
                    ),
                ));
            }
        }
        check_schema("capabilities.settings", &self.capabilities.settings)?;
        for (index, grant) in self.capabilities.embedder_functions.iter().enumerate() {
            if HostFunction::ALL.iter().any(|own| own.name() == grant) {
                return Err(ManifestError::at(
                    format!("capabilities.embedder_functions[{index}]"),
                    format!(
                        "`{grant}` is one of Plinth's own grants: list it in capabilities.host_functions"
                    ),
                ));
            }
        }
        for grant in self.capabilities.entity_types.keys() {
            let path = format!("capabilities.entity_types.{grant}");
            if !matches!(
                grant,
                HostFunction::EntityCreate | HostFunction::EntityUpdate | HostFunction::EntityDelete
            ) {
                return Err(ManifestError::at(
                    path,
                    "only entity_create, entity_update and entity_delete are narrowed to entity types",
                ));
            }
            if !self.capabilities.host_functions.contains(grant) {
                return Err(ManifestError::at(
                    path,
                    format!(
                        "narrows a grant the plugin lacks: add \"{grant}\" to capabilities.host_functions"
                    ),
                ));
            }
        }
        topics::check_topics(&self.capabilities)?;
        check_ids("panels", "panel", self.panels.iter().map(|panel| panel.id.as_str()))?;
        check_ids("jobs", "job", self.jobs.iter().map(|job| job.id.as_str()))?;
        if self.jobs.len() > crate::jobs::MAX_JOBS {
            return Err(ManifestError::at("jobs", format!("at most {} jobs", crate::jobs::MAX_JOBS)));
        }
        for (index, job) in self.jobs.iter().enumerate() {
            let path = || format!("jobs[{index}]");
            let schedule = job.schedule().map_err(|problem| ManifestError::at(path(), problem))?;
            if schedule.next_after(crate::plugin_log::now_millis()).is_none() {
                return Err(ManifestError::at(
                    path(),
                    "the schedule names no time to come (a date that does not exist, say)",
                ));
            }
        }
        for (path, file) in self.ui_files() {
            check_ui_path(file).map_err(|message| ManifestError::at(path, message))?;
        }
        if let Some(build) = &self.build {
            if build.command.trim().is_empty() {
                return Err(ManifestError::at("build.command", "the build command is empty"));
            }
            for (index, path) in build.watch.iter().enumerate() {
                if path.is_empty() || path.starts_with('/') || path.split('/').any(|part| part == "..") {
                    return Err(ManifestError::at(
                        format!("build.watch[{index}]"),
                        format!("`{path}` must be a relative path inside the plugin's folder"),
                    ));
                }
            }
        }
        check_ids("field_widgets", "widget", self.field_widgets.iter().map(|widget| widget.id.as_str()))?;
        for (index, widget) in self.field_widgets.iter().enumerate() {
            check_schema(&format!("field_widgets[{index}].config_schema"), &widget.config_schema)?;
        }
        if self.route_pages.len() > MAX_ROUTE_PAGES {
            return Err(ManifestError::at("route_pages", format!("at most {MAX_ROUTE_PAGES} entries")));
        }
        for (index, pattern) in self.route_pages.iter().enumerate() {
            check_route_page(pattern)
                .map_err(|message| ManifestError::at(format!("route_pages[{index}]"), message))?;
        }
        Ok(())
    }
}

impl Manifest {
    /// The component's path, relative to the plugin's folder; none for a
    /// front-end-only plugin.
    pub fn wasm_module(&self) -> Option<&str> {
        self.wasm.as_ref().map(|wasm| wasm.module.as_str())
    }

    /// Whether the plugin could do without a component: it has panels or
    /// widgets, and every widget is a page (`html`).
    fn is_front_end_only(&self) -> bool {
        (!self.panels.is_empty() || !self.field_widgets.is_empty())
            && self.field_widgets.iter().all(|widget| widget.html.is_some())
    }
}

/// Plugin and widget ids appear in URLs and in `plugin:{id}:{widget}`.
pub(crate) fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && text.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_applications_grants_and_entity_types_are_checked() {
        let parse = |capabilities: &str| {
            Manifest::parse(&format!(
                r#"{{"id":"p","wasm":{{"module":"p.wasm"}},"capabilities":{capabilities}}}"#
            ))
        };
        let own = parse(r#"{"embedder_functions":["notify","storage_set"]}"#).expect_err("a Plinth grant");
        assert_eq!(own.path, "capabilities.embedder_functions[1]");
        assert!(own.message.contains("capabilities.host_functions"), "{own}");
        let reads = parse(r#"{"host_functions":["entity_read"],"entity_types":{"entity_read":["note"]}}"#);
        assert_eq!(reads.expect_err("not a write").path, "capabilities.entity_types.entity_read");
        let lacking = parse(r#"{"entity_types":{"entity_create":["note"]}}"#).expect_err("not granted");
        assert!(lacking.message.contains(r#"add "entity_create""#), "{lacking}");
        let fine = parse(r#"{"host_functions":["entity_create"],"entity_types":{"entity_create":["note"]},"embedder_functions":["notify"]}"#)
            .expect("valid");
        assert_eq!(fine.capabilities.grant_names(), ["entity_create:note", "notify"]);
    }

    #[test]
    fn route_pages_are_paths_or_prefixes() {
        let pages = ["/page".to_string(), "/reports/*".to_string()];
        assert!(route_page_matches(&pages, "/page"));
        assert!(route_page_matches(&pages, "/reports/2026"));
        assert!(!route_page_matches(&pages, "/reports/"));
        assert!(!route_page_matches(&pages, "/page/more"));
        assert!(!route_page_matches(&pages, "/pages"));
        for bad in ["page", "/a/*/b", "/a/../b", "/a?b", "/a b", "/*x"] {
            let text = format!(r#"{{"id":"p","wasm":{{"module":"p.wasm"}},"route_pages":["{bad}"]}}"#);
            let error = Manifest::parse(&text).expect_err(bad);
            assert_eq!(error.path, "route_pages[0]", "{bad}: {error}");
        }
    }

    fn manifest(capabilities: &str) -> String {
        format!(
            r#"{{"id":"p","name":"P","version":"1","wasm":{{"module":"p.wasm"}},"capabilities":{capabilities}}}"#
        )
    }

    #[test]
    fn message_topics_are_checked_and_listed_as_grants() {
        let parse = |capabilities: &str| Manifest::parse(&manifest(capabilities));
        let fine = parse(
            r#"{"host_functions":["log","message_publish"],"publishes":["b.x","a"],"subscribes":["digest.written"]}"#,
        )
        .expect("valid");
        assert_eq!(
            fine.capabilities.grant_names(),
            ["log", "message_publish:a,b.x", "message_subscribe:digest.written"],
            "consent lists every topic, so an update adding one asks again"
        );
        let no_topics = parse(r#"{"host_functions":["message_publish"]}"#).expect_err("no topics");
        assert_eq!(no_topics.path, "capabilities.publishes");
        let no_grant = parse(r#"{"publishes":["a"]}"#).expect_err("no grant");
        assert!(no_grant.message.contains("add \"message_publish\""), "{}", no_grant.message);
        for bad in ["", "Upper", ".dot", "a b", "a*", &"x".repeat(101)] {
            let error = parse(&format!(r#"{{"subscribes":["ok","{bad}"]}}"#)).expect_err(bad);
            assert_eq!(error.path, "capabilities.subscribes[1]", "{bad}");
        }
        let many: Vec<String> = (0..33).map(|n| format!("\"t{n}\"")).collect();
        let error = parse(&format!(r#"{{"subscribes":[{}]}}"#, many.join(","))).expect_err("33 topics");
        assert!(error.message.contains("at most 32"), "{}", error.message);
    }

    #[test]
    fn outbound_hosts_are_checked_and_listed_as_grants() {
        let parse = |capabilities: &str| {
            Manifest::parse(&format!(
                r#"{{"id":"p","wasm":{{"module":"p.wasm"}},"capabilities":{capabilities}}}"#
            ))
        };
        let bad =
            parse(r#"{"outbound_hosts":["api.example.com","https://x.com/path"]}"#).expect_err("a path");
        assert_eq!(bad.path, "capabilities.outbound_hosts[1]");
        assert!(bad.message.contains("no path"), "{}", bad.message);
        let fine =
            parse(r#"{"host_functions":["log"],"outbound_hosts":["api.example.com","127.0.0.1:8080"]}"#)
                .expect("valid");
        assert_eq!(
            fine.capabilities.grant_names(),
            ["log", "outbound_http:api.example.com", "outbound_http:127.0.0.1:8080"]
        );
    }

    #[test]
    fn parses_grants_and_settings() {
        let m = Manifest::parse(&manifest(
            r#"{"host_functions":["log","storage_get"],"settings":{"depth":{"type":"integer","default":3}}}"#,
        ))
        .expect("valid manifest");
        assert!(m.capabilities.host_functions.contains(&HostFunction::Log));
        assert!(m.capabilities.host_functions.contains(&HostFunction::StorageGet));
        assert_eq!(m.capabilities.settings["depth"].kind, SettingType::Integer);
    }

    #[test]
    fn unknown_host_function_names_its_path() {
        let err = Manifest::parse(&manifest(r#"{"host_functions":["log","launch_missiles"]}"#))
            .expect_err("unknown grant must be refused");
        assert_eq!(err.path, "capabilities.host_functions[1]");
        assert!(err.message.contains("launch_missiles"), "{err}");
    }

    #[test]
    fn default_of_wrong_type_is_refused() {
        let err = Manifest::parse(&manifest(r#"{"settings":{"depth":{"type":"integer","default":"deep"}}}"#))
            .expect_err("wrong default type");
        assert_eq!(err.path, "capabilities.settings.depth.default");
    }

    #[test]
    fn ui_paths_stay_inside_the_folder() {
        let with = |html: &str| {
            Manifest::parse(&format!(
                r#"{{"id":"p","name":"P","version":"1","wasm":{{"module":"p.wasm"}},"panels":[{{"id":"main","title":"Main","html":"{html}"}}]}}"#
            ))
        };
        assert!(with("ui/panel.html").is_ok());
        for bad in [
            "../other/panel.html",
            "/etc/panel.html",
            "ui/.hidden/p.html",
            "ui/panel.js",
            "ui//p.html",
            "panel.html",
        ] {
            let err = with(bad).expect_err(bad);
            assert_eq!(err.path, "panels[0].html", "{bad}: {err}");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = with("ui/panel.html").expect("valid");
        let err = manifest.check_ui_files(dir.path()).expect_err("missing file");
        assert!(err.message.contains("does not exist"), "{err}");
        std::fs::create_dir(dir.path().join("ui")).expect("mkdir");
        std::fs::write(dir.path().join("ui/panel.html"), "<p>hi</p>").expect("write");
        manifest.check_ui_files(dir.path()).expect("present");
    }

    #[test]
    fn the_guides_manifest_loads_with_defaults_and_warnings() {
        let guide = r#"{"id":"my-plugin","wasm":{"module":"target/wasm32-wasi/release/my_plugin.wasm"},
            "capabilities":{"host_functions":["entity_read","log"],"backend":{"routes":"routes.py"},
            "settings":{"depth":{"type":"integer","default":3,"label":"Depth"}}},"event_handlers":"events.py"}"#;
        let m = Manifest::parse(guide).expect("the guide's manifest loads");
        assert_eq!((m.name.as_str(), m.version.as_str()), ("my-plugin", DEFAULT_VERSION));
        let paths: Vec<&str> = m.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(
            paths,
            ["version", "capabilities.backend", "event_handlers", "capabilities.settings.depth.label"]
        );
        assert!(m.warnings[1].message.contains("docs/migrating.md"), "{}", m.warnings[1]);
        assert_eq!(m.capabilities.settings["depth"].other["label"], "Depth");
    }

    #[test]
    fn a_settings_key_that_restricts_values_is_refused_and_a_backend_only_manifest_is_pointed_to_the_guide() {
        let err = Manifest::parse(&manifest(r#"{"settings":{"mode":{"type":"string","enum":["a","b"]}}}"#))
            .expect_err("enum is not enforced");
        assert_eq!(err.path, "capabilities.settings.mode.enum");
        let err = Manifest::parse(r#"{"id":"my-plugin","capabilities":{"backend":{"routes":"routes.py"}}}"#)
            .expect_err("no wasm");
        assert!(err.message.contains("docs/migrating.md"), "{err}");
    }

    #[test]
    fn bad_id_and_missing_fields_are_refused() {
        let err = Manifest::parse(r#"{"id":"Bad Id","name":"x","version":"1","wasm":{"module":"a"}}"#)
            .expect_err("bad id");
        assert_eq!(err.path, "id");
        let err = Manifest::parse(r#"{"id":"ok","name":"x","version":"1"}"#).expect_err("no wasm");
        assert_eq!(err.path, "wasm", "{err}");
        let err = Manifest::parse("{not json").expect_err("not json");
        assert!(!err.message.is_empty());
    }
}
