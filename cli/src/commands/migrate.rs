//! `plinth migrate DIR --lang python|rust [--out OUT]`: turns a plugin of the
//! old Python system (`plugin.json` with `capabilities.backend`,
//! `backend/routes.py`, `backend/events.py`, `frontend/panels/*.html`) into a
//! Plinth project in OUT (default `DIR-wasm`):
//!
//! - a manifest with `wasm`, `build`, the `host_functions` the code needs, the
//!   settings kept and the panels declared (their files copied unchanged);
//! - Python: the handlers kept, their imports moved to `plinth_plugin` and the
//!   guide's database and storage shapes rewritten into host calls
//!   (`docs/migrating.md`); Rust: a project with a stub per route and hook;
//! - smoke test cases, and `MIGRATION.md`, the list of what still needs a
//!   person: direct database access that was not rewritten, the filesystem,
//!   imports with no WASM equivalent.

use anyhow::Context;
use regex::Regex;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The language of the migrated project.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum MigrateLang {
    /// Keep the Python handlers (componentize-py and `plinth_plugin`).
    Python,
    /// A Rust project (plinth-sdk) with a stub per handler.
    Rust,
}

/// What the old code does that needs a person, by file and line.
struct HandWork(Vec<String>);

/// A route of the old router: method, path, handler function.
struct OldRoute {
    method: String,
    path: String,
    function: String,
}

/// Runs the migration; returns whether it wrote the project.
pub fn run(dir: &Path, lang: MigrateLang, out: Option<PathBuf>) -> anyhow::Result<bool> {
    let old: Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("plugin.json")).context("reading plugin.json")?,
    )
    .context("plugin.json is not a JSON object")?;
    let id = old.get("id").and_then(Value::as_str).context("plugin.json has no `id`")?.to_string();
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{}-wasm", dir.display())));
    anyhow::ensure!(!out.exists(), "{} exists already; choose a new folder with --out", out.display());
    let backend = dir.join("backend");
    let sources: Vec<(String, String)> = python_files(&backend)?;
    let mut hand_work = HandWork(Vec::new());
    let grants = grants_needed(&sources);
    let routes = old_routes(&sources);
    let has_events = sources.iter().any(|(_, text)| text.contains(".on(\"entity_"));
    let mut files: Vec<(String, String)> = Vec::new();
    let (module, build) = match lang {
        MigrateLang::Python => {
            for (name, text) in &sources {
                files.push((format!("backend/{name}"), rewrite_python(name, text, &id, &mut hand_work)));
            }
            files.push(("backend/app.py".into(), app_py(&sources)));
            files.push(("backend/plinth_plugin.py".into(), super::new::PLINTH_PLUGIN.into()));
            files.extend(super::new::wit_files());
            (
                "app.wasm".to_string(),
                "componentize-py -d wit -w hooks-and-routes componentize -p backend app -o app.wasm"
                    .to_string(),
            )
        }
        MigrateLang::Rust => {
            for (name, text) in &sources {
                note_python(name, text, &mut hand_work);
            }
            let crate_name = id.replace('-', "_");
            files.push(("Cargo.toml".into(), rust_cargo_toml(&id)));
            files.push(("src/lib.rs".into(), rust_lib(&routes, has_events)));
            hand_work.0.push("src/lib.rs: every handler is a stub answering 501; port its Python body (kept in backend/ for reference)".into());
            for (name, text) in &sources {
                files.push((format!("backend/{name}"), text.clone()));
            }
            (
                format!("target/wasm32-wasip2/release/{crate_name}.wasm"),
                // --target-dir: the module path must not depend on CARGO_TARGET_DIR.
                "cargo build --release --target wasm32-wasip2 --target-dir target".to_string(),
            )
        }
    };
    let panels = copy_panels(dir, &mut files)?;
    let manifest = new_manifest(&old, &id, &module, &build, &grants, &panels, lang);
    files.push(("plugin.json".into(), serde_json::to_string_pretty(&manifest)? + "\n"));
    files.push((
        "tests/cases.json".into(),
        serde_json::to_string_pretty(&smoke_cases(&routes, has_events, lang))? + "\n",
    ));
    files.push(("MIGRATION.md".into(), migration_notes(dir, &hand_work)));
    for (path, text) in &files {
        let path = out.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("migrated {} into {} ({lang:?})", dir.display(), out.display());
    for item in &hand_work.0 {
        println!("  needs a person: {item}");
    }
    println!("next: plinth build {0} && plinth test {0}", out.display());
    Ok(true)
}

