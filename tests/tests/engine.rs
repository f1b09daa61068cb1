//! The engine: compiled components cached in the data directory, and both
//! instance allocators.

use plinth_host::{Host, HostConfig, Method, RouteRequest};
use plinth_tests::{example, get_json};

fn artifacts(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(data.join("_compiled"))
        .expect("cache folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[test]
fn compiled_components_are_cached_and_a_broken_artifact_is_rebuilt() {
    let data = tempfile::tempdir().expect("temp dir");
    {
        let host = Host::open(data.path()).expect("open");
        host.load_plugin(example("character-stats")).expect("load");
    }
    let cached = artifacts(data.path());
    assert_eq!(cached.len(), 1, "one artifact per component and engine configuration");
    let compiled = std::fs::read(&cached[0]).expect("artifact");
    let written = std::fs::metadata(&cached[0]).and_then(|m| m.modified()).expect("mtime");

    let host = Host::open(data.path()).expect("reopen");
    host.load_plugin(example("character-stats")).expect("load from the cache");
    assert_eq!(get_json(&host, "character-stats", "/stats/character").0, 200);
    drop(host);
    let kept = std::fs::metadata(&cached[0]).and_then(|m| m.modified()).expect("mtime");
    assert_eq!(kept, written, "loaded from the cache, not written again");

    std::fs::write(&cached[0], b"not an artifact").expect("corrupt");
    let host = Host::open(data.path()).expect("reopen");
    host.load_plugin(example("character-stats")).expect("a broken artifact is compiled again");
    assert!(std::fs::read(&cached[0]).expect("artifact") == compiled, "and written back as compiled");
    let response = host.call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"));
    assert_eq!(response.expect("call").status, 200);
}

#[test]
fn the_on_demand_allocator_and_no_cache_work_too() {
    let data = tempfile::tempdir().expect("temp dir");
    let config = HostConfig { pooling: None, compile_cache: false, ..HostConfig::new(data.path()) };
    let host = Host::with_config(config).expect("open");
    host.load_plugin(example("character-stats")).expect("load");
    assert_eq!(get_json(&host, "character-stats", "/stats/character").0, 200);
    assert!(!data.path().join("_compiled").exists(), "no cache folder when the cache is off");
}
