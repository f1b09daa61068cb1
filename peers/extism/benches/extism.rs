//! Plinth against Extism on the same work, in one process: `character-stats`'
//! `GET /stats/character` per call, a plugin's cold start, and a no-op call
//! against a native function. Both hosts read the same SQLite database through
//! Plinth's API, so only the plugin machinery differs.
//!
//! Run: `cargo bench -p plinth-peers --bench extism` (see BENCHMARKS.md).

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use extism::{Function, Manifest, PTR, Plugin, PluginBuilder, UserData, Wasm, host_fn};
use plinth_host::{EntityQuery, Host, Method, RouteRequest};
use plinth_tests::{copy_example, seed_entities};
use serde_json::{Value, json};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The Extism guest, built once per run.
static EXTISM_WASM: LazyLock<PathBuf> = LazyLock::new(plinth_peers::build_extism_guest);

/// Whose settings the Extism plugin reads: the Plinth plugin's, so both answer alike.
const PLUGIN_ID: &str = "character-stats";

host_fn!(entity_count(host: Arc<Host>; entity_type: String) -> u64 {
    let host = host.get()?;
    let host = host.lock().map_err(|_| extism::Error::msg("host lock poisoned"))?;
    Ok(host.count_entities(&EntityQuery::of_type(&entity_type))?)
});

host_fn!(setting_u64(host: Arc<Host>; key: String) -> Option<u64> {
    let host = host.get()?;
    let host = host.lock().map_err(|_| extism::Error::msg("host lock poisoned"))?;
    Ok(host.settings(PLUGIN_ID)?.get(&key).and_then(Value::as_u64))
});

/// The two host functions the Extism guest imports, bound to `host`.
fn host_functions(host: &Arc<Host>) -> Vec<Function> {
    let data = UserData::new(host.clone());
    vec![
        Function::new("entity_count", [PTR], [PTR], data.clone(), entity_count),
        Function::new("setting_u64", [PTR], [PTR], data, setting_u64),
    ]
}

/// A Plinth host with `character-stats` loaded and `entities` seeded, half characters.
fn plinth_host(data: &Path, plugins: &Path, entities: u64) -> Arc<Host> {
    let host = Host::open(data).expect("open host");
    seed_entities(&host, entities);
    host.load_plugin(copy_example(PLUGIN_ID, plugins)).expect("load character-stats");
    Arc::new(host)
}

fn plinth_stats(host: &Host) -> Vec<u8> {
    let request = RouteRequest::new(Method::Get, "/stats/character");
    host.call_route(PLUGIN_ID, request).expect("plinth call").body
}

fn extism_stats(plugin: &mut Plugin) -> Vec<u8> {
    plugin.call::<&str, &[u8]>("stats", "character").expect("extism call").to_vec()
}

fn extism_builder(host: &Arc<Host>) -> PluginBuilder<'static> {
    PluginBuilder::new(Manifest::new([Wasm::file(&*EXTISM_WASM)])).with_functions(host_functions(host))
}

/// Per call on the same data: Plinth's fresh instance, Extism's live plugin
/// (its usual mode) and a fresh Extism plugin per call (Plinth's isolation).
fn per_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("peer_call");
    for entities in [100u64, 1_000, 10_000] {
        let (data, plugins) =
            (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
        let host = plinth_host(data.path(), plugins.path(), entities);
        let compiled = extism_builder(&host).with_cache_disabled().compile().expect("compile extism plugin");
        let mut live = Plugin::new_from_compiled(&compiled).expect("extism plugin");
        // The same work: both answer the same JSON before anything is timed.
        let plinth: Value = serde_json::from_slice(&plinth_stats(&host)).expect("plinth json");
        let extism: Value = serde_json::from_slice(&extism_stats(&mut live)).expect("extism json");
        assert_eq!(plinth, extism, "the two plugins must do the same work");
        assert_eq!(plinth["count"], json!(entities / 2));

        group.bench_with_input(BenchmarkId::new("plinth", entities), &entities, |b, _| {
            b.iter(|| black_box(plinth_stats(&host)))
        });
        group.bench_with_input(BenchmarkId::new("extism_live", entities), &entities, |b, _| {
            b.iter(|| black_box(extism_stats(&mut live)))
        });
        group.bench_with_input(BenchmarkId::new("extism_fresh", entities), &entities, |b, _| {
            b.iter(|| {
                let mut plugin = Plugin::new_from_compiled(&compiled).expect("extism plugin");
                black_box(extism_stats(&mut plugin))
            })
        });
    }
    group.finish();
}