/// The `.py` files of the old backend folder, by name.
fn python_files(backend: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(backend)
        .with_context(|| format!("{} has no backend/ folder", backend.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "py") {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            files.push((name, std::fs::read_to_string(&path)?));
        }
    }
    files.sort();
    Ok(files)
}

/// The grants the old code's shapes need.
fn grants_needed(sources: &[(String, String)]) -> BTreeSet<&'static str> {
    let mut grants = BTreeSet::from(["log"]);
    for (_, text) in sources {
        if text.contains("db.query") || text.contains("get_db") {
            grants.extend(["entity_read", "entity_list"]);
        }
        if text.contains("PluginDataService") {
            grants.extend(["storage_get", "storage_set"]);
        }
        if text.contains("plugin_settings_service") || text.contains("settings") {
            grants.insert("setting_get");
        }
    }
    grants
}

/// `@router.get("/path")` followed by `def name(` or `async def name(`.
fn old_routes(sources: &[(String, String)]) -> Vec<OldRoute> {
    let pattern = Regex::new(
        r#"@router\.(get|post|put|patch|delete)\(\s*"([^"]+)"[^)]*\)\s*\n\s*(?:async\s+)?def\s+(\w+)"#,
    )
    .expect("a valid pattern");
    sources
        .iter()
        .flat_map(|(_, text)| {
            pattern.captures_iter(text).map(|c| OldRoute {
                method: c[1].to_uppercase(),
                path: c[2].to_string(),
                function: c[3].to_string(),
            })
        })
        .collect()
}

