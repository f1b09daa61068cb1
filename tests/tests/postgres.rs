//! The PostgreSQL backend, on a throw-away cluster each test starts itself
//! on 127.0.0.1: the conformance suite, migrations that run once however
//! many nodes start together, a stopped database answering `Unavailable`
//! and recovering without a restart, a host serving plugins on it, the
//! statements one write costs, two nodes sharing plugin storage and a
//! plugin's entity deletes, and verified TLS to a database on another machine.

use plinth_host::store::{Backend, NewDeliveries, StoreError};
use plinth_host::{Entity, Host, HostConfig, Method, RouteRequest};
use plinth_tests::postgres::Cluster;
use plinth_tests::{copy_example, shared_compile_cache};
use serde_json::json;

#[test]
fn the_postgresql_backend_passes_the_conformance_suite() {
    let Some(cluster) = Cluster::start() else { return };
    let backend = Backend::postgres(&cluster.url()).expect("connect to PostgreSQL");
    plinth_tests::conformance::run_all(&backend);
}

#[test]
fn migrations_run_once_when_several_nodes_start_together() {
    let Some(cluster) = Cluster::start() else { return };
    let url = cluster.url();
    let nodes: Vec<Backend> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..6).map(|_| scope.spawn(|| Backend::postgres(&url))).collect();
        starting.into_iter().map(|node| node.join().expect("thread").expect("every node opens")).collect()
    });
    for (i, node) in nodes.iter().enumerate() {
        let entity = Entity {
            id: format!("n{i}"),
            entity_type: "node".into(),
            data: json!({ "i": i }),
            created_at: i as u64,
            updated_at: i as u64,
        };
        assert!(node.entities.insert(&entity, &NewDeliveries::default()).expect("insert").is_some());
    }
    // Every node sees every node's write: one schema, one database.
    let all = plinth_host::EntityQuery { entity_type: Some("node".into()), ..Default::default() };
    for node in &nodes {
        assert_eq!(node.entities.count(&all, None).expect("count"), 6);
    }
}

#[test]
fn a_stopped_database_is_unavailable_and_recovers_without_a_restart() {
    let Some(cluster) = Cluster::start() else { return };
    let backend = Backend::postgres(&cluster.url()).expect("connect");
    let kept =
        Entity { id: "kept".into(), entity_type: "t".into(), data: json!({}), created_at: 1, updated_at: 1 };
    assert!(backend.entities.insert(&kept, &NewDeliveries::default()).expect("insert").is_some());

    cluster.stop();
    match backend.entities.get("kept") {
        Err(StoreError::Unavailable { .. }) => {}
        other => panic!("a stopped database must answer Unavailable, got {other:?}"),
    }
    cluster.start_server();
    // The pool reconnects on its own; bounded wait.
    let mut answer = backend.entities.get("kept");
    for _ in 0..100 {
        if answer.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        answer = backend.entities.get("kept");
    }
    assert_eq!(answer.expect("answers again after the restart"), Some(kept), "nothing committed was lost");
}

#[test]
fn a_host_serves_plugins_on_postgresql() {
    let Some(cluster) = Cluster::start() else { return };
    let (data, plugins) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let config = HostConfig {
        backend: Some(Backend::postgres(&cluster.url()).expect("connect")),
        compile_cache_dir: Some(shared_compile_cache()),
        pooling: None,
        ..HostConfig::new(data.path())
    };
    let host = Host::with_config(config).expect("open host");
    host.load_plugin(copy_example("character-stats", plugins.path())).expect("load");
    host.load_plugin(copy_example("audit-trail", plugins.path())).expect("load");
    for name in ["Ada", "Bo"] {
        let write = host.create_entity("character", json!({ "name": name })).expect("create");
        assert!(write.hooks_succeeded(), "{:?}", write.hooks);
    }
    let response = host
        .call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"))
        .expect("route");
    assert_eq!(response.json().expect("JSON")["count"], 2);
    assert_eq!(
        host.storage_keys("audit-trail", "event/").expect("keys").len(),
        2,
        "one audit record per write"
    );
    assert_eq!(host.hook_history().expect("history").len(), 4);
    // Text PostgreSQL cannot store is refused by the host, as on SQLite, not failed by the database.
    let refused = host.create_entity("character", json!({ "name": "A\u{0}da" })).expect_err("NUL");
    assert_eq!(refused.code(), "invalid_entity", "{refused}");
}

