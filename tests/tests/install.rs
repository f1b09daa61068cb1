//! Installing with consent, through the library: a new plugin waits for
//! approval and runs nothing before it; an update asking for a new grant or a
//! higher limit waits again while the approved version keeps serving; one
//! asking for less replaces it at once; consent lists the hosts a plugin
//! calls and asks again for a new one; installs survive a restart; a
//! package that does not match its index entry or signature is refused;
//! uninstalling keeps the plugin's data unless asked.

use plinth_host::install::index::{self, TrustedKey};
use plinth_host::install::{InstallConfig, InstallState, Package, package};
use plinth_host::{Host, HostConfig, Method, RouteRequest};
use plinth_tests::{copy_example, shared_compile_cache};
use serde_json::{Value, json};
use std::path::Path;

fn open(data: &Path, install: InstallConfig) -> Host {
    let config = HostConfig {
        compile_cache_dir: Some(shared_compile_cache()),
        pooling: None,
        install,
        ..HostConfig::new(data)
    };
    Host::with_config(config).expect("open host")
}

/// character-stats, copied so its manifest can change, at `version` with `grants`.
fn character_stats(root: &Path, version: &str, grants: &[&str], limits: Value) -> Vec<u8> {
    character_stats_with(root, version, |manifest| {
        manifest["capabilities"]["host_functions"] = json!(grants);
        manifest["limits"] = limits;
    })
}

/// character-stats at `version`, its manifest changed by `edit`.
fn character_stats_with(root: &Path, version: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let dir = copy_example("character-stats", &root.join(version));
    let path = dir.join("plugin.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("JSON");
    manifest["version"] = json!(version);
    edit(&mut manifest);
    std::fs::write(&path, manifest.to_string()).expect("write manifest");
    package::pack(&dir).expect("pack")
}

const GRANTS: &[&str] = &["entity_read", "entity_list", "storage_get", "storage_set", "setting_get", "log"];

fn stats_status(host: &Host) -> Option<u16> {
    host.call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"))
        .ok()
        .map(|r| r.status)
}

#[test]
fn consent_is_asked_for_new_plugins_and_for_updates_that_ask_for_more() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let host = open(data.path(), InstallConfig::default());

    // A new plugin is pending: vetted, not loaded, and what it asks for is listed.
    let v1 = character_stats(work.path(), "1.0.0", &GRANTS[..5], json!({}));
    let install = host.install(Package::local(&v1, "v1.tgz")).expect("install");
    assert_eq!(install.state, InstallState::Pending);
    assert_eq!(install.request.host_functions, GRANTS[..5]);
    assert_eq!(install.request.exports, ["events", "routes"]);
    assert_eq!(install.request.wit_version, "0.3.0");
    assert_eq!(install.sha256, package::sha256_hex(&v1));
    assert!(host.plugin("character-stats").is_none(), "nothing runs before approval");
    host.approve_install("character-stats").expect("approve");
    assert_eq!(stats_status(&host), Some(200));

    // An update asking for a new grant waits; the approved version keeps serving.
    let v2 = character_stats(work.path(), "2.0.0", GRANTS, json!({}));
    let update = host.install(Package::local(&v2, "v2.tgz")).expect("install v2");
    assert_eq!(update.state, InstallState::Pending);
    assert_eq!(update.replaces.as_deref(), Some("1.0.0"));
    assert!(update.reasons.iter().any(|r| r.contains("`log`")), "{:?}", update.reasons);
    assert_eq!(host.plugin("character-stats").expect("loaded").version, "1.0.0");
    assert_eq!(stats_status(&host), Some(200));
    host.approve_install("character-stats").expect("approve v2");
    assert_eq!(host.plugin("character-stats").expect("loaded").version, "2.0.0");

    // One asking for less replaces it at once.
    let v3 = character_stats(work.path(), "3.0.0", &GRANTS[..4], json!({}));
    let smaller = host.install(Package::local(&v3, "v3.tgz")).expect("install v3");
    assert_eq!((smaller.state, smaller.reasons.len()), (InstallState::Approved, 0), "{:?}", smaller.reasons);
    assert_eq!(host.plugin("character-stats").expect("loaded").version, "3.0.0");

    // A higher limit waits again.
    let v4 = character_stats(work.path(), "4.0.0", &GRANTS[..4], json!({ "memory_mb": 128 }));
    let bigger = host.install(Package::local(&v4, "v4.tgz")).expect("install v4");
    assert_eq!(bigger.state, InstallState::Pending);
    assert!(bigger.reasons.iter().any(|r| r.contains("memory_bytes")), "{:?}", bigger.reasons);
    host.reject_install("character-stats").expect("reject");
    assert_eq!(host.plugin("character-stats").expect("loaded").version, "3.0.0");
    let listed: Vec<(String, InstallState)> =
        host.installs().expect("list").into_iter().map(|i| (i.version, i.state)).collect();
    assert_eq!(listed, [("3.0.0".to_string(), InstallState::Approved)]);
}

