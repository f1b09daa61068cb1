//! Instances made ahead of calls: each call still starts from a fresh
//! instance, the reserves stay within their bounds, and an unloaded plugin
//! gives its instances back.

use plinth_host::{EngineKind, Host, HostConfig, Method, RouteRequest};
use plinth_tests::{PluginDir, get_json, guests, on_both_engines, shared_compile_cache};
use serde_json::json;
use std::time::{Duration, Instant};

fn ready_instances(host: &Host, id: &str) -> usize {
    host.plugin(id).map_or(0, |plugin| plugin.health.ready_instances)
}

/// Waits until plugin `id` has `count` instances ready (the background
/// thread makes them after a call); false if that never happens.
fn wait_for_ready(host: &Host, id: &str, count: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready_instances(host, id) != count {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A host running plugin code on `engine`, with the probe loaded under `limits`.
fn probe_on(engine: EngineKind, limits: serde_json::Value) -> (tempfile::TempDir, Host, PluginDir) {
    let data = tempfile::tempdir().expect("temp dir");
    let config = HostConfig {
        engine,
        compile_cache_dir: Some(shared_compile_cache()),
        ..HostConfig::new(data.path())
    };
    let host = Host::with_config(config).expect("open host");
    let probe = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({ "limits": limits }));
    host.load_plugin(probe.path()).expect("load probe");
    (data, host, probe)
}

on_both_engines! {
    /// With a reserve of one that is full before every call, each call takes
    /// an instance made ahead (only calls take them): it must still see no
    /// trace of any earlier call, in its globals or its memory.
    fn a_call_on_an_instance_made_ahead_sees_nothing_of_the_calls_before(engine) {
        let (_data, host, _probe) = probe_on(engine, json!({"reserve_instances": 1}));
        let fresh = json!({"previous_calls": 0, "dirty_bytes": 0, "changed_initial_bytes": 0});
        for call in 0..5 {
            assert!(wait_for_ready(&host, "probe", 1), "call {call}: no instance was made ahead");
            let (status, body) = get_json(&host, "probe", "/leftovers");
            assert_eq!((status, body), (200, fresh.clone()), "call {call}, on an instance made ahead");
        }
    }
}

on_both_engines! {
    /// An instance made ahead had a long start-up limit; the call that takes it
    /// must still stop at its own, shorter limit (not run on to the start-up's).
    fn an_endless_call_on_an_instance_made_ahead_stops_at_its_own_limit(engine) {
        let limits = json!({"reserve_instances": 1, "route_timeout_ms": 300, "init_timeout_ms": 20000});
        let (_data, host, _probe) = probe_on(engine, limits);
        assert!(wait_for_ready(&host, "probe", 1), "no instance was made ahead");
        let error = host.call_route("probe", RouteRequest::new(Method::Get, "/loop")).expect_err("stopped");
        match error.kind {
            plinth_host::CallErrorKind::Timeout { limit_ms, elapsed_ms } => {
                assert_eq!(limit_ms, 300);
                assert!(elapsed_ms < 10_000, "ran {elapsed_ms} ms, towards the start-up's 20 s: {error}");
            }
            _ => panic!("expected a timeout, got {error}"),
        }
    }
}

/// The host keeps a quarter of its pool ready for all plugins together, and
/// an unloaded plugin's instances count no more.
#[test]
fn reserves_share_a_quarter_of_the_pool_and_unloading_gives_it_back() {
    let data = tempfile::tempdir().expect("temp dir");
    let config = HostConfig {
        pooling: Some(8),
        compile_cache_dir: Some(shared_compile_cache()),
        ..HostConfig::new(data.path())
    };
    let host = Host::with_config(config).expect("open host");
    assert!(host.pooling_active(), "this test is about pool slots; the pool could not be created");
    let limits = json!({"limits": {"reserve_instances": 2}});
    let (first, second) = (
        PluginDir::new("first", guests::PROBE_PLUGIN_WASM, &[], limits.clone()),
        PluginDir::new("second", guests::PROBE_PLUGIN_WASM, &[], limits),
    );
    // A reserve fills once its plugin has loaded (loading calls it).
    host.load_plugin(first.path()).expect("load first");
    assert!(wait_for_ready(&host, "first", 2), "first's reserve did not fill");
    // The pool of 8 allows 2 ready instances in all: `first` holds both.
    host.load_plugin(second.path()).expect("load second");
    let call = |id: &str| host.call_route(id, RouteRequest::new(Method::Get, "/leftovers")).expect("call");
    call("second");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!((ready_instances(&host, "first"), ready_instances(&host, "second")), (2, 0));
    host.unload_plugin("first").expect("unload first");
    call("second");
    assert!(wait_for_ready(&host, "second", 2), "first's share was not given back");
}

/// A plugin may turn its reserve off; it asks within the host's ceiling.
#[test]
fn a_reserve_of_zero_makes_no_instances_ahead_and_a_reserve_above_the_ceiling_is_refused() {
    let data = tempfile::tempdir().expect("temp dir");
    let host = Host::with_config(HostConfig {
        compile_cache_dir: Some(shared_compile_cache()),
        ..HostConfig::new(data.path())
    })
    .expect("open host");
    let off =
        PluginDir::new("off", guests::PROBE_PLUGIN_WASM, &[], json!({"limits": {"reserve_instances": 0}}));
    host.load_plugin(off.path()).expect("load");
    for _ in 0..3 {
        assert_eq!(get_json(&host, "off", "/leftovers").0, 200);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(ready_instances(&host, "off"), 0);
    let greedy =
        PluginDir::new("greedy", guests::PROBE_PLUGIN_WASM, &[], json!({"limits": {"reserve_instances": 9}}));
    let error = host.load_plugin(greedy.path()).expect_err("above the ceiling").to_string();
    assert!(error.contains("limits.reserve_instances asks for 9, above this host's ceiling of 8"), "{error}");
}
