//! Two `plinth serve` nodes on one throw-away PostgreSQL cluster, over HTTP:
//! what one node writes the other serves, hook records, settings and
//! installs are shared, and a stopped database gives 503 until it is back,
//! with no node restarted.

mod common;

use common::Server;
use plinth_tests::postgres::Cluster;
use serde_json::json;

#[test]
fn two_nodes_share_one_postgresql_database() {
    let Some(cluster) = Cluster::start() else { return };
    let plugins = plinth_tests::rust_examples();
    let url = cluster.url();
    let (a, b) = (node_on(plugins.path(), &url), node_on(plugins.path(), &url));

    let (status, _, created) =
        a.send("POST", "/api/entities", Some(r#"{"entity_type":"character","data":{"name":"Ada"}}"#));
    assert_eq!(status, 201, "{created}");
    let id = created["entity"]["id"].as_str().expect("id").to_string();
    let (status, seen) = b.get(&format!("/api/entities/{id}"));
    assert_eq!((status, &seen["data"]["name"]), (200, &json!("Ada")), "node B serves node A's write");
    let (_, stats) = b.get("/api/plugins/character-stats/stats/character");
    assert_eq!(stats["count"], 1, "{stats}");
    let (_, audit) = b.get(&format!("/api/plugins/audit-trail/log?entity_id={id}"));
    assert_eq!(audit["events"].as_array().map(Vec::len), Some(1), "the hook ran once, on node A: {audit}");
    let (_, events) = b.get("/api/events?plugin=audit-trail");
    assert_eq!(events["hooks"].as_array().map(Vec::len), Some(1), "hook records are shared: {events}");

    let (status, _, _) =
        b.send("PUT", "/api/plugins/character-stats/settings", Some(r#"{"analysis_depth": 9}"#));
    assert_eq!(status, 200);
    let (_, stats) = a.get("/api/plugins/character-stats/stats/character");
    assert_eq!(stats["analysis_depth"], 9, "a setting changed on node B holds on node A: {stats}");

    // Health is per node and visible from every node: A's calls show in A's report, read on B.
    for _ in 0..5 {
        assert_eq!(a.get("/api/plugins/character-stats/stats/character").0, 200);
    }
    let a_name = a.get("/api/outbox").1["node"].as_str().expect("node name").to_string();
    let calls_on = |listed: &serde_json::Value, this_node: bool| {
        let all = listed["nodes"].as_array().cloned().unwrap_or_default();
        let node = all
            .into_iter()
            .find(|n| n["this_node"] == this_node && (this_node || n["node"] == a_name.as_str()));
        node.and_then(|n| n["plugins"]["character-stats"]["calls"].as_u64()).unwrap_or(0)
    };
    let seen_from_b = (0..300).any(|_| {
        let (status, listed) = b.get("/api/nodes");
        assert_eq!(status, 200, "{listed}");
        if calls_on(&listed, false) >= 5 {
            assert!(calls_on(&listed, true) < 5, "node B's own counters are its own: {listed}");
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        false
    });
    assert!(seen_from_b, "node B shows node A's plugin health");

    // Installs are shared: uploaded on A, pending on B, approved on B, then served by A;
    // uninstalled on A, then gone from B.
    let (status, created) = a.upload(&probe_package());
    assert_eq!((status, &created["state"]), (201, &json!("pending")), "{created}");
    let (_, listed) = b.get("/api/installs");
    assert_eq!(listed["installs"][0]["id"], "probe", "node B lists node A's pending install: {listed}");
    let (status, _, approved) = b.send("POST", "/api/installs/probe/approve", None);
    assert_eq!((status, &approved["state"]), (200, &json!("approved")), "{approved}");
    assert_eq!(b.get("/api/plugins/probe/keys").0, 200);
    assert!(a.answers("/api/plugins/probe/keys", 200), "node A loads what node B approved");
    let (status, _, removed) = a.send("DELETE", "/api/installs/probe", None);
    assert_eq!(status, 200, "{removed}");
    assert!(b.answers("/api/plugins/probe/keys", 404), "node B drops what node A uninstalled");

    // A node's data folder belongs to its database: a command on it without
    // --database is refused, naming the database to give; with it, it works.
    let data_dir = a.data_dir.to_str().expect("a UTF-8 path");
    let refused = common::plinth(&["installed", "--data-dir", data_dir]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    let port = url.rsplit_once(':').and_then(|(_, rest)| rest.split_once('/')).expect("a port").0;
    let address = format!("host=127.0.0.1 port={port} user=plinth dbname=postgres");
    assert!(said.contains(&format!("--database \"{address}\"")), "{said}");
    let listed = common::plinth(&["installed", "--data-dir", data_dir, "--database", &address]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));

    // The database goes away: clear 503s, no crash; it comes back: no restart needed.
    cluster.stop();
    let (status, down) = a.get("/api/entities");
    assert_eq!((status, &down["error"]["code"]), (503, &json!("unavailable")), "{down}");
    assert_eq!(b.get("/healthz").0, 200, "the node itself stays up");
    cluster.start_server();
    let mut status = 0;
    for _ in 0..100 {
        status = a.get(&format!("/api/entities/{id}")).0;
        if status == 200 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status, 200, "node A answers again once the database is back");
    let (status, _, _) =
        b.send("POST", "/api/entities", Some(r#"{"entity_type":"character","data":{"name":"Bo"}}"#));
    assert_eq!(status, 201);
    let (_, listed) = a.get("/api/entities?entity_type=character");
    assert_eq!(listed["total"], 2, "{listed}");
}

/// A plugin switched off on one node is off on the other (within its next
/// poll), and switched back on from there; its queued and stored data stay.
#[test]
fn a_plugin_switched_off_on_one_node_is_off_on_every_node() {
    let Some(cluster) = Cluster::start() else { return };
    let plugins = plinth_tests::rust_examples();
    let url = cluster.url();
    let (a, b) = (node_on(plugins.path(), &url), node_on(plugins.path(), &url));
    let route = "/api/plugins/character-stats/stats/character";
    assert_eq!(b.get(route).0, 200);
    assert_eq!(a.send("POST", "/api/plugins/character-stats/disable", None).0, 200);
    let (status, off) = a.get(route);
    assert_eq!(
        (status, off["error"]["code"].as_str()),
        (503, Some("plugin_disabled")),
        "at once on A: {off}"
    );
    let seen_off = wait_for_status(&b, route, 503);
    assert_eq!(seen_off["error"]["plugin"], "character-stats", "{seen_off}");
    assert_eq!(b.get("/api/plugins/character-stats").1["enabled"], false);
    assert_eq!(b.send("POST", "/api/plugins/character-stats/enable", None).0, 200);
    wait_for_status(&a, route, 200);
}

/// Polls `path` on `node` until it answers `status` (bounded), and returns the body.
fn wait_for_status(node: &Server, path: &str, status: u16) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (seen, body) = node.get(path);
        if seen == status {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "{path} still answers {seen}, not {status}: {body}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A node serving `plugins` on the database at `url`, with its own data folder.
fn node_on(plugins: &std::path::Path, url: &str) -> Server {
    let scratch = tempfile::tempdir().expect("temp dir");
    let data = scratch.path().join("data");
    Server::start_on(plugins, &data, &["--database", url], scratch)
}

/// The probe plugin (it serves `/keys`), packed for an upload.
fn probe_package() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = json!({
        "id": "probe", "name": "Probe", "version": "1.0.0", "wasm": { "module": "plugin.wasm" },
        "capabilities": { "host_functions": ["storage_list"] },
    });
    let component = std::fs::read(plinth_tests::guests::PROBE_PLUGIN_WASM).expect("probe built");
    let plugin = plinth_tests::write_plugin(dir.path(), "probe", &manifest, &component);
    plinth_host::install::package::pack(&plugin).expect("pack")
}

/// Every entity of `entity_type` (as `node` lists them) has exactly one
/// `created` record in audit-trail, and audit-trail's counter agrees: the
/// record is a read-modify-write of one key, so a delivery that took effect
/// twice (or not at all) would show.
fn assert_audited_once(node: &Server, entity_type: &str) -> usize {
    let (_, listed) = node.get(&format!("/api/entities?entity_type={entity_type}&limit=100000"));
    let ids: Vec<&str> =
        listed["entities"].as_array().expect("entities").iter().filter_map(|e| e["id"].as_str()).collect();
    let (status, audit) = node.get("/api/plugins/audit-trail/log");
    assert_eq!(status, 200, "{audit}");
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for event in audit["events"].as_array().expect("events") {
        if event["entity_type"] == entity_type && event["event"] == "created" {
            *seen.entry(event["entity_id"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let missing: Vec<_> = ids.iter().filter(|id| !seen.contains_key(**id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} entities never reached audit-trail: {missing:?}",
        missing.len(),
        ids.len()
    );
    assert_eq!(seen.len(), ids.len(), "audit records of entities that do not exist");
    let (_, failures) = node.get("/api/events?plugin=audit-trail&failed=true");
    assert_eq!(failures["hooks"].as_array().map(Vec::len), Some(0), "no hook failed: {failures}");
    ids.len()
}

/// Three `plinth serve` nodes on one database: 3 × 200 writes at once, spread
/// over the nodes, reach audit-trail exactly once each. Then one node is
/// killed (SIGKILL) in the middle of a second load: the others never stop
/// answering, and once its leases run out they deliver what it left, so every
/// committed write is still audited exactly once.
#[test]
fn three_nodes_deliver_every_event_once_even_when_one_is_killed() {
    let Some(cluster) = Cluster::start() else { return };
    let plugins = plinth_tests::rust_examples();
    let url = cluster.url();
    let mut nodes: Vec<Server> = (0..3)
        .map(|_| {
            let scratch = tempfile::tempdir().expect("temp dir");
            let data = scratch.path().join("data");
            Server::start_on(plugins.path(), &data, &["--database", &url], scratch)
        })
        .collect();

    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();
    let started = std::time::Instant::now();
    let loads: Vec<(Vec<String>, usize)> = std::thread::scope(|scope| {
        let runs: Vec<_> = bases
            .iter()
            .map(|base| scope.spawn(move || common::create_entities(base, "calm", 200, 16)))
            .collect();
        runs.into_iter().map(|run| run.join().expect("load")).collect()
    });
    for (created, failed) in &loads {
        assert_eq!((created.len(), *failed), (200, 0), "every write on every node is acknowledged");
    }
    let loaded = started.elapsed();
    common::wait_for_empty_outbox(&nodes[0]);
    eprintln!(
        "600 writes on 3 nodes in {:.1} s; every delivery settled {:.1} s after the start",
        loaded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(assert_audited_once(&nodes[1], "calm"), 600);

    // Node C dies mid-load, without a chance to clean up.
    let doomed_node = nodes[2].get("/api/outbox").1["node"].as_str().expect("node name").to_string();
    assert!(doomed_node.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{doomed_node}");
    let survivors = [bases[0].clone(), bases[1].clone()];
    let doomed = bases[2].clone();
    let (survived, cut_short) = std::thread::scope(|scope| {
        let steady: Vec<_> = survivors
            .iter()
            .map(|base| scope.spawn(move || common::create_entities(base, "stormy", 200, 16)))
            .collect();
        let on_doomed = scope.spawn(move || common::create_entities(&doomed, "stormy", 200, 16));
        std::thread::sleep(std::time::Duration::from_millis(700));
        nodes[2].child.kill().expect("kill -9 node C");
        let _ = nodes[2].child.wait();
        let killed = std::time::Instant::now();
        // Leased to C when it died: nobody else may take them until their
        // lease runs out, so they are the ones the other nodes must take over.
        let held_by_c =
            format!("SELECT count(*) FROM hook_deliveries WHERE lease_owner = '{doomed_node}' AND NOT done");
        let orphaned = cluster.query(&held_by_c);
        eprintln!("deliveries node C held when it died: {orphaned}");
        assert_ne!(orphaned, "0", "node C died holding deliveries, so the takeover is tested");
        // C renews no lease now: they run out within one lease, and the
        // others' delivery loops claim them (bounded wait).
        let taken_over = (0..1200).find_map(|_| {
            if cluster.query(&held_by_c) == "0" {
                return Some(killed.elapsed());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            None
        });
        let taken_over = taken_over.expect("the other nodes took over node C's deliveries");
        eprintln!("node C's deliveries taken over {:.1} s after it was killed", taken_over.as_secs_f64());
        let survived: Vec<_> = steady.into_iter().map(|run| run.join().expect("load")).collect();
        (survived, on_doomed.join().expect("load on C"))
    });
    eprintln!("node C acknowledged {} writes before it died; {} failed", cut_short.0.len(), cut_short.1);
    let draining = std::time::Instant::now();
    for (created, failed) in &survived {
        assert_eq!((created.len(), *failed), (200, 0), "the other nodes never stopped answering");
    }
    assert!(
        cut_short.1 > 0,
        "node C was killed before its load ended (it acknowledged {})",
        cut_short.0.len()
    );
    common::wait_for_empty_outbox(&nodes[0]);
    eprintln!("outbox empty {:.1} s after the load ended", draining.elapsed().as_secs_f64());
    let stored = assert_audited_once(&nodes[0], "stormy");
    eprintln!("{stored} writes stored, each audited once");
    let counter = cluster.query(
        "SELECT convert_from(value, 'UTF8') FROM plugin_storage WHERE plugin_id = 'audit-trail' AND key = 'next'",
    );
    assert_eq!(counter, (600 + stored).to_string(), "audit-trail's counter: one step per event, no more");
    assert!(stored >= 400 + cut_short.0.len(), "every acknowledged write is stored ({stored})");

    // Every node lists the others; the killed one, silent since, is marked stale.
    let stale_listed = (0..300).any(|_| {
        let (_, listed) = nodes[1].get("/api/nodes");
        let entry = listed["nodes"]
            .as_array()
            .and_then(|all| all.iter().find(|n| n["node"] == doomed_node.as_str()).cloned());
        if entry.is_some_and(|entry| entry["stale"] == true) {
            let live = listed["nodes"]
                .as_array()
                .map_or(0, |all| all.iter().filter(|n| n["stale"] == false).count());
            assert_eq!(live, 2, "nodes A and B report: {listed}");
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        false
    });
    assert!(stale_listed, "node B lists killed node C as stale");
}
