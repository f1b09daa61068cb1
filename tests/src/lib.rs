//! Shared helpers of Plinth's integration tests: the paths of the guests that
//! `build.rs` compiled from source, and plugin folders made on the fly.

use std::path::{Path, PathBuf};

/// Paths of the built guests (`*_WASM`) and their source folders (`*_DIR`).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// A plugin folder in a temporary directory: a `plugin.json` and a component.
pub struct PluginDir {
    dir: tempfile::TempDir,
}

impl PluginDir {
    /// A plugin `id` whose component is the file at `component`, granting
    /// `host_functions`, with `extra` merged into the manifest's top level.
    pub fn new(id: &str, component: &str, host_functions: &[&str], extra: serde_json::Value) -> PluginDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy(component, dir.path().join("plugin.wasm")).expect("copy component");
        let mut manifest = serde_json::json!({
            "id": id,
            "name": id,
            "version": "0.1.0",
            "wasm": { "module": "plugin.wasm" },
            "capabilities": { "host_functions": host_functions },
        });
        if let (Some(base), Some(extra)) = (manifest.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                base.insert(key.clone(), value.clone());
            }
        }
        PluginDir::with_manifest(dir, &manifest.to_string())
    }

    /// A folder holding `manifest` as plugin.json and `bytes` as plugin.wasm.
    pub fn raw(manifest: &str, bytes: &[u8]) -> PluginDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("plugin.wasm"), bytes).expect("write wasm");
        PluginDir::with_manifest(dir, manifest)
    }

    fn with_manifest(dir: tempfile::TempDir, manifest: &str) -> PluginDir {
        std::fs::write(dir.path().join("plugin.json"), manifest).expect("write manifest");
        PluginDir { dir }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Whether a componentize-built guest (`guests::CHARACTER_STATS_PY`,
/// `guests::WORD_COUNT_WIDGET_JS`) was built, so its tests can run. When its
/// tool was missing at build time, says so on stderr and answers false, so a
/// machine with only Rust runs the rest; with `PLINTH_REQUIRE_ALL_GUESTS=1`
/// (set by `.ci/run`) a missing guest fails the test instead.
pub fn guest_built(built: Result<&str, &str>) -> bool {
    match built {
        Ok(_) => true,
        Err(reason) if std::env::var_os("PLINTH_REQUIRE_ALL_GUESTS").is_some_and(|v| v == "1") => {
            panic!("PLINTH_REQUIRE_ALL_GUESTS=1, but {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            false
        }
    }
}

/// The `example-plugins/<name>` folder.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-plugins").join(name)
}

/// A manifest for plugin `id` whose component is `plugin.wasm`.
pub fn manifest(id: &str) -> String {
    serde_json::json!({ "id": id, "name": id, "version": "0.1.0", "wasm": { "module": "plugin.wasm" } })
        .to_string()
}

/// A compile cache shared by the tests' hosts, so each component compiles
/// once per test run (the Python one takes about a minute in a debug build).
pub fn shared_compile_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp/plinth-compile-cache")
}

/// Creates `count` entities, every other one a `character` (the others
/// `location`): the data the benchmarks measure against.
pub fn seed_entities(host: &plinth_host::Host, count: u64) {
    for i in 0..count {
        let entity_type = if i % 2 == 0 { "character" } else { "location" };
        host.create_entity(entity_type, serde_json::json!({ "n": i })).expect("seed an entity");
    }
}

/// `character-stats`' `GET /stats/{entity_type}` done natively on the same host
/// (count, the `analysis_depth` setting, the same JSON): the baseline the
/// benchmarks compare the plugin with. `examples.rs` checks both answer alike.
pub fn native_stats(
    host: &plinth_host::Host,
    entity_type: &str,
) -> Result<serde_json::Value, plinth_host::HostError> {
    let count = host.count_entities(&plinth_host::EntityQuery::of_type(entity_type))?;
    let settings = host.settings("character-stats")?;
    let depth = settings.get("analysis_depth").and_then(serde_json::Value::as_u64).unwrap_or(3);
    Ok(serde_json::json!({ "entity_type": entity_type, "count": count, "analysis_depth": depth }))
}

/// A host on a fresh temporary data directory (kept alive by the returned guard).
pub fn fresh_host() -> (tempfile::TempDir, plinth_host::Host) {
    fresh_host_on(plinth_host::EngineKind::Native)
}

/// [`fresh_host`] running plugin code on `engine`.
pub fn fresh_host_on(engine: plinth_host::EngineKind) -> (tempfile::TempDir, plinth_host::Host) {
    let data = tempfile::tempdir().expect("temp dir");
    let config = plinth_host::HostConfig {
        engine,
        compile_cache_dir: Some(shared_compile_cache()),
        ..plinth_host::HostConfig::new(data.path().join("data"))
    };
    let host = plinth_host::Host::with_config(config).expect("open host");
    (data, host)
}

/// A plugins folder holding copies of the Rust example plugins.
pub fn rust_examples() -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("temp dir");
    for name in ["audit-trail", "character-stats", "word-count-widget"] {
        copy_example(name, folder.path());
    }
    folder
}

