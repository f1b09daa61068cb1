//! The backend conformance suite: what every [`Backend`] must do, checked
//! through the traits alone. `tests/backend.rs` runs it on SQLite; another
//! backend runs the same functions on a fresh, empty database of its own.

use plinth_host::store::{
    Backend, Carried, ChainLink, CommitError, DeliveryMark, KvChanges, MessageChange, NewDeliveries,
    PackageSlot, StoredPackage, Usage, WriteChain,
};
use plinth_host::types::{EntityEvent, HookEvent, HookOutcome, Message};
use plinth_host::{Entity, EntityQuery};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Every check, in order, on one empty backend.
pub fn run_all(backend: &Backend) {
    entities_round_trip(backend);
    entity_queries(backend);
    queries_stop_at_their_deadline(backend);
    storage_versions_and_listing(backend);
    storage_commit_conflicts(backend);
    storage_quota_in_the_commit(backend);
    storage_is_scoped_by_plugin(backend);
    settings_change_and_reset(backend);
    hook_records_keep_the_newest(backend);
    hook_outbox_delivers_once(backend);
    hook_outbox_renews_only_held_leases(backend);
    messages_commit_with_their_call(backend);
    field_configs_put_and_remove(backend);
    field_configs_save_only_from_the_version_seen(backend);
    packages_change_only_from_the_version_seen(backend);
    node_reports_replace_expire_and_withdraw(backend);
}

fn entity(id: &str, entity_type: &str, data: Value, at: u64) -> Entity {
    Entity { id: id.into(), entity_type: entity_type.into(), data, created_at: at, updated_at: at }
}

/// Insert refuses a taken id; update and delete say whether the entity existed.
pub fn entities_round_trip(backend: &Backend) {
    let store = &backend.entities;
    let ada = entity("rt-1", "character", json!({"name": "Ada"}), 1);
    assert!(store.insert(&ada, &NewDeliveries::default()).expect("insert").is_some());
    assert!(
        store
            .insert(&entity("rt-1", "location", json!({}), 2), &NewDeliveries::default())
            .expect("insert twice")
            .is_none()
    );
    assert_eq!(store.get("rt-1").expect("get"), Some(ada.clone()));
    let renamed = Entity { data: json!({"name": "Ada L."}), updated_at: 5, ..ada.clone() };
    assert!(store.update(&renamed, &NewDeliveries::default()).expect("update").is_some());
    assert_eq!(
        store.get("rt-1").expect("get").map(|e| (e.data, e.updated_at)),
        Some((renamed.data.clone(), 5))
    );
    assert!(
        store
            .update(&entity("rt-missing", "x", json!({}), 1), &NewDeliveries::default())
            .expect("update missing")
            .is_none()
    );
    assert_eq!(store.delete("rt-1", &NewDeliveries::default()).expect("delete"), Some((renamed, vec![])));
    assert_eq!(store.delete("rt-1", &NewDeliveries::default()).expect("delete again"), None);
    assert_eq!(store.get("rt-1").expect("get deleted"), None);
}

/// Filters on strings, numbers, booleans and nested fields; type, limit,
/// offset and count; oldest first.
pub fn entity_queries(backend: &Backend) {
    let store = &backend.entities;
    let rows = [
        ("q-a", "qchar", json!({"name": "Ada", "level": 3, "alive": true, "stats": {"hp": 10}})),
        ("q-b", "qchar", json!({"name": "Bo", "level": 4, "alive": false})),
        ("q-c", "qloc", json!({"name": "Ada"})),
        ("q-d", "qlist", json!({"items": ["Ada"], "keyed": {"0": "Ada"}})),
    ];
    for (at, (id, entity_type, data)) in rows.into_iter().enumerate() {
        assert!(
            store
                .insert(&entity(id, entity_type, data, 100 + at as u64), &NewDeliveries::default())
                .expect("insert")
                .is_some()
        );
    }
    let ids = |query: EntityQuery| -> Vec<String> {
        store
            .find(&query, None)
            .expect("find")
            .into_iter()
            .map(|e| e.id)
            .filter(|id| id.starts_with("q-"))
            .collect()
    };
    assert_eq!(ids(EntityQuery::of_type("qchar")), ["q-a", "q-b"]);
    assert_eq!(ids(EntityQuery::default().where_field("name", "Ada")), ["q-a", "q-c"]);
    assert_eq!(ids(EntityQuery::of_type("qchar").where_field("level", "4")), ["q-b"]);
    assert_eq!(ids(EntityQuery::default().where_field("alive", "true")), ["q-a"]);
    assert_eq!(ids(EntityQuery::default().where_field("stats.hp", "10")), ["q-a"]);
    // A path step is an object key, never an array index.
    assert!(ids(EntityQuery::default().where_field("items.0", "Ada")).is_empty());
    assert_eq!(ids(EntityQuery::default().where_field("keyed.0", "Ada")), ["q-d"]);
    assert_eq!(ids(EntityQuery { limit: Some(1), offset: 1, ..EntityQuery::of_type("qchar") }), ["q-b"]);
    assert_eq!(store.count(&EntityQuery::of_type("qchar"), None).expect("count"), 2);
    assert_eq!(
        store.count(&EntityQuery { limit: Some(1), ..EntityQuery::of_type("qchar") }, None).expect("count"),
        2
    );
}

