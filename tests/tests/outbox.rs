//! The hook outbox on the embedded database: a write's hook deliveries
//! commit with it, so hooks a crashed host never ran are delivered when a
//! host opens the database again, exactly once; and a hook put back because
//! its plugin was busy is delivered later.

use plinth_host::store::{Backend, NewDeliveries};
use plinth_host::{Entity, Host, HostConfig};
use plinth_tests::guests::PROBE_PLUGIN_WASM;
use plinth_tests::{PluginDir, copy_example, shared_compile_cache};
use serde_json::json;
use std::time::Duration;

fn host_on(data: &std::path::Path) -> Host {
    let config = HostConfig { compile_cache_dir: Some(shared_compile_cache()), ..HostConfig::new(data) };
    Host::with_config(config).expect("open host")
}

/// Delivers whatever is due, as the delivery loop would.
fn deliver_due(host: &Host) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(host.deliver_due()).expect("deliver due")
}

#[test]
fn hooks_a_crashed_host_left_are_delivered_once_when_a_host_opens_again() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let data = scratch.path().join("data");
    // What a host that died right after committing two writes leaves: the
    // entities and their deliveries, leased to it (the lease long over).
    {
        std::fs::create_dir_all(&data).expect("data dir");
        let backend = Backend::sqlite(&data).expect("database");
        let dead = NewDeliveries {
            plugins: vec!["audit-trail".into()],
            node: "gone".into(),
            lease: Duration::ZERO,
            ..Default::default()
        };
        for id in ["a", "b"] {
            let entity = Entity {
                id: id.into(),
                entity_type: "note".into(),
                data: json!({}),
                created_at: 1,
                updated_at: 1,
            };
            assert!(backend.entities.insert(&entity, &dead).expect("insert").is_some());
        }
        assert_eq!(backend.outbox.pending().expect("pending"), 2);
    }
    let host = host_on(&data);
    host.load_plugin(copy_example("audit-trail", scratch.path())).expect("load audit-trail");
    assert_eq!(deliver_due(&host), 2, "both left deliveries are claimed");
    assert_eq!(host.pending_deliveries().expect("pending"), 0);
    let (status, log) = plinth_tests::get_json(&host, "audit-trail", "/log");
    let ids: Vec<_> =
        log["events"].as_array().expect("events").iter().map(|e| e["entity_id"].clone()).collect();
    assert_eq!((status, ids), (200, vec![json!("a"), json!("b")]), "each audited once: {log}");
    let history = host.hook_history().expect("history");
    assert_eq!(history.iter().filter(|h| h.plugin_id == "audit-trail" && h.error.is_none()).count(), 2);
}

