//! Isolation: storage scoped per plugin, data that survives a restart, and
//! plugin failures that stay inside the call that caused them.

use plinth_host::{CallError, CallErrorKind, Host, HostConfig, LogLevel, LogSource, Method, RouteRequest};
use plinth_tests::{PluginDir, call_json, example, fresh_host, get_json, guests, shared_compile_cache};
use serde_json::json;

const STORAGE: &[&str] = &["storage_get", "storage_set", "storage_list", "storage_delete"];

#[test]
fn one_plugin_cannot_see_another_plugins_storage() {
    let (_guard, host) = fresh_host();
    let alpha = PluginDir::new("alpha", guests::PROBE_PLUGIN_WASM, STORAGE, json!({}));
    let beta = PluginDir::new("beta", guests::PROBE_PLUGIN_WASM, STORAGE, json!({}));
    host.load_plugin(alpha.path()).expect("load alpha");
    host.load_plugin(beta.path()).expect("load beta");

    call_json(&host, "alpha", RouteRequest::new(Method::Put, "/storage/secret").with_body("alpha's"));
    assert_eq!(get_json(&host, "alpha", "/storage/secret").1, json!({"ok": "alpha's"}));
    assert_eq!(get_json(&host, "beta", "/storage/secret").1, json!({"ok": null}));
    assert_eq!(get_json(&host, "beta", "/keys").1, json!({"ok": []}));

    call_json(&host, "beta", RouteRequest::new(Method::Put, "/storage/secret").with_body("beta's"));
    call_json(&host, "beta", RouteRequest::new(Method::Delete, "/storage/secret"));
    assert_eq!(
        get_json(&host, "alpha", "/storage/secret").1,
        json!({"ok": "alpha's"}),
        "beta's delete stays in beta"
    );
}

/// The pooling allocator resets a returning memory slot in place (dirty pages
/// rewritten from the memory image or zeroed, the rest unmapped) or, with
/// `keep_resident_bytes` 0, unmaps it; either way the next call must start
/// from the component's initial memory, zeroed and image-backed pages alike.
#[test]
fn no_call_sees_the_memory_of_the_call_before() {
    let probe = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({}));
    for keep_resident_bytes in [HostConfig::new("unused").keep_resident_bytes, 0] {
        let data = tempfile::tempdir().expect("temp dir");
        let config = HostConfig {
            keep_resident_bytes,
            compile_cache_dir: Some(shared_compile_cache()),
            ..HostConfig::new(data.path())
        };
        let host = Host::with_config(config).expect("open host");
        assert!(host.pooling_active(), "this test is about pool slots; the pool could not be created");
        host.load_plugin(probe.path()).expect("load probe");
        for call in 0..5 {
            let (status, body) = get_json(&host, "probe", "/leftovers");
            assert_eq!(status, 200, "call {call}: {body}");
            let fresh = json!({"previous_calls": 0, "dirty_bytes": 0, "changed_initial_bytes": 0});
            assert_eq!(body, fresh, "call {call}, keeping {keep_resident_bytes} bytes resident");
        }
    }
}

