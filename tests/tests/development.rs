//! `plinth:plugin@0.3.0`, the version in development, beside the released
//! ones: a plugin built against it deletes entities (`entities.delete`,
//! grant `entity_delete`), and every plugin's hooks hear of those deletes
//! through the outbox, on both engines. A hook that deletes does not run
//! hooks inside itself: they follow from the outbox.

use plinth_host::{EngineKind, Host, Method, RouteRequest};
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
