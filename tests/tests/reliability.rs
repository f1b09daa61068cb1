//! The reliability suite: misbehaving plugins meet their configured limits,
//! get a typed error, and leave the host serving with its data intact.
//! Every limit here is set low on purpose, so the limit (not the machine's
//! speed) is what stops each case.

use plinth_host::{
    BreakerConfig, CallError, CallErrorKind, EngineKind, HealthState, Host, HostConfig, LoadError, LogSource,
    Method, RouteRequest,
};
use plinth_tests::{PluginDir, call_json, example, get_json, guests, manifest, on_both_engines};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const STORAGE: &[&str] = &["storage_get", "storage_set", "storage_list", "log", "setting_get"];

fn host(configure: impl FnOnce(&mut HostConfig)) -> (tempfile::TempDir, Host) {
    host_on(EngineKind::Native, configure)
}

/// A host running plugin code on `engine`.
fn host_on(engine: EngineKind, configure: impl FnOnce(&mut HostConfig)) -> (tempfile::TempDir, Host) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = HostConfig::new(data.path());
    config.engine = engine;
    configure(&mut config);
    (data, Host::with_config(config).expect("open host"))
}

/// The probe with `limits` in its manifest.
fn probe(limits: Value) -> PluginDir {
    PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, STORAGE, json!({ "limits": limits }))
}

fn call(host: &Host, method: Method, path: &str) -> Result<plinth_host::RouteResponse, CallError> {
    host.call_route("probe", RouteRequest::new(method, path))
}

fn still_serves(host: &Host) {
    let (status, body) = get_json(host, "probe", "/storage/k");
    assert_eq!(status, 200, "{body}");
}

on_both_engines! {
    fn an_endless_export_stops_at_its_route_timeout(engine) {
        let (_d, host) = host_on(engine, |_| {});
        let dir = probe(json!({"route_timeout_ms": 150}));
        host.load_plugin(dir.path()).expect("load");
        let error = call(&host, Method::Get, "/loop").expect_err("endless");
        assert!(matches!(error, CallError { kind: CallErrorKind::Timeout { limit_ms: 150, .. }, .. }), "{error}");
        assert_eq!(error.code(), "timeout");
        still_serves(&host);
    }
}

#[test]
fn an_endless_initialisation_fails_the_load_and_others_still_load() {
    let (_d, host) = host(|_| {});
    let extra = json!({
        "limits": {"init_timeout_ms": 200},
        "capabilities": {"host_functions": ["setting_get"], "settings": {"init": {"type": "string", "default": "loop"}}},
    });
    let dir = PluginDir::new("looper", guests::PROBE_PLUGIN_WASM, &[], extra);
    let error = host.load_plugin(dir.path()).expect_err("endless init");
    match &error {
        LoadError::Init { plugin, source } => {
            assert_eq!(plugin, "looper");
            assert!(
                matches!(**source, CallError { kind: CallErrorKind::Timeout { limit_ms: 200, .. }, .. }),
                "{source}"
            );
        }
        other => panic!("expected an init timeout, got {other}"),
    }
    assert!(error.to_string().contains("(init)"), "{error}");
    host.load_plugin(example("character-stats")).expect("another plugin loads");
}

on_both_engines! {
    fn a_memory_bomb_stops_at_the_memory_limit(engine) {
        let (_d, host) = host_on(engine, |_| {});
        let dir = probe(json!({"memory_mb": 16}));
        host.load_plugin(dir.path()).expect("load");
        let error = call(&host, Method::Get, "/grow").expect_err("bomb");
        assert!(
            matches!(&error, CallError { kind: CallErrorKind::LimitExceeded { limit, .. }, .. } if limit == "memory (16 MiB)"),
            "{error}"
        );
        assert_eq!(error.code(), "limit_exceeded");
        still_serves(&host);
    }
}

on_both_engines! {
    fn deep_recursion_stops_at_the_stack_limit(engine) {
        let (_d, host) = host_on(engine, |config| config.max_wasm_stack = 256 << 10);
        let dir = probe(json!({}));
        host.load_plugin(dir.path()).expect("load");
        let error = call(&host, Method::Get, "/recurse").expect_err("recursion");
        assert!(
            matches!(&error, CallError { kind: CallErrorKind::LimitExceeded { limit, .. }, .. } if limit == "wasm stack"),
            "{error}"
        );
        still_serves(&host);
    }
}

