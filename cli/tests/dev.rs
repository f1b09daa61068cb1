//! `plinth build` and `plinth dev`: a plugin's `build` section is run in its
//! folder, and `dev` builds again and reloads when a watched file changes,
//! keeping the last good version through a failed build.

mod common;

use common::{Server, plinth};
use plinth_tests::guests;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// A plugin whose "source" names the component its build copies into place:
/// a real build command, cheap enough to run many times.
fn plugin_built_from_a_choice(dir: &Path, choice: &str) {
    std::fs::create_dir_all(dir).expect("plugin folder");
    std::fs::copy(guests::PROBE_PLUGIN_WASM, dir.join("probe.wasm")).expect("probe");
    std::fs::copy(guests::AUDIT_TRAIL_WASM, dir.join("audit.wasm")).expect("audit trail");
    std::fs::write(dir.join("choice.txt"), choice).expect("choice");
    let manifest = json!({
        "id": "chosen", "name": "Chosen", "version": "0.1.0", "wasm": {"module": "plugin.wasm"},
        "capabilities": {"host_functions": ["storage_get", "storage_set", "storage_list", "storage_delete"]},
        "build": {"command": "cp \"$(cat choice.txt)\" plugin.wasm", "watch": ["choice.txt"]},
    });
    std::fs::write(dir.join("plugin.json"), manifest.to_string()).expect("manifest");
}

#[test]
fn build_runs_each_plugins_build_and_fails_on_a_failed_one() {
    let plugins = tempfile::tempdir().expect("temp dir");
    plugin_built_from_a_choice(&plugins.path().join("a"), "probe.wasm");
    let output = plinth(&["build", plugins.path().to_str().expect("path")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        std::fs::read(plugins.path().join("a/plugin.wasm")).expect("built"),
        std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe")
    );
    std::fs::write(plugins.path().join("a/choice.txt"), "missing.wasm").expect("break the build");
    let output = plinth(&["build", plugins.path().join("a").to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("the build of chosen failed"), "{stderr}");
}

/// Polls `path` until it answers `status` (bounded: the test fails after a minute).
fn wait_for_status(server: &Server, path: &str, status: u16) {
    let started = Instant::now();
    while server.get(path).0 != status {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{path} never answered {status}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn dev_rebuilds_and_reloads_on_a_source_change_and_survives_a_failed_build() {
    let folder = tempfile::tempdir().expect("temp dir");
    let plugin = folder.path().join("chosen");
    plugin_built_from_a_choice(&plugin, "probe.wasm");
    let server = Server::dev(&plugin);
    assert_eq!(server.get("/api/plugins/chosen/status/201").0, 201);
    assert_eq!(server.get("/api/plugins/chosen/log").0, 405, "the probe only posts to /log");

    // Edit the source: dev builds and the server answers with the new version.
    std::fs::write(plugin.join("choice.txt"), "audit.wasm").expect("edit");
    wait_for_status(&server, "/api/plugins/chosen/log", 200);
    assert_eq!(server.get("/api/plugins/chosen/status/201").0, 404);

    // A broken build prints its error; the last good version keeps serving.
    std::fs::write(plugin.join("choice.txt"), "missing.wasm").expect("break");
    let started = Instant::now();
    while !server.log().contains("the build of chosen failed") {
        assert!(started.elapsed() < Duration::from_secs(60), "no build error printed:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.get("/api/plugins/chosen/log").0, 200);

    // Fixed again: back to the first version.
    std::fs::write(plugin.join("choice.txt"), "probe.wasm").expect("fix");
    wait_for_status(&server, "/api/plugins/chosen/status/201", 201);
}
