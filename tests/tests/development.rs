//! `plinth:plugin@0.3.0`, the newest version, beside the older
//! ones: a plugin built against it creates, updates and deletes entities
//! (`entities.create`, `update`, `delete`, each with its grant, narrowed to
//! entity types by the manifest), checked by the field configurations, and
//! every plugin's hooks hear of those writes through the outbox, on both
//! engines. A hook that writes does not run hooks inside itself: they follow
//! from the outbox. A chain of hooks that write ends at its limit, a cycle
//! is refused, and one call writes at most 100 entities; the hook history
//! says why.

use plinth_host::{EngineKind, EntityEvent, EntityQuery, FieldConfig, Host, Method, RouteRequest};
use plinth_tests::guests::V0_3_PLUGIN_WASM;
use plinth_tests::{PluginDir, call_json, example, fresh_host_on, get_json, on_both_engines};
use serde_json::{Value, json};

fn janitor(grants: &[&str]) -> PluginDir {
    let all = [grants, &["storage_get", "storage_list", "storage_increment"][..]].concat();
    PluginDir::new("janitor", V0_3_PLUGIN_WASM, &all, json!({}))
}

/// Delivers what the outbox holds now, as the delivery loop would.
fn deliver_due(host: &Host) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(host.deliver_due()).expect("deliver")
}

fn audit_events(host: &Host, entity_id: &str) -> Vec<Value> {
    let (status, body) = get_json(host, "audit-trail", &format!("/log?entity_id={entity_id}"));
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().cloned().unwrap_or_default().iter().map(|e| e["event"].clone()).collect()
}

on_both_engines! {
    fn a_0_3_0_plugin_deletes_entities_and_every_hook_hears_of_it(engine) {
        let (_data, host) = fresh_host_on(engine);
        host.load_plugin(example("audit-trail")).expect("audit-trail loads");
        let plugin = janitor(&["entity_delete"]);
        let info = host.load_plugin(plugin.path()).expect("the 0.3.0 component loads");
        assert_eq!(info.wit_version, "0.3.0");
        host.create_entity_with_id("e1", "note", json!({})).expect("create");

        let delete = RouteRequest::new(Method::Delete, "/entity/e1");
        assert_eq!(call_json(&host, "janitor", delete.clone()), (200, json!({ "deleted": true })));
        assert_eq!(host.entity("e1").expect("read"), None, "deleted at once");
        assert_eq!(call_json(&host, "janitor", delete), (200, json!({ "deleted": false })), "gone already");

        // The hooks run from the outbox, after the call: audit-trail's and the janitor's own.
        assert_eq!(audit_events(&host, "e1"), [json!("created")]);
        assert_eq!(deliver_due(&host), 2, "one delivery per plugin with hooks");
        assert_eq!(audit_events(&host, "e1"), [json!("created"), json!("deleted")]);
        assert_eq!(get_json(&host, "janitor", "/deleted").1, json!({ "deleted": ["e1"] }));
        let history: Vec<(String, String)> = host
            .hook_history()
            .expect("history")
            .into_iter()
            .filter(|h| h.entity_id == "e1" && h.event == plinth_host::EntityEvent::Deleted)
            .map(|h| (h.plugin_id, h.error.unwrap_or_default()))
            .collect();
        assert_eq!(history, [("audit-trail".into(), String::new()), ("janitor".into(), String::new())]);
    }
}

#[test]
fn a_hook_that_deletes_leaves_the_next_hooks_to_the_outbox() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    host.load_plugin(example("audit-trail")).expect("audit-trail loads");
    let plugin = janitor(&["entity_delete"]);
    host.load_plugin(plugin.path()).expect("load");
    let write = host.create_entity_with_id("old", "note", json!({ "expired": true })).expect("create");
    assert!(write.hooks_succeeded(), "{:?}", write.hooks);
    assert_eq!(host.entity("old").expect("read"), None, "the janitor's hook deleted it");
    assert_eq!(audit_events(&host, "old"), [json!("created")], "no hook ran inside the hook");
    assert_eq!(deliver_due(&host), 2);
    assert_eq!(audit_events(&host, "old"), [json!("created"), json!("deleted")]);
    assert_eq!(deliver_due(&host), 0, "nothing more: the delete's hooks write no entity");
}

