//! Installs shared by every host on one database: an install, approval,
//! update or uninstall on one host holds on the others (each keeps its own
//! copy under its data directory), and installs an older Plinth kept only on
//! disk join the shared list once. Two hosts on one SQLite database stand in
//! for two nodes here; `cli/tests/nodes.rs` runs the same over HTTP on
//! PostgreSQL.

use plinth_host::install::{Install, InstallConfig, InstallState, Package, package};
use plinth_host::store::{Backend, PackageSlot, StoredPackage};
use plinth_host::{Host, HostConfig, Method, RouteRequest};
use plinth_tests::{copy_example, shared_compile_cache};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn open(data: &Path, backend: Option<&Backend>) -> Host {
    let config = HostConfig {
        compile_cache_dir: Some(shared_compile_cache()),
        pooling: None,
        backend: backend.cloned(),
        ..HostConfig::new(data)
    };
    Host::with_config(config).expect("open host")
}

/// character-stats at `version`, packed.
fn character_stats(root: &Path, version: &str) -> Vec<u8> {
    let dir = copy_example("character-stats", &root.join(version));
    let path = dir.join("plugin.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("JSON");
    manifest["version"] = json!(version);
    std::fs::write(&path, manifest.to_string()).expect("write manifest");
    package::pack(&dir).expect("pack")
}

fn stats_status(host: &Host) -> Option<u16> {
    host.call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"))
        .ok()
        .map(|r| r.status)
}

fn loaded_version(host: &Host) -> Option<String> {
    host.plugin("character-stats").map(|info| info.version)
}

/// Waits (at most 30 s) until `done` holds; whether it did.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..300 {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn an_install_approved_on_one_host_runs_on_every_host_sharing_the_database() {
    let (work, db) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let (a_data, b_data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let backend = Backend::sqlite(db.path()).expect("database");
    let a = open(a_data.path(), Some(&backend));
    let b = Arc::new(open(b_data.path(), Some(&backend)));
    let _loops = Host::start_background(&b);

    // Pending on A is pending on B, and runs on neither.
    let pending = a.install(Package::local(&character_stats(work.path(), "1.0.0"), "v1")).expect("install");
    assert_eq!(pending.state, InstallState::Pending);
    let on_b = b.installs().expect("list");
    assert_eq!(
        on_b.iter().map(|i| (i.id.as_str(), i.state)).collect::<Vec<_>>(),
        [("character-stats", InstallState::Pending)]
    );
    assert_eq!(a.sync_installs().expect("sync").len(), 0, "nothing approved yet");
    assert!(loaded_version(&a).is_none() && loaded_version(&b).is_none());

    // Approved on B: B serves it at once, A once it syncs.
    b.approve_install("character-stats").expect("approve on B");
    assert_eq!(stats_status(&b), Some(200));
    let synced = a.sync_installs().expect("sync");
    assert_eq!(synced.len(), 1, "{synced:?}");
    assert_eq!((synced[0].change, synced[0].result.is_ok()), ("installed", true), "{synced:?}");
    assert_eq!(stats_status(&a), Some(200));
    assert!(a_data.path().join("installed/character-stats/plugin.wasm").is_file(), "A has its own copy");
    assert!(a.sync_installs().expect("sync again").is_empty(), "a second sync finds nothing to do");

    // An update asking for no more, installed on A, replaces it on B by itself (B's sync loop).
    let update = a.install(Package::local(&character_stats(work.path(), "1.1.0"), "v1.1")).expect("update");
    assert_eq!(update.state, InstallState::Approved, "{:?}", update.reasons);
    assert!(eventually(|| loaded_version(&b).as_deref() == Some("1.1.0")), "B runs the update A installed");
    assert_eq!(stats_status(&b), Some(200));

    assert_eq!(b.installs().expect("list")[0].version, "1.1.0");
    // Uninstalled on B: gone from A at its next sync, folder and all.
    b.uninstall("character-stats", false).expect("uninstall on B");
    assert!(loaded_version(&b).is_none());
    let synced = a.sync_installs().expect("sync");
    assert_eq!(
        synced.iter().map(|s| (s.id.as_str(), s.change)).collect::<Vec<_>>(),
        [("character-stats", "removed")]
    );
    assert!(loaded_version(&a).is_none());
    assert!(!a_data.path().join("installed/character-stats").exists());

    // A host that was down while a plugin was uninstalled elsewhere does not
    // bring it back from its old copy when it starts.
    b.install(Package::local(&character_stats(work.path(), "1.2.0"), "v1.2")).expect("install");
    b.approve_install("character-stats").expect("approve");
    assert_eq!(a.sync_installs().expect("sync").len(), 1);
    drop(a);
    assert!(a_data.path().join("installed/character-stats/plugin.wasm").is_file(), "A's copy");
    b.uninstall("character-stats", false).expect("uninstall while A is down");
    let a = open(a_data.path(), Some(&backend));
    assert!(a.load_installed().is_empty());
    assert!(loaded_version(&a).is_none());
    assert!(!a_data.path().join("installed/character-stats").exists(), "its old copy is removed");
}

/// An approval names the package the operator was shown: when another node
/// replaced the pending install meanwhile, the approval is refused and
/// nothing runs.
#[test]
fn an_approval_of_a_package_replaced_meanwhile_is_refused() {
    let (work, db) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let (a_data, b_data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let backend = Backend::sqlite(db.path()).expect("database");
    let (a, b) = (open(a_data.path(), Some(&backend)), open(b_data.path(), Some(&backend)));
    let shown = a.install(Package::local(&character_stats(work.path(), "1.0.0"), "v1")).expect("install");
    let replaced = b.install(Package::local(&character_stats(work.path(), "6.6.6"), "v6")).expect("install");
    assert_eq!(replaced.state, InstallState::Pending);
    assert_ne!(shown.sha256, replaced.sha256);
    let error = a.approve_install_as_shown("character-stats", Some(&shown.sha256)).expect_err("replaced");
    assert_eq!(error.code(), "install_conflict", "{error}");
    assert!(loaded_version(&a).is_none());
    assert_eq!(a.installs().expect("list")[0].version, "6.6.6", "still pending, untouched");
    let approved = a.approve_install_as_shown("character-stats", Some(&replaced.sha256)).expect("as shown");
    assert_eq!((approved.version.as_str(), loaded_version(&a).as_deref()), ("6.6.6", Some("6.6.6")));
}

/// A listed install whose id is not a plugin id (a hand-edited database, or a
/// Plinth with other rules, wrote it) names no folder on any node: it is left
/// in the list as it is, and the rest of the list is still followed.
#[test]
fn a_listed_install_whose_id_is_not_a_plugin_id_is_left_alone() {
    let (work, db, data) = (
        tempfile::tempdir().expect("temp"),
        tempfile::tempdir().expect("temp"),
        tempfile::tempdir().expect("temp"),
    );
    let backend = Backend::sqlite(db.path()).expect("database");
    let host = open(data.path(), Some(&backend));
    host.install(Package::local(&character_stats(work.path(), "1.0.0"), "v1")).expect("install");
    let mut record = host.approve_install("character-stats").expect("approve");
    record.id = "../stray".into();
    let stray = StoredPackage {
        plugin_id: record.id.clone(),
        slot: PackageSlot::Approved,
        sha256: "0".repeat(64),
        record: serde_json::to_string(&record).expect("JSON"),
    };
    assert!(backend.packages.put(&stray, b"not a package", None, None).expect("list it"));
    for _ in 0..2 {
        let synced = host.sync_installs().expect("the rest is followed");
        assert!(
            synced.iter().all(|s| s.id == "character-stats"),
            "{:?}",
            synced.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
    }
    assert_eq!(loaded_version(&host).as_deref(), Some("1.0.0"));
    assert!(!data.path().join("stray").exists(), "nothing is unpacked outside installed/");
    let listed = backend.packages.list().expect("list");
    assert!(listed.iter().any(|p| p.plugin_id == "../stray"), "left in the list as it is");
}

#[test]
fn installs_an_older_plinth_kept_on_disk_join_the_shared_list_once() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let stats = character_stats(work.path(), "1.0.0");
    let pending: Install = {
        let host = open(data.path(), None);
        let installed = host.install(Package::local(&stats, "v1")).expect("install");
        host.approve_install("character-stats").expect("approve");
        Install { version: "2.0.0".into(), ..installed }
    };
    // As an older Plinth left the data directory: the approved install and a
    // pending update only in folders, nothing in the database's list.
    let backend = Backend::sqlite(data.path()).expect("database");
    assert!(backend.packages.remove("character-stats", None).expect("remove"));
    drop(backend);
    let pending_dir = data.path().join("_install/pending/character-stats");
    package::unpack(&stats, &pending_dir, &InstallConfig::default(), "test").expect("unpack");
    std::fs::write(pending_dir.join("install.json"), serde_json::to_vec(&pending).expect("JSON"))
        .expect("record");

    let host = open(data.path(), None);
    let loaded: Vec<_> =
        host.load_installed().into_iter().filter_map(|(_, r)| r.ok()).map(|i| i.version).collect();
    assert_eq!(loaded, ["1.0.0"]);
    let listed: Vec<(String, InstallState)> =
        host.installs().expect("list").into_iter().map(|i| (i.version, i.state)).collect();
    assert_eq!(
        listed,
        [("2.0.0".to_string(), InstallState::Pending), ("1.0.0".to_string(), InstallState::Approved)]
    );
    assert!(!pending_dir.exists(), "the pending install lives in the list now");
    assert_eq!(stats_status(&host), Some(200));
    host.reject_install("character-stats").expect("the adopted pending install can be rejected");
    assert!(host.sync_installs().expect("sync").is_empty(), "this copy is the listed version");
    drop(host);

    // Once: an install removed from the list afterwards is not adopted again.
    let backend = Backend::sqlite(data.path()).expect("database");
    assert!(backend.packages.remove("character-stats", Some(PackageSlot::Approved)).expect("remove"));
    drop(backend);
    let host = open(data.path(), None);
    assert!(host.load_installed().is_empty());
    assert!(host.installs().expect("list").is_empty());
    assert!(!data.path().join("installed/character-stats").exists());
}

/// Moving a data directory to another database (SQLite to PostgreSQL, say)
/// brings its installs along instead of losing them to an empty list.
#[test]
fn a_data_directory_moved_to_a_new_database_brings_its_installs() {
    let (work, data, new_db) = (
        tempfile::tempdir().expect("temp"),
        tempfile::tempdir().expect("temp"),
        tempfile::tempdir().expect("temp"),
    );
    {
        let host = open(data.path(), None);
        host.install(Package::local(&character_stats(work.path(), "1.0.0"), "v1")).expect("install");
        host.approve_install("character-stats").expect("approve");
        assert_eq!(host.load_installed().len(), 0, "already loaded: nothing more to load");
    }
    let backend = Backend::sqlite(new_db.path()).expect("another database");
    let host = open(data.path(), Some(&backend));
    let loaded: Vec<_> =
        host.load_installed().into_iter().filter_map(|(_, r)| r.ok()).map(|i| i.id).collect();
    assert_eq!(loaded, ["character-stats"]);
    assert_eq!(host.installs().expect("list").len(), 1, "the new database lists it");
    assert_eq!(stats_status(&host), Some(200));
}