/// A query still running at its deadline is stopped with an error (and the
/// same query without a deadline still answers).
pub fn queries_stop_at_their_deadline(backend: &Backend) {
    for i in 0..5_000u64 {
        let data = json!({ "n": i, "text": "x".repeat(50) });
        assert!(
            backend
                .entities
                .insert(&entity(&format!("dl-{i}"), "dl", data, 1_000 + i), &NewDeliveries::default())
                .expect("insert")
                .is_some()
        );
    }
    let query = EntityQuery::of_type("dl").where_field("text", "no such text");
    let past = std::time::Instant::now();
    assert!(backend.entities.find(&query, Some(past)).is_err(), "a query past its deadline stops");
    assert!(backend.entities.count(&query, Some(past)).is_err());
    assert_eq!(backend.entities.count(&query, None).expect("no deadline"), 0);
}

fn commit(backend: &Backend, plugin: &str, changes: &KvChanges) -> Result<(), CommitError> {
    backend.kv.commit(plugin, changes, Usage { bytes: u64::MAX, keys: u64::MAX })
}

fn writes(pairs: &[(&str, Option<&str>)]) -> KvChanges {
    KvChanges {
        writes: pairs.iter().map(|(k, v)| (k.to_string(), v.map(|v| v.as_bytes().to_vec()))).collect(),
        ..KvChanges::default()
    }
}

/// Each commit gives the keys it writes a higher version; listing is sorted
/// and by prefix; deletes remove keys; usage counts key plus value bytes.
pub fn storage_versions_and_listing(backend: &Backend) {
    let kv = &backend.kv;
    commit(backend, "p-ver", &writes(&[("a/1", Some("one")), ("a/2", Some("two")), ("b", Some("x"))]))
        .expect("first commit");
    let first = kv.get("p-ver", "a/1").expect("get").expect("stored");
    assert_eq!(first.value, b"one");
    commit(backend, "p-ver", &writes(&[("a/1", Some("uno")), ("a/2", None)])).expect("second commit");
    let second = kv.get("p-ver", "a/1").expect("get").expect("stored");
    assert_eq!(second.value, b"uno");
    assert!(second.version > first.version, "versions grow: {} then {}", first.version, second.version);
    assert_eq!(kv.get("p-ver", "a/2").expect("get"), None);
    assert_eq!(kv.list_keys("p-ver", "a/").expect("list"), ["a/1"]);
    assert_eq!(kv.list_keys("p-ver", "").expect("list all"), ["a/1", "b"]);
    assert_eq!(kv.usage("p-ver").expect("usage"), Usage { bytes: (3 + 3) + (1 + 1), keys: 2 });
}