#[test]
fn a_hook_put_back_for_a_busy_plugin_is_delivered_later() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let host = host_on(&scratch.path().join("data"));
    // One call at a time: a second write's hook finds the plugin busy.
    let probe = PluginDir::new(
        "probe",
        PROBE_PLUGIN_WASM,
        &["storage_set"],
        json!({ "limits": { "max_concurrent": 1 } }),
    );
    host.load_plugin(probe.path()).expect("load probe");
    let (slow, quick) = std::thread::scope(|scope| {
        let slow =
            scope.spawn(|| host.create_entity("note", json!({ "sleep_ms": 600 })).expect("slow write"));
        // Bounded wait until the slow hook holds the plugin's one slot.
        for _ in 0..200 {
            if host.plugin("probe").is_some_and(|info| info.health.running == 1) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let quick = host.create_entity("note", json!({})).expect("quick write");
        (slow.join().expect("slow thread"), quick)
    });
    assert!(slow.hooks_succeeded(), "{slow:?}");
    assert!(quick.hooks.is_empty(), "the busy plugin's hook did not run now: {quick:?}");
    assert_eq!(quick.pending.len(), 1, "{quick:?}");
    assert!(quick.pending[0].reason.contains("busy"), "{}", quick.pending[0].reason);
    assert_eq!(host.pending_deliveries().expect("pending"), 1);

    // Due again after its back-off (100 ms); bounded wait.
    let mut delivered = 0;
    for _ in 0..50 {
        delivered += deliver_due(&host);
        if delivered > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(delivered, 1);
    assert_eq!(host.pending_deliveries().expect("pending"), 0);
    let seen = host.storage_get("probe", &format!("seen/{}", quick.entity.id)).expect("storage");
    assert_eq!(seen.as_deref(), Some(&b"note"[..]), "the hook ran, once delivered");
}

/// The hooks of one write run side by side: three plugins' hooks that each
/// sleep 300 ms were all running at one moment (their recorded spans
/// overlap), the write answers with every outcome in plugin order, and each
/// hook's storage write landed.
#[test]
fn the_hooks_of_one_write_run_side_by_side() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let host = host_on(&scratch.path().join("data"));
    let plugins: Vec<PluginDir> = (0..3)
        .map(|i| PluginDir::new(&format!("probe-{i}"), PROBE_PLUGIN_WASM, &["storage_set"], json!({})))
        .collect();
    for plugin in &plugins {
        host.load_plugin(plugin.path()).expect("load probe");
    }
    let write = host.create_entity("note", json!({ "sleep_ms": 300 })).expect("write");
    assert!(write.hooks_succeeded(), "{write:?}");
    let order: Vec<&str> = write.hooks.iter().map(|hook| hook.plugin_id.as_str()).collect();
    assert_eq!(order, ["probe-0", "probe-1", "probe-2"]);
    // Each hook's span in µs: from its start to its commit.
    let spans: Vec<(u64, u64)> =
        write.hooks.iter().map(|hook| (hook.at * 1000 - hook.duration_us, hook.at * 1000)).collect();
    let latest_start = spans.iter().map(|span| span.0).max().expect("spans");
    let earliest_end = spans.iter().map(|span| span.1).min().expect("spans");
    assert!(latest_start < earliest_end, "the hooks ran one after another: {spans:?}");
    for i in 0..3 {
        let seen =
            host.storage_get(&format!("probe-{i}"), &format!("seen/{}", write.entity.id)).expect("storage");
        assert_eq!(seen.as_deref(), Some(&b"note"[..]), "probe-{i}'s hook wrote once");
    }
}

/// A hook that runs longer than one lease keeps its delivery: the writing
/// host renews the lease while the hook runs, so a second host on the same
/// database, polling all along, claims nothing, and the hook's write lands
/// once.
#[test]
fn a_hook_longer_than_its_lease_keeps_its_delivery() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let data = scratch.path().join("data");
    let (writer, other) = (host_on(&data), host_on(&data));
    let probe = PluginDir::new(
        "probe",
        PROBE_PLUGIN_WASM,
        &["storage_set"],
        json!({ "limits": { "hook_timeout_ms": 15000 } }),
    );
    writer.load_plugin(probe.path()).expect("load on the writer");
    other.load_plugin(probe.path()).expect("load on the other host");
    let (write, claimed) = std::thread::scope(|scope| {
        let slow = scope.spawn(|| writer.create_entity("note", json!({ "sleep_ms": 9000 })).expect("write"));
        let mut claimed = 0;
        while !slow.is_finished() {
            claimed += deliver_due(&other);
            std::thread::sleep(Duration::from_millis(250));
        }
        (slow.join().expect("writer"), claimed)
    });
    assert!(write.hooks_succeeded(), "{write:?}");
    assert_eq!(claimed, 0, "the other host took the delivery while its hook still ran");
    assert_eq!(writer.pending_deliveries().expect("pending"), 0);
    let seen = writer.storage_get("probe", &format!("seen/{}", write.entity.id)).expect("storage");
    assert_eq!(seen.as_deref(), Some(&b"note"[..]));
}
