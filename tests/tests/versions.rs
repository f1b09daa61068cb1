//! WIT versions: components built against the frozen `plinth:plugin@0.1.0`
//! and 0.2.0 run side by side with the newest in one host; 0.2.0's
//! `storage.increment` is atomic and granted like every host function; a
//! component naming a version the host does not know is refused.

use plinth_host::{LoadError, LogLevel, LogSource, Method, RouteRequest};
use plinth_tests::guests::{PROBE_PLUGIN_WASM, V0_1_PLUGIN_WASM, V0_2_PLUGIN_WASM};
use plinth_tests::{PluginDir, call_json, fresh_host, get_json};
use serde_json::json;

const CALLS: usize = 24;

fn old_plugin() -> PluginDir {
    PluginDir::new("old", V0_1_PLUGIN_WASM, &["storage_get", "storage_set", "entity_list", "log"], json!({}))
}

fn probe(grants: &[&str]) -> PluginDir {
    PluginDir::new("probe", PROBE_PLUGIN_WASM, grants, json!({ "limits": { "max_concurrent": CALLS * 2 } }))
}

#[test]
fn a_0_1_0_a_0_2_0_and_a_0_3_0_component_run_side_by_side() {
    let (_data, host) = fresh_host();
    let (old, new) = (
        old_plugin(),
        PluginDir::new(
            "v02",
            V0_2_PLUGIN_WASM,
            &["storage_get", "storage_increment", "entity_list", "log"],
            json!({}),
        ),
    );
    let newest = probe(&["storage_get", "storage_set", "storage_increment"]);
    let old_info = host.load_plugin(old.path()).expect("the 0.1.0 component loads");
    let new_info = host.load_plugin(new.path()).expect("the 0.2.0 component loads");
    let newest_info = host.load_plugin(newest.path()).expect("the 0.3.0 component loads");
    assert_eq!(
        (old_info.wit_version, new_info.wit_version, newest_info.wit_version),
        ("0.1.0", "0.2.0", "0.3.0")
    );
    assert_eq!(old_info.exports, ["events", "routes"]);

    // Its hook (0.1.0 events export, 0.1.0 storage imports) runs on every write.
    for team in ["red", "red", "blue"] {
        let write = host.create_entity("character", json!({ "team": team })).expect("create");
        assert!(write.hooks_succeeded(), "{:?}", write.hooks);
    }
    // Its route (0.1.0 routes export; entities with a filter, logging).
    let (status, body) = get_json(&host, "old", "/summary/character");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "created": 3, "red": 2, "version": "0.1.0" }));
    let log = host.plugin_log("old");
    assert!(
        log.iter().any(|r| r.level == LogLevel::Warn
            && r.source == LogSource::Plugin
            && r.message == "summary asked"),
        "{log:?}"
    );
    // The 0.2.0 component, in the same host, uses what 0.2.0 added, as the newest does.
    let (status, body) = call_json(&host, "v02", RouteRequest::new(Method::Post, "/increment/n?by=5"));
    assert_eq!((status, body), (200, json!({ "ok": 5 })));
    let (status, body) = call_json(&host, "probe", RouteRequest::new(Method::Post, "/increment/n?by=2"));
    assert_eq!((status, body), (200, json!({ "ok": 2 })));
    assert_eq!(get_json(&host, "v02", "/count/character"), (200, json!({ "ok": 3 })), "0.2.0's entities");
    assert!(
        host.plugin_log("v02").iter().any(|r| r.message == "counted by the 0.2.0 plugin"),
        "0.2.0's logging"
    );
    // Storage stays private per plugin across versions: each sees only its own key.
    assert_eq!(host.storage_get("old", "created").expect("read").as_deref(), Some(&b"3"[..]));
    assert_eq!(host.storage_get("v02", "n").expect("read").as_deref(), Some(&b"5"[..]));
    assert_eq!(host.storage_get("old", "n").expect("read"), None);
    let (_, from_v02) = get_json(&host, "v02", "/storage/created");
    assert_eq!(from_v02, json!({ "ok": null }), "the 0.2.0 plugin cannot read the 0.1.0 plugin's key");
    assert_eq!(
        get_json(&host, "v02", "/storage/n").1,
        json!({ "ok": "5" }),
        "its own `n`, not the 0.3.0 one's"
    );
}