#[test]
fn deleting_needs_its_grant() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let plugin = janitor(&[]);
    host.load_plugin(plugin.path()).expect("load");
    host.create_entity_with_id("kept", "note", json!({})).expect("create");
    let refused = host
        .call_route("janitor", RouteRequest::new(Method::Delete, "/entity/kept"))
        .expect_err("the handler returns the denial");
    assert_eq!((refused.code(), refused.http_status()), ("plugin_denied", 403), "{refused}");
    assert!(refused.to_string().contains("add \"entity_delete\""), "{refused}");
    assert!(host.entity("kept").expect("read").is_some(), "nothing was deleted");
}

/// The janitor granted entity writes, and `extra` merged into its manifest.
fn writer(grants: &[&str], extra: Value) -> PluginDir {
    let all = [grants, &["storage_get", "storage_list", "storage_increment"][..]].concat();
    PluginDir::new("janitor", V0_3_PLUGIN_WASM, &all, extra)
}

const WRITES: [&str; 3] = ["entity_create", "entity_update", "entity_delete"];

/// Delivers until the outbox is empty; how many rounds that took (at most 500).
fn deliver_all(host: &Host) -> usize {
    (1..=500).find(|_| deliver_due(host) == 0).expect("the outbox empties")
}

fn of_type(host: &Host, entity_type: &str) -> Vec<plinth_host::Entity> {
    let query = EntityQuery { entity_type: Some(entity_type.into()), ..Default::default() };
    host.entities(&query).expect("find")
}

/// The janitor's hook errors for `event`s of entities of `entity_type`.
fn janitor_errors(host: &Host, event: EntityEvent) -> Vec<String> {
    let history = host.hook_history().expect("history");
    history
        .into_iter()
        .filter(|h| h.plugin_id == "janitor" && h.event == event)
        .filter_map(|h| h.error)
        .collect()
}

on_both_engines! {
    fn a_0_3_0_plugin_creates_and_updates_entities_whose_hooks_run_from_the_outbox(engine) {
        let (_data, host) = fresh_host_on(engine);
        host.load_plugin(example("audit-trail")).expect("audit-trail loads");
        let plugin = writer(&WRITES, json!({}));
        host.load_plugin(plugin.path()).expect("load");

        let create = RouteRequest::new(Method::Post, "/entity/note").with_json(&json!({ "title": "Ada" }));
        let (status, body) = call_json(&host, "janitor", create);
        assert_eq!((status, &body["data"]), (201, &json!({ "title": "Ada" })), "{body}");
        let id = body["id"].as_str().expect("id").to_string();
        let stored = host.entity(&id).expect("read").expect("stored at once");
        assert_eq!((stored.entity_type.as_str(), &stored.data), ("note", &json!({ "title": "Ada" })));
        assert_eq!(audit_events(&host, &id), Vec::<Value>::new(), "no hook ran inside the call");

        // Its created hooks, then the update the janitor's own hook made (a tag).
        deliver_all(&host);
        let tagged = host.entity(&id).expect("read").expect("kept");
        assert_eq!(tagged.data, json!({ "title": "Ada", "tagged": true }));
        assert_eq!(audit_events(&host, &id), [json!("created"), json!("updated")]);
        assert!(janitor_errors(&host, EntityEvent::Created).is_empty());
    }
}