#[test]
fn consent_lists_the_hosts_a_plugin_calls_and_asks_again_for_a_new_one() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let host = open(data.path(), InstallConfig::default());
    let calling = |version: &str, hosts: &[&str]| {
        character_stats_with(work.path(), version, |manifest| {
            manifest["capabilities"]["outbound_hosts"] = json!(hosts);
        })
    };
    let v1 = calling("1.0.0", &["api.example.com"]);
    let install = host.install(Package::local(&v1, "v1.tgz")).expect("install");
    assert!(install.request.host_functions.contains(&"outbound_http:api.example.com".to_string()));
    host.approve_install("character-stats").expect("approve");

    let v2 = calling("2.0.0", &["api.example.com", "https://10.0.0.7:8443"]);
    let update = host.install(Package::local(&v2, "v2.tgz")).expect("install v2");
    assert_eq!(update.state, InstallState::Pending, "a new host waits for consent");
    assert!(
        update.reasons.iter().any(|r| r.contains("`outbound_http:https://10.0.0.7:8443`")),
        "{:?}",
        update.reasons
    );
    host.reject_install("character-stats").expect("reject");

    let v3 = calling("3.0.0", &[]);
    let fewer = host.install(Package::local(&v3, "v3.tgz")).expect("install v3");
    assert_eq!((fewer.state, fewer.reasons.len()), (InstallState::Approved, 0), "{:?}", fewer.reasons);
}

#[test]
fn installs_survive_a_restart_and_uninstall_keeps_data_unless_asked() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let package = character_stats(work.path(), "1.0.0", GRANTS, json!({}));
    {
        let host = open(data.path(), InstallConfig::default());
        host.install(Package::local(&package, "p.tgz")).expect("install");
        host.approve_install("character-stats").expect("approve");
        let write = host.create_entity("character", json!({ "name": "Ada" })).expect("create");
        assert!(write.hooks_succeeded(), "{:?}", write.hooks);
    }
    let host = open(data.path(), InstallConfig::default());
    assert!(host.plugin("character-stats").is_none());
    let loaded: Vec<_> =
        host.load_installed().into_iter().map(|(_, result)| result.map(|info| info.id)).collect();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].as_deref().ok(), Some("character-stats"));
    assert_eq!(stats_status(&host), Some(200));
    let keys = |host: &Host| host.storage_keys("character-stats", "").expect("keys").len();
    assert_eq!(keys(&host), 1, "the hook's analysis is stored");

    let kept = host.uninstall("character-stats", false).expect("uninstall");
    assert_eq!((kept.version.as_deref(), kept.data), (Some("1.0.0"), "kept"));
    assert!(host.plugin("character-stats").is_none());
    assert_eq!(keys(&host), 1);
    assert!(host.installs().expect("list").is_empty());

    host.install(Package::local(&package, "p.tgz")).expect("install again");
    host.approve_install("character-stats").expect("approve");
    assert_eq!(host.uninstall("character-stats", true).expect("uninstall").data, "removed");
    assert_eq!(keys(&host), 0);
}