/// The database round trips of one entity write whose two hooks
/// (character-stats and audit-trail) run at once: counted by PostgreSQL
/// itself, every statement of every session, after a first write has warmed
/// the connections and their prepared statements.
#[test]
fn statements_per_write_with_two_hooks() {
    let Some(cluster) = Cluster::start() else { return };
    let (data, plugins) = (tempfile::tempdir().expect("temp"), tempfile::tempdir().expect("temp"));
    let host = node_on(&cluster, data.path());
    host.load_plugin(copy_example("character-stats", plugins.path())).expect("load");
    host.load_plugin(copy_example("audit-trail", plugins.path())).expect("load");
    let write = |name: &str| {
        let write = host.create_entity("character", json!({ "name": name })).expect("create");
        assert!(write.hooks_succeeded() && write.hooks.len() == 2, "{:?}", write.hooks);
    };
    write("Warm");
    cluster.statements_since_last_asked();
    write("Ada");
    let statements: Vec<_> =
        cluster.statements_since_last_asked().into_iter().filter(|statement| statement.toplevel).collect();
    let total: u64 = statements.iter().map(|statement| statement.calls).sum();
    let listed: Vec<String> = statements.iter().map(|s| format!("{} × {}", s.calls, s.query)).collect();
    println!("{total} statements for one write with two hooks:\n{}", listed.join("\n"));
    // At least the entity's own statement and each hook's commit: the count is real.
    assert!((3..=STATEMENTS_PER_WRITE).contains(&total), "{total} statements:\n{}", listed.join("\n"));
}

/// What one entity write with two hooks may cost the database at most, in
/// statements (each a round trip): 5 measured, a ceiling so that no change
/// adds one unnoticed. They are the write's one statement, each hook's
/// commit (one statement, `plinth_commit`), and the hooks' own reads
/// (character-stats' count, audit-trail's counter). It was
/// 34, then 27 once the entity and its deliveries, a delivery's removal and
/// its hook record, and a commit's writes with their old sizes each became
/// one statement; then 6 once each commit became one statement, a read with
/// a deadline lost its transaction, a set far from the quota stopped
/// reading what it replaces, and a call's quota check took the node's own
/// usage figure; then 5 once a node kept the field configurations it read.
const STATEMENTS_PER_WRITE: u64 = 5;

/// Two nodes (two hosts, one database) increment one counter at once: every
/// increment that answered is counted exactly once; one that lost the race
/// three times is a clean `conflict`, never a lost update.
#[test]
fn plugin_storage_stays_serializable_across_nodes() {
    let Some(cluster) = Cluster::start() else { return };
    const CALLS: usize = 16;
    let data = tempfile::tempdir().expect("temp");
    let plugin = plinth_tests::PluginDir::new(
        "probe",
        plinth_tests::guests::PROBE_PLUGIN_WASM,
        &["storage_get", "storage_increment"],
        json!({ "limits": { "max_concurrent": CALLS * 2 } }),
    );
    let nodes = two_nodes_serving(&cluster, data.path(), plugin.path());
    let answers: Vec<Result<u16, String>> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..CALLS * 2)
            .map(|i| {
                let node = &nodes[i % 2];
                scope.spawn(move || {
                    let request = RouteRequest::new(Method::Post, "/increment/hits?spin_ms=2");
                    node.call_route("probe", request).map(|r| r.status).map_err(|e| e.code().to_string())
                })
            })
            .collect();
        calls.into_iter().map(|call| call.join().expect("thread")).collect()
    });
    let counted = answers.iter().filter(|a| **a == Ok(200)).count();
    for answer in &answers {
        assert!(
            matches!(answer, Ok(200)) || answer.as_ref().is_err_and(|code| code == "conflict"),
            "{answer:?}"
        );
    }
    assert!(counted > 0, "{answers:?}");
    eprintln!("{counted} of {} increments answered; the rest ended in `conflict`", CALLS * 2);
    let stored = nodes[0].storage_get("probe", "hits").expect("read").expect("stored");
    assert_eq!(
        String::from_utf8(stored).expect("text"),
        counted.to_string(),
        "every answered increment counted once"
    );
}

