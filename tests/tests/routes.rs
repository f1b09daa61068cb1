//! Routes: what the plugin receives and what the caller gets back.

use plinth_host::{CallError, CallErrorKind, Method, RouteRequest};
use plinth_tests::{PluginDir, fresh_host, guests};
use serde_json::json;

#[test]
fn requests_carry_params_query_headers_body_and_responses_come_back_whole() {
    let (_guard, host) = fresh_host();
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({}));
    let info = host.load_plugin(dir.path()).expect("load");
    assert!(info.routes.iter().any(|r| r.method == "POST" && r.path == "/echo/{name}"));
    assert_eq!(info.exports, ["events", "routes", "field-widget"]);

    let request = RouteRequest::new(Method::Post, "/echo/two%20words?tag=a%26b&tag=second")
        .with_header("X-Probe", "present")
        .with_json(&json!({"n": 1}));
    let response = host.call_route("probe", request).expect("call");
    assert_eq!(response.status, 201);
    assert_eq!(response.header("x-probe-reply"), Some("yes"));
    assert_eq!(
        response.json().expect("json"),
        json!({"name": "two words", "path": "/echo/two%20words", "tag": "a&b", "header": "present", "body": {"n": 1}})
    );
}

#[test]
fn unknown_paths_wrong_methods_and_plugin_errors_map_to_statuses() {
    let (_guard, host) = fresh_host();
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({}));
    host.load_plugin(dir.path()).expect("load");

    let missing = host.call_route("probe", RouteRequest::new(Method::Get, "/nowhere")).expect_err("404");
    assert!(matches!(missing, CallError { kind: CallErrorKind::RouteNotFound { .. }, .. }));
    assert_eq!(missing.code(), "route_not_found");

    let wrong = host.call_route("probe", RouteRequest::new(Method::Get, "/echo/x")).expect_err("405");
    assert!(
        matches!(&wrong, CallError { kind: CallErrorKind::MethodNotAllowed { allowed, .. }, .. } if allowed == "POST"),
        "{wrong}"
    );
    assert_eq!(wrong.code(), "method_not_allowed");

    let bad =
        host.call_route("probe", RouteRequest::new(Method::Post, "/echo/x").with_body("{")).expect_err("400");
    assert!(
        matches!(
            &bad,
            CallError { kind: CallErrorKind::Guest(plinth_host::GuestError::InvalidInput(_)), .. }
        ),
        "{bad}"
    );
    assert_eq!(bad.code(), "plugin_invalid_input");

    let nobody = host.call_route("nobody", RouteRequest::new(Method::Get, "/")).expect_err("unknown plugin");
    assert!(matches!(nobody, CallError { kind: CallErrorKind::UnknownPlugin, .. }));
}

#[test]
fn widgets_of_a_test_guest_get_their_context() {
    let (_guard, host) = fresh_host();
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({}));
    host.load_plugin(dir.path()).expect("load");
    let context =
        plinth_host::FieldContext { field_name: "title".into(), value: json!("hi"), ..Default::default() };
    assert_eq!(host.render_widget("plugin:probe:shout", &context).expect("render"), "<b>title=\"HI\"</b>");
    let unimplemented = host.validate_widget("plugin:probe:shout", &json!("x")).expect_err("not a number");
    assert!(
        matches!(
            &unimplemented,
            CallError { kind: CallErrorKind::Guest(plinth_host::GuestError::NotFound(_)), .. }
        ),
        "{unimplemented}"
    );
}