#[test]
fn packages_that_do_not_match_their_listing_or_signature_are_refused() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let bytes = character_stats(work.path(), "1.0.0", GRANTS, json!({}));
    let sha256 = package::sha256_hex(&bytes);
    let listed = |sha256: &str, size: u64| Package {
        expected_id: Some("character-stats".into()),
        expected_sha256: Some(sha256.into()),
        expected_size: Some(size),
        ..Package::local(&bytes, "index entry")
    };
    let host = open(data.path(), InstallConfig::default());
    let code =
        |result: Result<_, plinth_host::install::error::InstallError>| result.expect_err("refused").code();
    assert_eq!(code(host.install(listed(&"0".repeat(64), bytes.len() as u64))), "checksum_mismatch");
    assert_eq!(code(host.install(listed(&sha256, bytes.len() as u64 - 1))), "size_mismatch");
    let other = Package { expected_id: Some("someone-else".into()), ..listed(&sha256, bytes.len() as u64) };
    assert_eq!(code(host.install(other)), "wrong_plugin");
    let mut tampered = bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0xff;
    let corrupted = code(host.install(Package::local(&tampered, "tampered.tgz")));
    assert!(["bad_archive", "invalid_plugin"].contains(&corrupted), "{corrupted}");
    assert!(host.installs().expect("list").is_empty(), "nothing is left of refused packages");

    // Signatures: required, so unsigned and untrusted packages are refused,
    // a trusted one installs, and a trusted key's signature of other bytes is refused.
    let (public, secret) = index::key_pair([7; 32]);
    let trusted = TrustedKey::parse_list(&format!("# publishers\nacme {public}\n")).expect("keys");
    let strict_data = tempfile::tempdir().expect("temp");
    let strict = open(
        strict_data.path(),
        InstallConfig { trusted_keys: trusted, require_signatures: true, ..InstallConfig::default() },
    );
    assert_eq!(code(strict.install(Package::local(&bytes, "unsigned.tgz"))), "unsigned_package");
    let signature = index::sign(&bytes, "acme", &secret).expect("sign");
    let stranger = index::Signature { key: "stranger".into(), ..signature.clone() };
    let signed = |signature| Package { signature: Some(signature), ..Package::local(&bytes, "signed.tgz") };
    assert_eq!(code(strict.install(signed(stranger))), "unsigned_package");
    let other_bytes = index::sign(b"something else", "acme", &secret).expect("sign");
    assert_eq!(code(strict.install(signed(other_bytes))), "bad_signature");
    let install = strict.install(signed(signature)).expect("a trusted signature installs");
    assert_eq!(install.signed_by.as_deref(), Some("acme"));
}

/// The probe as plugin `probe` at `version`, registering `routes` extra
/// routes at load (over 1,000 and it fails to load).
fn probe(root: &Path, version: &str, routes: u64) -> Vec<u8> {
    let manifest = json!({
        "id": "probe", "name": "probe", "version": version, "wasm": { "module": "plugin.wasm" },
        "capabilities": { "host_functions": ["setting_get"], "settings": {
            "init": { "type": "string", "default": "plain" },
            "routes": { "type": "integer", "default": routes } } },
    });
    let bytes = std::fs::read(plinth_tests::guests::PROBE_PLUGIN_WASM).expect("probe");
    let dir = plinth_tests::write_plugin(root, version, &manifest, &bytes);
    package::pack(&dir).expect("pack")
}

#[test]
fn an_update_that_fails_to_load_leaves_the_previous_version_serving() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let host = open(data.path(), InstallConfig::default());
    host.install(Package::local(&probe(work.path(), "1.0.0", 0), "v1")).expect("install");
    host.approve_install("probe").expect("approve");
    // Same grants, so it is approved at once; its init registers 2,000 routes and fails.
    let error =
        host.install(Package::local(&probe(work.path(), "2.0.0", 2000), "v2")).expect_err("fails to load");
    assert_eq!(error.code(), "load_failed", "{error}");
    assert_eq!(host.plugin("probe").expect("still loaded").version, "1.0.0");
    let version = host.installs().expect("list").into_iter().map(|i| i.version).collect::<Vec<_>>();
    assert_eq!(version, ["1.0.0"], "the folder on disk is the previous version again");
    assert!(host.call_route("probe", RouteRequest::new(Method::Get, "/keys")).is_ok());
}