on_both_engines! {
    fn fuel_bounds_work_when_metering_is_on(engine) {
        let (_d, host) = host_on(engine, |config| config.limits.fuel = Some(u64::MAX));
        let dir = probe(json!({"fuel": 5_000_000, "route_timeout_ms": 60_000}));
        host.load_plugin(dir.path()).expect("load");
        let error = call(&host, Method::Get, "/loop").expect_err("endless");
        assert!(
            matches!(&error, CallError { kind: CallErrorKind::LimitExceeded { limit, .. }, .. } if limit == "fuel (5000000 units)"),
            "{error}"
        );
        still_serves(&host);
    }
}

on_both_engines! {
    fn a_huge_response_is_refused_at_the_response_limit(engine) {
        let (_d, host) = host_on(engine, |_| {});
        let dir = probe(json!({"response_kb": 1024}));
        host.load_plugin(dir.path()).expect("load");
        let error = call(&host, Method::Get, "/huge").expect_err("huge");
        assert!(
            matches!(error, CallError { kind: CallErrorKind::ResponseTooLarge { size, limit: 1_048_576, .. }, .. } if size == 20 << 20),
            "{error}"
        );
        let big = RouteRequest::new(Method::Post, "/echo/x").with_body(vec![b' '; 2 << 20]);
        assert!(matches!(
            host.call_route("probe", big),
            Err(CallError { kind: CallErrorKind::RequestTooLarge { .. }, .. })
        ));
    }
}

on_both_engines! {
    fn a_log_flood_is_cut_at_the_log_limit(engine) {
        let (_d, host) = host_on(engine, |_| {});
        // Time is not what this case is about: an interpreted flood on a loaded machine may be slow.
        let dir = probe(json!({"log_records": 50, "route_timeout_ms": 60_000}));
        host.load_plugin(dir.path()).expect("load");
        assert_eq!(call(&host, Method::Get, "/log-flood").expect("flood").body, b"flooded");
        let log = host.plugin_log("probe");
        assert_eq!(log.iter().filter(|r| r.source == LogSource::Plugin).count(), 50);
        assert!(
            log.iter().any(|r| r.source == LogSource::Host && r.message.contains("more than 50 log records"))
        );
    }
}

#[test]
fn a_storage_bomb_stops_at_the_quota() {
    let (_d, host) = host(|_| {});
    let dir = probe(json!({"storage_keys": 100}));
    host.load_plugin(dir.path()).expect("load");
    let (_, body) = call_json(&host, "probe", RouteRequest::new(Method::Post, "/quota-bomb"));
    assert_eq!(body, json!({"stored": 100, "error": "quota-exceeded"}));
    assert_eq!(host.storage_keys("probe", "bomb/").expect("keys").len(), 100);

    let bytes = probe(json!({"storage_mb": 1}));
    let (_d2, host) = self::host(|_| {});
    host.load_plugin(bytes.path()).expect("load");
    let (_, body) = call_json(&host, "probe", RouteRequest::new(Method::Post, "/quota-bomb"));
    let stored = body["stored"].as_u64().expect("count");
    assert_eq!(body["error"], "quota-exceeded");
    assert!(stored * 113 <= 1 << 20 && (stored + 1) * 113 > 1 << 20, "1 MiB of 113-byte entries: {stored}");
}

#[test]
fn a_call_that_fails_after_writing_commits_nothing() {
    let (_d, host) = host(|_| {});
    let dir = probe(json!({}));
    host.load_plugin(dir.path()).expect("load");
    let trapped = call(&host, Method::Post, "/partial-trap").expect_err("trap");
    assert!(matches!(trapped, CallError { kind: CallErrorKind::Trap { .. }, .. }), "{trapped}");
    assert_eq!(host.storage_keys("probe", "partial/").expect("keys"), Vec::<String>::new());
    let failed = call(&host, Method::Post, "/partial-error").expect_err("error");
    assert!(matches!(failed, CallError { kind: CallErrorKind::Guest { .. }, .. }), "{failed}");
    assert_eq!(host.storage_keys("probe", "partial/").expect("keys"), Vec::<String>::new());
    // A successful call commits, and reads see the call's own writes.
    call_json(&host, "probe", RouteRequest::new(Method::Put, "/storage/k").with_body("v"));
    assert_eq!(host.storage_get("probe", "k").expect("read").as_deref(), Some(b"v".as_slice()));
}