#[test]
fn a_chain_of_hooks_writing_entities_ends_at_its_limit_and_the_history_says_why() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let plugin = writer(&WRITES, json!({}));
    host.load_plugin(plugin.path()).expect("load");
    // Each `chain` entity's hook creates the next: the application's write,
    // then eight plugin writes, then a refusal.
    host.create_entity("chain", json!({})).expect("create");
    deliver_all(&host);
    assert_eq!(of_type(&host, "chain").len(), 9);
    let errors = janitor_errors(&host, EntityEvent::Created);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("already made 8 entity writes") && errors[0].contains("the most one chain may"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_hook_writing_an_entity_its_chain_wrote_is_refused_as_a_cycle() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let plugin = writer(&WRITES, json!({}));
    host.load_plugin(plugin.path()).expect("load");
    host.create_entity_with_id("p", "pingpong", json!({ "round": 0 })).expect("create");
    // The application's update runs the janitor's hook, which writes `p`
    // again; that write's hook would write it a third time, and is refused.
    let write = host.update_entity("p", json!({ "round": 0, "by": "app" })).expect("update");
    assert!(write.hooks_succeeded(), "{:?}", write.hooks);
    deliver_all(&host);
    assert_eq!(host.entity("p").expect("read").expect("kept").data, json!({ "round": 1, "by": "app" }));
    let errors = janitor_errors(&host, EntityEvent::Updated);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("already updated entity `p` earlier in this chain"), "{}", errors[0]);
}

#[test]
fn one_call_writes_at_most_100_entities() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let plugin = writer(&WRITES, json!({}));
    host.load_plugin(plugin.path()).expect("load");
    let (status, body) = call_json(&host, "janitor", RouteRequest::new(Method::Post, "/many/100000"));
    assert_eq!((status, &body["created"]), (200, &json!(100)), "{body}");
    assert!(
        body["stopped"].as_str().is_some_and(|reason| reason.contains("100 entities in this call")),
        "{body}"
    );
    assert_eq!(of_type(&host, "bulk").len(), 100);
}

#[test]
fn writes_need_their_grants_narrowed_to_entity_types_and_pass_the_field_checks() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let narrowed = json!({ "capabilities": {
        "host_functions": ["entity_create"],
        "entity_types": { "entity_create": ["note"] },
    }});
    let plugin = writer(&[], narrowed);
    host.load_plugin(plugin.path()).expect("load");
    let create = |entity_type: &str, data: Value| {
        let request = RouteRequest::new(Method::Post, &format!("/entity/{entity_type}")).with_json(&data);
        host.call_route("janitor", request)
    };
    let refused = create("bulk", json!({})).expect_err("not a note");
    assert_eq!((refused.code(), refused.http_status()), ("plugin_denied", 403), "{refused}");
    assert!(refused.to_string().contains("capabilities.entity_types.entity_create"), "{refused}");
    assert!(of_type(&host, "bulk").is_empty());

    let config: FieldConfig =
        serde_json::from_value(json!({ "fields": { "pages": { "type": "number" } } })).expect("config");
    host.set_field_config("note", &config).expect("field config");
    let invalid = create("note", json!({ "pages": "many" })).expect_err("pages is a number");
    assert_eq!(invalid.code(), "plugin_invalid_input", "{invalid}");
    assert!(invalid.to_string().contains("pages"), "{invalid}");
    create("note", json!({ "pages": 3 })).expect("a valid note");
    assert_eq!(of_type(&host, "note").len(), 1);

    // No update grant: the tag the created hook makes is denied.
    deliver_all(&host);
    let errors = janitor_errors(&host, EntityEvent::Created);
    assert!(errors.len() == 1 && errors[0].contains("add \"entity_update\""), "{errors:?}");

    let lacking = writer(&[], json!({ "capabilities": { "entity_types": { "entity_update": ["note"] } } }));
    let error =
        fresh_host_on(EngineKind::Native).1.load_plugin(lacking.path()).expect_err("narrows what it lacks");
    assert!(error.to_string().contains("capabilities.entity_types.entity_update"), "{error}");
}