#[test]
fn data_survives_closing_and_reopening_the_host() {
    let data = tempfile::tempdir().expect("temp dir");
    let entity_id = {
        let host = Host::open(data.path()).expect("open");
        host.load_plugin(example("character-stats")).expect("load");
        host.set_settings(
            "character-stats",
            json!({"analysis_depth": 7}).as_object().cloned().unwrap_or_default(),
        )
        .expect("set");
        host.create_entity("character", json!({"name": "Ada"})).expect("create").entity.id
    };
    let host = Host::open(data.path()).expect("reopen");
    host.load_plugin(example("character-stats")).expect("load again");
    assert_eq!(host.entity(&entity_id).expect("read").map(|e| e.data), Some(json!({"name": "Ada"})));
    let stored = host.storage_get("character-stats", &format!("analysis/{entity_id}")).expect("read");
    assert_eq!(stored.as_deref(), Some(br#"{"related_count":1}"#.as_slice()));
    assert_eq!(get_json(&host, "character-stats", "/stats/character").1["analysis_depth"], 7);
}

#[test]
fn a_failing_hook_never_undoes_the_write() {
    let (_guard, host) = fresh_host();
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, STORAGE, json!({}));
    host.load_plugin(dir.path()).expect("load");
    let write =
        host.create_entity_with_id("x", "character", json!({"fail": true})).expect("the write succeeds");
    assert!(!write.hooks_succeeded());
    let error = write.hooks[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("probe") && error.contains("on-entity-created") && error.contains("refusing entity x"),
        "{error}"
    );
    assert!(host.entity("x").expect("read").is_some(), "the entity is stored");
    assert!(
        host.plugin_log("probe")
            .iter()
            .any(|r| r.source == LogSource::Host && r.message.contains("refusing"))
    );
    assert_eq!(
        host.hook_history().expect("hook history").last().and_then(|h| h.error.clone()).as_deref(),
        Some(error)
    );

    let ok = host.create_entity_with_id("y", "character", json!({})).expect("create");
    assert!(ok.hooks_succeeded());
    assert_eq!(host.storage_get("probe", "seen/y").expect("read").as_deref(), Some(b"character".as_slice()));
    host.delete_entity("y").expect("delete");
    assert_eq!(host.storage_get("probe", "deleted/y").expect("read").as_deref(), Some(b"yes".as_slice()));
}

#[test]
fn traps_and_endless_loops_end_the_call_not_the_host() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = plinth_host::HostConfig::new(data.path());
    config.limits.route_timeout = std::time::Duration::from_millis(200);
    let host = Host::with_config(config).expect("open");
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, STORAGE, json!({}));
    host.load_plugin(dir.path()).expect("load");
    call_json(&host, "probe", RouteRequest::new(Method::Put, "/storage/k").with_body("kept"));

    let trap = host.call_route("probe", RouteRequest::new(Method::Get, "/trap")).expect_err("trap");
    assert!(
        matches!(&trap, CallError { plugin: Some(plugin), kind: CallErrorKind::Trap { .. }, .. } if plugin == "probe"),
        "{trap}"
    );
    assert_eq!(trap.code(), "trap");
    assert!(
        host.plugin_log("probe")
            .iter()
            .any(|r| r.source == LogSource::Stderr && r.message.contains("asked to trap"))
    );

    let timeout = host.call_route("probe", RouteRequest::new(Method::Get, "/loop")).expect_err("loop");
    assert!(
        matches!(&timeout, CallError { kind: CallErrorKind::Timeout { limit_ms: 200, .. }, .. }),
        "{timeout}"
    );
    assert_eq!(timeout.code(), "timeout");

    // The next call gets a fresh instance, and nothing stored was lost.
    assert_eq!(get_json(&host, "probe", "/storage/k").1, json!({"ok": "kept"}));
}

#[test]
fn guest_output_is_captured_into_the_plugin_log() {
    let (_guard, host) = fresh_host();
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({}));
    host.load_plugin(dir.path()).expect("load");
    let response = host.call_route("probe", RouteRequest::new(Method::Get, "/print")).expect("call");
    assert_eq!(response.body, b"printed");
    let log = host.plugin_log("probe");
    let printed = |source, message: &str| log.iter().find(|r| r.source == source && r.message == message);
    assert_eq!(
        printed(LogSource::Stdout, "hello from stdout").map(|r| r.level),
        Some(LogLevel::Info),
        "{log:?}"
    );
    // Stderr is where exceptions and panics go: warn, so `last_errors` shows it.
    assert_eq!(
        printed(LogSource::Stderr, "hello from stderr").map(|r| r.level),
        Some(LogLevel::Warn),
        "{log:?}"
    );
}