/// One rewrite of the guide's shapes: what it finds and what replaces it.
fn rewrites(plugin_id: &str) -> Vec<(Regex, String)> {
    let escaped = regex::escape(plugin_id);
    [
        // Imports of the old system's services.
        (r"(?m)^(\s*)from services\.event_bus import .*$", "${1}from plinth_plugin import EventBus, EntityEvent, host".to_string()),
        (r"(?m)^(\s*)from fastapi import .*$", "${1}from plinth_plugin import APIRouter, HTTPException, Model, host".to_string()),
        (r"(?m)^\s*from (database|sqlalchemy[\w.]*|services\.plugin_data|services\.plugin_settings|models) import .*\n", String::new()),
        // The session: gone, with the dependency that passed it.
        (r"(?m)^\s*db = next\(get_db\(\)\)\s*\n", String::new()),
        (r",\s*db\s*:\s*Session\s*=\s*Depends\(get_db\)", String::new()),
        // PluginDataService: a namespace and a key become one storage key.
        (r"(?m)^\s*(\w+) = PluginDataService\([^)]*\)\s*\n", String::new()),
        (r#"\w+\.save\(\s*"([^"]+)"\s*,\s*([\w.]+)\s*,"#, r#"host.storage_set(f"$1/{$2}","#.to_string()),
        (r#"\w+\.load\(\s*"([^"]+)"\s*,\s*([\w.]+)\s*\)"#, r#"host.storage_get(f"$1/{$2}")"#.to_string()),
        // Settings.
        (&format!(r#"plugin_settings_service\.get_global\(\s*"{escaped}"\s*\)"#), "host.settings()".to_string()),
    ]
    .into_iter()
    .map(|(pattern, replacement)| (Regex::new(pattern).expect("a valid pattern"), replacement))
    .collect()
}

/// `db.query(Entity).filter(Entity.FIELD == VALUE).all()` (or `.count()`,
/// `.first()`), over any line breaks, as a host call with the same query.
fn rewrite_queries(text: &str) -> String {
    let pattern = Regex::new(
        r#"db\.query\(\s*Entity\s*\)\.filter\(\s*Entity\.(\w+)\s*==\s*("[^"]*"|[\w.]+)\s*\)\.(all|count|first)\(\)"#,
    )
    .expect("a valid pattern");
    pattern
        .replace_all(text, |c: &regex::Captures<'_>| {
            let (field, value, end) = (&c[1], &c[2], &c[3]);
            let query = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(literal) => format!("\"{field}={literal}\""),
                None => format!("f\"{field}={{{value}}}\""),
            };
            match end {
                "count" => format!("host.entity_count({query})"),
                "first" => format!("next(iter(host.entity_list({query})), None)"),
                _ => format!("host.entity_list({query})"),
            }
        })
        .into_owned()
}

/// The old module with the guide's shapes rewritten; what is left over goes
/// into `hand_work`.
fn rewrite_python(name: &str, text: &str, plugin_id: &str, hand_work: &mut HandWork) -> String {
    let mut text = rewrite_queries(text);
    for (pattern, replacement) in rewrites(plugin_id) {
        text = pattern.replace_all(&text, replacement.as_str()).into_owned();
    }
    // A request model named in an annotation but defined nowhere (a pydantic
    // model of the old app) becomes a plain holder of the body's fields.
    let annotation = Regex::new(r"\(\s*\w+\s*:\s*(\w+(?:Request|Model|Body))\b").expect("a valid pattern");
    let undefined: BTreeSet<String> = annotation
        .captures_iter(&text)
        .map(|c| c[1].to_string())
        .filter(|model| !text.contains(&format!("class {model}")))
        .collect();
    for model in &undefined {
        text = text.replacen("\nrouter = ", &format!("\n{model} = Model\n\nrouter = "), 1);
        hand_work.0.push(format!(
            "backend/{name}: `{model}` was a request model of the old app; it now holds any JSON object's fields: check them in the handler"
        ));
    }
    note_python(name, &text, hand_work);
    text
}

/// What still needs a person in `text`, by line.
fn note_python(name: &str, text: &str, hand_work: &mut HandWork) {
    let checks = [
        ("db.", "direct database access: use host.entity_list / entity_count / entity_read"),
        ("get_db", "the database session: use host.entity_* calls"),
        ("Session", "a SQLAlchemy session: use host.entity_* calls"),
        ("PluginDataService", "plugin data: use host.storage_get / storage_set"),
        ("open(", "the filesystem: plugins have none; keep data in host.storage_*"),
        ("os.", "the operating system (os): no WASM equivalent"),
        ("pathlib", "the filesystem (pathlib): plugins have none"),
        ("requests", "the network: plugins have none"),
        ("subprocess", "processes: no WASM equivalent"),
        ("import numpy", "numpy: no WASM build in componentize-py"),
        ("Depends(", "FastAPI's dependency injection: pass what the handler needs explicitly"),
    ];
    for (number, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or_default();
        for (needle, what) in checks {
            if code.contains(needle) {
                hand_work.0.push(format!("backend/{name}:{}: {what}: `{}`", number + 1, line.trim()));
            }
        }
    }
}

/// The component's module: imports each old module, registers its event
/// handlers, and re-exports the two classes componentize-py looks for.
fn app_py(sources: &[(String, String)]) -> String {
    let mut app = String::from(
        "\"\"\"The component's module (made by plinth migrate): loads the old modules as the old system did.\"\"\"\n\n",
    );
    for (name, _) in sources {
        app.push_str(&format!("import {}  # noqa: F401\n", name.trim_end_matches(".py")));
    }
    app.push_str(
        "\nfrom plinth_plugin import Events, Routes, event_bus  # noqa: F401 - the component's exports\n",
    );
    for (name, text) in sources {
        if text.contains("def register(") {
            app.push_str(&format!("\n{}.register(event_bus)\n", name.trim_end_matches(".py")));
        }
    }
    app
}

/// The old panels (`frontend/panels/*.html`), copied unchanged and declared.
fn copy_panels(dir: &Path, files: &mut Vec<(String, String)>) -> anyhow::Result<Vec<Value>> {
    let folder = dir.join("frontend/panels");
    let mut panels = Vec::new();
    let Ok(entries) = std::fs::read_dir(&folder) else { return Ok(panels) };
    let mut pages: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    pages.sort();
    for page in pages.into_iter().filter(|p| p.extension().is_some_and(|e| e == "html")) {
        let file = page.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let stem = file.trim_end_matches(".html");
        let id: String = stem
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        let title = stem.replace(['-', '_'], " ");
        files.push((format!("frontend/panels/{file}"), std::fs::read_to_string(&page)?));
        panels.push(json!({ "id": id, "title": title, "html": format!("frontend/panels/{file}") }));
    }
    Ok(panels)
}

fn new_manifest(
    old: &Map<String, Value>,
    id: &str,
    module: &str,
    build: &str,
    grants: &BTreeSet<&str>,
    panels: &[Value],
    lang: MigrateLang,
) -> Value {
    let watch = match lang {
        MigrateLang::Python => json!(["backend"]),
        MigrateLang::Rust => json!(["src", "Cargo.toml"]),
    };
    let mut manifest = json!({
        "id": id,
        "name": old.get("name").cloned().unwrap_or_else(|| json!(id)),
        "version": old.get("version").cloned().unwrap_or_else(|| json!("0.1.0")),
        "wasm": { "module": module },
        "build": { "command": build, "watch": watch },
        "capabilities": { "host_functions": grants },
    });
    if let Some(description) = old.get("description") {
        manifest["description"] = description.clone();
    }
    if let Some(settings) = old.get("capabilities").and_then(|c| c.get("settings")) {
        manifest["capabilities"]["settings"] = settings.clone();
    }
    if !panels.is_empty() {
        manifest["panels"] = json!(panels);
    }
    if matches!(lang, MigrateLang::Python) {
        // componentize-py components carry CPython.
        manifest["limits"] = json!({ "memory_mb": 256 });
    }
    manifest
}

/// A case per GET route (path parameters filled with `character`) that it
/// answers 200 (a Rust stub: 501), and one that the created-entity hook runs
/// without error.
fn smoke_cases(routes: &[OldRoute], has_events: bool, lang: MigrateLang) -> Value {
    // The Rust project's handlers are stubs until a person ports them.
    let (status, note) = match lang {
        MigrateLang::Python => (200, "answers"),
        MigrateLang::Rust => (501, "is a stub until ported (then expect 200)"),
    };
    let parameter = Regex::new(r"\{\w+\}").expect("a valid pattern");
    let mut cases: Vec<Value> = routes
        .iter()
        .filter(|route| route.method == "GET")
        .map(|route| {
            let path = parameter.replace_all(&route.path, "character");
            json!({
                "name": format!("{} {note}", route.function),
                "entities": [{ "id": "c1", "entity_type": "character", "data": { "name": "Ada" } }],
                "request": { "method": "GET", "path": path },
                "expect": { "status": status },
            })
        })
        .collect();
    if has_events {
        cases.push(json!({
            "name": "the created-entity handler runs",
            "event": { "created": { "entity_type": "character", "data": { "name": "Ada" } } },
            "expect": { "hook_error": null },
        }));
    }
    json!(cases)
}

fn rust_cargo_toml(id: &str) -> String {
    let sdk = super::new::sdk_path();
    format!(
        "[package]\nname = \"{id}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nplinth-sdk = {{ path = {sdk:?} }}\nserde_json = \"1\"\n\n[workspace]\n"
    )
}

/// A plinth-sdk plugin with the old routes and hooks as stubs.
fn rust_lib(routes: &[OldRoute], has_events: bool) -> String {
    let mut uses = vec!["Error", "Plugin", "export"];
    let mut body = String::new();
    let mut exports = Vec::new();
    if has_events {
        uses.push("Entity");
        exports.push("events");
        body.push_str("\n    fn on_entity_created(_entity: Entity) -> Result<(), Error> {\n        // Port the Python handler of entity_created (backend/) here.\n        Ok(())\n    }\n");
    }
    if !routes.is_empty() {
        uses.extend(["Request", "Response", "Router"]);
        exports.push("routes");
        body.push_str("\n    fn router() -> Router {\n        Router::new()");
        for route in routes {
            body.push_str(&format!(
                "\n            .{}({:?}, {})",
                route.method.to_lowercase(),
                route.path,
                route.function
            ));
        }
        body.push_str("\n    }\n");
    }
    uses.sort_unstable();
    let mut lib = format!(
        "//! Migrated by `plinth migrate`: each handler of the old Python plugin is a\n//! stub; port its body from backend/ (docs/migrating.md maps the old calls to host::*).\n\nuse plinth_sdk::{{{}}};\n\nstruct Migrated;\n\nimpl Plugin for Migrated {{{body}}}\n",
        uses.join(", ")
    );
    for route in routes {
        lib.push_str(&format!(
            "\n/// `{} {}`: `{}` in the Python router; answers 501 until ported.\nfn {}(_request: Request) -> Result<Response, Error> {{\n    Ok(Response::json(501, &serde_json::json!({{ \"error\": \"not ported yet\" }})))\n}}\n",
            route.method, route.path, route.function, route.function
        ));
    }
    lib.push_str(&format!("\nexport!(Migrated: {});\n", exports.join(", ")));
    lib
}

fn migration_notes(dir: &Path, hand_work: &HandWork) -> String {
    let mut notes = format!(
        "# Migrated from {}\n\nMade by `plinth migrate`. What was rewritten is listed in docs/migrating.md; what still needs a person:\n\n",
        dir.display()
    );
    if hand_work.0.is_empty() {
        notes.push_str("- nothing found.\n");
    }
    for item in &hand_work.0 {
        notes.push_str(&format!("- {item}\n"));
    }
    notes
}
