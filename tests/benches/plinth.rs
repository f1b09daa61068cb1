//! Plinth's benchmarks (criterion). Each group pairs the measured work with a
//! baseline run in the same process; `benches/report.py` turns the medians into
//! the ratios in BENCHMARKS.md. Run: `cargo bench -p plinth-tests --bench plinth`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use plinth_host::{Host, HostConfig, LegacyConfig, Method, RouteRequest};
use plinth_tests::{PluginDir, copy_example, guests, native_stats, seed_entities};
use serde_json::json;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

fn host(data: &Path) -> Host {
    Host::open(data).expect("open host")
}

/// A fresh instance and a `GET /stats/character` per iteration, against the
/// same work done natively (count, settings, JSON), and against the same call
/// with no instances made ahead.
fn route_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_call");
    for entities in [100u64, 1_000, 10_000] {
        let data = tempfile::tempdir().expect("temp dir");
        let plugins = tempfile::tempdir().expect("temp dir");
        let host = host(data.path());
        seed_entities(&host, entities);
        host.load_plugin(copy_example("character-stats", plugins.path())).expect("load");
        group.bench_with_input(BenchmarkId::new("plugin", entities), &entities, |b, _| {
            b.iter(|| {
                let response = host
                    .call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"))
                    .expect("call");
                black_box(response.body)
            })
        });
        group.bench_with_input(BenchmarkId::new("native", entities), &entities, |b, _| {
            b.iter(|| black_box(serde_json::to_vec(&native_stats(&host, "character").expect("native"))))
        });
        // The same call with no instances made ahead: each made and discarded on the call's path.
        let unreserved_data = tempfile::tempdir().expect("temp dir");
        let limits = plinth_host::Limits { reserve_instances: 0, ..Default::default() };
        let unreserved = Host::with_config(HostConfig { limits, ..HostConfig::new(unreserved_data.path()) })
            .expect("open host");
        seed_entities(&unreserved, entities);
        unreserved.load_plugin(copy_example("character-stats", plugins.path())).expect("load");
        group.bench_with_input(BenchmarkId::new("plugin_unreserved", entities), &entities, |b, _| {
            b.iter(|| {
                let response = unreserved
                    .call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"))
                    .expect("call");
                black_box(response.body)
            })
        });
    }
    group.finish();
}

