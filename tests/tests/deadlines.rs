//! Every call ends at its deadline whatever the guest does: computing,
//! sleeping in WASI, or waiting in a slow host call. The guest sleeps for two
//! minutes in each case: a broken deadline fails the test (it would answer
//! 200 then), it does not hang it.

use plinth_host::{
    CallError, CallErrorKind, EngineKind, FieldContext, Host, HostConfig, Method, RouteRequest,
};
use plinth_tests::{PluginDir, guests, on_both_engines};
use serde_json::{Value, json};

const LONG_MS: u64 = 120_000;

fn host_with_probe(limits: Value) -> (tempfile::TempDir, Host, PluginDir) {
    probe_on(EngineKind::Native, limits)
}

/// A host running plugin code on `engine`, with the probe loaded under `limits`.
fn probe_on(engine: EngineKind, limits: Value) -> (tempfile::TempDir, Host, PluginDir) {
    let data = tempfile::tempdir().expect("temp dir");
    let host = Host::with_config(HostConfig { engine, ..HostConfig::new(data.path()) }).expect("open host");
    let grants = ["storage_get", "storage_set", "entity_list"];
    let probe = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &grants, json!({ "limits": limits }));
    host.load_plugin(probe.path()).expect("load the probe");
    (data, host, probe)
}

fn timeout_of(error: &CallError) -> (u128, u128) {
    match error.kind {
        CallErrorKind::Timeout { limit_ms, elapsed_ms } => (limit_ms, elapsed_ms),
        _ => panic!("expected a timeout, got {error}"),
    }
}

on_both_engines! {
    fn a_route_sleeping_in_wasi_ends_at_its_limit(engine) {
        let (_d, host, _p) = probe_on(engine, json!({ "route_timeout_ms": 300 }));
        let error = host
            .call_route("probe", RouteRequest::new(Method::Get, &format!("/sleep?ms={LONG_MS}")))
            .expect_err("stopped");
        let (limit_ms, elapsed_ms) = timeout_of(&error);
        assert_eq!(limit_ms, 300);
        assert!(elapsed_ms >= 300, "the error reports the real elapsed time: {error}");
        assert!(error.to_string().contains(&format!("after running {elapsed_ms} ms")), "{error}");
        let woke =
            host.call_route("probe", RouteRequest::new(Method::Get, "/sleep?ms=1")).expect("a short sleep");
        assert_eq!(woke.body, b"woke up");
    }
}

#[test]
fn a_hook_sleeping_in_wasi_ends_at_its_limit_and_the_write_stands() {
    let (_d, host, _p) = host_with_probe(json!({ "hook_timeout_ms": 300 }));
    let write = host.create_entity("note", json!({ "sleep_ms": LONG_MS })).expect("the write");
    let error = write.hooks[0].error.as_deref().expect("the hook was stopped");
    assert!(error.contains("300 ms time limit"), "{error}");
    assert!(host.entity(&write.entity.id).expect("read").is_some());
}

#[test]
fn a_widget_sleeping_in_wasi_ends_at_its_limit() {
    let (_d, host, _p) = host_with_probe(json!({ "widget_timeout_ms": 300 }));
    let context = FieldContext { field_name: "sleep".into(), value: json!("x"), ..Default::default() };
    let error = host.render_widget("plugin:probe:shout", &context).expect_err("stopped");
    assert_eq!(timeout_of(&error).0, 300);
}

#[test]
fn a_slow_query_is_stopped_at_the_call_deadline_and_frees_the_database() {
    let data = tempfile::tempdir().expect("temp dir");
    let host = Host::with_config(HostConfig::new(data.path())).expect("open host");
    for i in 0..20_000 {
        host.create_entity("row", json!({ "n": i })).expect("seed");
    }
    let probe = PluginDir::new(
        "probe",
        guests::PROBE_PLUGIN_WASM,
        &["entity_list"],
        json!({ "limits": { "route_timeout_ms": 500 } }),
    );
    host.load_plugin(probe.path()).expect("load the probe");
    // A 200 KB field name: SQLite re-reads the path for every row.
    let query = format!("/entities?q={}%3Dx", "a".repeat(200_000));
    match host.call_route("probe", RouteRequest::new(Method::Get, &query)) {
        Err(error) => assert_eq!(timeout_of(&error).0, 500),
        Ok(response) => {
            // The query was interrupted just before the timer fired: the guest saw an error.
            let body: Value = response.json().expect("JSON");
            assert_eq!(body["error"]["kind"], "internal", "{body}");
        }
    }
    // The database was released at the deadline: it answers at once.
    assert_eq!(host.count_entities(&plinth_host::EntityQuery::of_type("row")).expect("count"), 20_000);
}

