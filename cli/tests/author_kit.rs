//! The author's path, as a new plugin author walks it: `plinth new` →
//! `plinth build` → `plinth test`, in each language, with no edit between.

mod common;

use plinth_tests::guests;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `plinth ARGS` in `dir`, with the repository's pinned componentize
/// tools on PATH (as `scripts/tools.sh` installs them).
fn plinth_in(dir: &Path, args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("repository");
    let tools = [root.join("target/py-tools/bin"), root.join("target/js-tools/node_modules/.bin")];
    let path = std::env::join_paths(
        tools.iter().cloned().chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    Command::new(common::PLINTH)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("RUST_LOG", "warn")
        // `plinth test` keeps compiled components in $XDG_CACHE_HOME/plinth-compile-cache:
        // here the cache the other tests fill (plinth_tests::shared_compile_cache).
        .env("XDG_CACHE_HOME", env!("CARGO_TARGET_TMPDIR"))
        .output()
        .expect("run plinth")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Points a Rust project's `target` folder at one shared by this file's
/// projects, as an author with several plugins might: their build command
/// is unchanged, and the second project's build reuses the first's
/// dependencies (about half a minute each on 2 cores).
fn share_rust_target(project: &Path) {
    if project.join("Cargo.toml").is_file() {
        let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("author-rust-target");
        std::fs::create_dir_all(&shared).expect("shared target folder");
        std::os::unix::fs::symlink(&shared, project.join("target")).expect("link the target folder");
    }
}

/// new → build → test for one language; returns the project folder.
fn new_build_test(scratch: &Path, name: &str, lang: &str, roles: &str, cases: usize) -> PathBuf {
    let created = plinth_in(scratch, &["new", name, "--lang", lang, "--roles", roles]);
    assert!(created.status.success(), "new: {}", text(&created));
    share_rust_target(&scratch.join(name));
    let built = plinth_in(scratch, &["build", name]);
    assert!(built.status.success(), "build: {}", text(&built));
    let tested = plinth_in(scratch, &["test", name]);
    let report = text(&tested);
    assert!(tested.status.success(), "test: {report}");
    assert!(report.contains(&format!("{cases} passed, 0 failed")), "{report}");
    let checked = plinth_in(scratch, &["check", name]);
    assert!(checked.status.success(), "check: {}", text(&checked));
    scratch.join(name)
}

#[test]
fn a_new_rust_plugin_builds_and_passes_its_tests() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let project = new_build_test(scratch.path(), "hello-rs", "rust", "events,routes,widgets", 5);
    assert!(project.join("ui/widget.html").is_file());
    // The grants are exactly what the stubs use.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("plugin.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(manifest["capabilities"]["host_functions"], serde_json::json!(["log"]));

    // A failing case is reported as such, with the summary line and exit 1.
    let cases = project.join("tests/cases.json");
    let edited = std::fs::read_to_string(&cases)
        .expect("cases")
        .replace("hello from hello-rs", "hello from elsewhere");
    std::fs::write(&cases, edited).expect("edit cases");
    let tested = plinth_in(scratch.path(), &["test", "hello-rs"]);
    let report = text(&tested);
    assert!(!tested.status.success(), "{report}");
    assert!(report.contains("FAIL  GET /hello answers") && report.contains("4 passed, 1 failed"), "{report}");
}

#[test]
fn a_new_python_plugin_builds_and_passes_its_tests() {
    if !plinth_tests::guest_built(guests::CHARACTER_STATS_PY) {
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let project = new_build_test(scratch.path(), "hello-py", "python", "events,routes,widgets", 5);
    assert!(project.join("wit/messages.wit").is_file(), "the WIT is vendored");
    assert_whole_plugin_world(scratch.path(), "hello-py");
    assert!(project.join("plinth_plugin.py").is_file(), "the guide-shaped module is vendored");
}

#[test]
fn a_new_javascript_plugin_builds_and_passes_its_tests() {
    if !plinth_tests::guest_built(guests::WORD_COUNT_WIDGET_JS) {
        return;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    new_build_test(scratch.path(), "hello-js", "js", "events,routes,widgets", 5);
    assert_whole_plugin_world(scratch.path(), "hello-js");
}

/// A Python or JavaScript project's `plugin` world exports `jobs` and
/// `subscriber` too (since 0.3.0): the stubs implement them, and the
/// component is built against the newest WIT.
fn assert_whole_plugin_world(scratch: &Path, name: &str) {
    let inspected = plinth_in(scratch, &["inspect", name]);
    let report = text(&inspected);
    assert!(report.contains("built against: plinth:plugin@0.3.0"), "{report}");
    for export in ["jobs@0.3.0", "subscriber@0.3.0"] {
        assert!(report.contains(export), "{name} exports {export}: {report}");
    }
}

#[test]
fn new_refuses_what_it_cannot_make() {
    let scratch = tempfile::tempdir().expect("temp dir");
    for (args, problem) in [
        (vec!["new", "Bad Name", "--lang", "rust"], "cannot be a plugin id"),
        (vec!["new", "ok", "--lang", "rust", "--roles", "events,cron"], "`cron` is not a role"),
    ] {
        let output = plinth_in(scratch.path(), &args);
        assert!(!output.status.success() && text(&output).contains(problem), "{args:?}: {}", text(&output));
    }
    std::fs::create_dir(scratch.path().join("taken")).expect("folder");
    let output = plinth_in(scratch.path(), &["new", "taken", "--lang", "js"]);
    assert!(!output.status.success() && text(&output).contains("exists already"), "{}", text(&output));
}

/// A plugin's own panic message (or Python traceback, or JavaScript error)
/// reaches its author in `plinth call` and `plinth test`, not only a short
/// "trap"; an expected error passes.
#[test]
fn the_plugins_own_error_reaches_call_and_test_output() {
    let dir = plinth_tests::PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], serde_json::json!({}));
    let called = plinth_in(dir.path(), &["call", ".", "GET", "/trap"]);
    assert!(!called.status.success());
    assert!(String::from_utf8_lossy(&called.stderr).contains("asked to trap"), "{}", text(&called));

    std::fs::create_dir(dir.path().join("tests")).expect("tests folder");
    let cases = serde_json::json!([
        { "name": "the trap is a failure", "request": { "path": "/trap" }, "expect": { "status": 200 } },
        { "name": "an expected trap passes", "request": { "path": "/trap" }, "expect": { "error": "trap" } },
    ]);
    std::fs::write(dir.path().join("tests/trap.json"), cases.to_string()).expect("cases");
    let tested = plinth_in(dir.path(), &["test", "."]);
    let report = text(&tested);
    assert!(!tested.status.success(), "{report}");
    assert!(report.contains("FAIL  the trap is a failure") && report.contains("asked to trap"), "{report}");
    assert!(
        report.contains("ok    an expected trap passes") && report.contains("1 passed, 1 failed"),
        "{report}"
    );
}

/// The example plugins carry their own cases, in the same format.
#[test]
fn the_examples_pass_their_own_test_cases() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-plugins");
    let mut names = vec!["character-stats", "word-count-widget", "audit-trail", "daily-digest"];
    if plinth_tests::guest_built(guests::CHARACTER_STATS_PY) {
        names.push("character-stats-py");
    }
    if plinth_tests::guest_built(guests::WORD_COUNT_WIDGET_JS) {
        names.push("word-count-widget-js");
    }
    if plinth_tests::guest_built(guests::MY_PLUGIN_PY) {
        names.push("my-plugin");
    }
    for name in names {
        let tested = plinth_in(&examples, &["test", name]);
        let report = text(&tested);
        assert!(tested.status.success() && report.contains(" passed, 0 failed"), "{name}: {report}");
    }
}