/// A commit whose reads or listings changed since they were made writes nothing.
pub fn storage_commit_conflicts(backend: &Backend) {
    let kv = &backend.kv;
    commit(backend, "p-occ", &writes(&[("n", Some("1"))])).expect("seed");
    let seen = kv.get("p-occ", "n").expect("get").map(|v| v.version);
    let listed = kv.list_keys("p-occ", "").expect("list");
    // Another call commits first.
    commit(backend, "p-occ", &writes(&[("n", Some("2"))])).expect("the other call");
    let stale = KvChanges {
        reads: [("n".to_string(), seen)].into(),
        ..writes(&[("n", Some("2")), ("log/1", Some("x"))])
    };
    assert!(matches!(commit(backend, "p-occ", &stale), Err(CommitError::Conflict { .. })));
    assert_eq!(kv.get("p-occ", "log/1").expect("get"), None, "a conflicting commit wrote nothing");
    // A key that was absent when read and exists now is a conflict too.
    let absent = KvChanges { reads: [("new".to_string(), None)].into(), ..writes(&[("x", Some("1"))]) };
    commit(backend, "p-occ", &writes(&[("new", Some("here"))])).expect("the other call");
    assert!(matches!(commit(backend, "p-occ", &absent), Err(CommitError::Conflict { .. })));
    // A listing that gained a key.
    let phantom = KvChanges { listed: [(String::new(), listed)].into(), ..writes(&[("y", Some("1"))]) };
    assert!(matches!(commit(backend, "p-occ", &phantom), Err(CommitError::Conflict { .. })));
    // Fresh reads commit.
    let current = kv.get("p-occ", "n").expect("get").map(|v| v.version);
    let fresh = KvChanges { reads: [("n".to_string(), current)].into(), ..writes(&[("n", Some("3"))]) };
    commit(backend, "p-occ", &fresh).expect("a commit on fresh reads");
    assert_eq!(kv.get("p-occ", "n").expect("get").map(|v| v.value), Some(b"3".to_vec()));
}

/// The quota is checked inside the commit against what is stored then;
/// a commit that shrinks usage passes even over the quota.
pub fn storage_quota_in_the_commit(backend: &Backend) {
    let quota = Usage { bytes: 1_000, keys: 3 };
    let kv = &backend.kv;
    for key in ["k1", "k2", "k3"] {
        kv.commit("p-quota", &writes(&[(key, Some("v"))]), quota).expect("within the quota");
    }
    let refused = kv.commit("p-quota", &writes(&[("k4", Some("v"))]), quota);
    assert!(
        matches!(refused, Err(CommitError::QuotaExceeded { after: Usage { keys: 4, .. }, .. })),
        "{refused:?}"
    );
    assert_eq!(kv.get("p-quota", "k4").expect("get"), None);
    assert_eq!(kv.usage("p-quota").expect("usage").keys, 3);
    let tighter = Usage { bytes: 1_000, keys: 1 };
    kv.commit("p-quota", &writes(&[("k1", None)]), tighter).expect("a delete over the quota");
    assert_eq!(kv.usage("p-quota").expect("usage"), Usage { bytes: 2 * (2 + 1), keys: 2 });
    let big = "x".repeat(2_000);
    let over = kv.commit("p-quota", &writes(&[("big", Some(&big))]), quota);
    assert!(matches!(over, Err(CommitError::QuotaExceeded { .. })), "{over:?}");
}

/// One plugin's keys, usage and settings are invisible to another.
pub fn storage_is_scoped_by_plugin(backend: &Backend) {
    commit(backend, "p-one", &writes(&[("shared-name", Some("one"))])).expect("commit");
    assert_eq!(backend.kv.get("p-two", "shared-name").expect("get"), None);
    assert!(backend.kv.list_keys("p-two", "").expect("list").is_empty());
    assert_eq!(backend.kv.usage("p-two").expect("usage"), Usage::default());
}

/// Settings are stored as JSON, changed together, and reset by name.
pub fn settings_change_and_reset(backend: &Backend) {
    let settings = &backend.settings;
    let values: Map<String, Value> =
        [("depth".to_string(), json!(5)), ("name".to_string(), json!("x"))].into_iter().collect();
    settings.change("p-set", &values, &[]).expect("set");
    assert_eq!(settings.all("p-set").expect("all"), values);
    assert!(settings.all("p-other").expect("all").is_empty());
    settings.change("p-set", &Map::new(), &["depth".to_string()]).expect("reset");
    assert_eq!(settings.all("p-set").expect("all").keys().collect::<Vec<_>>(), ["name"]);
}