on_both_engines! {
    fn a_call_that_fails_after_writing_entities_writes_none(engine) {
        let (_data, host) = fresh_host_on(engine);
        let plugin = writer(&WRITES, json!({}));
        host.load_plugin(plugin.path()).expect("load");
        let failing = RouteRequest::new(Method::Post, "/entity/bulk")
            .with_query_string("then=fail")
            .with_json(&json!({ "n": 1 }));
        let error = host.call_route("janitor", failing).expect_err("fails after creating");
        assert_eq!(error.code(), "plugin_internal", "{error}");
        assert!(of_type(&host, "bulk").is_empty(), "both or neither: no entity");
        assert_eq!(host.pending_deliveries().expect("pending"), 0, "and no hook delivery");
        let (status, _) = call_json(&host, "janitor", RouteRequest::new(Method::Post, "/entity/bulk").with_json(&json!({})));
        assert_eq!((status, of_type(&host, "bulk").len()), (201, 1), "a call that succeeds writes");
    }
}

#[test]
fn a_tree_of_hooks_writing_entities_never_passes_its_budget_however_wide() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let plugin = writer(&WRITES, json!({}));
    host.load_plugin(plugin.path()).expect("load");
    // Each `fan` entity's hook creates four more. The first hook may cause
    // 1,000 writes; each of its four writes' hooks gets a quarter of what is
    // left (249), and so on: 249, 61, 14, then 2, which four creates pass,
    // so those hooks fail and write nothing (both or neither).
    host.create_entity("fan", json!({})).expect("create");
    deliver_all(&host);
    assert_eq!(of_type(&host, "fan").len(), 1 + 4 + 16 + 64 + 256);
    let errors = janitor_errors(&host, EntityEvent::Created);
    assert_eq!(errors.len(), 256, "every hook of the fifth generation refused");
    assert!(errors.iter().all(|e| e.contains("left of its 1000 writes")), "{:?}", errors.first());
}

#[test]
fn a_call_writes_an_entity_several_times_and_narrowed_types_look_missing() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let narrowed = json!({ "capabilities": {
        "host_functions": WRITES,
        "entity_types": { "entity_update": ["note"] },
    }});
    let plugin = writer(&[], narrowed);
    host.load_plugin(plugin.path()).expect("load");
    // Its later writes see its earlier ones: created, updated, then deleted
    // once (the second delete finds nothing); all commit, and nothing is left.
    let (status, body) = call_json(&host, "janitor", RouteRequest::new(Method::Post, "/twice/note"));
    assert_eq!((status, body), (200, json!({ "updated": { "step": 2 }, "deleted": [true, false] })));
    assert!(of_type(&host, "note").is_empty());

    // An update of a type the manifest does not list looks like a missing entity.
    host.create_entity_with_id("secret", "bulk", json!({})).expect("create");
    let put =
        |id: &str| RouteRequest::new(Method::Put, &format!("/entity/{id}")).with_json(&json!({ "x": 1 }));
    let refused = host.call_route("janitor", put("secret")).expect_err("not a note");
    assert_eq!(refused.code(), "plugin_not_found", "{refused}");
    let missing = host.call_route("janitor", put("nothing")).expect_err("no such entity");
    assert_eq!(refused.to_string().replace("secret", "nothing"), missing.to_string(), "the same answer");
    assert_eq!(host.entity("secret").expect("read").expect("kept").data, json!({}));
    assert_eq!(host.plugin("janitor").expect("loaded").health.denials, 1, "the refusal counted");
    host.create_entity_with_id("n1", "note", json!({})).expect("create");
    assert_eq!(call_json(&host, "janitor", put("n1")).0, 200, "a note it may update");
}

/// `plinth test` cases say which entities a plugin's writes leave, and a
/// case whose entities differ fails.
#[test]
fn test_cases_check_the_entities_a_plugin_writes() {
    let open = |config: plinth_host::HostConfig| Ok(Host::with_config(config)?);
    let run = |expected: Value| {
        let plugin = writer(&WRITES, json!({}));
        std::fs::create_dir(plugin.path().join("tests")).expect("tests folder");
        let case = json!({
            "name": "a note is created",
            "entities": [ { "id": "old", "entity_type": "note", "data": { "title": "Old", "tagged": true } } ],
            "request": { "method": "POST", "path": "/entity/note", "body": { "title": "Ada" } },
            "expect": { "status": 201, "entities": expected },
        });
        std::fs::write(plugin.path().join("tests/cases.json"), case.to_string()).expect("case");
        plinth_test::cases::run(plugin.path(), &open).expect("run the cases")
    };
    assert!(run(json!({ "note": [{ "title": "Old" }, { "title": "Ada" }], "bulk": [] })));
    assert!(!run(json!({ "note": [{ "title": "Ada" }] })), "one note too few");
    assert!(!run(json!({ "note": [{ "title": "Old" }, { "title": "Bob" }] })), "another title");
}

