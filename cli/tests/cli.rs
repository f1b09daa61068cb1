//! `plinth inspect`, `check` and `call`, run as processes.

mod common;

use common::plinth;
use plinth_tests::{copy_example, example, guests, write_plugin};
use serde_json::json;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_command_has_help() {
    for command in [
        &["--help"][..],
        &["serve", "--help"],
        &["inspect", "--help"],
        &["check", "--help"],
        &["call", "--help"],
        &["pack", "--help"],
        &["install", "--help"],
        &["uninstall", "--help"],
        &["search", "--help"],
        &["demo", "--help"],
    ] {
        let output = plinth(command);
        assert!(output.status.success(), "{command:?}");
        // Each help is its own command's, not the top level's.
        let usage = match command[0] {
            "--help" => "Usage: plinth [OPTIONS] <COMMAND>".to_string(),
            name => format!("Usage: plinth {name} "),
        };
        assert!(stdout(&output).contains(&usage), "{command:?}: {}", stdout(&output));
    }
}

#[test]
fn inspect_prints_the_world_imports_exports_and_grant_gaps() {
    let output = plinth(&["inspect", example("audit-trail").to_str().expect("path")]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("world root"), "{text}");
    assert!(text.contains("built against: plinth:plugin@0.3.0 (supported"), "{text}");
    assert!(text.contains("export plinth:plugin/events@0.3.0;"), "{text}");
    assert!(text.contains("plinth:plugin/storage@0.3.0: get, set, delete, list-keys"), "{text}");
    assert!(text.contains("used but not granted: none"), "{text}");

    // The probe imports everything; grant it one function and leave another unused.
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({"id": "probe", "name": "Probe", "version": "1", "wasm": {"module": "plugin.wasm"},
        "capabilities": {"host_functions": ["log"]}});
    let dir = write_plugin(
        plugins.path(),
        "probe",
        &manifest,
        &std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe"),
    );
    let text = stdout(&plinth(&["inspect", dir.to_str().expect("path")]));
    assert!(text.contains("granted and used:     log"), "{text}");
    assert!(text.contains("used but not granted: entity_read, entity_list, storage_get"), "{text}");

    // A bare .wasm works too.
    let bare = plinth(&["inspect", guests::WORD_COUNT_WIDGET_WASM]);
    assert!(stdout(&bare).contains("export plinth:plugin/field-widget@0.3.0;"), "{}", stdout(&bare));
}

#[test]
fn check_passes_good_plugins_and_lists_every_problem_of_bad_ones() {
    let good = plinth(&["check", example("character-stats").to_str().expect("path")]);
    assert!(good.status.success(), "{}", stdout(&good));
    assert!(stdout(&good).contains("route GET /stats/{entity_type}"));

    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({"id": "probe", "name": "Probe", "version": "1", "wasm": {"module": "plugin.wasm"},
        "capabilities": {"host_functions": ["log", "storage_list"]}});
    let dir = write_plugin(
        plugins.path(),
        "probe",
        &manifest,
        &std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe"),
    );
    let warned = plinth(&["check", dir.to_str().expect("path")]);
    let text = stdout(&warned);
    assert!(warned.status.success(), "warnings alone pass: {text}");
    assert!(text.contains("warning:") && text.contains("`storage_set`"), "{text}");

    let bad_manifest = json!({"id": "bad", "name": "Bad", "version": "1", "wasm": {"module": "plugin.wasm"},
        "capabilities": {"host_functions": ["teleport"]}});
    let bad = write_plugin(plugins.path(), "bad", &bad_manifest, b"\0asm\x01\0\0\0");
    let failed = plinth(&["check", bad.to_str().expect("path")]);
    assert!(!failed.status.success());
    assert!(stdout(&failed).contains("capabilities.host_functions[0]"), "{}", stdout(&failed));

    let core = write_plugin(
        plugins.path(),
        "core",
        &json!({"id": "core", "name": "C", "version": "1", "wasm": {"module": "plugin.wasm"}}),
        b"\0asm\x01\0\0\0",
    );
    let failed = plinth(&["check", core.to_str().expect("path")]);
    assert!(!failed.status.success());
    assert!(stdout(&failed).contains("cannot become a component"), "{}", stdout(&failed));
}

