//! `plinth pack`, `install`, `approve`, `uninstall`, `search` and the
//! `/api/installs` endpoints, run as processes against packages and a
//! registry index the test serves itself on 127.0.0.1.

mod common;

use common::{Server, plinth};
use plinth_tests::copy_example;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Serves the files of `dir` over HTTP on 127.0.0.1 until the test ends.
fn serve_folder(dir: &Path) -> String {
    let dir = dir.to_path_buf();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("non-blocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let files = axum::Router::new().route(
                "/{name}",
                axum::routing::get(move |axum::extract::Path(name): axum::extract::Path<String>| {
                    let file = dir.join(name);
                    async move { std::fs::read(file).map_err(|_| axum::http::StatusCode::NOT_FOUND) }
                }),
            );
            axum::serve(listener, files).await.expect("serve");
        });
    });
    base
}

/// Packs a copy of example `name` into `out`; returns its index entry.
fn pack(name: &str, work: &Path, out: &str, extra: &[&str]) -> Value {
    let dir = copy_example(name, &work.join("src"));
    let mut args = vec!["pack", path(&dir), "-o"];
    let out = work.join(out);
    args.push(path(&out));
    args.extend(extra);
    let packed = plinth(&args);
    assert!(packed.status.success(), "{}", stderr(&packed));
    let text = stdout(&packed);
    let mut lines = text.lines();
    let sha = lines.next().and_then(|l| l.strip_prefix("sha256 ")).expect("sha256 line").to_string();
    let entry: Value = serde_json::from_str(lines.next().expect("index entry")).expect("entry JSON");
    assert_eq!(entry["sha256"], sha.as_str());
    assert_eq!(entry["size"], std::fs::metadata(&out).expect("package").len());
    entry
}

fn write_index(dir: &Path, name: &str, entries: &[Value]) {
    std::fs::write(dir.join(name), json!({ "plugins": entries }).to_string()).expect("index");
}

#[test]
fn install_from_a_folder_a_package_and_an_index_with_consent() {
    let work = tempfile::tempdir().expect("temp dir");
    let entry = pack("audit-trail", work.path(), "audit.tgz", &[]);
    assert_eq!(entry["wit"], "^0.3");
    let data = work.path().join("data");

    // `plinth check` takes a package as it takes a folder.
    let checked = plinth(&["check", path(&work.path().join("audit.tgz"))]);
    assert!(checked.status.success(), "{}", stdout(&checked));
    assert!(stdout(&checked).contains("loaded audit-trail 0.1.0"), "{}", stdout(&checked));

    // A package: pending without --yes (no terminal to ask), until approved.
    let pending = plinth(&["install", path(&work.path().join("audit.tgz")), "--data-dir", path(&data)]);
    assert!(pending.status.success(), "{}", stderr(&pending));
    let text = stdout(&pending);
    assert!(text.contains("grants:    storage_get, storage_set"), "{text}");
    assert!(text.contains("consent:   a new plugin"), "{text}");
    assert!(text.contains("pending: approve with `plinth approve audit-trail"), "{text}");
    let listed = stdout(&plinth(&["installed", "--data-dir", path(&data)]));
    assert!(listed.starts_with("audit-trail\t0.1.0\tpending\t"), "{listed}");
    assert!(!data.join("installed/audit-trail").exists(), "nothing installed before approval");
    let approved = plinth(&["approve", "audit-trail", "--data-dir", path(&data)]);
    assert!(stdout(&approved).contains("installed audit-trail 0.1.0"), "{}", stderr(&approved));
    assert!(data.join("installed/audit-trail/plugin.wasm").is_file());

    // A folder, approved at once with --yes.
    let folder = copy_example("word-count-widget", &work.path().join("folder"));
    let data2 = work.path().join("data2");
    let installed = plinth(&["install", path(&folder), "--yes", "--data-dir", path(&data2)]);
    assert!(stdout(&installed).contains("installed word-count-widget 0.1.0"), "{}", stderr(&installed));

    // An index served over HTTP: search, then install by id (the package beside the index).
    write_index(work.path(), "index.json", std::slice::from_ref(&entry));
    let base = serve_folder(work.path());
    let index = format!("{base}/index.json");
    let found = stdout(&plinth(&["search", "audit", "--index", &index]));
    assert!(found.starts_with("audit-trail\t0.1.0\tstorage_get,storage_set"), "{found}");
    let data3 = work.path().join("data3");
    let by_id = plinth(&["install", "audit-trail", "--index", &index, "--yes", "--data-dir", path(&data3)]);
    assert!(stdout(&by_id).contains("installed audit-trail 0.1.0"), "{}", stderr(&by_id));
    assert!(stdout(&by_id).contains(&format!("from {base}/audit.tgz")), "{}", stdout(&by_id));

    // Uninstall says what happens to the data.
    let removed = plinth(&["uninstall", "audit-trail", "--data-dir", path(&data3)]);
    assert!(stdout(&removed).contains("its storage and settings were kept"), "{}", stderr(&removed));
    assert!(!data3.join("installed/audit-trail").exists());
}

