//! `plinth serve`, spawned as a process and driven over HTTP on loopback.

mod common;

use common::Server;
use plinth_tests::{copy_example, guests, rust_examples, write_plugin};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[test]
fn serves_the_examples_end_to_end() {
    let plugins = rust_examples();
    let server = Server::start(plugins.path(), &[]);
    assert_eq!(server.get("/healthz"), (200, json!({"status": "ok", "plugins": 3})));

    let (status, plugins) = server.get("/api/plugins");
    assert_eq!(status, 200);
    let ids: Vec<&str> =
        plugins["plugins"].as_array().expect("list").iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(ids, ["audit-trail", "character-stats", "word-count-widget"]);
    let (_, stats) = server.get("/api/plugins/character-stats");
    assert_eq!(stats["status"], "loaded");
    assert_eq!(stats["exports"], json!(["events", "routes"]));
    assert!(stats["host_functions"].as_array().is_some_and(|g| g.contains(&json!("entity_list"))));
    assert_eq!(
        stats["routes"][0],
        json!({"method": "GET", "path": "/stats/{entity_type}", "handler": "GET /stats/{entity_type}"})
    );

    // Entities: writes fire hooks, and the response reports them.
    let (status, _, created) = server.send(
        "POST",
        "/api/entities",
        Some(r#"{"entity_type":"character","data":{"name":"Ada","bio":"one two"}}"#),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["entity"]["id"].as_str().expect("id").to_string();
    let hooked: Vec<&str> =
        created["hooks"].as_array().expect("hooks").iter().filter_map(|h| h["plugin_id"].as_str()).collect();
    assert_eq!(hooked, ["audit-trail", "character-stats"]);
    assert!(created["hooks"].as_array().expect("hooks").iter().all(|h| h["error"].is_null()), "{created}");
    server.send(
        "POST",
        "/api/entities",
        Some(r#"{"entity_type":"location","data":{"name":"Port"},"id":"port"}"#),
    );

    let (_, listed) = server.get("/api/entities?entity_type=character");
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["entities"][0]["data"]["name"], "Ada");
    assert_eq!(server.get("/api/entities?name=Port").1["entities"][0]["id"], "port");
    assert_eq!(server.get(&format!("/api/entities/{id}")).1["entity_type"], "character");
    let (status, _, updated) =
        server.send("PUT", &format!("/api/entities/{id}"), Some(r#"{"data":{"name":"Ada L."}}"#));
    assert_eq!((status, updated["entity"]["data"]["name"].as_str()), (200, Some("Ada L.")));

    // Plugin routes.
    let (status, headers, body) = server.send("GET", "/api/plugins/character-stats/stats/character", None);
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(n, v)| n == "content-type" && v == "application/json"), "{headers:?}");
    assert_eq!(body, json!({"entity_type": "character", "count": 1, "analysis_depth": 3}));
    let (status, _, body) =
        server.send("POST", "/api/plugins/character-stats/analyze", Some(r#"{"entity_type":"character"}"#));
    assert_eq!((status, body), (200, json!({"analyzed": 1})));
    let (_, log) = server.get("/api/plugins/audit-trail/log");
    let events: Vec<&str> =
        log["events"].as_array().expect("events").iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(events, ["created", "created", "updated"]);

    // Errors are JSON with the right status.
    let (status, _, body) = server.send("POST", "/api/plugins/character-stats/stats/character", None);
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    assert_eq!(body["error"]["plugin"], "character-stats");
    let (status, body) = server.get("/api/plugins/character-stats/nowhere");
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("route_not_found")));
    let (status, body) = server.get("/api/plugins/nobody/stats");
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_plugin")));
    let (status, _, body) = server.send("POST", "/api/plugins/character-stats/analyze", Some("not json"));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("plugin_invalid_input")));
    let (status, _, body) = server.send("POST", "/api/entities", Some(r#"{"entity_type":"x"}"#));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")));
    assert_eq!(server.get("/api/entities/ghost").0, 404);
    assert_eq!(server.get("/no/such/endpoint").1["error"]["code"], "not_found");

    // Settings: read, set, and refuse what the schema does not allow.
    assert_eq!(server.get("/api/plugins/character-stats/settings"), (200, json!({"analysis_depth": 3})));
    let (status, _, body) =
        server.send("PUT", "/api/plugins/character-stats/settings", Some(r#"{"analysis_depth":5}"#));
    assert_eq!((status, body), (200, json!({"analysis_depth": 5})));
    let (status, _, body) =
        server.send("PUT", "/api/plugins/character-stats/settings", Some(r#"{"analysis_depth":"deep"}"#));
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_setting")));
    assert_eq!(server.get("/api/plugins/character-stats/stats/character").1["analysis_depth"], 5);
    // null resets a setting to its default (and the plugin sees the default again).
    let (status, _, body) =
        server.send("PUT", "/api/plugins/character-stats/settings", Some(r#"{"analysis_depth":null}"#));
    assert_eq!((status, body), (200, json!({"analysis_depth": 3})));
    assert_eq!(server.get("/api/plugins/character-stats/stats/character").1["analysis_depth"], 3);
    let (status, _, body) =
        server.send("PUT", "/api/plugins/character-stats/settings", Some(r#"{"colour":null}"#));
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_setting")), "undeclared");

    // Widgets.
    let (_, widgets) = server.get("/api/widgets");
    assert_eq!(widgets["widgets"][0]["id"], "plugin:word-count-widget:word-count");
    let (status, _, body) = server.send(
        "POST",
        "/api/widgets/plugin:word-count-widget:word-count/render",
        Some(&json!({"field_name": "bio", "value": "one two", "entity_id": id}).to_string()),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["html"].as_str().is_some_and(|h| h.contains("2 / 200 words")), "{body}");
    let (_, _, body) = server.send(
        "POST",
        "/api/widgets/plugin:word-count-widget:word-count/validate",
        Some(r#"{"value":"a b"}"#),
    );
    assert_eq!(body, json!({"valid": true, "problems": []}));
    let (status, _, body) =
        server.send("POST", "/api/widgets/plugin:nope:x/validate", Some(r#"{"value":"a"}"#));
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_widget")));

    // Deletes fire hooks too; the event history shows every outcome.
    let (status, _, deleted) = server.send("DELETE", &format!("/api/entities/{id}"), None);
    assert_eq!((status, deleted["hooks"].as_array().map(Vec::len)), (200, Some(2)));
    assert_eq!(server.get(&format!("/api/entities/{id}")).0, 404);
    let (_, history) = server.get("/api/events?plugin=audit-trail");
    let events: Vec<&str> =
        history["hooks"].as_array().expect("hooks").iter().filter_map(|h| h["event"].as_str()).collect();
    assert_eq!(events, ["created", "created", "updated", "deleted"]);
}

#[test]
fn a_plugin_that_fails_to_load_is_reported_and_the_rest_serve() {
    let plugins = tempfile::tempdir().expect("temp dir");
    copy_example("character-stats", plugins.path());
    let manifest =
        json!({"id": "broken", "name": "Broken", "version": "1", "wasm": {"module": "plugin.wasm"}});
    write_plugin(plugins.path(), "broken", &manifest, b"definitely not wasm");
    let server = Server::start(plugins.path(), &[]);

    let (_, list) = server.get("/api/plugins");
    let broken = list["plugins"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["id"] == "broken")
        .cloned()
        .expect("listed");
    assert_eq!(broken["status"], "failed");
    assert!(broken["error"].as_str().is_some_and(|e| e.contains("not WebAssembly")), "{broken}");
    assert_eq!(server.get("/api/plugins/broken").1["status"], "failed");
    assert_eq!(server.get("/api/plugins/character-stats/stats/character").0, 200);
    assert!(server.log().contains("plugin skipped"), "the failure is logged");
}

#[test]
fn requests_run_in_parallel_and_a_slow_plugin_holds_up_no_one() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({"id": "probe", "name": "Probe", "version": "1", "wasm": {"module": "plugin.wasm"},
        "capabilities": {"host_functions": ["storage_get", "storage_set"]}});
    write_plugin(
        plugins.path(),
        "probe",
        &manifest,
        &std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe"),
    );
    let server = Server::start(plugins.path(), &["--call-timeout-ms", "3000"]);
    server.send("PUT", "/api/plugins/probe/storage/k", Some("v"));

    let slow_url = server.url("/api/plugins/probe/loop");
    let slow = std::thread::spawn(move || {
        let answer = common::send(&slow_url, "GET", None);
        (answer, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(100));
    let fast: Vec<_> = (0..16)
        .map(|_| {
            let url = server.url("/api/plugins/probe/storage/k");
            std::thread::spawn(move || (common::send(&url, "GET", None), Instant::now()))
        })
        .collect();
    let fast: Vec<_> = fast.into_iter().map(|t| t.join().expect("fast request")).collect();
    let ((status, _, body), slow_done) = slow.join().expect("slow request");
    for ((status, _, body), done) in &fast {
        assert_eq!((*status, body), (200, &json!({"ok": "v"})));
        assert!(*done < slow_done, "fast requests finish while the endless one still runs");
    }
    assert_eq!(status, 504);
    assert_eq!(body["error"]["code"], "timeout");
    assert_eq!(body["error"]["plugin"], "probe");
    assert_eq!(server.get("/api/plugins/probe/storage/k").1, json!({"ok": "v"}), "the plugin still serves");
}

#[test]
fn bodies_over_the_limit_get_413() {
    let plugins = rust_examples();
    let server = Server::start(plugins.path(), &["--max-request-bytes", "1024"]);
    let big = json!({"entity_type": "x", "data": {"blob": "y".repeat(2000)}}).to_string();
    let (status, _, body) = server.send("POST", "/api/entities", Some(&big));
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")));
    let (status, _, _) = server.send("POST", "/api/plugins/character-stats/analyze", Some(&big));
    assert_eq!(status, 413);
    assert_eq!(server.get("/api/entities").1["total"], 0, "nothing was written");
}

#[test]
fn sigterm_finishes_in_flight_requests_and_keeps_the_data() {
    let plugins = tempfile::tempdir().expect("temp dir");
    copy_example("character-stats", plugins.path());
    let manifest = json!({"id": "probe", "name": "Probe", "version": "1", "wasm": {"module": "plugin.wasm"}});
    write_plugin(
        plugins.path(),
        "probe",
        &manifest,
        &std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe"),
    );
    let scratch = tempfile::tempdir().expect("temp dir");
    let data_dir = scratch.path().join("data");
    let mut server = Server::start_on(
        plugins.path(),
        &data_dir,
        &["--call-timeout-ms", "1500"],
        tempfile::tempdir().expect("temp"),
    );
    let (status, _, _) =
        server.send("POST", "/api/entities", Some(r#"{"entity_type":"character","data":{},"id":"kept"}"#));
    assert_eq!(status, 201);

    let in_flight_url = server.url("/api/plugins/probe/loop");
    let in_flight = std::thread::spawn(move || common::send(&in_flight_url, "GET", None));
    std::thread::sleep(Duration::from_millis(300));
    let (clean, printed) = server.terminate();
    let (status, _, body) = in_flight.join().expect("in-flight request");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (504, Some("timeout")),
        "the in-flight request got its answer"
    );
    assert!(clean, "exit status 0 after SIGTERM");
    assert!(printed.contains("plinth stopped"), "{printed}");

    let again = Server::start_on(plugins.path(), &data_dir, &[], tempfile::tempdir().expect("temp"));
    assert_eq!(again.get("/api/entities/kept").0, 200);
    let analysis = again.get("/api/plugins/character-stats/stats/character").1;
    assert_eq!(analysis["count"], 1);
}

fn set_default(dir: &std::path::Path, default: i64) {
    let path = dir.join("plugin.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    manifest["capabilities"]["settings"]["analysis_depth"]["default"] = json!(default);
    std::fs::write(&path, manifest.to_string()).expect("write");
}

#[test]
fn reload_picks_up_a_changed_plugin_without_a_restart() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = copy_example("character-stats", plugins.path());
    let server = Server::start(plugins.path(), &[]);
    assert_eq!(server.get("/api/plugins/character-stats/settings").1, json!({"analysis_depth": 3}));

    set_default(&dir, 4);
    let (status, _, body) = server.send("POST", "/api/plugins/character-stats/reload", None);
    assert_eq!((status, body["status"].as_str()), (200, Some("loaded")), "{body}");
    assert_eq!(server.get("/api/plugins/character-stats/settings").1, json!({"analysis_depth": 4}));

    // A broken rebuild is refused and the running version keeps serving.
    std::fs::write(dir.join("plugin.wasm"), b"garbage").expect("break");
    let (status, _, body) = server.send("POST", "/api/plugins/character-stats/reload", None);
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("load_failed")), "{body}");
    assert_eq!(server.get("/api/plugins/character-stats/stats/character").0, 200);
}

#[test]
fn reload_flag_watches_the_plugin_folder() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = copy_example("character-stats", plugins.path());
    let server = Server::start(plugins.path(), &["--reload"]);
    std::thread::sleep(Duration::from_millis(1100));
    set_default(&dir, 9);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if server.get("/api/plugins/character-stats/settings").1 == json!({"analysis_depth": 9}) {
            break;
        }
        assert!(Instant::now() < deadline, "the change was not picked up; log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn json_logs_carry_plugin_route_duration_and_outcome() {
    let plugins = rust_examples();
    let mut server = Server::start(plugins.path(), &["--log-format", "json"]);
    server.get("/api/plugins/character-stats/stats/character");
    server.get("/api/plugins/character-stats/nowhere");
    server.terminate();
    let printed = server.log();
    let records: Vec<Value> = printed.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    assert!(!records.is_empty(), "every log line is JSON:\n{printed}");
    let route = records
        .iter()
        .find(|r| r["fields"]["message"] == "plugin route" && r["fields"]["outcome"] == "ok")
        .unwrap_or_else(|| panic!("a plugin-route record:\n{printed}"));
    assert_eq!(route["fields"]["plugin"], "character-stats");
    assert_eq!(route["fields"]["route"], "GET /stats/character");
    assert!(route["fields"]["duration_ms"].is_number());
    assert!(records.iter().any(|r| r["fields"]["outcome"] == "route_not_found"), "{printed}");
}

#[test]
fn legacy_modules_over_http() {
    let plugins = rust_examples();
    let server = Server::start(plugins.path(), &["--legacy-timeout", "0.5"]);
    assert_eq!(server.get("/api/legacy/modules"), (200, json!({"modules": []})));
    let module = std::fs::read(guests::LEGACY_MATH_WASM).expect("math.wasm");
    let (status, info) = upload(&server, "math.wasm", &module);
    assert_eq!((status, info["name"].as_str()), (201, Some("math.wasm")));
    assert_eq!(server.get("/api/legacy/modules").1["modules"][0]["name"], "math.wasm");

    let (status, _, reply) =
        server.send("POST", "/api/legacy/math.wasm/call", Some(r#"{"fn":"add","args":[3,5]}"#));
    assert_eq!((status, reply), (200, json!({"ok": true, "value": 8})));
    let (status, _, reply) =
        server.send("POST", "/api/legacy/math.wasm/call", Some(r#"{"fn":"div","args":[1,0]}"#));
    assert_eq!((status, reply), (200, json!({"ok": false, "error": "division by zero"})));

    let (status, _, body) = server.send("POST", "/api/legacy/none.wasm/call", Some("{}"));
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_module")));
    let (status, _, body) = server.send("POST", "/api/legacy/math.wasm/call", Some("[1]"));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")));
    let big = json!({"fn": "add", "args": ["x".repeat(1 << 20)]}).to_string();
    let (status, _, body) = server.send("POST", "/api/legacy/math.wasm/call", Some(&big));
    assert_eq!((status, body["error"]["plugin"].as_str()), (413, Some("math.wasm")));

    let probe = std::fs::read(guests::LEGACY_PROBE_WASM).expect("probe");
    upload(&server, "probe.wasm", &probe);
    let (status, _, body) = server.send("POST", "/api/legacy/probe.wasm/call", Some(r#"{"fn":"loop"}"#));
    assert_eq!((status, body["error"]["code"].as_str()), (504, Some("timeout")));
    let (status, _, body) = server.send("POST", "/api/legacy/probe.wasm/call", Some(r#"{"fn":"two_lines"}"#));
    assert_eq!((status, body["error"]["code"].as_str()), (502, Some("protocol_violation")));

    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("component");
    let (status, body) = upload(&server, "component.wasm", &component);
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_module")));

    let (status, _, body) = server.send("DELETE", "/api/legacy/modules/math.wasm", None);
    assert_eq!((status, body), (200, json!({"removed": "math.wasm"})));
    assert_eq!(server.send("POST", "/api/legacy/math.wasm/call", Some("{}")).0, 404);
}

fn upload(server: &Server, name: &str, bytes: &[u8]) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(&server.url(&format!("/api/legacy/modules?name={name}")))
        .header("content-type", "application/wasm")
        .send(bytes)
        .expect("upload");
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn faults_map_to_json_statuses_and_show_in_health() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({"id": "probe", "name": "Probe", "version": "1", "wasm": {"module": "plugin.wasm"},
        "capabilities": {"host_functions": ["storage_get", "storage_set"]},
        "limits": {"memory_mb": 16, "route_timeout_ms": 300}});
    write_plugin(
        plugins.path(),
        "probe",
        &manifest,
        &std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe"),
    );
    let server = Server::start(plugins.path(), &[]);

    let (status, bomb) = server.get("/api/plugins/probe/grow");
    assert_eq!((status, bomb["error"]["code"].as_str()), (507, Some("limit_exceeded")), "{bomb}");
    assert!(bomb["error"]["message"].as_str().is_some_and(|m| m.contains("memory (16 MiB)")), "{bomb}");
    assert_eq!(bomb["error"]["plugin"], "probe");
    let (status, trap) = server.get("/api/plugins/probe/trap");
    assert_eq!((status, trap["error"]["code"].as_str()), (500, Some("trap")));
    let (status, _) = server.get("/api/plugins/probe/loop");
    assert_eq!(status, 504);

    let (_, info) = server.get("/api/plugins/probe");
    let health = &info["health"];
    assert_eq!((health["limits_exceeded"].as_u64(), health["traps"].as_u64()), (Some(1), Some(1)), "{info}");
    assert_eq!(health["timeouts"], 1);
    assert_eq!(server.get("/api/plugins/probe/storage/k").0, 200, "the plugin still serves");
}

/// 64 entity creations, 32 at a time, over HTTP: audit-trail's hook reads its
/// `next` counter and writes `event/{next}` and `next + 1`; serializable
/// storage keeps every one of the 64 events.
#[test]
fn concurrent_entity_writes_lose_no_audit_event() {
    let plugins = rust_examples();
    let server = Server::start(plugins.path(), &[]);
    let url = server.url("/api/entities");
    for wave in 0..2 {
        let writers: Vec<_> = (0..32)
            .map(|i| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let body = format!(r#"{{"entity_type":"note","data":{{"n":{}}}}}"#, wave * 32 + i);
                    common::send(&url, "POST", Some(&body))
                })
            })
            .collect();
        for writer in writers {
            let (status, _, created) = writer.join().expect("writer thread");
            assert_eq!(status, 201, "{created}");
            assert!(
                created["hooks"].as_array().expect("hooks").iter().all(|h| h["error"].is_null()),
                "{created}"
            );
        }
    }
    let (status, log) = server.get("/api/plugins/audit-trail/log");
    assert_eq!(status, 200);
    let events = log["events"].as_array().expect("events");
    assert_eq!(events.len(), 64, "{log}");
    let mut ids: Vec<&str> = events.iter().filter_map(|e| e["entity_id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 64, "each entity recorded once");
}

/// Plugin text cannot forge a line in the server's log: newlines in a log
/// message or an error message come out escaped.
#[test]
fn plugin_text_cannot_forge_server_log_lines() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({
        "id": "probe", "name": "probe", "version": "0.1.0", "wasm": { "module": "plugin.wasm" },
        "capabilities": { "host_functions": ["log"] },
    });
    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe");
    write_plugin(plugins.path(), "probe", &manifest, &component);
    let server = Server::start(plugins.path(), &[]);
    assert_eq!(server.get("/api/plugins/probe/forge-log").0, 200);
    let (status, body) = server.get("/api/plugins/probe/error?bytes=10");
    assert_eq!(status, 400, "{body}");
    let log = server.log();
    assert!(log.contains("honest\\n2026-01-01T00:00:00Z ERROR plinth: forged line"), "{log}");
    assert!(
        !log.lines().any(|line| line.starts_with("2026-01-01T00:00:00Z") || line.starts_with("forged line")),
        "{log}"
    );
}

/// 500 calls sleeping in WASI at once cost the server memory, not threads:
/// while they sleep, `/healthz` and another plugin answer, and the server
/// runs far fewer threads than calls.
#[test]
fn sleeping_calls_hold_no_threads_and_others_keep_answering() {
    let plugins = rust_examples();
    let manifest = json!({
        "id": "sleeper", "name": "sleeper", "version": "0.1.0", "wasm": { "module": "plugin.wasm" },
        "limits": { "max_concurrent": 600, "route_timeout_ms": 30000 },
    });
    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe");
    write_plugin(plugins.path(), "sleeper", &manifest, &component);
    let server = Server::start(plugins.path(), &["--pool-instances", "1200"]);
    let url = server.url("/api/plugins/sleeper/sleep?ms=8000");
    let sleepers: Vec<_> = (0..500)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || common::send(&url, "GET", None).0)
        })
        .collect();
    // Wait (bounded) until all 500 are inside the plugin.
    let running = || server.get("/api/plugins/sleeper").1["health"]["running"].as_u64().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while running() < 500 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(running(), 500, "all sleepers in flight");
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).expect("status");
    let threads: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("thread count");
    // Per core: a tokio worker and a legacy worker; the rest is a handful.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    assert!(threads < 32 + 4 * cores, "{threads} threads for 500 sleeping calls on {cores} cores");
    assert_eq!(server.get("/healthz").0, 200);
    let (status, stats) = server.get("/api/plugins/character-stats/stats/character");
    assert_eq!(status, 200, "{stats}");
    for sleeper in sleepers {
        assert_eq!(sleeper.join().expect("client"), 200);
    }
}

/// The server listens before its plugins have loaded: `/healthz` answers 503
/// `loading` while a plugin's initialisation runs (here an endless one, stopped
/// at its 3 s init limit), then 200 with the failure listed.
#[test]
fn the_server_listens_while_plugins_load() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({
        "id": "slow-init", "name": "slow-init", "version": "0.1.0", "wasm": { "module": "plugin.wasm" },
        "limits": { "route_timeout_ms": 3000 },
        "capabilities": { "host_functions": ["setting_get"], "settings": { "init": { "type": "string", "default": "loop" } } },
    });
    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe");
    write_plugin(plugins.path(), "slow-init", &manifest, &component);
    let scratch = tempfile::tempdir().expect("temp dir");
    let data = scratch.path().join("data");
    let server = Server::listening(plugins.path(), &data, &[], scratch);
    assert_eq!(server.get("/healthz"), (503, json!({"status": "loading", "plugins": 0})));
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.get("/healthz").0 != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.get("/healthz"), (200, json!({"status": "ok", "plugins": 0})));
    let (_, listed) = server.get("/api/plugins");
    assert_eq!(listed["plugins"][0]["status"], "failed", "{listed}");
}
