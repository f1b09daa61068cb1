//! The entity part without a guest, over a temporary SQLite: writes and
//! reads, and the field configurations writes are checked against.

use crate::error::HostError;
use crate::field_config::FieldConfig;
use crate::types::EntityQuery;
use crate::{Host, HostConfig};
use serde_json::json;

fn host() -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = HostConfig::new(dir.path());
    config.pooling = None;
    let host = Host::with_config(config).expect("host");
    (dir, host)
}

fn config(fields: serde_json::Value) -> FieldConfig {
    serde_json::from_value(json!({ "fields": fields })).expect("a field configuration")
}

#[test]
fn writes_commit_and_read_back_with_no_hooks_to_run() {
    let (_dir, host) = host();
    let created = host.create_entity_with_id("e1", "character", json!({"name": "Ada"})).expect("created");
    assert!(created.hooks.is_empty() && created.hooks_succeeded());
    let again = host.create_entity_with_id("e1", "character", json!({})).expect_err("the id is taken");
    assert!(matches!(again, HostError::EntityExists(ref id) if id == "e1"), "{again}");

    let updated = host.update_entity("e1", json!({"name": "Ada L."})).expect("updated");
    assert_eq!(updated.entity.data["name"], "Ada L.");
    assert!(updated.entity.updated_at >= updated.entity.created_at);
    let query = EntityQuery { entity_type: Some("character".into()), ..EntityQuery::default() };
    assert_eq!(host.count_entities(&query).expect("counted"), 1);
    assert_eq!(host.entity("e1").expect("read").expect("there").data, json!({"name": "Ada L."}));

    let deleted = host.delete_entity("e1").expect("deleted");
    assert_eq!(deleted.entity.data["name"], "Ada L.", "a delete answers the entity as it was");
    assert!(host.entity("e1").expect("read").is_none());
    for missing in [host.update_entity("e1", json!({})).err(), host.delete_entity("e1").err()] {
        assert!(matches!(missing, Some(HostError::EntityNotFound(_))), "{missing:?}");
    }
    assert!(matches!(host.create_entity("..", json!({})), Err(HostError::InvalidEntity(_))));
    assert_eq!(host.pending_deliveries().expect("outbox"), 0, "no hooks, no deliveries");
}

#[test]
fn new_entities_get_unique_ids_that_sort_in_the_order_they_were_made() {
    let (_dir, host) = host();
    let ids: Vec<String> =
        (0..200).map(|_| host.create_entity("character", json!({})).expect("created").entity.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "ids made one after another sort together, and none repeats");
    for id in &ids {
        assert_eq!(uuid::Uuid::parse_str(id).expect("a UUID").get_version_num(), 7, "time-ordered: {id}");
    }
}

#[test]
fn every_write_is_checked_against_its_type_s_field_configuration() {
    let (_dir, host) = host();
    let fields = json!({
        "level": {"type": "number", "required": true},
        "born": {"read_only": true}
    });
    let saved = host.set_field_config("character", &config(fields)).expect("saved");
    assert_eq!(saved.version, Some(1));

    let refused = host.create_entity("character", json!({"level": "three"})).expect_err("not a number");
    let HostError::ValidationFailed { fields, .. } = refused else { panic!("{refused}") };
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["level"], "{fields:?}");
    assert!(host.entities(&EntityQuery::default()).expect("listed").is_empty(), "nothing written");

    let id = host.create_entity("character", json!({"level": 3, "born": "1815"})).expect("valid").entity.id;
    let changed = host.update_entity(&id, json!({"level": 4, "born": "1816"})).expect_err("read-only");
    assert!(matches!(changed, HostError::ValidationFailed { .. }), "{changed}");
    host.update_entity(&id, json!({"level": 4, "born": "1815"})).expect("kept as created");
    // Another type has no configuration: anything goes.
    host.create_entity("place", json!({"level": "high"})).expect("no configuration");

    // An editor holding version 1 after another saved version 2 is refused.
    let mut stale = config(json!({"level": {"type": "number"}}));
    stale.version = Some(1);
    host.set_field_config("character", &config(json!({"level": {"type": "text"}}))).expect("version 2");
    let conflict = host.set_field_config("character", &stale).expect_err("stale");
    let HostError::FieldConfigConflict { current, .. } = conflict else { panic!("{conflict}") };
    assert_eq!(current.version, Some(2));
    // Removing it keeps its version, so the stale editor is still refused.
    let removed = host.set_field_config("character", &FieldConfig::default()).expect("removed");
    assert_eq!(removed.version, Some(3));
    assert!(host.field_configs().expect("listed").is_empty());
    assert!(matches!(host.set_field_config("character", &stale), Err(HostError::FieldConfigConflict { .. })));
}
