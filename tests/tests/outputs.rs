//! Every plugin output the host keeps or forwards is bounded, a plugin's
//! answer must be valid HTTP, plugin text cannot forge log lines, loading is
//! bounded, and duplicate ids are refused. Guests built from source (the probe).

use plinth_host::{
    CallError, CallErrorKind, FieldContext, Host, HostConfig, LoadError, LogSource, Method, RouteRequest,
};
use plinth_tests::{PluginDir, guests};
use serde_json::{Value, json};

fn host() -> (tempfile::TempDir, Host) {
    let data = tempfile::tempdir().expect("temp dir");
    let host = Host::with_config(HostConfig::new(data.path())).expect("open host");
    (data, host)
}

fn probe(extra: Value) -> PluginDir {
    PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &["log", "setting_get"], extra)
}

fn loaded(extra: Value) -> (tempfile::TempDir, Host, PluginDir) {
    let (data, host) = host();
    let dir = probe(extra);
    host.load_plugin(dir.path()).expect("load the probe");
    (data, host, dir)
}

fn get(host: &Host, path: &str) -> Result<plinth_host::RouteResponse, CallError> {
    host.call_route("probe", RouteRequest::new(Method::Get, path))
}

fn invalid_response(result: Result<plinth_host::RouteResponse, CallError>) -> String {
    match result {
        Err(CallError { kind: CallErrorKind::InvalidResponse { problem }, .. }) => problem,
        other => panic!("expected an invalid response, got {other:?}"),
    }
}

#[test]
fn statuses_outside_200_to_599_are_invalid_responses() {
    let (_d, host, _p) = loaded(json!({}));
    for code in [0, 101, 199, 600, 999] {
        let problem = invalid_response(get(&host, &format!("/status/{code}")));
        assert!(problem.contains(&format!("status {code}")), "{problem}");
    }
    for code in [200, 204, 418, 599] {
        assert_eq!(get(&host, &format!("/status/{code}")).expect("valid status").status, code);
    }
}

#[test]
fn headers_count_toward_the_response_limit_and_their_number_is_capped() {
    let (_d, host, _p) = loaded(json!({ "limits": { "response_kb": 1024 } }));
    // 40,000 distinct names once panicked the server's response builder.
    let problem = invalid_response(get(&host, "/headers?count=40000&bytes=1"));
    assert!(problem.contains("40001 headers, over the limit of 100"), "{problem}");
    // One 2 MiB value: headers and body together are over 1 MiB.
    match get(&host, "/headers?count=1&bytes=2097152") {
        Err(CallError { kind: CallErrorKind::ResponseTooLarge { size, limit: 1_048_576 }, .. }) => {
            assert!(size > 2 << 20, "{size}")
        }
        other => panic!("expected too large, got {other:?}"),
    }
    let fine = get(&host, "/headers?count=99&bytes=100").expect("100 small headers");
    assert_eq!(fine.headers.len(), 100, "99 headers and the content type");
}

#[test]
fn a_plugin_error_message_is_cut_and_cannot_break_lines() {
    let (_d, host, _p) = loaded(json!({ "limits": { "memory_mb": 256 } }));
    let error = get(&host, "/error?bytes=33554432").expect_err("the plugin's error");
    let CallErrorKind::Guest(guest) = &error.kind else { panic!("expected the plugin's error: {error}") };
    let message = guest.message();
    assert!(message.len() < 4200, "{} bytes kept", message.len());
    assert!(message.contains("more bytes cut"), "the cut is noted");
    assert!(!message.contains('\n') && message.contains("first line\\nforged line"), "{}", &message[..60]);
    assert!(error.to_string().len() < 4400);
}

#[test]
fn a_trap_gives_the_caller_a_short_message_and_the_log_the_details() {
    let (_d, host, _p) = loaded(json!({}));
    let error = get(&host, "/trap").expect_err("trap");
    let CallErrorKind::Trap { message } = &error.kind else { panic!("expected a trap: {error}") };
    assert!(message.starts_with("wasm trap"), "{message}");
    assert!(!message.contains("backtrace"), "{message}");
    let details = host
        .plugin_log("probe")
        .into_iter()
        .any(|r| r.source == LogSource::Host && r.message.contains("backtrace"));
    assert!(details, "the operator gets the backtrace in the plugin log");
}

#[test]
fn widget_output_is_bounded() {
    let (_d, host, _p) = loaded(json!({ "limits": { "response_kb": 1024, "memory_mb": 512 } }));
    let huge = FieldContext { field_name: "huge".into(), value: json!("x"), ..Default::default() };
    match host.render_widget("plugin:probe:shout", &huge) {
        Err(CallError { kind: CallErrorKind::ResponseTooLarge { size, limit: 1_048_576 }, .. }) => {
            assert_eq!(size, 100 << 20)
        }
        other => panic!("expected too large, got {other:?}"),
    }
    let messages = host.validate_widget("plugin:probe:shout", &json!(1000)).expect("validate");
    assert_eq!(messages.len(), 101, "100 messages and a note");
    assert!(messages[..100].iter().all(|m| m.len() < 1100), "each message cut");
    assert_eq!(messages[100], "… and 900 more messages");
}

#[test]
fn too_many_routes_are_refused_at_load() {
    let (_d, host) = host();
    let settings = json!({ "init": { "type": "string", "default": "no" }, "routes": { "type": "integer", "default": 5000 } });
    let many = probe(json!({ "capabilities": { "host_functions": ["setting_get"], "settings": settings } }));
    match host.load_plugin(many.path()) {
        Err(LoadError::Invalid { problem, .. }) => assert!(problem.contains("at most 1000"), "{problem}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let settings = json!({ "init": { "type": "string", "default": "no" }, "routes": { "type": "integer", "default": 900 } });
    let fine = probe(json!({ "capabilities": { "host_functions": ["setting_get"], "settings": settings } }));
    let info = host.load_plugin(fine.path()).expect("900 extra routes load");
    assert_eq!(info.routes.iter().filter(|route| route.path.starts_with("/r/")).count(), 900);
    assert_eq!(get(&host, "/r/899").expect("a late route").body, b"/r/899");
}

#[test]
fn folders_that_share_an_id_are_all_refused() {
    let (_d, host) = host();
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest =
        json!({ "id": "twin", "name": "twin", "version": "0.1.0", "wasm": { "module": "plugin.wasm" } });
    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe");
    let first = plinth_tests::write_plugin(plugins.path(), "a-twin", &manifest, &component);
    let second = plinth_tests::write_plugin(plugins.path(), "b-twin", &manifest, &component);
    for _ in 0..2 {
        let loaded = host.load_plugins_in(plugins.path()).expect("read folder");
        assert_eq!(loaded.len(), 2);
        for (_, result) in &loaded {
            match result {
                Err(LoadError::DuplicateId { plugin, dirs }) => {
                    assert_eq!(
                        (plugin.as_str(), dirs.as_slice()),
                        ("twin", [first.clone(), second.clone()].as_slice())
                    )
                }
                other => panic!("expected a duplicate id, got {other:?}"),
            }
        }
        assert!(host.plugin("twin").is_none());
        assert_eq!(host.failed_loads().len(), 2);
    }
}
