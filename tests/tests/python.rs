//! `character-stats-py`: the same plugin written in Python (componentize-py),
//! through the same WIT, passing the same behaviour tests as its Rust twin.

use plinth_host::{Host, Method, RouteRequest};
use plinth_tests::{call_json, example, fresh_host, get_json, guest_built, guests};
use serde_json::json;

fn stored(host: &Host, key: &str) -> serde_json::Value {
    let bytes =
        host.storage_get("character-stats-py", key).expect("read").unwrap_or_else(|| panic!("no {key}"));
    serde_json::from_slice(&bytes).expect("JSON")
}

#[test]
fn the_python_hook_stores_the_analysis() {
    if !guest_built(guests::CHARACTER_STATS_PY) {
        return;
    }
    let (_data, host) = fresh_host();
    let info = host.load_plugin(example("character-stats-py")).expect("load the Python plugin");
    assert_eq!(info.exports, ["events", "routes"]);
    let first = host.create_entity("character", json!({"name": "Ada"})).expect("create");
    assert!(first.hooks_succeeded(), "{:?}", first.hooks);
    host.create_entity("location", json!({"name": "Harbor"})).expect("create");
    let third = host.create_entity("character", json!({"name": "Bo"})).expect("create");
    assert_eq!(stored(&host, &format!("analysis/{}", first.entity.id)), json!({"related_count": 1}));
    assert_eq!(stored(&host, &format!("analysis/{}", third.entity.id)), json!({"related_count": 2}));
}

#[test]
fn the_python_routes_answer_like_the_rust_ones() {
    if !guest_built(guests::CHARACTER_STATS_PY) {
        return;
    }
    let (_data, host) = fresh_host();
    host.load_plugin(example("character-stats-py")).expect("load");
    for name in ["Ada", "Bo", "Cy"] {
        host.create_entity("character", json!({ "name": name })).expect("create");
    }
    host.create_entity("location", json!({"name": "Harbor"})).expect("create");
    let response = host
        .call_route("character-stats-py", RouteRequest::new(Method::Get, "/stats/character"))
        .expect("call");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.json().expect("json"),
        json!({"entity_type": "character", "count": 3, "analysis_depth": 3})
    );

    host.set_settings(
        "character-stats-py",
        json!({"analysis_depth": 5}).as_object().cloned().unwrap_or_default(),
    )
    .expect("set");
    assert_eq!(get_json(&host, "character-stats-py", "/stats/location").1["analysis_depth"], 5);

    let request = RouteRequest::new(Method::Post, "/analyze").with_json(&json!({"entity_type": "character"}));
    assert_eq!(call_json(&host, "character-stats-py", request), (200, json!({"analyzed": 3})));
    let bad =
        host.call_route("character-stats-py", RouteRequest::new(Method::Post, "/analyze").with_body("nope"));
    assert_eq!(bad.expect_err("invalid body").code(), "plugin_invalid_input");
    assert!(host.plugin_log("character-stats-py").iter().any(|r| r.message == "analyzed 3 character"));
}

/// The migration guide's "Before (Python)" plugin, ported with the fewest
/// changes (`example-plugins/my-plugin`: `@event_bus.on`, `APIRouter`, async
/// handlers, `host.*` in place of the database): its manifest is the guide's
/// (no name or version), it loads, and it passes its cases.
#[test]
fn the_guides_python_plugin_runs_with_the_fewest_changes() {
    if !guest_built(guests::MY_PLUGIN_PY) {
        return;
    }
    let (_data, host) = fresh_host();
    let info = host.load_plugin(example("my-plugin")).expect("load the guide's plugin");
    assert_eq!((info.name.as_str(), info.version.as_str()), ("my-plugin", "0.0.0"));
    assert_eq!(info.exports, ["events", "routes"]);
    let open = |config: plinth_host::HostConfig| -> anyhow::Result<Host> {
        let config = plinth_host::HostConfig {
            compile_cache_dir: Some(plinth_tests::shared_compile_cache()),
            ..config
        };
        Ok(Host::with_config(config)?)
    };
    assert!(plinth_test::cases::run(&example("my-plugin"), &open).expect("run the cases"));
    // A body that cannot build the request model is invalid input (FastAPI's 422).
    let request = RouteRequest::new(Method::Post, "/analyze").with_body(b"[1, 2]".to_vec());
    let error = host.call_route("my-plugin", request).expect_err("a list is not the model");
    assert_eq!(error.code(), "plugin_invalid_input", "{error}");
}
