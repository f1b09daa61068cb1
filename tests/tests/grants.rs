//! Grants: a plugin reaches exactly the host functions its manifest lists.
//! Anything else is a typed `denied` error for the guest and a log record.

use plinth_host::{LogSource, Method, RouteRequest};
use plinth_tests::{PluginDir, fresh_host, get_json, guests};
use serde_json::json;

fn probe(host_functions: &[&str]) -> PluginDir {
    PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, host_functions, json!({}))
}

#[test]
fn ungranted_calls_are_denied_and_logged() {
    let (_guard, host) = fresh_host();
    let dir = probe(&["storage_get"]);
    host.load_plugin(dir.path()).expect("load");

    let put = RouteRequest::new(Method::Put, "/storage/k").with_body("v");
    let (status, body) = plinth_tests::call_json(&host, "probe", put);
    assert_eq!(status, 200, "a denied call is an error the guest handles, not a trap");
    assert_eq!(body["error"]["kind"], "denied");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("storage_set") && message.contains("plugin.json"), "{message}");
    assert_eq!(host.storage_get("probe", "k").expect("read"), None, "nothing was stored");

    let denial = host
        .plugin_log("probe")
        .into_iter()
        .find(|r| r.source == LogSource::Host && r.message.contains("storage_set"))
        .expect("the denial is logged");
    assert_eq!(denial.plugin_id, "probe");

    // The granted call works.
    assert_eq!(get_json(&host, "probe", "/storage/k").1, json!({"ok": null}));
}

/// Ungranted calls made by a real guest, one per grant the probe can reach;
/// the host's own `every_host_function_refuses_a_plugin_without_its_grant`
/// walks the whole table without a guest.
#[test]
fn ungranted_calls_from_a_guest_are_denied() {
    let (_guard, host) = fresh_host();
    let dir = probe(&[]);
    host.load_plugin(dir.path()).expect("load");
    host.create_entity_with_id("e1", "character", json!({})).expect("create");
    let calls = [
        (Method::Get, "/storage/k", "storage_get"),
        (Method::Put, "/storage/k", "storage_set"),
        (Method::Delete, "/storage/k", "storage_delete"),
        (Method::Get, "/keys", "storage_list"),
        (Method::Get, "/entity/e1", "entity_read"),
        (Method::Get, "/entities?q=entity_type%3Dcharacter", "entity_list"),
        (Method::Get, "/setting/x", "setting_get"),
        (Method::Post, "/log", "log"),
    ];
    for (method, path, grant) in calls {
        let (_, body) = plinth_tests::call_json(&host, "probe", RouteRequest::new(method, path));
        assert_eq!(body["error"]["kind"], "denied", "{path} without {grant}: {body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains(grant), "{body}");
    }
}

#[test]
fn granted_calls_reach_entities_settings_and_log() {
    let (_guard, host) = fresh_host();
    let all = [
        "entity_read",
        "entity_list",
        "storage_get",
        "storage_set",
        "storage_delete",
        "storage_list",
        "setting_get",
        "log",
    ];
    let settings = json!({"capabilities": {"host_functions": all, "settings": {"mood": {"type": "string", "default": "calm"}}}});
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &all, settings);
    host.load_plugin(dir.path()).expect("load");
    host.create_entity_with_id("ada", "character", json!({"name": "Ada", "level": 3})).expect("create");
    host.create_entity_with_id("bo", "character", json!({"name": "Bo", "level": 4})).expect("create");
    host.create_entity_with_id("port", "location", json!({"name": "Port"})).expect("create");

    assert_eq!(
        get_json(&host, "probe", "/entity/ada").1["ok"]["data"],
        json!({"name": "Ada", "level": 3}).to_string()
    );
    assert_eq!(get_json(&host, "probe", "/entity/nobody").1["error"]["kind"], "not-found");
    assert_eq!(get_json(&host, "probe", "/entities?q=entity_type%3Dcharacter").1["ok"], json!(["ada", "bo"]));
    assert_eq!(
        get_json(&host, "probe", "/entities?q=entity_type%3Dcharacter%26level%3D4").1["ok"],
        json!(["bo"])
    );
    assert_eq!(get_json(&host, "probe", "/entities?q=limit%3D1%26offset%3D2").1["ok"], json!(["port"]));
    assert_eq!(get_json(&host, "probe", "/entities?q=limit%3Dmany").1["error"]["kind"], "invalid-input");

    assert_eq!(get_json(&host, "probe", "/setting/mood").1["ok"], "\"calm\"");
    assert_eq!(get_json(&host, "probe", "/setting/undeclared").1["error"]["kind"], "not-found");

    let (_, body) = plinth_tests::call_json(
        &host,
        "probe",
        RouteRequest::new(Method::Post, "/log").with_body("hello host"),
    );
    assert_eq!(body, json!({"ok": null}));
    let record = host.plugin_log("probe").into_iter().find(|r| r.message == "hello host").expect("logged");
    assert_eq!(record.source, LogSource::Plugin);
}