#[test]
fn call_runs_one_route_without_a_server() {
    let ok = plinth(&["call", example("character-stats").to_str().expect("path"), "GET", "/stats/character"]);
    let text = stdout(&ok);
    assert!(ok.status.success(), "{text}");
    assert!(text.starts_with("200\n"), "{text}");
    assert!(text.contains(r#"{"analysis_depth":3,"count":0,"entity_type":"character"}"#), "{text}");

    let data = tempfile::tempdir().expect("temp dir");
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = copy_example("character-stats", plugins.path());
    let posted = plinth(&[
        "call",
        dir.to_str().expect("path"),
        "POST",
        "/analyze",
        "--body",
        r#"{"entity_type":"character"}"#,
        "--data-dir",
        data.path().to_str().expect("path"),
    ]);
    assert!(stdout(&posted).contains(r#"{"analyzed":0}"#), "{}", stdout(&posted));
    assert!(data.path().join(plinth_host::DATABASE_FILE).is_file(), "--data-dir holds the database");

    let missing = plinth(&["call", dir.to_str().expect("path"), "GET", "/nowhere"]);
    assert!(!missing.status.success());
    assert!(stdout(&missing).starts_with("404\n"), "{}", stdout(&missing));
}

#[test]
fn call_fires_a_hook_and_runs_a_widget_without_a_server() {
    let audit = example("audit-trail");
    let audit = audit.to_str().expect("path");
    let created = plinth(&["call", audit, "hook", "created", "character", "--body", r#"{"name":"Ada"}"#]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(stdout(&created).starts_with("on-entity-created: ok ("), "{}", stdout(&created));
    for event in ["updated", "deleted"] {
        let fired = plinth(&["call", audit, "hook", event, "character"]);
        assert!(fired.status.success(), "{event}: {}", String::from_utf8_lossy(&fired.stderr));
        assert!(stdout(&fired).starts_with(&format!("on-entity-{event}: ok")), "{}", stdout(&fired));
    }

    // A failing hook fails the command and shows the plugin's error.
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({ "id": "probe", "name": "probe", "version": "1.0.0", "wasm": { "module": "plugin.wasm" },
        "capabilities": { "host_functions": ["storage_set"] } });
    let bytes = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe");
    let probe = write_plugin(plugins.path(), "probe", &manifest, &bytes);
    let failed = plinth(&[
        "call",
        probe.to_str().expect("path"),
        "hook",
        "created",
        "thing",
        "--body",
        r#"{"fail":true}"#,
    ]);
    assert!(!failed.status.success());
    assert!(stdout(&failed).contains("on-entity-created: failed"), "{}", stdout(&failed));
    assert!(stdout(&failed).contains("refusing entity"), "{}", stdout(&failed));

    // Widgets: render prints HTML with the configuration given; validate
    // prints the problems and fails when there are some.
    let widget = example("word-count-widget");
    let widget = widget.to_str().expect("path");
    let rendered =
        plinth(&["call", widget, "widget", "render", "word-count", "--body", r#""one two three""#]);
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    assert!(stdout(&rendered).contains("3 / 200 words"), "{}", stdout(&rendered));
    let valid = plinth(&["call", widget, "widget", "validate", "word-count", "--body", r#""a few words""#]);
    assert!(valid.status.success());
    assert_eq!(stdout(&valid).trim(), "[]");
    let long = format!("\"{}\"", "word ".repeat(201));
    let invalid = plinth(&["call", widget, "widget", "validate", "word-count", "--body", &long]);
    assert!(!invalid.status.success());
    assert!(stdout(&invalid).contains("201 words is more than the maximum of 200"), "{}", stdout(&invalid));

    // Mistakes are named.
    let no_events = plinth(&["call", widget, "hook", "created", "character"]);
    assert!(!no_events.status.success());
    assert!(String::from_utf8_lossy(&no_events.stderr).contains("does not export plinth:plugin/events"));
    let unknown = plinth(&["call", widget, "widget", "validate", "nope", "--body", "1"]);
    assert!(!unknown.status.success());
    assert!(stdout(&unknown).starts_with("unknown_widget"), "{}", stdout(&unknown));
}

#[test]
fn legacy_commands_install_list_call_run_and_remove() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().to_str().expect("path");
    let added = plinth(&["legacy", "add", guests::LEGACY_MATH_WASM, "--data-dir", data_dir]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert!(data.path().join("_external_modules/math.wasm").is_file());
    assert!(stdout(&plinth(&["legacy", "list", "--data-dir", data_dir])).starts_with("math.wasm\t"));

    let call =
        plinth(&["legacy", "call", "math.wasm", r#"{"fn":"add","args":[3,5]}"#, "--data-dir", data_dir]);
    assert!(call.status.success());
    assert_eq!(stdout(&call), "{\"ok\":true,\"value\":8}\n");
    let failed =
        plinth(&["legacy", "call", "math.wasm", r#"{"fn":"div","args":[1,0]}"#, "--data-dir", data_dir]);
    assert!(!failed.status.success(), "ok:false exits non-zero");
    assert!(stdout(&failed).contains("division by zero"));

    let mut run = std::process::Command::new(common::PLINTH)
        .args(["legacy", "run", guests::LEGACY_PROBE_WASM, "--timeout", "0.3"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(&mut run.stdin.take().expect("stdin"), br#"{"fn":"loop"}"#)
        .expect("write stdin");
    let output = run.wait_with_output().expect("wait");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("300 ms time limit"), "{output:?}");

    let removed = plinth(&["legacy", "remove", "math.wasm", "--data-dir", data_dir]);
    assert!(removed.status.success());
    let gone = plinth(&["legacy", "call", "math.wasm", "{}", "--data-dir", data_dir]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no legacy module `math.wasm`"));
}
