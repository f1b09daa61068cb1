//! The Pulley interpreter against native code, each pair measured in one run
//! on the same data: route calls, the cold start from a precompiled artifact,
//! the Python and JavaScript examples, and a legacy job. `benches/report.py`
//! turns the medians into BENCHMARKS.md's "Interpreted" table. Run:
//! `cargo bench -p plinth-tests --bench interpreted`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use plinth_host::{EngineKind, FieldContext, Host, HostConfig, LegacyConfig, Method, RouteRequest, Target};
use plinth_tests::{copy_example, guests, seed_entities, shared_compile_cache};
use serde_json::json;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

const ENGINES: [(&str, EngineKind); 2] = [("native", EngineKind::Native), ("pulley", EngineKind::Pulley)];

/// A host on `engine` that trusts the artifacts beside its plugins.
fn host(data: &Path, engine: EngineKind) -> Host {
    let config = HostConfig {
        engine,
        trust_precompiled: true,
        compile_cache_dir: Some(shared_compile_cache()),
        legacy: Some(LegacyConfig::default()),
        ..HostConfig::new(data)
    };
    Host::with_config(config).expect("open host")
}

/// `GET /stats/character` on each engine, over the same number of entities.
fn route_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpreted_route");
    for entities in [100u64, 1_000, 10_000] {
        for (name, engine) in ENGINES {
            let data = tempfile::tempdir().expect("temp dir");
            let plugins = tempfile::tempdir().expect("temp dir");
            let host = host(data.path(), engine);
            seed_entities(&host, entities);
            host.load_plugin(copy_example("character-stats", plugins.path())).expect("load");
            group.bench_with_input(BenchmarkId::new(name, entities), &entities, |b, _| {
                b.iter(|| {
                    let request = RouteRequest::new(Method::Get, "/stats/character");
                    black_box(host.call_route("character-stats", request).expect("call").body)
                })
            });
        }
    }
    group.finish();
}

/// Loading the Rust example and making its first call: interpreted from its
/// precompiled Pulley artifact, and natively from the compile cache.
fn cold_start(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpreted_cold_start");
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = copy_example("character-stats", plugins.path());
    plinth_host::artifact::precompile(&dir, &dir.join("plugin.wasm"), &Target::pulley(), false)
        .expect("precompile");
    for (_, engine) in ENGINES {
        let data = tempfile::tempdir().expect("temp dir");
        let host = host(data.path(), engine);
        let first_call = || {
            host.load_plugin(&dir).expect("load");
            let request = RouteRequest::new(Method::Get, "/stats/character");
            black_box(host.call_route("character-stats", request).expect("call"));
            host.unload_plugin("character-stats").expect("unload");
        };
        first_call();
        let id = if engine == EngineKind::Pulley { "pulley_artifact" } else { "native_cached" };
        group.bench_function(id, |b| b.iter(first_call));
    }
    group.finish();
}

/// The Python route and the JavaScript widget render on each engine.
fn languages(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpreted_languages");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    let context =
        FieldContext { field_name: "bio".into(), value: json!("three short words"), ..Default::default() };
    for (name, engine) in ENGINES {
        let data = tempfile::tempdir().expect("temp dir");
        let host = host(data.path(), engine);
        for plugin in ["character-stats-py", "word-count-widget-js"] {
            host.load_plugin(plinth_tests::example(plugin)).expect("load");
        }
        group.bench_function(BenchmarkId::new("python_route", name), |b| {
            b.iter(|| {
                let request = RouteRequest::new(Method::Get, "/stats/character");
                black_box(host.call_route("character-stats-py", request).expect("call"))
            })
        });
        group.bench_function(BenchmarkId::new("javascript_render", name), |b| {
            b.iter(|| {
                black_box(
                    host.render_widget("plugin:word-count-widget-js:word-count", &context).expect("render"),
                )
            })
        });
    }
    group.finish();
}

/// A legacy job (`math.wasm` add) on each engine.
fn legacy(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpreted_legacy");
    let request = br#"{"fn":"add","args":[3,5]}"#;
    for (name, engine) in ENGINES {
        let data = tempfile::tempdir().expect("temp dir");
        let host = host(data.path(), engine);
        let legacy = host.legacy().expect("legacy adapter");
        legacy.add_module(Path::new(guests::LEGACY_MATH_WASM)).expect("install");
        group.bench_function(name, |b| b.iter(|| black_box(legacy.call("math.wasm", request).expect("job"))));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = route_call, cold_start, languages, legacy
}
criterion_main!(benches);