#[test]
fn oversized_and_ungranted_host_calls_get_typed_errors() {
    let (_d, host) = host(|_| {});
    let dir = probe(json!({}));
    host.load_plugin(dir.path()).expect("load");
    let (_, body) = call_json(&host, "probe", RouteRequest::new(Method::Post, "/big-value?size=2097152"));
    assert_eq!(body["error"]["kind"], "quota-exceeded");
    let (_, body) = call_json(&host, "probe", RouteRequest::new(Method::Post, "/big-key?size=5000"));
    assert_eq!(body["error"]["kind"], "invalid-input");
    let (_, body) = get_json(&host, "probe", "/entity/x");
    assert_eq!(body["error"]["kind"], "denied");
    assert_eq!(host.plugin("probe").map(|p| p.health.denials), Some(1));
    still_serves(&host);
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}

#[test]
fn a_thousand_traps_in_a_row_leave_host_memory_flat() {
    let (_d, host) = host(|config| config.breaker.failures = u32::MAX);
    let dir = probe(json!({}));
    host.load_plugin(dir.path()).expect("load");
    for _ in 0..100 {
        assert!(call(&host, Method::Get, "/trap").is_err());
    }
    let before = resident_bytes();
    for _ in 0..1000 {
        assert!(matches!(
            call(&host, Method::Get, "/trap"),
            Err(CallError { kind: CallErrorKind::Trap { .. }, .. })
        ));
    }
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 32 << 20, "host memory grew by {grown} bytes over 1000 traps");
    assert_eq!(host.plugin("probe").map(|p| p.health.traps), Some(1100));
    still_serves(&host);
}

#[test]
fn repeated_failures_degrade_a_plugin_until_its_back_off_ends() {
    let clock = plinth_host::Clock::manual();
    let back_off = Duration::from_secs(30);
    let (_d, host) = host(|config| {
        config.breaker = BreakerConfig { failures: 3, backoff: back_off };
        config.clock = clock.clone();
    });
    let dir = probe(json!({}));
    host.load_plugin(dir.path()).expect("load");
    for _ in 0..3 {
        assert!(matches!(
            call(&host, Method::Get, "/trap"),
            Err(CallError { kind: CallErrorKind::Trap { .. }, .. })
        ));
    }
    let refused = call(&host, Method::Get, "/storage/k").expect_err("degraded");
    assert!(matches!(refused, CallError { kind: CallErrorKind::Degraded { .. }, .. }), "{refused}");
    assert_eq!(refused.code(), "degraded");
    let health = host.plugin("probe").expect("loaded").health;
    assert_eq!((health.state, health.traps), (HealthState::Degraded, 3));
    let write = host.create_entity("character", json!({})).expect("the write stands");
    assert!(write.hooks[0].error.as_deref().is_some_and(|e| e.contains("degraded")), "{:?}", write.hooks);

    let wait_for_back_off = || {
        clock.advance(back_off - Duration::from_millis(1));
        assert_eq!(host.plugin("probe").expect("loaded").health.state, HealthState::Degraded, "not over yet");
        clock.advance(Duration::from_millis(1));
        assert_eq!(host.plugin("probe").expect("loaded").health.state, HealthState::Recovering);
    };
    // After the back-off one call tests the plugin; a failure re-opens the circuit at once.
    wait_for_back_off();
    assert!(matches!(
        call(&host, Method::Get, "/trap"),
        Err(CallError { kind: CallErrorKind::Trap { .. }, .. })
    ));
    assert!(matches!(
        call(&host, Method::Get, "/storage/k"),
        Err(CallError { kind: CallErrorKind::Degraded { .. }, .. })
    ));
    // A success closes it.
    wait_for_back_off();
    still_serves(&host);
    let health = host.plugin("probe").expect("loaded").health;
    assert_eq!((health.state, health.consecutive_failures), (HealthState::Healthy, 0));
}