/// A package whose one file is named `name` (escaping, absolute, …).
fn hostile_package(name: &str) -> Vec<u8> {
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(2);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    builder.append(&header, &b"{}"[..]).expect("append");
    builder.into_inner().expect("tar").finish().expect("gzip")
}

#[test]
fn tampered_mislisted_escaping_and_unsigned_packages_are_refused() {
    let work = tempfile::tempdir().expect("temp dir");
    let entry = pack("audit-trail", work.path(), "audit.tgz", &[]);
    let mut tampered = std::fs::read(work.path().join("audit.tgz")).expect("package");
    let last = tampered.len() - 9;
    tampered[last] ^= 1;
    std::fs::write(work.path().join("tampered.tgz"), &tampered).expect("write");
    std::fs::write(work.path().join("escape.tgz"), hostile_package("../../outside.json")).expect("write");
    let escape_size = std::fs::metadata(work.path().join("escape.tgz")).expect("size").len();
    let escape_sha = plinth_host::install::package::sha256_hex(&hostile_package("../../outside.json"));
    let with = |changes: Value| {
        let mut changed = entry.clone();
        changed.as_object_mut().expect("object").extend(changes.as_object().expect("object").clone());
        changed
    };
    let cases = [
        ("tampered", with(json!({ "id": "tampered", "url": "tampered.tgz" })), "has SHA-256"),
        (
            "wrong-size",
            with(json!({ "id": "wrong-size", "size": entry["size"].as_u64().expect("size") - 1 })),
            "bytes, but the index says",
        ),
        (
            "escape",
            with(json!({ "id": "escape", "url": "escape.tgz", "size": escape_size, "sha256": escape_sha })),
            "would leave the plugin's folder",
        ),
    ];
    let entries: Vec<Value> =
        cases.iter().map(|(_, entry, _)| entry.clone()).chain([entry.clone()]).collect();
    write_index(work.path(), "index.json", &entries);
    let index = format!("{}/index.json", serve_folder(work.path()));
    let data = work.path().join("data");
    for (id, _, expected) in cases {
        let refused = plinth(&["install", id, "--index", &index, "--yes", "--data-dir", path(&data)]);
        assert!(!refused.status.success(), "{id} was installed");
        assert!(stderr(&refused).contains(expected), "{id}: {}", stderr(&refused));
    }
    for place in
        [work.path().join("outside.json"), data.join("outside.json"), data.join("_install/outside.json")]
    {
        assert!(!place.exists(), "{} was written", place.display());
    }
    let checked = plinth(&["check", path(&work.path().join("escape.tgz"))]);
    assert!(!checked.status.success());
    assert!(stderr(&checked).contains("would leave the plugin's folder"), "{}", stderr(&checked));
    let unsigned = plinth(&[
        "install",
        "audit-trail",
        "--index",
        &index,
        "--require-signatures",
        "--data-dir",
        path(&data),
    ]);
    assert!(stderr(&unsigned).contains("is not signed by a trusted key"), "{}", stderr(&unsigned));
    assert!(stdout(&plinth(&["installed", "--data-dir", path(&data)])).is_empty(), "nothing half-installed");

    // Signed by a key the operator trusts: installed.
    let keygen = std::process::Command::new(common::PLINTH)
        .args(["keygen", "acme"])
        .current_dir(work.path())
        .output()
        .expect("keygen");
    let trusted_line = stdout(&keygen);
    assert!(trusted_line.starts_with("acme "), "{}", stderr(&keygen));
    let keys = work.path().join("trusted.keys");
    std::fs::write(&keys, &trusted_line).expect("keys");
    let secret = work.path().join("acme.secret");
    let signed =
        pack("audit-trail", work.path(), "signed.tgz", &["--sign", path(&secret), "--key-name", "acme"]);
    assert_eq!(signed["signature"]["key"], "acme");
    write_index(work.path(), "signed.json", &[signed]);
    let signed_index = index.replace("index.json", "signed.json");
    let args = [
        "install",
        "audit-trail",
        "--index",
        &signed_index,
        "--require-signatures",
        "--trusted-keys",
        path(&keys),
        "--yes",
        "--data-dir",
        path(&data),
    ];
    let installed = plinth(&args);
    assert!(stdout(&installed).contains("signed by: acme"), "{}{}", stdout(&installed), stderr(&installed));
    assert!(stdout(&installed).contains("installed audit-trail"), "{}", stderr(&installed));
}

