//! `plinth new NAME --lang rust|python|js [--roles events,routes,widgets]`:
//! writes a plugin project that builds (`plinth build`) and passes its own
//! test cases (`plinth test`) with no edit: `plugin.json` with a `build`
//! section and no grant beyond what the stubs use, the role stubs, a widget
//! page when it has widgets, the WIT vendored for Python and JavaScript, test
//! cases in `tests/`, and a short README.

mod javascript;
mod python;
mod rust;

use anyhow::Context;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The language of a new plugin.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The plugin interfaces the stubs export.
#[derive(Clone, Copy)]
pub struct Roles {
    pub events: bool,
    pub routes: bool,
    pub widgets: bool,
}

impl Roles {
    fn parse(text: &str) -> anyhow::Result<Roles> {
        let mut roles = Roles { events: false, routes: false, widgets: false };
        for role in text.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match role {
                "events" => roles.events = true,
                "routes" => roles.routes = true,
                "widgets" => roles.widgets = true,
                other => anyhow::bail!("`{other}` is not a role: use events, routes, widgets"),
            }
        }
        anyhow::ensure!(roles.events || roles.routes || roles.widgets, "--roles needs at least one role");
        Ok(roles)
    }

    /// The world of `wit/worlds.wit` a componentize tool builds against.
    pub fn world(self) -> &'static str {
        match (self.events, self.routes, self.widgets) {
            (true, false, false) => "entity-plugin",
            (false, true, false) => "route-plugin",
            (false, false, true) => "widget-plugin",
            (true, true, false) => "hooks-and-routes",
            _ => "plugin",
        }
    }
}

/// What a new project is.
pub struct Project {
    pub id: String,
    pub roles: Roles,
    /// The `plinth:plugin` version it builds against.
    pub wit: &'static str,
    /// The `plinth-sdk` folder Rust projects depend on.
    pub sdk: PathBuf,
}

impl Project {
    /// `my-plugin` → `MyPluginPlugin`: the suffix keeps it clear of the
    /// SDK's names (`plinth new widget` must not clash with `Widget`).
    fn type_name(&self) -> String {
        let name: String = self
            .id
            .split(['-', '_'])
            .filter(|part| !part.is_empty())
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect();
        format!("{name}Plugin")
    }
}

/// A language's part of the project.
pub struct Sources {
    /// Files, by path relative to the project.
    pub files: Vec<(String, String)>,
    /// `wasm.module`.
    pub module: String,
    /// `build.command`.
    pub build: String,
    /// `build.watch`.
    pub watch: Vec<String>,
    /// What the build needs installed, for the README.
    pub needs: &'static str,
}

/// The SDK of the Plinth this binary was built from.
const SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk");

/// The guide-shaped Python module projects vendor (`guest-sdk/python/plinth_plugin.py`).
pub(crate) const PLINTH_PLUGIN: &str = include_str!("../../../../guest-sdk/python/plinth_plugin.py");

/// This Plinth's plinth-sdk folder, as Rust projects name it.
pub(crate) fn sdk_path() -> String {
    PathBuf::from(SDK).canonicalize().unwrap_or_else(|_| PathBuf::from(SDK)).display().to_string()
}

/// The WIT files a Python or JavaScript project vendors, by path in the
/// project: the host's copy of the newest released version's folder.
pub(crate) fn wit_files() -> Vec<(String, String)> {
    let files = plinth_host::capabilities::WIT_FILES;
    files.iter().map(|(name, text)| (format!("wit/{name}"), text.to_string())).collect()
}