/// A query still waiting at its deadline (here on a table another session
/// has locked) is stopped by the database, and says so.
#[test]
fn a_query_is_stopped_at_its_deadline_in_the_database() {
    let Some(cluster) = Cluster::start() else { return };
    let backend = Backend::postgres(&cluster.url()).expect("connect");
    let mut locker =
        cluster.psql("BEGIN; LOCK TABLE entities IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT;");
    // The lock is taken once a query without a deadline cannot get through either.
    let query = plinth_host::EntityQuery::of_type("t");
    let mut stopped = None;
    for _ in 0..50 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
        match backend.entities.find(&query, Some(deadline)) {
            Err(error) => {
                stopped = Some(error);
                break;
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    let error = stopped.expect("a query on the locked table stops at its deadline");
    assert!(error.to_string().contains("deadline"), "{error}");
    assert!(locker.wait().expect("psql").success());
    assert_eq!(backend.entities.find(&query, None).expect("answers once the lock is gone"), []);
}

/// A delivery put back on one node wakes the delivery loop of another
/// (`NOTIFY` on the database, heard by the other backend's `LISTEN`), so
/// idle nodes need not wait for their next poll.
#[test]
fn a_delivery_put_back_on_one_node_wakes_the_others() {
    let Some(cluster) = Cluster::start() else { return };
    let (a, b) = (
        Backend::postgres(&cluster.url()).expect("node A"),
        Backend::postgres(&cluster.url()).expect("node B"),
    );
    let woken = b.outbox.wake_ups();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // B's listener may still be connecting: a wake-up it sends then is fine,
    // so wait for it first (it wakes once when it starts listening).
    let within =
        |waiting| async move { tokio::time::timeout(std::time::Duration::from_secs(30), waiting).await };
    runtime.block_on(within(woken.notified())).expect("B listens");
    let entity =
        Entity { id: "woken".into(), entity_type: "t".into(), data: json!({}), created_at: 1, updated_at: 1 };
    let held = NewDeliveries {
        plugins: vec!["p".into()],
        node: "A".into(),
        lease: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let ids = a.entities.insert(&entity, &held).expect("insert").expect("new");
    let waiting = woken.notified();
    a.outbox.retry(ids[0], "A", std::time::Duration::ZERO).expect("put back on A");
    runtime.block_on(within(waiting)).expect("B is woken by A's NOTIFY");
    let claimed =
        b.outbox.claim_due("B", &["p".to_string()], std::time::Duration::from_secs(60), 10).expect("claim");
    assert_eq!(claimed.iter().map(|d| d.id).collect::<Vec<_>>(), ids, "and B claims it");
}

/// A scheduled job on two nodes sharing the database: each due run
/// happens on one of them, however they race for it, and both see its state.
#[test]
fn a_due_job_runs_on_one_node_of_several() {
    let Some(cluster) = Cluster::start() else { return };
    let data = tempfile::tempdir().expect("temp");
    let grants = ["storage_get", "storage_increment", "entity_create"];
    let jobs = json!({ "jobs": [{ "id": "tick", "every_seconds": 1 }] });
    let janitor =
        plinth_tests::PluginDir::new("janitor", plinth_tests::guests::V0_3_PLUGIN_WASM, &grants, jobs);
    let nodes = two_nodes_serving(&cluster, data.path(), janitor.path());
    for round in 1..=3 {
        let state = nodes[0].jobs(Some("janitor")).expect("jobs").remove(0);
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_millis();
        let wait = u128::from(state.next_due.expect("due")).saturating_sub(now) + 20;
        std::thread::sleep(std::time::Duration::from_millis(u64::try_from(wait).expect("short")));
        let claimed: usize = std::thread::scope(|scope| {
            let racing: Vec<_> = nodes
                .iter()
                .map(|node| {
                    scope.spawn(move || runtime_on_this_thread().block_on(node.run_due_jobs()).expect("run"))
                })
                .collect();
            racing.into_iter().map(|racer| racer.join().expect("node")).sum()
        });
        assert_eq!(claimed, 1, "round {round}: one node ran it");
        let runs =
            nodes[1].call_route("janitor", RouteRequest::new(Method::Get, "/runs/tick")).expect("runs");
        assert_eq!(runs.json().expect("json")["runs"], round, "once per due time");
        let seen = nodes[1].jobs(Some("janitor")).expect("jobs").remove(0);
        assert_eq!((seen.runs, seen.last_run.and_then(|run| run.error)), (round as u64, None));
    }
}

/// Calls updating the same two entities in opposite orders, many at once,
/// on PostgreSQL: the database may find them deadlocked (or one waits past
/// its lock budget); either way the call runs again rather than failing,
/// and every call's writes land.
#[test]
fn calls_writing_the_same_entities_in_opposite_orders_all_land() {
    let Some(cluster) = Cluster::start() else { return };
    let data = tempfile::tempdir().expect("temp");
    let grants = ["entity_read", "entity_update", "storage_get", "storage_list", "storage_increment"];
    let janitor =
        plinth_tests::PluginDir::new("janitor", plinth_tests::guests::V0_3_PLUGIN_WASM, &grants, json!({}));
    let host = node_on(&cluster, &data.path().join("node"));
    host.load_plugin(janitor.path()).expect("load");
    for id in ["left", "right"] {
        host.create_entity_with_id(id, "pair", json!({ "n": 0 })).expect("create");
    }
    std::thread::scope(|scope| {
        for call in 0..8 {
            let host = &host;
            scope.spawn(move || {
                let (a, b) = if call % 2 == 0 { ("left", "right") } else { ("right", "left") };
                let request = RouteRequest::new(Method::Post, &format!("/swap/{a}/{b}"))
                    .with_json(&json!({ "n": call }));
                let answer = host.call_route("janitor", request).expect("every call lands");
                assert_eq!(answer.status, 200);
            });
        }
    });
    let (left, right) = (
        host.entity("left").expect("read").expect("left"),
        host.entity("right").expect("read").expect("right"),
    );
    let written = |entity: &Entity| entity.data["n"].as_i64().is_some_and(|n| (0..8).contains(&n));
    assert!(written(&left) && written(&right), "each holds one call's write: {left:?} {right:?}");
    assert!(left.updated_at > left.created_at && right.updated_at > right.created_at);
    assert!(
        host.plugin("janitor").expect("loaded").health.conflicts >= 1,
        "the calls collided and ran again"
    );
}

/// A plugin's entity writes on PostgreSQL (0.3.0): a call that fails after
/// creating writes nothing; a create's hook tags the entity (an update, its
/// chain kept with the delivery); a chain of hooks creating entities stops
/// at its limit.
#[test]
fn a_plugins_entity_writes_commit_with_its_call_and_their_chains_hold() {
    let Some(cluster) = Cluster::start() else { return };
    let data = tempfile::tempdir().expect("temp");
    let janitor = plinth_tests::PluginDir::new(
        "janitor",
        plinth_tests::guests::V0_3_PLUGIN_WASM,
        &[
            "entity_create",
            "entity_update",
            "entity_delete",
            "storage_get",
            "storage_list",
            "storage_increment",
        ],
        json!({}),
    );
    let host = node_on(&cluster, &data.path().join("node"));
    host.load_plugin(janitor.path()).expect("load");
    let of_type = |entity_type: &str| {
        let query = plinth_host::EntityQuery { entity_type: Some(entity_type.into()), ..Default::default() };
        host.entities(&query).expect("find")
    };
    let deliver_all = || {
        let runtime = runtime_on_this_thread();
        (0..500)
            .find(|_| runtime.block_on(host.deliver_due()).expect("deliver") == 0)
            .expect("the outbox empties")
    };

    let failing =
        RouteRequest::new(Method::Post, "/entity/note").with_query_string("then=fail").with_json(&json!({}));
    host.call_route("janitor", failing).expect_err("fails after creating");
    assert!(of_type("note").is_empty(), "both or neither");
    assert_eq!(host.pending_deliveries().expect("pending"), 0);

    let create = RouteRequest::new(Method::Post, "/entity/note").with_json(&json!({ "title": "Ada" }));
    let created = host.call_route("janitor", create).expect("create").json().expect("json");
    deliver_all();
    let id = created["id"].as_str().expect("id");
    let note = host.entity(id).expect("read").expect("stored");
    assert_eq!(note.data, json!({ "title": "Ada", "tagged": true }), "tagged by its hook");

    host.create_entity("chain", json!({})).expect("create");
    deliver_all();
    assert_eq!(of_type("chain").len(), 9, "the application's write and eight plugin writes");
}

/// A plugin on one node deletes an entity another node created (the 0.3.0
/// `entities.delete`): every node sees it gone at once, and each plugin's
/// `on-entity-deleted` runs once across both nodes, whichever claims it.
#[test]
fn a_plugin_delete_on_one_node_reaches_every_hook_once_across_nodes() {
    let Some(cluster) = Cluster::start() else { return };
    let data = tempfile::tempdir().expect("temp");
    let janitor = plinth_tests::PluginDir::new(
        "janitor",
        plinth_tests::guests::V0_3_PLUGIN_WASM,
        &["entity_delete", "storage_get", "storage_list", "storage_increment"],
        json!({}),
    );
    let nodes: Vec<Host> = (0..2)
        .map(|node| {
            let host = node_on(&cluster, &data.path().join(format!("node{node}")));
            host.load_plugin(copy_example("audit-trail", &data.path().join(format!("plugins{node}"))))
                .expect("audit-trail loads");
            host.load_plugin(janitor.path()).expect("the janitor loads");
            host
        })
        .collect();
    nodes[0].create_entity_with_id("e1", "note", json!({})).expect("create on A");

    let delete = RouteRequest::new(Method::Delete, "/entity/e1");
    let answer = nodes[1].call_route("janitor", delete).expect("delete on B");
    assert_eq!(answer.json().expect("JSON"), json!({ "deleted": true }));
    assert_eq!(nodes[0].entity("e1").expect("read on A"), None, "gone on A at once");

    // Both nodes' delivery loops race for the two deliveries, as they would.
    let delivered: usize = std::thread::scope(|scope| {
        let claims: Vec<_> = nodes
            .iter()
            .map(|node| {
                scope.spawn(|| runtime_on_this_thread().block_on(node.deliver_due()).expect("deliver"))
            })
            .collect();
        claims.into_iter().map(|claim| claim.join().expect("thread")).sum()
    });
    assert_eq!(delivered, 2, "one delivery per plugin with hooks, claimed by one node each");
    assert_eq!(nodes[0].pending_deliveries().expect("pending"), 0);
    let audited = nodes[1]
        .call_route("audit-trail", RouteRequest::new(Method::Get, "/log?entity_id=e1"))
        .expect("log")
        .json()
        .expect("JSON");
    let events: Vec<_> =
        audited["events"].as_array().expect("events").iter().map(|e| e["event"].clone()).collect();
    assert_eq!(events, [json!("created"), json!("deleted")], "{audited}");
    assert_eq!(
        nodes[0].storage_get("janitor", "deleted/e1").expect("read"),
        Some(b"1".to_vec()),
        "the janitor heard of its own delete once"
    );
}

/// Plugin messages on two nodes: a message published on one node reaches
/// each subscriber once in effect, whichever node's delivery loop claims
/// it, and a failed publishing call publishes nothing; the application's
/// own message (`Host::publish_message`) travels the same way.
#[test]
fn a_message_published_on_one_node_reaches_each_subscriber_once() {
    let Some(cluster) = Cluster::start() else { return };
    let data = tempfile::tempdir().expect("temp");
    let plugin = |id: &str, capabilities: serde_json::Value| {
        plinth_tests::PluginDir::new(
            id,
            plinth_tests::guests::V0_3_PLUGIN_WASM,
            &[],
            json!({ "capabilities": capabilities }),
        )
    };
    let grants = ["storage_get", "storage_set", "storage_increment"];
    let newsroom =
        plugin("newsroom", json!({ "host_functions": ["message_publish"], "publishes": ["news", "ping"] }));
    // reader-a answers a ping with a pong, which reader-b answers with a
    // ping, whose pong the cycle check refuses: the chain crosses nodes.
    let answering = [&grants[..], &["message_publish"]].concat();
    let readers = [
        plugin(
            "reader-a",
            json!({ "host_functions": answering, "subscribes": ["news", "ping"], "publishes": ["pong"] }),
        ),
        plugin(
            "reader-b",
            json!({ "host_functions": answering, "subscribes": ["news", "pong"], "publishes": ["ping"] }),
        ),
    ];
    let nodes: Vec<Host> = (0..2)
        .map(|node| {
            let host = node_on(&cluster, &data.path().join(format!("node{node}")));
            for plugin in [&newsroom, &readers[0], &readers[1]] {
                host.load_plugin(plugin.path()).expect("loads");
            }
            host
        })
        .collect();
    let publish = |path: &str| RouteRequest::new(Method::Post, path).with_json(&json!({ "n": 1 }));
    nodes[0].call_route("newsroom", publish("/publish/news?then=fail")).expect_err("fails");
    nodes[0].call_route("newsroom", publish("/publish/news?times=3")).expect("publishes");
    nodes[1].publish_message("news", &json!({ "n": 2 })).expect("the application publishes");
    nodes[1].call_route("newsroom", publish("/publish/ping")).expect("pings");
    assert_eq!(nodes[1].pending_deliveries().expect("pending"), 9, "4 news to 2 subscribers, a ping to one");

    let delivered: usize = std::thread::scope(|scope| {
        let claims: Vec<_> = nodes
            .iter()
            .map(|node| {
                scope.spawn(|| {
                    let runtime = runtime_on_this_thread();
                    (0..20).map(|_| runtime.block_on(node.deliver_due()).expect("deliver")).sum::<usize>()
                })
            })
            .collect();
        claims.into_iter().map(|claim| claim.join().expect("thread")).sum()
    });
    assert_eq!(delivered, 11, "each delivery claimed by one node, the answers' too");
    assert_eq!(nodes[0].pending_deliveries().expect("pending"), 0);
    for reader in ["reader-a", "reader-b"] {
        let got = nodes[1].call_route(reader, RouteRequest::new(Method::Get, "/got/news")).expect("got");
        let got = got.json().expect("JSON");
        assert_eq!(got["count"], 4, "{reader}: each message once, none from the failed call: {got}");
    }
    let pong = nodes[0].call_route("reader-b", RouteRequest::new(Method::Get, "/got/pong")).expect("got");
    let pong = pong.json().expect("JSON");
    assert_eq!((&pong["count"], &pong["last"]["publisher"]), (&json!(1), &json!("reader-a")), "{pong}");
    let recorded = nodes[0].hook_history().expect("history");
    let messages: Vec<_> = recorded.iter().filter(|h| h.event == plinth_host::HookEvent::Message).collect();
    let failed: Vec<_> = messages.iter().filter_map(|h| h.error.as_deref()).collect();
    assert_eq!((messages.len(), failed.len()), (11, 1), "{failed:?}");
    assert!(failed[0].contains("already published on `pong` earlier in this chain"), "{}", failed[0]);
    let ping = nodes[1].call_route("reader-a", RouteRequest::new(Method::Get, "/got/ping")).expect("got");
    assert_eq!(ping.json().expect("JSON")["count"], 1, "the refused answer committed nothing");
}

/// Each node keeps a plugin's storage usage from its own commits, so a
/// call's early quota check costs no round trip; what other nodes did still
/// counts. A hint that is too high is read again before a write is refused,
/// and one too low is caught by the commit, which runs the call again.
#[test]
fn the_quota_holds_across_nodes_whose_usage_hints_lag() {
    let Some(cluster) = Cluster::start() else { return };
    let data = tempfile::tempdir().expect("temp");
    let plugin = plinth_tests::PluginDir::new(
        "probe",
        plinth_tests::guests::PROBE_PLUGIN_WASM,
        &["storage_get", "storage_set", "storage_delete", "storage_list"],
        json!({ "limits": { "storage_keys": 2 } }),
    );
    let (a, b) = (node_on(&cluster, &data.path().join("a")), node_on(&cluster, &data.path().join("b")));
    for node in [&a, &b] {
        node.load_plugin(plugin.path()).expect("load");
    }
    let call = |node: &Host, method: Method, key: &str| {
        let request = RouteRequest::new(method, &format!("/storage/{key}")).with_body("v");
        plinth_tests::call_json(node, "probe", request).1
    };
    assert_eq!(call(&a, Method::Put, "k1")["ok"], json!(null));
    assert_eq!(call(&a, Method::Put, "k2")["ok"], json!(null), "two keys: the quota, as A knows");
    assert_eq!(call(&b, Method::Delete, "k1")["ok"], json!(true), "B frees one, which A does not know");
    let third = call(&a, Method::Put, "k3");
    assert!(third.get("error").is_none(), "A looks again before refusing: {third}");
    // B last saw one key; the store holds two (k2, k3).
    let over = call(&b, Method::Put, "k4");
    assert_eq!(over["error"]["kind"], "quota-exceeded", "B's write over the quota is refused: {over}");
    let keys = plinth_tests::call_json(&a, "probe", RouteRequest::new(Method::Get, "/keys")).1;
    assert_eq!(keys["ok"], json!(["k2", "k3"]));
}

/// A storage commit locks only the keys it touches: while another session's
/// commit holds a key it read (here, a `psql` session stopped inside its
/// transaction), a write of another key of the same plugin goes through,
/// and a write of the held key waits for it, so no two commits that share a
/// key interleave.
#[test]
fn commits_of_one_plugin_that_share_no_key_do_not_wait_for_each_other() {
    let Some(cluster) = Cluster::start() else { return };
    let data = tempfile::tempdir().expect("temp");
    let plugin = plinth_tests::PluginDir::new(
        "probe",
        plinth_tests::guests::PROBE_PLUGIN_WASM,
        &["storage_get", "storage_set", "storage_list"],
        json!({}),
    );
    let host = node_on(&cluster, data.path());
    host.load_plugin(plugin.path()).expect("load");
    let put = |key: &str| {
        let request = RouteRequest::new(Method::Put, &format!("/storage/{key}")).with_body("v");
        plinth_tests::call_json(&host, "probe", request).1
    };
    assert_eq!(put("first")["ok"], json!(null), "the plugin's usage row exists");
    // A commit that read `held` (absent) and stops before its end.
    let mut holder = cluster.psql(
        "BEGIN; SELECT outcome FROM plinth_commit('probe', true, ARRAY['held'], ARRAY[NULL]::bigint[], \
         '[]'::jsonb, '{}'::text[], '{}'::bytea[], '{}'::text[], 1000000, 1000, 5000, \
         NULL, NULL, NULL, NULL, NULL, NULL, 64, 1000); SELECT pg_sleep(120); COMMIT;",
    );
    let advisory = |granted: bool| -> u64 {
        let sql =
            format!("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted = {granted}");
        cluster.query(&sql).parse().expect("a count")
    };
    let until = |what: &str, done: &dyn Fn() -> bool| {
        for _ in 0..1500 {
            if done() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("never saw {what}");
    };
    until("the holder's locks", &|| advisory(true) >= 2);
    assert_eq!(put("other")["ok"], json!(null), "a key the holder does not touch is written at once");
    assert!(holder.try_wait().expect("psql").is_none(), "the holder is still inside its commit");
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| put("held"));
        until("the held key's write waiting", &|| advisory(false) >= 1);
        assert!(!waiting.is_finished(), "the held key's write waits for the holder");
        cluster.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()");
        assert_eq!(waiting.join().expect("thread")["ok"], json!(null), "written once the holder is gone");
    });
    let _ = holder.wait();
    let keys = plinth_tests::call_json(&host, "probe", RouteRequest::new(Method::Get, "/keys")).1;
    assert_eq!(keys["ok"], json!(["first", "held", "other"]));
}

/// Writers of different keys no longer wait for each other, and the quota
/// still counts exactly: two nodes write 16 new keys at once into a plugin
/// allowed 6, and exactly 6 are stored, with the usage the database keeps
/// equal to a recount. The database's default isolation is repeatable read
/// here: the nodes' connections ask for read committed, which the commits'
/// locks need (the commit function refuses anything else).
#[test]
fn concurrent_writers_of_different_keys_keep_the_quota_exact() {
    let Some(cluster) = Cluster::start() else { return };
    cluster.query("ALTER ROLE CURRENT_USER SET default_transaction_isolation = 'repeatable read'");
    const KEYS: usize = 6;
    let data = tempfile::tempdir().expect("temp");
    let plugin = plinth_tests::PluginDir::new(
        "probe",
        plinth_tests::guests::PROBE_PLUGIN_WASM,
        &["storage_get", "storage_set", "storage_list"],
        json!({ "limits": { "storage_keys": KEYS, "max_concurrent": 16 } }),
    );
    let nodes = two_nodes_serving(&cluster, data.path(), plugin.path());
    let answers: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let puts: Vec<_> = (0..16)
            .map(|i| {
                let node = &nodes[i % 2];
                scope.spawn(move || {
                    let request =
                        RouteRequest::new(Method::Put, &format!("/storage/k{i:02}")).with_body("value");
                    plinth_tests::call_json(node, "probe", request).1
                })
            })
            .collect();
        puts.into_iter().map(|put| put.join().expect("thread")).collect()
    });
    let stored = answers.iter().filter(|answer| answer.get("error").is_none()).count();
    for answer in answers.iter().filter(|answer| answer.get("error").is_some()) {
        assert_eq!(answer["error"]["kind"], "quota-exceeded", "{answer}");
    }
    assert_eq!(stored, KEYS, "{answers:?}");
    let keys = plinth_tests::call_json(&nodes[1], "probe", RouteRequest::new(Method::Get, "/keys")).1;
    assert_eq!(keys["ok"].as_array().map(Vec::len), Some(KEYS), "{keys}");
    let kept = cluster.query("SELECT bytes, keys FROM plugin_usage WHERE plugin_id = 'probe'");
    let counted = cluster.query(
        "SELECT sum(octet_length(key) + octet_length(value)), count(*) FROM plugin_storage WHERE plugin_id = 'probe'",
    );
    assert_eq!(kept, counted, "the usage kept is the usage stored");
}

