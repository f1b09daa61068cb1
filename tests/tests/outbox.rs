//! The hook outbox on the embedded database: a write's hook deliveries
//! commit with it, so hooks a crashed host never ran are delivered when a
//! host opens the database again, exactly once; and a hook put back because
//! its plugin was busy is delivered later.

use plinth_host::store::{
    Backend, CommitError, KvChanges, NewDeliveries, PluginCommit, PluginKv, StoreError, Usage, Versioned,
};
use plinth_host::{Entity, Host, HostConfig};
use plinth_tests::guests::PROBE_PLUGIN_WASM;
use plinth_tests::{PluginDir, copy_example, shared_compile_cache};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn host_on(data: &std::path::Path) -> Host {
    let config = HostConfig { compile_cache_dir: Some(shared_compile_cache()), ..HostConfig::new(data) };
    Host::with_config(config).expect("open host")
}

/// `count` probe plugins, `probe-0` on, loaded into `host`; each one's hook
/// stores the entity's type under `seen/{id}`.
fn load_probes(host: &Host, count: usize) -> Vec<PluginDir> {
    let probes: Vec<PluginDir> = (0..count)
        .map(|i| PluginDir::new(&format!("probe-{i}"), PROBE_PLUGIN_WASM, &["storage_set"], json!({})))
        .collect();
    for probe in &probes {
        host.load_plugin(probe.path()).expect("load probe");
    }
    probes
}

/// Each of the first `count` probes' hooks saw the `note` entity `id` once.
fn assert_each_probe_saw(host: &Host, count: usize, id: &str) {
    for i in 0..count {
        let seen = host.storage_get(&format!("probe-{i}"), &format!("seen/{id}")).expect("storage");
        assert_eq!(seen.as_deref(), Some(&b"note"[..]), "probe-{i}'s hook wrote once");
    }
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
    let _probes = load_probes(&host, 3);
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
    assert_each_probe_saw(&host, 3, &write.entity.id);
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

/// SQLite's storage, counting how commits arrive: alone, or together (and
/// which plugins' in each group). When `interfere_with` names a plugin, the
/// first group of two or more that holds it is preceded by a commit that
/// moves that plugin's `next` counter, as another call committing in
/// between would.
struct CountingKv {
    inner: Arc<dyn PluginKv>,
    alone: AtomicUsize,
    groups: Mutex<Vec<Vec<String>>>,
    interfere_with: Option<&'static str>,
    interfered: AtomicBool,
    /// Fail the first group of two or more as a whole, as a transaction
    /// that could not begin would, committing nothing.
    fail_a_group: AtomicBool,
}

impl PluginKv for CountingKv {
    fn reads_in_place(&self) -> bool {
        self.inner.reads_in_place()
    }
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(plugin, key)
    }
    fn list_keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list_keys(plugin, prefix)
    }
    fn usage(&self, plugin: &str) -> Result<Usage, StoreError> {
        self.inner.usage(plugin)
    }
    fn commit(&self, plugin: &str, changes: &KvChanges, quota: Usage) -> Result<(), CommitError> {
        self.alone.fetch_add(1, Ordering::SeqCst);
        self.inner.commit(plugin, changes, quota)
    }
    fn commit_together(&self, commits: &[PluginCommit<'_>]) -> Vec<Result<(), CommitError>> {
        let plugins: Vec<String> = commits.iter().map(|commit| commit.plugin.to_string()).collect();
        if plugins.len() > 1 && self.fail_a_group.swap(false, Ordering::SeqCst) {
            self.groups.lock().expect("groups").push(plugins);
            let failed = StoreError::Failed {
                operation: "committing plugin storage",
                message: "disk I/O error".into(),
            };
            return commits.iter().map(|_| Err(CommitError::Store(failed.clone()))).collect();
        }
        if let Some(plugin) = self.interfere_with
            && plugins.len() > 1
            && plugins.iter().any(|name| name == plugin)
            && !self.interfered.swap(true, Ordering::SeqCst)
        {
            let mut moved = KvChanges::default();
            moved.writes.insert("next".into(), Some(b"100".to_vec()));
            let roomy = Usage { bytes: 1 << 20, keys: 1000 };
            self.inner.commit(plugin, &moved, roomy).expect("the other call's commit");
        }
        self.groups.lock().expect("groups").push(plugins);
        self.inner.commit_together(commits)
    }
    fn commits_together(&self) -> bool {
        self.inner.commits_together()
    }
    fn commits_entity_writes(&self) -> bool {
        self.inner.commits_entity_writes()
    }
    fn commits_messages(&self) -> bool {
        self.inner.commits_messages()
    }
}

impl CountingKv {
    /// The groups committed so far, and the commits made alone.
    fn counts(&self) -> (Vec<Vec<String>>, usize) {
        (self.groups.lock().expect("groups").clone(), self.alone.load(Ordering::SeqCst))
    }
}

/// A host on SQLite whose plugin storage counts its commits.
fn counting_host(
    data: &std::path::Path,
    interfere_with: Option<&'static str>,
    fail_a_group: bool,
) -> (Host, Arc<CountingKv>) {
    std::fs::create_dir_all(data).expect("data dir");
    let mut backend = Backend::sqlite(data).expect("database");
    let kv = Arc::new(CountingKv {
        inner: backend.kv.clone(),
        alone: AtomicUsize::new(0),
        groups: Mutex::default(),
        interfere_with,
        interfered: AtomicBool::new(false),
        fail_a_group: AtomicBool::new(fail_a_group),
    });
    backend.kv = kv.clone();
    let config = HostConfig {
        compile_cache_dir: Some(shared_compile_cache()),
        backend: Some(backend),
        ..HostConfig::new(data)
    };
    (Host::with_config(config).expect("open host"), kv)
}