/// Writes the project into `dir` (the folder name is the plugin's id).
pub fn run(dir: &Path, lang: Lang, roles: &str, sdk: Option<PathBuf>) -> anyhow::Result<bool> {
    let wit = plinth_host::capabilities::WIT_VERSION;
    let id = dir.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_string();
    let valid_id = !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    anyhow::ensure!(
        valid_id,
        "`{id}` cannot be a plugin id: use lower-case letters, digits, `-` and `_`, starting with a letter"
    );
    anyhow::ensure!(!dir.exists(), "{} exists already; choose a new folder", dir.display());
    let mut roles = Roles::parse(roles)?;
    if !matches!(lang, Lang::Rust) && roles.world() == "plugin" {
        // componentize tools build a whole WIT world, and only `plugin` has these roles together.
        roles = Roles { events: true, routes: true, widgets: true };
    }
    // Only Rust projects depend on the SDK.
    let sdk = match lang {
        Lang::Rust => {
            let sdk = sdk.unwrap_or_else(|| PathBuf::from(SDK));
            sdk.canonicalize()
                .with_context(|| format!("the plinth-sdk folder {} is missing; pass --sdk", sdk.display()))?
        }
        Lang::Python | Lang::Js => PathBuf::new(),
    };
    let project = Project { id: id.clone(), roles, wit, sdk };
    let sources = match lang {
        Lang::Rust => rust::sources(&project),
        Lang::Python => python::sources(&project),
        Lang::Js => javascript::sources(&project),
    };
    let mut files = sources.files.clone();
    files.push(("plugin.json".into(), manifest(&project, &sources)));
    files.push(("tests/cases.json".into(), serde_json::to_string_pretty(&cases(&project))? + "\n"));
    files.push(("README.md".into(), readme(&project, &sources)));
    if roles.widgets {
        files.push(("ui/widget.html".into(), include_str!("widget.html").into()));
    }
    if !matches!(lang, Lang::Rust) {
        files.extend(wit_files());
    }
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("created {} ({:?}; {}, plinth:plugin@{wit})", dir.display(), lang, roles.world());
    println!("next: plinth build {0} && plinth test {0}  (or plinth dev {0})", dir.display());
    Ok(true)
}

/// `plugin.json`, its fields in the order people read them.
#[derive(serde::Serialize)]
struct NewManifest<'a> {
    id: &'a str,
    name: &'a str,
    version: &'a str,
    description: &'a str,
    wasm: Value,
    build: Value,
    capabilities: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    field_widgets: Option<Value>,
}

fn manifest(project: &Project, sources: &Sources) -> String {
    let manifest = NewManifest {
        id: &project.id,
        name: &project.id,
        version: "0.1.0",
        description: "Made by plinth new.",
        wasm: json!({ "module": sources.module }),
        build: json!({ "command": sources.build, "watch": sources.watch }),
        // Only what the stubs call: the hook logs.
        capabilities: json!({ "host_functions": if project.roles.events { json!(["log"]) } else { json!([]) } }),
        field_widgets: project.roles.widgets.then(|| {
            json!([{ "id": "short-text", "label": "Short text", "field_types": ["text"], "html": "ui/widget.html" }])
        }),
    };
    serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n"
}

/// One test case per role, in `plinth test`'s format (docs/testing.md).
fn cases(project: &Project) -> Value {
    let mut cases = Vec::new();
    if project.roles.events {
        cases.push(json!({
            "name": "a new entity is logged",
            "event": { "created": { "entity_type": "note", "data": { "text": "hi" } } },
            "expect": { "hook_error": null, "log": ["created note"] },
        }));
    }
    if project.roles.routes {
        cases.push(json!({
            "name": "GET /hello answers",
            "request": { "method": "GET", "path": "/hello" },
            "expect": { "status": 200, "body": { "message": format!("hello from {}", project.id) } },
        }));
    }
    if project.roles.widgets {
        cases.push(json!({
            "name": "short text is valid",
            "widget": { "id": "short-text", "call": "validate", "value": "hello" },
            "expect": { "problems": [] },
        }));
        cases.push(json!({
            "name": "long text is refused",
            "widget": { "id": "short-text", "call": "validate", "value": "x".repeat(101) },
            "expect": { "problems": ["at most 100 characters"] },
        }));
        cases.push(json!({
            "name": "the render counts characters",
            "widget": { "id": "short-text", "call": "render", "value": "hello" },
            "expect": { "contains": "5 characters" },
        }));
    }
    Value::Array(cases)
}

fn readme(project: &Project, sources: &Sources) -> String {
    format!(
        "# {id}\n\nA Plinth plugin (world `{world}` of plinth:plugin@{wit}), made by `plinth new`.\n\n\
         - Build: `plinth build .` runs `{build}` (needs {needs}).\n\
         - Test: `plinth test .` runs the cases in `tests/` against the built component.\n\
         - Develop: `plinth dev .` serves it at http://127.0.0.1:8080 (the console too) and rebuilds on change.\n\
         - Grants: `plugin.json` grants only what the code calls; add one per host function you use.\n\
         {widgets}\n\
         The contract is Plinth's `wit/`; see Plinth's README and docs/ for the host functions.\n",
        id = project.id,
        wit = project.wit,
        world = project.roles.world(),
        build = sources.build,
        needs = sources.needs,
        widgets = if project.roles.widgets {
            "- The widget's web page is `ui/widget.html` (docs/widgets.md); its server-side check is `validate`.\n"
        } else {
            ""
        },
    )
}