/// Outcomes are recorded as deliveries complete, and come back oldest
/// first; at most 1,000 are kept.
pub fn hook_records_keep_the_newest(backend: &Backend) {
    const WRITTEN: u64 = 1_050;
    let outcome = |n: u64| HookOutcome {
        plugin_id: format!("p-hooks-{n}"),
        event: if n.is_multiple_of(2) { HookEvent::Created } else { HookEvent::Message },
        entity_id: "hr-1".into(),
        at: n,
        duration_us: n * 10,
        error: n.is_multiple_of(3).then(|| format!("failed {n}")),
    };
    let outcomes: Vec<HookOutcome> = (0..WRITTEN).map(outcome).collect();
    let plugins = outcomes.iter().map(|o| o.plugin_id.clone()).collect();
    let deliveries = NewDeliveries {
        plugins,
        node: "recorder".into(),
        lease: Duration::from_secs(60),
        ..Default::default()
    };
    let written = entity("hr-1", "hr", json!({}), 1);
    let ids = backend.entities.insert(&written, &deliveries).expect("insert").expect("a new id");
    assert_eq!(ids.len(), outcomes.len());
    for (id, outcome) in ids.iter().zip(&outcomes) {
        assert!(backend.outbox.complete(*id, "recorder", outcome).expect("complete"), "{id}");
    }
    let recent = backend.hooks.recent(5).expect("recent");
    assert_eq!(recent, outcomes[outcomes.len() - 5..]);
    let kept = backend.hooks.recent(5_000).expect("all kept");
    assert_eq!(kept.len(), 1_000);
    assert_eq!(kept.first(), Some(&outcomes[outcomes.len() - 1_000]));
}

/// The hook outbox: a write's deliveries commit with it, leased to the
/// writer; a claim takes only deliveries whose lease ran out, of the plugins
/// named, never one another claim holds; a storage commit marks a delivery
/// done once (the second commit writes nothing); only the node holding a
/// delivery (its lease, or its mark) gives it back or completes it, which
/// records the outcome once.
pub fn hook_outbox_delivers_once(backend: &Backend) {
    let (store, outbox) = (&backend.entities, &backend.outbox);
    let minute = Duration::from_secs(60);
    let plugins = vec!["ob-a".to_string(), "ob-b".to_string()];
    let leased = |node: &str, lease| NewDeliveries {
        plugins: plugins.clone(),
        node: node.into(),
        lease,
        ..Default::default()
    };
    let written = entity("ob-1", "ob", json!({"n": 1}), 1);
    let held = store.insert(&written, &leased("writer", minute)).expect("insert").expect("a new id");
    assert_eq!(held.len(), 2, "one delivery per plugin");
    assert_ne!(held[0], held[1]);
    assert_eq!(outbox.pending().expect("pending"), 2, "the deliveries committed with the write");
    assert!(
        outbox.claim_due("other", &plugins, minute, 10).expect("claim").is_empty(),
        "the writer's lease keeps them"
    );

    // A writer that died at once: its lease is over. A plugin's write (the
    // chain of writes that led to it) keeps its chain with its deliveries.
    let link =
        |plugin: &str, write, entity: &str| ChainLink { plugin: plugin.into(), write, entity: entity.into() };
    let links = vec![link("ob-a", HookEvent::Created, "ob-0"), link("ob-b", HookEvent::Message, "ob.topic")];
    let chain = WriteChain { links, budget: Some(7) };
    let by_plugins = NewDeliveries { chain: chain.clone(), ..leased("dead", Duration::ZERO) };
    let (deleted, orphans) = store.delete("ob-1", &by_plugins).expect("delete").expect("existed");
    assert_eq!(deleted, written);
    let only_a = outbox.claim_due("b", &plugins[..1], minute, 10).expect("claim");
    assert_eq!(only_a.len(), 1, "only the plugins named: {only_a:?}");
    let claimed = &only_a[0];
    assert_eq!((claimed.id, claimed.plugin_id.as_str()), (orphans[0], "ob-a"));
    let carried = Carried::Entity { event: EntityEvent::Deleted, entity: written.clone() };
    assert_eq!((&claimed.carried, claimed.attempts), (&carried, 1));
    assert_eq!(claimed.chain, chain, "the chain comes back with the delivery");
    let rest = outbox.claim_due("c", &plugins, minute, 10).expect("claim");
    assert_eq!(
        rest.iter().map(|d| d.id).collect::<Vec<_>>(),
        [orphans[1]],
        "a claimed one is not claimed again"
    );

    let outcome = |plugin: &str, error: Option<&str>| HookOutcome {
        plugin_id: plugin.into(),
        event: HookEvent::Deleted,
        entity_id: "ob-1".into(),
        at: 7,
        duration_us: 8,
        error: error.map(str::to_string),
    };
    // The hook's commit settles it once, its outcome recorded with its
    // writes; a second run's commit writes and records nothing.
    let settling = |node: &str, error: Option<&str>| KvChanges {
        delivery: Some(DeliveryMark { id: orphans[0], outcome: outcome("ob-a", error) }),
        ..writes(&[(node, Some("ran"))])
    };
    // A commit that conflicts settles nothing either.
    let stale = KvChanges { reads: [("b".to_string(), Some(99))].into(), ..settling("b", None) };
    let pending = outbox.pending().expect("pending");
    assert!(matches!(commit(backend, "ob-a", &stale), Err(CommitError::Conflict { .. })));
    assert_eq!(outbox.pending().expect("pending"), pending, "still pending after the conflict");
    commit(backend, "ob-a", &settling("b", Some("its own error"))).expect("first run commits");
    assert_eq!(outbox.pending().expect("pending"), pending - 1, "settled");
    assert!(matches!(commit(backend, "ob-a", &settling("c", None)), Err(CommitError::Delivered)));
    assert!(backend.kv.get("ob-a", "c").expect("get").is_none(), "the second run wrote nothing");
    assert!(backend.kv.get("ob-a", "b").expect("get").is_some());
    assert_eq!(backend.hooks.recent(1).expect("recent"), [outcome("ob-a", Some("its own error"))]);
    assert!(!outbox.complete(orphans[0], "b", &outcome("ob-a", None)).expect("complete"), "settled already");
    assert_eq!(backend.hooks.recent(1).expect("recent"), [outcome("ob-a", Some("its own error"))], "once");

    // Only its holder gives a delivery back or completes it.
    outbox.retry(orphans[1], "b", Duration::ZERO).expect("retry");
    assert!(outbox.claim_due("d", &plugins, minute, 10).expect("claim").is_empty(), "b does not hold it");
    assert!(!outbox.complete(orphans[1], "b", &outcome("ob-b", None)).expect("complete"));
    // Given back, it is due again and counts its claims.
    outbox.retry(orphans[1], "c", Duration::ZERO).expect("retry");
    let again = outbox.claim_due("d", &plugins, minute, 10).expect("claim");
    assert_eq!(again.iter().map(|d| (d.id, d.attempts)).collect::<Vec<_>>(), [(orphans[1], 2)]);
    assert!(!outbox.complete(orphans[1], "c", &outcome("ob-b", None)).expect("complete"), "c lost it to d");
    assert!(outbox.complete(orphans[1], "d", &outcome("ob-b", Some("timeout"))).expect("complete"));
    for id in held {
        assert!(outbox.complete(id, "writer", &outcome("ob-a", None)).expect("complete"));
    }
    // So it does from a create's and an update's deliveries.
    let only = |plugin: &str| NewDeliveries {
        plugins: vec![plugin.to_string()],
        chain: chain.clone(),
        ..leased("dead", Duration::ZERO)
    };
    let chained = entity("ob-2", "ob", json!({"n": 2}), 1);
    store.insert(&chained, &only("ob-c")).expect("insert").expect("a new id");
    store.update(&chained, &only("ob-d")).expect("update").expect("it exists");
    for plugin in ["ob-c", "ob-d"] {
        let claimed = outbox.claim_due("e", &[plugin.to_string()], minute, 10).expect("claim");
        assert_eq!(claimed.iter().map(|d| &d.chain).collect::<Vec<_>>(), [&chain], "{plugin}");
        assert!(outbox.complete(claimed[0].id, "e", &outcome(plugin, None)).expect("complete"));
    }
    assert_eq!(outbox.pending().expect("pending"), 0);
}