/// One plugin cannot take more than half the instance pool.
#[test]
fn a_plugin_gets_at_most_half_the_instance_pool() {
    let data = tempfile::tempdir().expect("temp dir");
    let config = HostConfig { pooling: Some(8), ..HostConfig::new(data.path()) };
    let host = Host::with_config(config).expect("open host");
    let greedy = PluginDir::new(
        "greedy",
        guests::PROBE_PLUGIN_WASM,
        &[],
        json!({ "limits": { "max_concurrent": 100 } }),
    );
    host.load_plugin(greedy.path()).expect("load");
    assert!(host.pooling_active(), "this test is about the pool; the pool could not be created");
    assert_eq!(host.plugin_limits("greedy").map(|l| l.max_concurrent), Some(4));
}

/// A caller that goes away mid-call (an HTTP client disconnecting drops the
/// call's future) leaves nothing behind: not its concurrency slot, and not a
/// half-open circuit breaker waiting forever for its test call to end.
#[test]
fn a_call_dropped_mid_way_releases_its_slot_and_the_breaker() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = HostConfig::new(data.path());
    let back_off = std::time::Duration::from_secs(30);
    config.breaker = plinth_host::BreakerConfig { failures: 1, backoff: back_off };
    config.clock = plinth_host::Clock::manual();
    let clock = config.clock.clone();
    let host = Host::with_config(config).expect("open host");
    let probe =
        PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({ "limits": { "max_concurrent": 1 } }));
    host.load_plugin(probe.path()).expect("load");
    host.call_route("probe", RouteRequest::new(Method::Get, "/trap")).expect_err("a trap opens the circuit");
    clock.advance(back_off);
    // The back-off is over: this call is the half-open test call, dropped while it sleeps.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let sleeping =
        host.call_route_async("probe", RouteRequest::new(Method::Get, &format!("/sleep?ms={LONG_MS}")));
    let dropped = runtime
        .block_on(async { tokio::time::timeout(std::time::Duration::from_millis(200), sleeping).await });
    assert!(dropped.is_err(), "the caller gave up");
    assert_eq!(host.plugin("probe").map(|p| p.health.running), Some(0), "the slot is free");
    let next = host
        .call_route("probe", RouteRequest::new(Method::Get, "/sleep?ms=1"))
        .expect("the next call tests the plugin");
    assert_eq!(next.body, b"woke up");
    assert_eq!(host.plugin("probe").map(|p| p.health.state), Some(plinth_host::HealthState::Healthy));
}

on_both_engines! {
    /// A full instance pool is the host's load: the call gets `HostBusy` (503),
    /// and the plugin's health does not count it as a failure.
    fn a_full_instance_pool_is_not_the_plugins_fault(engine) {
        let data = tempfile::tempdir().expect("temp dir");
        let host =
            Host::with_config(HostConfig { pooling: Some(2), engine, ..HostConfig::new(data.path()) }).expect("host");
        assert!(host.pooling_active(), "this test is about the pool; the pool could not be created");
        let dirs: Vec<PluginDir> =
            (0..3).map(|i| PluginDir::new(&format!("p{i}"), guests::PROBE_PLUGIN_WASM, &[], json!({}))).collect();
        for dir in &dirs {
            host.load_plugin(dir.path()).expect("load");
        }
        std::thread::scope(|scope| {
            for id in ["p0", "p1"] {
                let host = &host;
                scope.spawn(move || host.call_route(id, RouteRequest::new(Method::Get, "/sleep?ms=3000")));
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let running = |id: &str| host.plugin(id).map_or(0, |p| p.health.running);
            while (running("p0") < 1 || running("p1") < 1) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let error =
                host.call_route("p2", RouteRequest::new(Method::Get, "/sleep?ms=1")).expect_err("pool full");
            assert!(matches!(error.kind, CallErrorKind::HostBusy), "{error}");
            assert_eq!(host.plugin("p2").map(|p| (p.health.traps, p.health.consecutive_failures)), Some((0, 0)));
        });
    }
}