#[test]
fn a_version_caught_between_two_renames_comes_back_when_a_host_opens() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    {
        let host = open(data.path(), InstallConfig::default());
        host.install(Package::local(&probe(work.path(), "1.0.0", 0), "v1")).expect("install");
        host.approve_install("probe").expect("approve");
    }
    // A crash after moving the old version aside and before moving the new one in.
    let staging = data.path().join("_install/staging");
    std::fs::create_dir_all(&staging).expect("staging");
    std::fs::rename(data.path().join("installed/probe"), staging.join("old-probe")).expect("move aside");
    std::fs::create_dir_all(staging.join("unpack-half")).expect("a half-unpacked package");
    let host = open(data.path(), InstallConfig::default());
    assert_eq!(std::fs::read_dir(&staging).expect("staging").count(), 0, "staging is emptied");
    let loaded: Vec<_> =
        host.load_installed().into_iter().filter_map(|(_, r)| r.ok()).map(|i| i.version).collect();
    assert_eq!(loaded, ["1.0.0"]);
}

#[test]
fn ids_that_are_not_plugin_ids_are_refused_before_touching_a_folder() {
    let data = tempfile::tempdir().expect("temp");
    let host = open(data.path(), InstallConfig::default());
    std::fs::write(data.path().join("keep.txt"), "x").expect("write");
    for id in ["..", "../..", "/etc", "a/b", ""] {
        assert_eq!(host.uninstall(id, true).expect_err(id).code(), "not_found");
        assert_eq!(host.reject_install(id).expect_err(id).code(), "not_found");
        assert_eq!(host.approve_install(id).expect_err(id).code(), "not_found");
    }
    assert!(data.path().join("keep.txt").is_file());
}

#[test]
fn a_package_whose_component_lies_outside_it_is_refused() {
    let data = tempfile::tempdir().expect("temp");
    let host = open(data.path(), InstallConfig::default());
    let manifest = json!({ "id": "p", "name": "p", "version": "1.0.0", "wasm": { "module": "../../../../outside.wasm" } });
    let bytes = std::fs::read(plinth_tests::guests::PROBE_PLUGIN_WASM).expect("probe");
    // Written as a hostile packer would: plugin.json and a component it does not name.
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, data) in [("plugin.json", manifest.to_string().into_bytes()), ("plugin.wasm", bytes)] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, data.as_slice()).expect("append");
    }
    let hostile = builder.into_inner().expect("tar").finish().expect("gzip");
    let error = host.install(Package::local(&hostile, "hostile.tgz")).expect_err("refused");
    assert_eq!(error.code(), "bad_archive", "{error}");
}

#[test]
fn an_unsigned_install_is_not_loaded_once_signatures_are_required() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    {
        let host = open(data.path(), InstallConfig::default());
        host.install(Package::local(&probe(work.path(), "1.0.0", 0), "v1")).expect("install");
        host.approve_install("probe").expect("approve");
    }
    let strict = InstallConfig { require_signatures: true, ..InstallConfig::default() };
    let host = open(data.path(), strict);
    let loaded = host.load_installed();
    assert_eq!(loaded.len(), 1);
    let error = loaded[0].1.as_ref().expect_err("refused");
    assert!(error.to_string().contains("installed unsigned"), "{error}");
    assert!(host.plugin("probe").is_none());
    assert!(
        data.path().join("installed/probe/plugin.wasm").is_file(),
        "kept, so a signed package can replace it"
    );
}

/// A folder whose install record cannot be read says nothing of who signed
/// it: with signatures required it is not loaded either.
#[test]
fn an_install_without_a_readable_record_is_not_loaded_once_signatures_are_required() {
    let (work, data) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    {
        let host = open(data.path(), InstallConfig::default());
        host.install(Package::local(&probe(work.path(), "1.0.0", 0), "v1")).expect("install");
        host.approve_install("probe").expect("approve");
    }
    let record = data.path().join("installed/probe/install.json");
    std::fs::write(&record, b"{ not a record").expect("damage the record");
    let strict = InstallConfig { require_signatures: true, ..InstallConfig::default() };
    let host = open(data.path(), strict);
    let loaded = host.load_installed();
    let refused: Vec<String> =
        loaded.iter().filter_map(|(_, result)| result.as_ref().err().map(|e| e.to_string())).collect();
    assert!(
        refused.iter().any(|e| e.contains("install record (install.json) cannot be read")),
        "{refused:?}"
    );
    assert!(host.plugin("probe").is_none());
}