/// A call's messages are added to the outbox in its commit, one delivery
/// per subscriber, and only if the commit succeeds; each comes back whole,
/// and settles like a hook's delivery, its outcome recorded as `message`.
pub fn messages_commit_with_their_call(backend: &Backend) {
    let outbox = &backend.outbox;
    let minute = Duration::from_secs(60);
    let subscribers = vec!["ms-a".to_string(), "ms-b".to_string()];
    let link = ChainLink { plugin: "ms-pub".into(), write: HookEvent::Message, entity: "ms.news".into() };
    let chain = WriteChain { links: vec![link], budget: Some(5) };
    let message = Message {
        id: "m-1".into(),
        topic: "ms.news".into(),
        publisher: "ms-pub".into(),
        payload: r#"{"headline":"hello","n":[1,2]}"#.into(),
        published_at: 42,
    };
    let published = |message: &Message| MessageChange {
        message: message.clone(),
        deliveries: NewDeliveries {
            plugins: subscribers.clone(),
            node: "pub".into(),
            lease: Duration::ZERO,
            chain: chain.clone(),
        },
    };
    let pending = outbox.pending().expect("pending");
    // A conflicting commit publishes nothing.
    let stale = KvChanges {
        reads: [("ms-k".to_string(), Some(99))].into(),
        messages: vec![published(&message)],
        ..writes(&[("ms-k", Some("v"))])
    };
    assert!(matches!(commit(backend, "ms-pub", &stale), Err(CommitError::Conflict { .. })));
    assert_eq!(outbox.pending().expect("pending"), pending, "nothing published by a failed commit");
    // So does one refused after its deliveries were added: over its quota.
    let over = KvChanges { messages: vec![published(&message)], ..writes(&[("ms-k", Some("too long"))]) };
    let tight = Usage { bytes: 4, keys: 1 };
    let refused = backend.kv.commit("ms-pub", &over, tight);
    assert!(matches!(refused, Err(CommitError::QuotaExceeded { .. })), "{refused:?}");
    assert_eq!(outbox.pending().expect("pending"), pending, "nothing published by a commit over its quota");
    let fresh = KvChanges { messages: vec![published(&message)], ..KvChanges::default() };
    commit(backend, "ms-pub", &fresh).expect("commits");
    assert_eq!(outbox.pending().expect("pending"), pending + 2, "one delivery per subscriber");
    let claimed = outbox.claim_due("n", &subscribers, minute, 10).expect("claim");
    let got: Vec<(&str, &Carried, &WriteChain)> =
        claimed.iter().map(|d| (d.plugin_id.as_str(), &d.carried, &d.chain)).collect();
    let carried = Carried::Message(message.clone());
    assert_eq!(got, [("ms-a", &carried, &chain), ("ms-b", &carried, &chain)]);
    let outcome = |plugin: &str| HookOutcome {
        plugin_id: plugin.into(),
        event: HookEvent::Message,
        entity_id: "ms.news".into(),
        at: 9,
        duration_us: 10,
        error: None,
    };
    let settled = KvChanges {
        delivery: Some(DeliveryMark { id: claimed[0].id, outcome: outcome("ms-a") }),
        ..writes(&[("ms-got", Some("1"))])
    };
    commit(backend, "ms-a", &settled).expect("settles");
    assert!(outbox.complete(claimed[1].id, "n", &outcome("ms-b")).expect("complete"));
    assert_eq!(backend.hooks.recent(2).expect("recent"), [outcome("ms-a"), outcome("ms-b")]);
    assert_eq!(outbox.pending().expect("pending"), pending);
}