#[test]
fn the_server_installs_with_consent_and_keeps_installs_across_restarts() {
    let work = tempfile::tempdir().expect("temp dir");
    pack("character-stats", work.path(), "stats.tgz", &[]);
    let package = std::fs::read(work.path().join("stats.tgz")).expect("package");
    let plugins = tempfile::tempdir().expect("empty plugins folder");
    let data = work.path().join("data");
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start_on(plugins.path(), &data, &[], scratch);

    // "Install Local": the upload is vetted and pending, and nothing of it runs.
    let (status, created) = server.upload(&package);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "pending");
    assert_eq!(created["request"]["exports"], json!(["events", "routes"]));
    assert!(created["request"]["host_functions"].as_array().expect("grants").contains(&json!("entity_list")));
    let (status, _) = server.get("/api/plugins/character-stats");
    assert_eq!(status, 404, "a pending plugin is not loaded");
    let (status, _) = server.get("/api/plugins/character-stats/stats/character");
    assert_eq!(status, 404);

    let (status, _, approved) = server.send("POST", "/api/installs/character-stats/approve", None);
    assert_eq!((status, &approved["state"]), (200, &json!("approved")), "{approved}");
    let (status, stats) = server.get("/api/plugins/character-stats/stats/character");
    assert_eq!(status, 200, "{stats}");

    // A restart loads it again from the data directory.
    server.terminate();
    let mut server = Server::start_on(plugins.path(), &data, &[], tempfile::tempdir().expect("temp dir"));
    let (status, _) = server.get("/api/plugins/character-stats/stats/character");
    assert_eq!(status, 200);
    let (_, installs) = server.get("/api/installs");
    assert_eq!(installs["installs"][0]["state"], "approved", "{installs}");

    // Refusals are errors with a code; uninstall says what happens to the data.
    let (status, refused) = server.upload(b"not a package");
    assert_eq!((status, &refused["error"]["code"]), (422, &json!("bad_archive")), "{refused}");
    // Ids name folders: anything but a plugin id is refused before touching one.
    for hostile in ["%2E%2E", "..%2F..%2Fetc"] {
        let (status, _, body) = server.send("DELETE", &format!("/api/installs/{hostile}"), None);
        assert_eq!(status, 404, "{hostile}: {body}");
    }
    assert!(data.join("installed/character-stats/plugin.wasm").is_file(), "the data directory is intact");
    let (status, _, body) = server.send("POST", "/api/installs", Some(r#"{"id": "/etc"}"#));
    assert_eq!(status, 409, "without --index an id is not installable, and never a path: {body}");
    let (status, _, removed) = server.send("DELETE", "/api/installs/character-stats?remove_data=true", None);
    assert_eq!((status, &removed["data"]), (200, &json!("removed")), "{removed}");
    let (status, _) = server.get("/api/plugins/character-stats");
    assert_eq!(status, 404);
    server.terminate();
}

/// `plinth install`, `approve` and `uninstall` on the data directory of a
/// running server (one SQLite file, two processes): the server follows
/// within seconds, without a restart.
#[test]
fn a_running_server_follows_install_commands_on_its_data_directory() {
    let work = tempfile::tempdir().expect("temp dir");
    pack("character-stats", work.path(), "stats.tgz", &[]);
    let plugins = tempfile::tempdir().expect("empty plugins folder");
    let data = work.path().join("data");
    let server = Server::start_on(plugins.path(), &data, &[], tempfile::tempdir().expect("temp dir"));
    let stats = "/api/plugins/character-stats/stats/character";
    assert_eq!(server.get(stats).0, 404);

    let package = work.path().join("stats.tgz");
    let pending = plinth(&["install", path(&package), "--data-dir", path(&data)]);
    assert!(pending.status.success(), "{}", stderr(&pending));
    let (_, listed) = server.get("/api/installs");
    assert_eq!(listed["installs"][0]["state"], "pending", "{listed}");
    assert_eq!(server.get(stats).0, 404, "nothing pending runs");
    let approved = plinth(&["approve", "character-stats", "--data-dir", path(&data)]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    assert!(server.answers(stats, 200), "the server loads what the command approved");
    let removed = plinth(&["uninstall", "character-stats", "--data-dir", path(&data)]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(server.answers(stats, 404), "the server unloads what the command uninstalled");
}

/// The newest `installed/{id}` version recorded, if any.
fn installed_version(data: &Path, id: &str) -> Option<String> {
    let record = std::fs::read_to_string(data.join("installed").join(id).join("install.json")).ok()?;
    serde_json::from_str::<Value>(&record).ok()?["version"].as_str().map(str::to_string)
}

#[test]
fn an_install_killed_midway_leaves_the_previous_version_whole() {
    let work = tempfile::tempdir().expect("temp dir");
    pack("audit-trail", work.path(), "v1.tgz", &[]);
    // Version 2 carries a large page, so unpacking it takes a while to kill.
    let dir = copy_example("audit-trail", &work.path().join("v2"));
    let manifest_path = dir.join("plugin.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("manifest")).expect("JSON");
    manifest["version"] = json!("2.0.0");
    std::fs::write(&manifest_path, manifest.to_string()).expect("manifest");
    let noise: Vec<u8> = (0..48u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(dir.join("ui/noise.bin"), noise).expect("noise");
    let v2: PathBuf = work.path().join("v2.tgz");
    assert!(plinth(&["pack", path(&dir), "-o", path(&v2)]).status.success());

    let data = work.path().join("data");
    let v1 = plinth(&["install", path(&work.path().join("v1.tgz")), "--yes", "--data-dir", path(&data)]);
    assert!(v1.status.success(), "{}", stderr(&v1));
    for delay_ms in [50u64, 150, 300, 600, 1200] {
        let mut child = std::process::Command::new(common::PLINTH)
            .args(["install", path(&v2), "--yes", "--data-dir", path(&data)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().expect("wait");
        // Whatever the moment, the next command finds one whole version, and no half-unpacked folder.
        let listed = stdout(&plinth(&["installed", "--data-dir", path(&data)]));
        let version = installed_version(&data, "audit-trail");
        eprintln!("killed after {delay_ms} ms: installed version {version:?}");
        assert!(
            matches!(version.as_deref(), Some("0.1.0" | "2.0.0")),
            "after {delay_ms} ms: {version:?}, {listed}"
        );
        let staging = std::fs::read_dir(data.join("_install/staging")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(staging, 0, "after {delay_ms} ms the staging folder was not cleared");
        let check = plinth(&["check", path(&data.join("installed/audit-trail"))]);
        assert!(
            check.status.success(),
            "after {delay_ms} ms the installed version does not load: {}",
            stdout(&check)
        );
        if version.as_deref() == Some("2.0.0") {
            // Put version 1 back for the next round.
            assert!(plinth(&["uninstall", "audit-trail", "--data-dir", path(&data)]).status.success());
            assert!(
                plinth(&["install", path(&work.path().join("v1.tgz")), "--yes", "--data-dir", path(&data)])
                    .status
                    .success()
            );
        }
    }
}