/// componentize tools import every host function whatever the code calls:
/// `plinth check` says so once instead of a warning per grant.
#[test]
fn check_reports_whole_world_imports_once() {
    if !plinth_tests::guest_built(guests::CHARACTER_STATS_PY) {
        return;
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-plugins");
    let checked = plinth_in(&examples, &["check", "character-stats-py"]);
    let report = text(&checked);
    assert!(checked.status.success(), "{report}");
    assert_eq!(report.matches("warning:").count(), 1, "{report}");
    assert!(
        report.contains("built by componentize-py") && report.contains("storage_delete, storage_list"),
        "{report}"
    );
}

/// The migration guide's manifest (no name, no version) loads, and `plinth
/// check` says what it assumed.
#[test]
fn check_says_what_the_guides_manifest_leaves_to_defaults() {
    if !plinth_tests::guest_built(guests::MY_PLUGIN_PY) {
        return;
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-plugins");
    let checked = plinth_in(&examples, &["check", "my-plugin"]);
    let report = text(&checked);
    assert!(checked.status.success(), "{report}");
    assert!(report.contains("loaded my-plugin 0.0.0"), "{report}");
    assert!(report.contains("warning: plugin.json `version`: missing, so it is 0.0.0"), "{report}");
}

/// `plinth test` refuses cases that could not fail: an expectation the action
/// cannot meet, no action, a `status` met by a missing route, a hook that
/// never ran.
#[test]
fn test_cases_that_cannot_fail_are_refused() {
    let dir = plinth_tests::PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], serde_json::json!({}));
    std::fs::create_dir(dir.path().join("tests")).expect("tests folder");
    let cases = serde_json::json!([
        { "name": "status on an event", "event": { "created": { "entity_type": "n", "data": {} } }, "expect": { "status": 200 } },
        { "name": "no action", "expect": { "log": ["x"] } },
        { "name": "a missing route is not a 404 from the plugin", "request": { "path": "/nope" }, "expect": { "status": 404 } },
        { "name": "the control", "request": { "path": "/status/201" }, "expect": { "status": 201 } },
    ]);
    std::fs::write(dir.path().join("tests/cases.json"), cases.to_string()).expect("cases");
    let report = text(&plinth_in(dir.path(), &["test", "."]));
    assert!(
        report.contains("FAIL  status on an event") && report.contains("`expect.status` does not apply"),
        "{report}"
    );
    assert!(report.contains("FAIL  no action") && report.contains("exactly one action"), "{report}");
    assert!(report.contains("FAIL  a missing route") && report.contains("route_not_found"), "{report}");
    assert!(report.contains("ok    the control") && report.contains("1 passed, 3 failed"), "{report}");

    let widget = tempfile::tempdir().expect("temp dir");
    let folder = plinth_tests::copy_example("word-count-widget", widget.path());
    std::fs::create_dir_all(folder.join("tests")).expect("tests folder");
    let hook = serde_json::json!({ "name": "a hook that never runs", "event": { "created": { "entity_type": "n", "data": {} } }, "expect": { "hook_error": null } });
    std::fs::write(folder.join("tests/cases.json"), hook.to_string()).expect("case");
    let report = text(&plinth_in(&folder, &["test", "."]));
    assert!(report.contains("no hook ran") && report.contains("0 passed, 1 failed"), "{report}");
}