/// Loading a plugin from disk and making its first call: compiled from
/// scratch, and from the compiled-component cache.
fn cold_start(c: &mut Criterion) {
    let mut group = c.benchmark_group("cold_start");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = copy_example("character-stats", plugins.path());
    let first_call = |host: &Host| {
        host.load_plugin(&dir).expect("load");
        let response = host.call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"));
        black_box(response.expect("call"));
        host.unload_plugin("character-stats").expect("unload");
    };
    group.bench_function("uncached", |b| {
        b.iter_batched(
            || {
                let data = tempfile::tempdir().expect("temp dir");
                let host = host(data.path());
                (data, host)
            },
            // Returned, so criterion drops the host (and its temp dir) untimed.
            |(data, host)| {
                first_call(&host);
                (data, host)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let data = tempfile::tempdir().expect("temp dir");
    let warm = host(data.path());
    first_call(&warm);
    group.bench_function("cached", |b| b.iter(|| first_call(&warm)));
    group.finish();
}

/// Storage host calls from the guest with growing payloads, against a call
/// that reads a missing key.
fn storage_roundtrip(c: &mut Criterion) {
    let mut group = c.benchmark_group("storage_roundtrip");
    let data = tempfile::tempdir().expect("temp dir");
    let host = host(data.path());
    let probe =
        PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &["storage_get", "storage_set"], json!({}));
    host.load_plugin(probe.path()).expect("load");
    group.bench_function("missing_key", |b| {
        b.iter(|| {
            black_box(
                host.call_route("probe", RouteRequest::new(Method::Get, "/storage/none")).expect("call"),
            )
        })
    });
    for (label, size) in [("1KiB", 1usize << 10), ("64KiB", 64 << 10), ("1MiB", 1 << 20)] {
        let payload = vec![b'x'; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("set", label), |b| {
            b.iter(|| {
                let request = RouteRequest::new(Method::Put, "/storage/payload").with_body(payload.clone());
                black_box(host.call_route("probe", request).expect("set"))
            })
        });
        group.bench_function(BenchmarkId::new("get", label), |b| {
            b.iter(|| {
                black_box(
                    host.call_route("probe", RouteRequest::new(Method::Get, "/storage/payload"))
                        .expect("get"),
                )
            })
        });
    }
    group.finish();
}

/// One entity created, fanned out to the hooks of ten plugins, against the
/// same write with no plugin loaded.
fn fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("fan_out");
    let data = tempfile::tempdir().expect("temp dir");
    let bare = host(data.path());
    group.bench_function("no_plugins", |b| b.iter(|| black_box(bare.create_entity("character", json!({})))));
    // Ten hook plugins under `limits`, and one write through them per iteration.
    let hooked = |limits: serde_json::Value| {
        let data = tempfile::tempdir().expect("temp dir");
        let host = host(data.path());
        let dirs: Vec<PluginDir> = (0..10)
            .map(|i| {
                let manifest = json!({ "limits": limits });
                PluginDir::new(&format!("probe-{i}"), guests::PROBE_PLUGIN_WASM, &["storage_set"], manifest)
            })
            .collect();
        for dir in &dirs {
            host.load_plugin(dir.path()).expect("load");
        }
        (data, host, dirs)
    };
    let write = |host: &Host| {
        let write = host.create_entity("character", json!({})).expect("create");
        assert!(write.hooks_succeeded());
        black_box(write)
    };
    let (_data, busy, _dirs) = hooked(json!({}));
    group.bench_function("ten_plugins", |b| b.iter(|| write(&busy)));
    // The same with no instances made ahead.
    let (_data, unreserved, _dirs) = hooked(json!({"reserve_instances": 0}));
    group.bench_function("ten_plugins_unreserved", |b| b.iter(|| write(&unreserved)));
    group.finish();
}

/// A legacy job end to end (`math.wasm` add), against the same JSON work natively.
fn legacy(c: &mut Criterion) {
    let mut group = c.benchmark_group("legacy");
    let data = tempfile::tempdir().expect("temp dir");
    let config = HostConfig { legacy: Some(LegacyConfig::default()), ..HostConfig::new(data.path()) };
    let host = Host::with_config(config).expect("open host");
    host.legacy().expect("legacy adapter").add_module(Path::new(guests::LEGACY_MATH_WASM)).expect("install");
    let request = br#"{"fn":"add","args":[3,5]}"#;
    group.bench_function("math_add", |b| {
        b.iter(|| black_box(host.legacy().expect("legacy adapter").call("math.wasm", request).expect("job")))
    });
    group.bench_function("native_add", |b| {
        b.iter(|| {
            let parsed: serde_json::Value = serde_json::from_slice(black_box(request)).expect("json");
            let sum = parsed["args"][0].as_f64().unwrap_or(0.0) + parsed["args"][1].as_f64().unwrap_or(0.0);
            black_box(json!({"ok": true, "value": sum}).to_string())
        })
    });
    group.finish();
}

/// One call per language on the same host: the Rust and Python
/// `character-stats` route, the Rust and JavaScript widget render.
fn languages(c: &mut Criterion) {
    let mut group = c.benchmark_group("languages");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    let data = tempfile::tempdir().expect("temp dir");
    let host = host(data.path());
    for name in ["character-stats", "character-stats-py", "word-count-widget", "word-count-widget-js"] {
        host.load_plugin(plinth_tests::example(name)).expect("load");
    }
    for plugin in ["character-stats", "character-stats-py"] {
        group.bench_function(BenchmarkId::new("route", plugin), |b| {
            b.iter(|| {
                let request = RouteRequest::new(Method::Get, "/stats/character");
                black_box(host.call_route(plugin, request).expect("call"))
            })
        });
    }
    let context = plinth_host::FieldContext {
        field_name: "bio".into(),
        value: json!("three short words"),
        ..Default::default()
    };
    for plugin in ["word-count-widget", "word-count-widget-js"] {
        let widget = format!("plugin:{plugin}:word-count");
        group.bench_function(BenchmarkId::new("widget_render", plugin), |b| {
            b.iter(|| black_box(host.render_widget(&widget, &context).expect("render")))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = route_call, cold_start, storage_roundtrip, fan_out, legacy, languages
}
criterion_main!(benches);