/// Calls a route and returns its status and JSON body.
pub fn call_json(
    host: &plinth_host::Host,
    plugin: &str,
    request: plinth_host::RouteRequest,
) -> (u16, serde_json::Value) {
    let response = host.call_route(plugin, request).expect("route call");
    let body = response
        .json()
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&response.body)));
    (response.status, body)
}

/// `GET path` on `plugin`, as JSON.
pub fn get_json(host: &plinth_host::Host, plugin: &str, path: &str) -> (u16, serde_json::Value) {
    call_json(host, plugin, plinth_host::RouteRequest::new(plinth_host::Method::Get, path))
}

/// Writes plugin `name` of `example-plugins/` into `dest/name/`, its component
/// copied beside its manifest (and its `ui/` pages too), so the folder can be
/// changed freely.
pub fn copy_example(name: &str, dest: &Path) -> PathBuf {
    let source = example(name);
    let text = std::fs::read_to_string(source.join("plugin.json")).expect("example manifest");
    let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("example manifest JSON");
    let module = manifest["wasm"]["module"].as_str().expect("wasm.module").to_string();
    manifest["wasm"]["module"] = serde_json::json!("plugin.wasm");
    let dir = dest.join(name);
    std::fs::create_dir_all(&dir).expect("create plugin folder");
    std::fs::copy(source.join(module), dir.join("plugin.wasm")).expect("copy component");
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).expect("write manifest");
    copy_tree(&source.join("ui"), &dir.join("ui"));
    dir
}

/// Copies the files of `from` (if it exists) into `to`, recursively.
pub fn copy_tree(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else { return };
    std::fs::create_dir_all(to).expect("create folder");
    for entry in entries {
        let entry = entry.expect("read folder");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Writes a plugin folder `dest/folder/` from a manifest and component bytes.
pub fn write_plugin(dest: &Path, folder: &str, manifest: &serde_json::Value, component: &[u8]) -> PathBuf {
    let dir = dest.join(folder);
    std::fs::create_dir_all(&dir).expect("create plugin folder");
    std::fs::write(dir.join("plugin.wasm"), component).expect("write component");
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).expect("write manifest");
    dir
}

pub mod conformance;
pub mod postgres;

/// A test run once on each engine: `on_both_engines! { fn name(engine) { … } }`
/// makes the tests `name::native` and `name::pulley`, each calling the body
/// with its [`plinth_host::EngineKind`], so a limit is shown to hold natively
/// and interpreted alike.
#[macro_export]
macro_rules! on_both_engines {
    ($(#[$meta:meta])* fn $name:ident($engine:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($engine: plinth_host::EngineKind) $body

            #[test]
            fn native() {
                run(plinth_host::EngineKind::Native)
            }

            #[test]
            fn pulley() {
                run(plinth_host::EngineKind::Pulley)
            }
        }
    };
}