/// `plinth migrate` turns the guide's example folder (exactly as the guide
/// shows it) into a Python project that builds and passes its tests: the
/// handlers kept, the database and PluginDataService calls rewritten into host
/// calls, the panel carried over unchanged, and what needs a person listed.
/// `--lang rust` gives a project of stubs that builds and passes its own.
#[test]
fn migrate_turns_the_guides_plugin_into_a_project_that_builds_and_passes() {
    if !plinth_tests::guest_built(guests::CHARACTER_STATS_PY) {
        return;
    }
    let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/guide-plugin");
    let scratch = tempfile::tempdir().expect("temp dir");
    for (lang, name, cases) in
        [("python", "migrated-py", "2 passed, 0 failed"), ("rust", "migrated-rs", "2 passed, 0 failed")]
    {
        let out = scratch.path().join(name);
        let migrated = plinth_in(
            scratch.path(),
            &["migrate", guide.to_str().expect("path"), "--lang", lang, "--out", name],
        );
        assert!(migrated.status.success(), "migrate: {}", text(&migrated));
        share_rust_target(&out);
        let built = plinth_in(scratch.path(), &["build", name]);
        assert!(built.status.success(), "build: {}", text(&built));
        let tested = plinth_in(scratch.path(), &["test", name]);
        assert!(tested.status.success() && text(&tested).contains(cases), "{lang}: {}", text(&tested));
        let panel = std::fs::read_to_string(out.join("frontend/panels/main-panel.html")).expect("the panel");
        assert_eq!(
            panel,
            std::fs::read_to_string(guide.join("frontend/panels/main-panel.html")).expect("old panel")
        );
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("plugin.json")).expect("manifest"))
                .expect("JSON");
        assert_eq!(manifest["panels"][0]["html"], "frontend/panels/main-panel.html", "{manifest}");
        assert!(manifest["capabilities"].get("backend").is_none(), "{manifest}");
    }
    let events =
        std::fs::read_to_string(scratch.path().join("migrated-py/backend/events.py")).expect("events.py");
    assert!(
        events.contains("@event_bus.on(\"entity_created\")")
            && events.contains("async def on_entity_created"),
        "{events}"
    );
    assert!(events.contains("host.entity_list(\"entity_type=character\")"), "{events}");
    assert!(events.contains("host.storage_set(f\"analysis/{entity_id}\""), "{events}");
    assert!(!events.contains("get_db") && !events.contains("PluginDataService"), "{events}");
    let notes = std::fs::read_to_string(scratch.path().join("migrated-py/MIGRATION.md")).expect("notes");
    assert!(notes.contains("`AnalyzeRequest` was a request model"), "{notes}");
    let rust_notes = std::fs::read_to_string(scratch.path().join("migrated-rs/MIGRATION.md")).expect("notes");
    assert!(rust_notes.contains("backend/events.py:14: direct database access"), "{rust_notes}");
}