#[test]
fn concurrent_increments_lose_no_count() {
    let (_data, host) = fresh_host();
    let plugin = probe(&["storage_get", "storage_increment"]);
    host.load_plugin(plugin.path()).expect("load probe");
    let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..CALLS)
            .map(|_| {
                let host = &host;
                scope.spawn(move || {
                    call_json(
                        host,
                        "probe",
                        RouteRequest::new(Method::Post, "/increment/hits?by=2&spin_ms=5"),
                    )
                })
            })
            .collect();
        calls.into_iter().map(|call| call.join().expect("a call thread")).collect()
    });
    let mut seen: Vec<i64> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["ok"].as_i64().unwrap_or_else(|| panic!("an increment failed: {body}"))
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=CALLS as i64).map(|i| i * 2).collect::<Vec<_>>(), "each call saw its own count");
    // Stored as decimal text, so `get` reads it too.
    let stored = host.storage_get("probe", "hits").expect("read").expect("stored");
    assert_eq!(String::from_utf8(stored).expect("utf-8"), (CALLS * 2).to_string());
    let (_, read) = get_json(&host, "probe", "/storage/hits");
    assert_eq!(read, json!({ "ok": (CALLS * 2).to_string() }));
}

#[test]
fn increment_refuses_what_is_not_a_counter_and_needs_its_grant() {
    let (_data, host) = fresh_host();
    let plugin = probe(&["storage_get", "storage_set", "storage_increment"]);
    host.load_plugin(plugin.path()).expect("load probe");
    let post = |path: &str| call_json(&host, "probe", RouteRequest::new(Method::Post, path)).1;
    let put = |key: &str, value: &str| {
        host.call_route("probe", RouteRequest::new(Method::Put, &format!("/storage/{key}")).with_body(value))
            .expect("put")
    };

    put("word", "hello");
    let answer = post("/increment/word");
    assert_eq!(answer["error"]["kind"], "invalid-input", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or("").contains("not a decimal integer"), "{answer}");
    assert_eq!(host.storage_get("probe", "word").expect("read").as_deref(), Some(&b"hello"[..]));

    put("big", &i64::MAX.to_string());
    let answer = post("/increment/big");
    assert_eq!(answer["error"]["kind"], "invalid-input", "{answer}");
    assert_eq!(post("/increment/big?by=-1"), json!({ "ok": i64::MAX - 1 }));
    assert_eq!(post("/increment/fresh?by=-3"), json!({ "ok": -3 }));

    // Without the grant: `denied`, named in the plugin's log, nothing stored.
    let (_data, host) = fresh_host();
    let plugin = probe(&["storage_get", "storage_set"]);
    host.load_plugin(plugin.path()).expect("load probe");
    let (_, answer) = call_json(&host, "probe", RouteRequest::new(Method::Post, "/increment/n"));
    assert_eq!(answer["error"]["kind"], "denied", "{answer}");
    assert!(host.plugin_log("probe").iter().any(|r| r.message.contains("storage_increment")));
    assert_eq!(host.storage_get("probe", "n").expect("read"), None);
}

#[test]
fn a_component_built_against_an_unknown_version_is_refused_naming_the_known_ones() {
    let (_data, host) = fresh_host();
    let bytes = wat::parse_str(
        r#"(component
            (import "plinth:plugin/storage@0.9.0" (instance))
            (import "plinth:plugin/logging@0.1.0" (instance)))"#,
    )
    .expect("valid component text");
    let manifest =
        json!({ "id": "future", "name": "future", "version": "1.0.0", "wasm": { "module": "plugin.wasm" } });
    let plugin = PluginDir::raw(&manifest.to_string(), &bytes);
    let error = host.load_plugin(plugin.path()).expect_err("an unknown version is refused");
    assert!(
        matches!(&error, LoadError::UnsupportedVersion { versions, .. } if versions == &["0.9.0"]),
        "{error:?}"
    );
    let text = error.to_string();
    for expected in ["plugin `future`", "plinth:plugin@0.9.0", "0.1.0, 0.2.0, 0.3.0", "wit/0.3.0"] {
        assert!(text.contains(expected), "{expected:?} missing from: {text}");
    }
}