/// A renewal keeps the leases its node holds (a renewed delivery is not
/// claimed, one not renewed is) and leaves alone the ones it does not hold,
/// its own given back among them.
pub fn hook_outbox_renews_only_held_leases(backend: &Backend) {
    let (store, outbox) = (&backend.entities, &backend.outbox);
    let minute = Duration::from_secs(60);
    let plugins = vec!["rn-a".to_string(), "rn-b".to_string()];
    let expired = NewDeliveries {
        plugins: plugins.clone(),
        node: "writer".into(),
        lease: Duration::ZERO,
        ..Default::default()
    };
    let ids = store.insert(&entity("rn-1", "rn", json!({}), 1), &expired).expect("insert").expect("a new id");
    outbox.renew(&ids[..1], "writer", minute).expect("renew");
    let claimed = outbox.claim_due("other", &plugins, minute, 10).expect("claim");
    assert_eq!(claimed.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[1]], "the renewed one is kept");
    // Given back by its holder, a renewal by its old holder does not take it back.
    outbox.retry(ids[1], "other", Duration::ZERO).expect("retry");
    outbox.renew(&ids[1..], "writer", minute).expect("renew");
    let again = outbox.claim_due("third", &plugins, minute, 10).expect("claim");
    assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[1]], "not the writer's any more");
    // Given back by the node that renews it: the renewal does not keep it.
    outbox.retry(ids[1], "third", Duration::ZERO).expect("retry");
    outbox.renew(&ids[1..], "third", minute).expect("renew");
    let given_back = outbox.claim_due("fourth", &plugins, minute, 10).expect("claim");
    assert_eq!(given_back.iter().map(|d| d.id).collect::<Vec<_>>(), [ids[1]], "given back, not renewed");
    let outcome = |plugin: &str| HookOutcome {
        plugin_id: plugin.into(),
        event: HookEvent::Created,
        entity_id: "rn-1".into(),
        at: 1,
        duration_us: 1,
        error: None,
    };
    assert!(outbox.complete(ids[0], "writer", &outcome("rn-a")).expect("complete"));
    assert!(outbox.complete(ids[1], "fourth", &outcome("rn-b")).expect("complete"));
}

