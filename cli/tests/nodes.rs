//! Two `plinth serve` nodes on one throw-away PostgreSQL cluster, over HTTP:
//! what one node writes the other serves, hook records and settings are
//! shared, and a stopped database gives 503 until it is back, with no node
//! restarted.

mod common;

use common::Server;
use plinth_tests::postgres::Cluster;
use serde_json::json;

#[test]
fn two_nodes_share_one_postgresql_database() {
    let Some(cluster) = Cluster::start() else { return };
    let plugins = plinth_tests::rust_examples();
    let url = cluster.url();
    let node = |_| {
        let scratch = tempfile::tempdir().expect("temp dir");
        let data = scratch.path().join("data");
        Server::start_on(plugins.path(), &data, &["--database", &url], scratch)
    };
    let (a, b) = (node(0), node(1));

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
