//! Load bookkeeping and hot reload in the library: failed folders are
//! remembered with their reason, `reload_changed` picks up new and changed
//! folders, and a broken update keeps the running version.

use plinth_tests::{copy_example, fresh_host};
use serde_json::Value;
use std::path::Path;

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("plugin.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    edit(&mut manifest);
    std::fs::write(&path, manifest.to_string()).expect("write");
    // Modification times have a coarse grain on some file systems: the size changes too.
}

#[test]
fn failed_loads_are_remembered_and_changed_folders_reload() {
    let (_data, host) = fresh_host();
    let plugins = tempfile::tempdir().expect("temp dir");
    let stats = copy_example("character-stats", plugins.path());
    let broken = plugins.path().join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("plugin.json"), "{ not json").expect("write");

    let loaded = host.load_plugins_in(plugins.path()).expect("read folder");
    assert_eq!(loaded.iter().filter(|(_, r)| r.is_ok()).count(), 1);
    let failed = host.failed_loads();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!((failed[0].dir.as_path(), failed[0].id.as_deref()), (broken.as_path(), None));
    assert!(failed[0].error.contains("plugin.json is invalid"), "{}", failed[0].error);

    // Nothing changed: nothing to do.
    assert!(host.reload_changed(plugins.path()).expect("poll").is_empty());

    // The broken folder is fixed (another plugin copied in its place) and the
    // running one gets a new version number: both are picked up.
    let fixed = copy_example("audit-trail", plugins.path());
    std::fs::remove_dir_all(&broken).expect("remove broken");
    std::fs::rename(&fixed, &broken).expect("move into place");
    edit_manifest(&stats, |m| m["version"] = "9.9.9-changed".into());
    let done = host.reload_changed(plugins.path()).expect("poll");
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(done.iter().all(|(_, result)| result.is_ok()), "{done:?}");
    assert!(host.failed_loads().is_empty());
    assert_eq!(host.plugin("character-stats").map(|p| p.version).as_deref(), Some("9.9.9-changed"));
    assert!(host.plugin("audit-trail").is_some());

    // A broken update keeps the running version and is listed.
    edit_manifest(&stats, |m| m["capabilities"]["host_functions"] = serde_json::json!(["no_such_grant"]));
    let done = host.reload_changed(plugins.path()).expect("poll");
    assert!(matches!(done.as_slice(), [(_, Err(_))]), "{done:?}");
    assert_eq!(host.plugin("character-stats").map(|p| p.version).as_deref(), Some("9.9.9-changed"));
    let failed = host.failed_loads();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].dir.as_path(), failed[0].id.as_deref()), (stats.as_path(), None));
}