/// A Bubbledesk module's folder keeps its own build: `plinth build` runs the
/// command of its `plinth-module.json` (here a stand-in for the template's
/// `npm run build -- math` that writes `dist/math.wasm`), and the module it
/// wrote installs and answers by its name without `.wasm`.
#[test]
fn plinth_build_runs_a_legacy_modules_own_build() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let folder = scratch.path().join("math");
    std::fs::create_dir_all(&folder).expect("folder");
    let command = format!("mkdir -p dist && cp {} dist/math.wasm", guests::LEGACY_MATH_WASM);
    let manifest =
        serde_json::json!({ "module": "dist/math.wasm", "build": { "command": command, "watch": ["src"] } });
    std::fs::write(folder.join("plinth-module.json"), manifest.to_string()).expect("module manifest");
    let built = plinth_in(scratch.path(), &["build", "math"]);
    assert!(built.status.success(), "build: {}", text(&built));
    assert!(text(&built).contains("1 plugin build run"), "{}", text(&built));
    let added = plinth_in(scratch.path(), &["legacy", "add", "math/dist/math.wasm", "--data-dir", "data"]);
    assert!(added.status.success(), "add: {}", text(&added));
    let called = plinth_in(
        scratch.path(),
        &["legacy", "call", "math", r#"{"fn":"add","args":[3,5]}"#, "--data-dir", "data"],
    );
    assert!(text(&called).contains(r#"{"ok":true,"value":8}"#), "call: {}", text(&called));

    std::fs::write(
        folder.join("plinth-module.json"),
        r#"{"module": "../out.wasm", "build": {"command": "true"}}"#,
    )
    .expect("a module outside the folder");
    let refused = plinth_in(scratch.path(), &["build", "math"]);
    assert!(!refused.status.success() && text(&refused).contains("inside the folder"), "{}", text(&refused));
}