/// A plugin that reads an entity and writes it back later never overwrites
/// a write made in between: its commit conflicts, and its re-run reads the
/// newer version.
#[test]
fn a_read_then_update_loses_no_write_made_in_between() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let plugin = writer(&[&WRITES[..], &["entity_read"]].concat(), json!({}));
    host.load_plugin(plugin.path()).expect("load");
    host.create_entity_with_id("x", "bulk", json!({ "n": 1 })).expect("create");
    let answer = std::thread::scope(|scope| {
        let call = scope.spawn(|| call_json(&host, "janitor", RouteRequest::new(Method::Post, "/stale/x")));
        // While the plugin waits between its read and its update.
        std::thread::sleep(std::time::Duration::from_millis(100));
        host.update_entity("x", json!({ "n": 2 })).expect("the application's update");
        call.join().expect("the call")
    });
    assert_eq!(answer, (200, json!({ "n": 2, "seen": 2, "by": "plugin" })), "the re-run read n = 2");
    assert_eq!(
        host.entity("x").expect("read").expect("kept").data,
        json!({ "n": 2, "seen": 2, "by": "plugin" })
    );
}

/// Two calls at once read the same storage counter and each create an
/// entity: the one whose commit conflicts runs again, and only its last
/// run's entity is written (its first run's is not).
#[test]
fn a_call_run_again_after_a_conflict_writes_only_its_last_runs_entities() {
    let (_data, host) = fresh_host_on(plinth_host::EngineKind::Native);
    let plugin = writer(&["entity_create", "storage_set"], json!({}));
    host.load_plugin(plugin.path()).expect("load");
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let (status, body) =
                        call_json(&host, "janitor", RouteRequest::new(Method::Post, "/counted/tally"));
                    assert_eq!(status, 200, "{body}");
                    body
                })
            })
            .collect();
        calls.into_iter().map(|call| call.join().expect("call")).collect()
    });
    let mut seen: Vec<i64> = answers.iter().map(|a| a["seen"].as_i64().expect("seen")).collect();
    seen.sort_unstable();
    assert_eq!(seen, [0, 1], "the second commit conflicted and its call ran again: {answers:?}");
    assert!(host.plugin("janitor").expect("loaded").health.conflicts >= 1);
    let query = plinth_host::EntityQuery { entity_type: Some("tally".into()), ..Default::default() };
    let tallies = host.entities(&query).expect("tallies");
    let ids: Vec<&str> = tallies.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(tallies.len(), 2, "one entity per call, none from the run that conflicted: {ids:?}");
    for answer in &answers {
        assert!(
            ids.contains(&answer["id"].as_str().expect("id")),
            "each call's last run's entity is the one kept"
        );
    }
}

/// A widget call may not write entities: it runs inside other writes'
/// checks. The host denies it; nothing is written.
#[test]
fn a_widget_call_that_writes_an_entity_is_denied() {
    let (_data, host) = fresh_host_on(plinth_host::EngineKind::Native);
    let plugin = writer(&["entity_create"], json!({}));
    host.load_plugin(plugin.path()).expect("load");
    let context =
        plinth_host::FieldContext { field_name: "title".into(), value: json!("x"), ..Default::default() };
    let html = host.render_widget("plugin:janitor:writer", &context).expect("renders");
    assert!(html.contains("Denied(") && html.contains("from a widget"), "{html}");
    let query = plinth_host::EntityQuery { entity_type: Some("note".into()), ..Default::default() };
    assert!(host.entities(&query).expect("notes").is_empty());
}