/// A field configuration is stored per entity type, replaced whole, removed by `None`.
pub fn field_configs_put_and_remove(backend: &Backend) {
    let store = &backend.field_configs;
    let bio = json!({"fields": {"bio": {"widget": "plugin:w:count"}}});
    assert!(store.put("fc-character", None, Some(&bio)).expect("put"));
    store.put("fc-place", None, Some(&json!({"fields": {}}))).expect("put");
    assert_eq!(store.all().expect("all").get("fc-character"), Some(&bio));
    assert_eq!(store.get("fc-character").expect("get"), Some(bio.clone()));
    assert_eq!(store.get("fc-nothing").expect("get"), None);
    let replaced = json!({"fields": {"name": {"required": true}}});
    store.put("fc-character", None, Some(&replaced)).expect("replace");
    assert_eq!(store.all().expect("all").get("fc-character"), Some(&replaced));
    store.put("fc-character", None, None).expect("remove");
    let all = store.all().expect("all");
    assert!(!all.contains_key("fc-character"), "{all:?}");
    assert!(all.contains_key("fc-place"));
}

/// A save that names the version it was edited from lands only if that is
/// still the stored version (0: none stored, or one saved before versions).
pub fn field_configs_save_only_from_the_version_seen(backend: &Backend) {
    let store = &backend.field_configs;
    let version = |n: u64| json!({"version": n, "fields": {"bio": {}}});
    assert!(store.put("fv-a", Some(0), Some(&version(1))).expect("first"));
    assert!(
        !store.put("fv-a", Some(0), Some(&version(1))).expect("second from none"),
        "one of two first saves"
    );
    assert!(store.put("fv-a", Some(1), Some(&version(2))).expect("from 1"));
    assert!(!store.put("fv-a", Some(1), Some(&version(2))).expect("from 1 again"), "a stale save");
    assert_eq!(store.get("fv-a").expect("get"), Some(version(2)));
    assert!(!store.put("fv-a", Some(1), None).expect("stale removal"));
    assert!(store.put("fv-a", Some(2), None).expect("removal"));
    assert!(store.put("fv-a", Some(0), None).expect("nothing to remove"));
    // A configuration stored before versions is version 0.
    store.put("fv-old", None, Some(&json!({"fields": {}}))).expect("old");
    assert!(!store.put("fv-old", Some(3), Some(&version(4))).expect("wrong version"));
    assert!(store.put("fv-old", Some(0), Some(&version(1))).expect("from 0"));
}