/// From a file on disk to the first answer: compiled from scratch, and with
/// each host's compile cache warm (Plinth's `_compiled`, Extism's wasmtime cache).
fn cold_start(c: &mut Criterion) {
    let mut group = c.benchmark_group("peer_cold_start");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = copy_example(PLUGIN_ID, plugins.path());
    let plinth_first_call = |host: &Host| {
        host.load_plugin(&dir).expect("load");
        black_box(plinth_stats(host));
        host.unload_plugin(PLUGIN_ID).expect("unload");
    };
    group.bench_function("plinth_uncached", |b| {
        b.iter_batched(
            || {
                let data = tempfile::tempdir().expect("temp dir");
                let host = Host::open(data.path()).expect("open host");
                (data, host)
            },
            // Returned, so criterion drops the host (and its temp dir) untimed.
            |(data, host)| {
                plinth_first_call(&host);
                (data, host)
            },
            BatchSize::PerIteration,
        )
    });
    let data = tempfile::tempdir().expect("temp dir");
    let warm = Host::open(data.path()).expect("open host");
    plinth_first_call(&warm);
    group.bench_function("plinth_cached", |b| b.iter(|| plinth_first_call(&warm)));

    // The Extism plugin reads settings through the same host, so it needs the plugin loaded.
    let (extism_data, extism_plugins) =
        (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let host = plinth_host(extism_data.path(), extism_plugins.path(), 0);
    let extism_first_call = |builder: PluginBuilder| {
        let mut plugin = builder.build().expect("extism plugin");
        black_box(extism_stats(&mut plugin));
    };
    group.bench_function("extism_uncached", |b| {
        b.iter(|| extism_first_call(extism_builder(&host).with_cache_disabled()))
    });
    let cache = tempfile::tempdir().expect("temp dir");
    let cache_config = cache.path().join("cache.toml");
    let cache_dir = cache.path().join("artifacts");
    std::fs::write(&cache_config, format!("[cache]\ndirectory = {cache_dir:?}\n")).expect("cache config");
    extism_first_call(extism_builder(&host).with_cache_config(&cache_config));
    group.bench_function("extism_cached", |b| {
        b.iter(|| extism_first_call(extism_builder(&host).with_cache_config(&cache_config)))
    });
    group.finish();
}

/// A component exporting one function that does nothing.
const NOOP_COMPONENT: &str = r#"(component
  (core module $m (func (export "noop")))
  (core instance $i (instantiate $m))
  (func (export "noop") (canon lift (core func $i "noop"))))"#;

#[inline(never)]
fn native_noop() {
    black_box(());
}

/// What one call costs on a live instance: a native function, a component
/// export on Plinth's engine (its configuration: pooling, epochs), and an
/// Extism export.
fn noop(c: &mut Criterion) {
    use wasmtime::component::{Component, Linker};
    let mut group = c.benchmark_group("noop");
    group.bench_function("native", |b| b.iter(native_noop));

    let data = tempfile::tempdir().expect("temp dir");
    let host = Arc::new(Host::open(data.path()).expect("open host"));
    let engine = host.engine();
    let bytes = wat::parse_str(NOOP_COMPONENT).expect("noop component text");
    let component = Component::new(engine, bytes).expect("compile noop component");
    let mut store = wasmtime::Store::new(engine, ());
    // Plinth's engine interrupts on epochs; this store never should.
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = Linker::new(engine).instantiate(&mut store, &component).expect("instantiate");
    let func = instance.get_typed_func::<(), ()>(&mut store, "noop").expect("noop export");
    group.bench_function("plinth_live", |b| b.iter(|| func.call(&mut store, ()).expect("call")));

    let mut plugin = extism_builder(&host).with_cache_disabled().build().expect("extism plugin");
    group.bench_function("extism_live", |b| {
        b.iter(|| plugin.call::<(), ()>("noop", ()).expect("extism noop"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = per_call, cold_start, noop
}
criterion_main!(benches);