/// Writes that gather their hooks' commits only while each hook is quick
/// (2 ms): on a loaded machine a write may find one slow and commit some
/// alone, so a test makes up to this many writes to see one gathered whole.
const WRITES_TRIED: usize = 5;

/// The quick hooks of one write commit together: five plugins' hooks each
/// store what they saw, and a write's five commits reach the database as one
/// group (one SQLite transaction, a savepoint each), none alone.
#[test]
fn the_quick_hooks_of_one_write_commit_together() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let (host, kv) = counting_host(&scratch.path().join("data"), None, false);
    let _probes = load_probes(&host, 5);
    let mut gathered_whole = false;
    for _ in 0..WRITES_TRIED {
        let (groups_before, alone_before) = kv.counts();
        let write = host.create_entity("note", json!({})).expect("write");
        assert!(write.hooks_succeeded() && write.hooks.len() == 5, "{write:?}");
        assert_each_probe_saw(&host, 5, &write.entity.id);
        let (groups, alone) = kv.counts();
        gathered_whole = groups[groups_before.len()..]
            == [["probe-0", "probe-1", "probe-2", "probe-3", "probe-4"]]
            && alone == alone_before;
        if gathered_whole {
            break;
        }
    }
    assert!(gathered_whole, "no write committed its five hooks as one group: {:?}", kv.counts());
    assert_eq!(host.pending_deliveries().expect("pending"), 0, "every delivery settled with its commit");
}

/// A hook whose gathered commit conflicts runs again, alone, and only its
/// own part is undone: another call moves audit-trail's counter just before
/// a write's group commits, so audit-trail's commit in the group (which
/// read the counter before) conflicts; its hook runs again, reads the moved
/// counter and commits alone, while the probe's commit in the same group
/// lands as it was. Every write's event is recorded exactly once.
#[test]
fn a_hook_whose_gathered_commit_conflicts_runs_again_alone() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let (host, kv) = counting_host(&scratch.path().join("data"), Some("audit-trail"), false);
    let plugins = tempfile::tempdir().expect("temp dir");
    host.load_plugin(copy_example("audit-trail", plugins.path())).expect("load audit-trail");
    let probe = PluginDir::new("probe", PROBE_PLUGIN_WASM, &["storage_set"], json!({}));
    host.load_plugin(probe.path()).expect("load probe");
    let (mut writes, mut alone_before) = (Vec::new(), 0);
    while writes.len() < WRITES_TRIED && !kv.interfered.load(Ordering::SeqCst) {
        alone_before = kv.counts().1;
        let write = host.create_entity("note", json!({})).expect("write");
        assert!(write.hooks_succeeded(), "{write:?}");
        writes.push(write.entity.id);
    }
    assert!(kv.interfered.load(Ordering::SeqCst), "no write gathered both hooks: {:?}", kv.counts());
    let (groups, alone) = kv.counts();
    assert_eq!(groups.last().map(Vec::as_slice), Some(&["audit-trail".to_string(), "probe".to_string()][..]));
    assert_eq!(alone, alone_before + 1, "audit-trail's second run, alone, was that write's only lone commit");
    let records = host.storage_keys("audit-trail", "event/").expect("listed");
    assert_eq!(records.len(), writes.len(), "one record per write: {records:?}");
    assert_eq!(
        records.last().map(String::as_str),
        Some("event/000000000100"),
        "numbered from the moved counter"
    );
    let next = host.storage_get("audit-trail", "next").expect("storage").expect("the counter");
    assert_eq!(next, b"101", "the second run counted on from the moved counter, once");
    for id in &writes {
        let seen = host.storage_get("probe", &format!("seen/{id}")).expect("storage");
        assert_eq!(seen.as_deref(), Some(&b"note"[..]), "the probe's part of each write landed");
    }
    assert_eq!(host.pending_deliveries().expect("pending"), 0);
}

/// A group that fails as a whole (its transaction could not begin) is
/// committed again one by one: the write's hooks all succeed, each commit
/// made alone, and nothing is written twice.
#[test]
fn a_group_that_fails_whole_commits_one_by_one() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let (host, kv) = counting_host(&scratch.path().join("data"), None, true);
    let _probes = load_probes(&host, 3);
    let mut writes = 0;
    while writes < WRITES_TRIED && kv.fail_a_group.load(Ordering::SeqCst) {
        let alone_before = kv.counts().1;
        let write = host.create_entity("note", json!({})).expect("write");
        writes += 1;
        assert!(write.hooks_succeeded() && write.hooks.len() == 3, "{write:?}");
        if !kv.fail_a_group.load(Ordering::SeqCst) {
            let (groups, alone) = kv.counts();
            assert_eq!(groups.last().map(Vec::len), Some(3), "the failed group held the three: {groups:?}");
            assert_eq!(alone, alone_before + 3, "each of the failed group's commits was made alone");
        }
        assert_each_probe_saw(&host, 3, &write.entity.id);
    }
    assert!(!kv.fail_a_group.load(Ordering::SeqCst), "no write gathered its hooks: {:?}", kv.counts());
    assert_eq!(host.pending_deliveries().expect("pending"), 0);
}