/// Installed packages: a pending and an approved slot per plugin; a change
/// lands only if the approved version is still the one its installer saw
/// (and, approving, the pending one too), approving removes the pending
/// one, and changes are announced.
pub fn packages_change_only_from_the_version_seen(backend: &Backend) {
    let store = &backend.packages;
    let changes = store.changes();
    let package = |slot, sha: &str| StoredPackage {
        plugin_id: "pk-plugin".into(),
        slot,
        sha256: sha.into(),
        record: format!("{{\"sha\":\"{sha}\"}}"),
    };
    let announced = |within| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async { tokio::time::timeout(within, changes.notified()).await }).is_ok()
    };
    // A wake-up left from before (a listener connecting) is used up first.
    announced(Duration::from_secs(1));
    assert!(store.put(&package(PackageSlot::Pending, "p1"), b"pending-1", None, None).expect("put"));
    assert!(announced(Duration::from_secs(10)), "storing a package is announced");
    assert_eq!(store.bytes("pk-plugin", PackageSlot::Pending).expect("bytes"), Some(b"pending-1".to_vec()));
    assert_eq!(store.bytes("pk-plugin", PackageSlot::Approved).expect("bytes"), None);
    // Approving a pending install that was replaced (or rejected) meanwhile changes nothing.
    assert!(
        !store.put(&package(PackageSlot::Approved, "a1"), b"approved-1", None, Some("p0")).expect("stale")
    );
    // Approving removes the pending package, in the same change.
    assert!(
        store.put(&package(PackageSlot::Approved, "a1"), b"approved-1", None, Some("p1")).expect("approve")
    );
    let listed = store.list().expect("list");
    let ours: Vec<_> = listed.iter().filter(|p| p.plugin_id == "pk-plugin").collect();
    assert_eq!(
        ours,
        [&package(PackageSlot::Approved, "a1")],
        "the bytes are not listed; the pending one is gone"
    );
    // Two installers that both saw "none approved", or a stale version: the second loses.
    assert!(!store.put(&package(PackageSlot::Approved, "a2"), b"x", None, None).expect("stale"));
    assert!(!store.put(&package(PackageSlot::Pending, "p2"), b"x", Some("a0"), None).expect("stale"));
    assert!(
        store.put(&package(PackageSlot::Approved, "a2"), b"approved-2", Some("a1"), None).expect("update")
    );
    assert_eq!(store.bytes("pk-plugin", PackageSlot::Approved).expect("bytes"), Some(b"approved-2".to_vec()));
    // Two at once from the same version: exactly one wins.
    let wins: usize = std::thread::scope(|scope| {
        let racers: Vec<_> = ["a3", "a4"]
            .map(|sha| {
                scope.spawn(move || store.put(&package(PackageSlot::Approved, sha), b"r", Some("a2"), None))
            })
            .into_iter()
            .collect();
        racers.into_iter().map(|r| usize::from(r.join().expect("racer").expect("put"))).sum()
    });
    assert_eq!(wins, 1, "one of two installers replacing the same version wins");
    let approved = store.list().expect("list").into_iter().find(|p| p.plugin_id == "pk-plugin");
    let approved = approved.map(|p| p.sha256);
    assert!(store.put(&package(PackageSlot::Pending, "p3"), b"p", approved.as_deref(), None).expect("put"));
    assert!(store.remove("pk-plugin", Some(PackageSlot::Pending)).expect("reject"));
    assert!(!store.remove("pk-plugin", Some(PackageSlot::Pending)).expect("nothing left to reject"));
    assert!(store.put(&package(PackageSlot::Pending, "p4"), b"p", approved.as_deref(), None).expect("put"));
    let slots = store.list().expect("list").into_iter().filter(|p| p.plugin_id == "pk-plugin").count();
    assert_eq!(slots, 2, "a pending update beside the approved version");
    // An update needing no approval supersedes whatever is pending.
    assert!(
        store.put(&package(PackageSlot::Approved, "a5"), b"a", approved.as_deref(), None).expect("update")
    );
    let slots = store.list().expect("list").into_iter().filter(|p| p.plugin_id == "pk-plugin").count();
    assert_eq!(slots, 1, "the pending update is superseded");
    // Which data directories' older installs joined the list.
    assert!(!store.adopted("pk-dir").expect("adopted"));
    store.mark_adopted("pk-dir").expect("mark");
    store.mark_adopted("pk-dir").expect("marking twice is fine");
    assert!(store.adopted("pk-dir").expect("adopted"));
    assert!(store.remove("pk-plugin", None).expect("uninstall"));
    assert!(store.list().expect("list").iter().all(|p| p.plugin_id != "pk-plugin"), "both slots are gone");
}

/// Each node's report replaces its last; reports of nodes silent too long
/// are forgotten when another node reports; a withdrawn one is gone.
pub fn node_reports_replace_expire_and_withdraw(backend: &Backend) {
    let nodes = &backend.nodes;
    let hour = Duration::from_secs(3600);
    nodes.report("nr-a", &json!({"n": 1}), hour).expect("report");
    nodes.report("nr-b", &json!({"n": 2}), hour).expect("report");
    nodes.report("nr-a", &json!({"n": 3}), hour).expect("report again");
    let ours = || -> Vec<(String, Value)> {
        let reports = nodes.reports().expect("reports");
        assert!(reports.iter().all(|r| r.age < Duration::from_secs(60)), "{reports:?}");
        reports.into_iter().filter(|r| r.node.starts_with("nr-")).map(|r| (r.node, r.report)).collect()
    };
    assert_eq!(ours(), [("nr-a".to_string(), json!({"n": 3})), ("nr-b".to_string(), json!({"n": 2}))]);
    nodes.withdraw("nr-b").expect("withdraw");
    assert_eq!(ours(), [("nr-a".to_string(), json!({"n": 3}))]);
    // A report older than `forget_after` goes when another node reports.
    std::thread::sleep(Duration::from_millis(50));
    nodes.report("nr-c", &json!({"n": 4}), Duration::from_millis(20)).expect("report");
    assert_eq!(ours(), [("nr-c".to_string(), json!({"n": 4}))]);
    nodes.withdraw("nr-c").expect("withdraw");
}