/// Each node keeps the field configurations it read, as every entity write
/// needs its type's; a save on another node reaches it all the same (its
/// copies are dropped at the save's `NOTIFY`, and none is used past 5 s).
#[test]
fn a_field_configuration_saved_on_one_node_checks_the_next_writes_on_another() {
    let Some(cluster) = Cluster::start() else { return };
    let data = tempfile::tempdir().expect("temp");
    let (a, b) = (node_on(&cluster, &data.path().join("a")), node_on(&cluster, &data.path().join("b")));
    b.create_entity("review", json!({ "rating": "five" })).expect("nothing configured yet: B keeps that");
    let config: plinth_host::FieldConfig =
        serde_json::from_value(json!({ "fields": { "rating": { "type": "number" } } })).expect("config");
    a.set_field_config("review", &config).expect("configure on A");
    assert!(a.create_entity("review", json!({ "rating": "six" })).is_err(), "A checks its own save at once");
    let waited = std::time::Instant::now();
    loop {
        match b.create_entity("review", json!({ "rating": "seven" })) {
            Err(error) => {
                assert!(error.to_string().contains("rating"), "{error}");
                break;
            }
            Ok(_) => assert!(
                waited.elapsed() < std::time::Duration::from_secs(10),
                "B still checks writes against no configuration"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    b.create_entity("review", json!({ "rating": 5 })).expect("a number passes on B");
}

/// A node on another machine reaches the database over TLS it verified:
/// with `sslmode=require` the backend works through a server that takes
/// nothing but TLS, with a certificate for 127.0.0.1 from a CA the test
/// makes; the same server is refused when its certificate is not from the
/// trusted CA, and a URL without TLS is refused by it.
#[test]
fn a_node_reaches_the_database_over_verified_tls() {
    let Some(cluster) = Cluster::start() else { return };
    let (ca, server_certificate, server_key) = certificates_for("127.0.0.1");
    cluster.require_tls(&server_certificate, &server_key);
    let files = tempfile::tempdir().expect("temp dir");
    let trusted = files.path().join("ca.pem");
    std::fs::write(&trusted, &ca).expect("write ca.pem");
    let url = format!("{}?sslmode=require", cluster.url());

    let backend = Backend::postgres_trusting(&url, &trusted).expect("connect over TLS");
    let entity = Entity {
        id: "over-tls".into(),
        entity_type: "note".into(),
        data: json!({ "secret": "only on the wire encrypted" }),
        created_at: 1,
        updated_at: 1,
    };
    backend.entities.insert(&entity, &NewDeliveries::default()).expect("insert over TLS");
    let read = backend.entities.get("over-tls").expect("read over TLS").expect("found");
    assert_eq!(read.data, entity.data);
    let encrypted = |ssl: bool| {
        cluster.query(&format!(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE application_name = 'plinth' AND ssl = {ssl}"
        ))
    };
    assert_ne!(encrypted(true), "0", "the backend's connections use TLS");
    assert_eq!(encrypted(false), "0", "and none goes without it");

    // The same server with a certificate from a CA nobody trusts here.
    let (_, stranger_certificate, stranger_key) = certificates_for("127.0.0.1");
    cluster.require_tls(&stranger_certificate, &stranger_key);
    let refused =
        Backend::postgres_trusting(&url, &trusted).expect_err("an untrusted certificate is refused");
    assert!(refused.to_string().contains("certificate"), "the error names the certificate: {refused}");
    // Without the test's CA only the Mozilla roots are trusted, which do not include it.
    let refused = Backend::postgres(&url).expect_err("a private CA is not trusted by default");
    assert!(refused.to_string().contains("certificate"), "{refused}");
    // Without `sslmode=require` there is no TLS, which this server refuses.
    assert!(Backend::postgres_trusting(&cluster.url(), &trusted).is_err(), "a plain connection is refused");
    // A roots file without a certificate in it is refused, by name, before connecting.
    let empty = files.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").expect("write");
    let refused = Backend::postgres_trusting(&url, &empty).expect_err("no roots");
    assert!(refused.to_string().contains("empty.pem"), "{refused}");
}

/// A CA's certificate, and a server certificate for `host` it signed with
/// that certificate's key, all PEM.
fn certificates_for(host: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut authority = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    authority.distinguished_name.push(DnType::CommonName, "Plinth test CA");
    let ca = CertifiedIssuer::self_signed(authority, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec![host.to_string()])
        .expect("server parameters")
        .signed_by(&key, &ca)
        .expect("server certificate");
    (ca.pem(), server.pem(), key.serialize_pem())
}

fn runtime_on_this_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Two nodes on `cluster`, their data directories under `data`, each
/// serving the plugin in `plugin`.
fn two_nodes_serving(cluster: &Cluster, data: &std::path::Path, plugin: &std::path::Path) -> Vec<Host> {
    (0..2)
        .map(|node| {
            let host = node_on(cluster, &data.join(format!("node{node}")));
            host.load_plugin(plugin).expect("load");
            host
        })
        .collect()
}

/// A host on `cluster` with its data directory at `dir`: one node.
fn node_on(cluster: &Cluster, dir: &std::path::Path) -> Host {
    let config = HostConfig {
        backend: Some(Backend::postgres(&cluster.url()).expect("connect")),
        compile_cache_dir: Some(shared_compile_cache()),
        pooling: None,
        ..HostConfig::new(dir)
    };
    Host::with_config(config).expect("open host")
}