#[test]
fn calls_over_the_concurrency_limit_are_refused() {
    let (_d, host) = host(|_| {});
    let dir = probe(json!({"max_concurrent": 1, "route_timeout_ms": 2000}));
    host.load_plugin(dir.path()).expect("load");
    let host = std::sync::Arc::new(host);
    let slow = {
        let host = host.clone();
        std::thread::spawn(move || call(&host, Method::Get, "/loop"))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.plugin("probe").expect("loaded").health.running == 0 {
        assert!(Instant::now() < deadline, "the slow call never started");
        std::thread::yield_now();
    }
    let busy = call(&host, Method::Get, "/storage/k").expect_err("busy");
    assert!(matches!(busy, CallError { kind: CallErrorKind::Busy { limit: 1, .. }, .. }), "{busy}");
    assert!(matches!(
        slow.join().expect("slow call"),
        Err(CallError { kind: CallErrorKind::Timeout { .. }, .. })
    ));
    still_serves(&host);
}

#[test]
fn bad_binaries_are_refused_with_what_they_are() {
    let (_d, host) = host(|_| {});
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty", b"", "the file is empty"),
        ("elf", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", "ELF executable"),
        ("wat", b"(component\n  (core module)\n)\n", "WebAssembly text"),
        ("core", b"\0asm\x01\0\0\0", "core WebAssembly module"),
    ];
    for (id, bytes, expected) in cases {
        let dir = PluginDir::raw(&manifest(id), bytes);
        let error = host.load_plugin(dir.path()).expect_err(id);
        assert!(error.to_string().contains(expected) && error.to_string().contains(id), "{id}: {error}");
    }
    let foreign =
        PluginDir::raw(&manifest("foreign"), &std::fs::read(guests::FOREIGN_IMPORT_WASM).expect("guest"));
    match host.load_plugin(foreign.path()).expect_err("unknown import") {
        LoadError::UnsupportedImport { plugin, imports, .. } => {
            assert_eq!(plugin, "foreign");
            assert_eq!(imports, ["acme:app/query"]);
        }
        other => panic!("expected an unsupported import, got {other}"),
    }
}

#[test]
fn limits_above_the_ceiling_are_refused() {
    let (_d, host) = host(|config| config.ceilings.memory_bytes = 128 << 20);
    let dir = probe(json!({"memory_mb": 512}));
    let error = host.load_plugin(dir.path()).expect_err("greedy");
    assert!(
        error.to_string().contains("limits.memory_mb") && error.to_string().contains("ceiling"),
        "{error}"
    );
    let fuel = probe(json!({"fuel": 10}));
    assert!(host.load_plugin(fuel.path()).expect_err("fuel off").to_string().contains("fuel metering"));
}

#[test]
fn the_quota_counts_every_call_and_frees_on_delete() {
    let (data, host) = host(|_| {});
    let dir = PluginDir::new(
        "probe",
        guests::PROBE_PLUGIN_WASM,
        &["storage_set", "storage_delete"],
        json!({"limits": {"storage_keys": 3}}),
    );
    host.load_plugin(dir.path()).expect("load");
    let put = |key: &str| {
        call_json(&host, "probe", RouteRequest::new(Method::Put, &format!("/storage/{key}")).with_body("v")).1
    };
    for key in ["a", "b", "c"] {
        assert_eq!(put(key), json!({"ok": null}), "{key}");
    }
    assert_eq!(put("d")["error"]["kind"], "quota-exceeded");
    assert_eq!(put("a"), json!({"ok": null}), "replacing a key adds none");
    call_json(&host, "probe", RouteRequest::new(Method::Delete, "/storage/b"));
    assert_eq!(put("d"), json!({"ok": null}), "a delete frees a key");
    drop(host);
    let host = Host::open(data.path()).expect("reopen");
    host.load_plugin(dir.path()).expect("load");
    let put = |key: &str| {
        call_json(&host, "probe", RouteRequest::new(Method::Put, &format!("/storage/{key}")).with_body("v")).1
    };
    assert_eq!(put("e")["error"]["kind"], "quota-exceeded", "the count survives a restart");
}
