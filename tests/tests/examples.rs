//! The example plugins, built from source, running in the real host.

use plinth_host::{FieldContext, Host, Method, RouteRequest};
use plinth_tests::{
    call_json, example, fresh_host, get_json, guest_built, guests, native_stats, seed_entities,
};
use serde_json::json;

fn stored_json(host: &Host, plugin: &str, key: &str) -> serde_json::Value {
    let bytes = host
        .storage_get(plugin, key)
        .expect("storage read")
        .unwrap_or_else(|| panic!("{plugin} stored no {key}"));
    serde_json::from_slice(&bytes).expect("stored JSON")
}

#[test]
fn character_stats_hook_stores_the_analysis() {
    let (_guard, host) = fresh_host();
    host.load_plugin(example("character-stats")).expect("load");
    let first = host.create_entity("character", json!({"name": "Ada"})).expect("create");
    assert!(first.hooks_succeeded(), "{:?}", first.hooks);
    assert_eq!(first.hooks.len(), 1);
    host.create_entity("location", json!({"name": "Harbor"})).expect("create");
    let third = host.create_entity("character", json!({"name": "Bo"})).expect("create");

    assert_eq!(
        stored_json(&host, "character-stats", &format!("analysis/{}", first.entity.id)),
        json!({"related_count": 1})
    );
    assert_eq!(
        stored_json(&host, "character-stats", &format!("analysis/{}", third.entity.id)),
        json!({"related_count": 2})
    );
}

/// The benchmarks' native baseline does exactly the plugin's route work.
#[test]
fn character_stats_route_answers_as_the_native_baseline() {
    let (_guard, host) = fresh_host();
    host.load_plugin(example("character-stats")).expect("load");
    seed_entities(&host, 7);
    let answers_alike = |host: &Host| {
        for entity_type in ["character", "location", "nothing"] {
            let (status, plugin) = get_json(host, "character-stats", &format!("/stats/{entity_type}"));
            assert_eq!(status, 200);
            assert_eq!(plugin, native_stats(host, entity_type).expect("native"), "{entity_type}");
        }
    };
    answers_alike(&host);
    let depth = json!({"analysis_depth": 5}).as_object().cloned().expect("an object");
    host.set_settings("character-stats", depth).expect("settings");
    answers_alike(&host);
    let native = native_stats(&host, "character").expect("native");
    assert_eq!((&native["count"], &native["analysis_depth"]), (&json!(4), &json!(5)));
}

#[test]
fn character_stats_routes_answer_with_counts_and_settings() {
    let (_guard, host) = fresh_host();
    host.load_plugin(example("character-stats")).expect("load");
    for name in ["Ada", "Bo", "Cy"] {
        host.create_entity("character", json!({ "name": name })).expect("create");
    }
    host.create_entity("location", json!({"name": "Harbor"})).expect("create");

    let response =
        host.call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character")).expect("call");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    assert_eq!(
        response.json().expect("json"),
        json!({"entity_type": "character", "count": 3, "analysis_depth": 3})
    );

    host.set_settings(
        "character-stats",
        json!({"analysis_depth": 5}).as_object().cloned().unwrap_or_default(),
    )
    .expect("set");
    assert_eq!(
        get_json(&host, "character-stats", "/stats/location").1,
        json!({"entity_type": "location", "count": 1, "analysis_depth": 5})
    );

    // Re-running the analysis after more characters exist rewrites every record.
    let before = host.entities(&plinth_host::EntityQuery::of_type("character")).expect("list");
    host.create_entity_with_id("late", "location", json!({})).expect("create");
    let (status, body) = call_json(
        &host,
        "character-stats",
        RouteRequest::new(Method::Post, "/analyze").with_json(&json!({"entity_type": "character"})),
    );
    assert_eq!((status, body), (200, json!({"analyzed": 3})));
    for entity in before {
        assert_eq!(
            stored_json(&host, "character-stats", &format!("analysis/{}", entity.id)),
            json!({"related_count": 3})
        );
    }

    // A body that is not the expected JSON is the plugin's invalid-input: 400.
    let error = host
        .call_route("character-stats", RouteRequest::new(Method::Post, "/analyze").with_body("nope"))
        .expect_err("bad body");
    assert_eq!(error.code(), "plugin_invalid_input", "{error}");
}

#[test]
fn audit_trail_records_created_updated_deleted_in_order() {
    let (_guard, host) = fresh_host();
    host.load_plugin(example("audit-trail")).expect("load");
    let a = host.create_entity_with_id("a", "character", json!({"v": 1})).expect("create");
    host.create_entity_with_id("b", "character", json!({"v": 1})).expect("create");
    host.update_entity("a", json!({"v": 2})).expect("update");
    let deleted = host.delete_entity("a").expect("delete");
    assert!(a.hooks_succeeded() && deleted.hooks_succeeded());

    let (status, body) = get_json(&host, "audit-trail", "/log");
    assert_eq!(status, 200);
    let events: Vec<(String, String)> = body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (e["event"].as_str().unwrap_or("").to_string(), e["entity_id"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let expected = [("created", "a"), ("created", "b"), ("updated", "a"), ("deleted", "a")];
    assert_eq!(events, expected.map(|(e, i)| (e.to_string(), i.to_string())));
    assert_eq!(
        get_json(&host, "audit-trail", "/log?entity_id=b").1["events"].as_array().map(Vec::len),
        Some(1)
    );

    let (_, cleared) = call_json(&host, "audit-trail", RouteRequest::new(Method::Delete, "/log"));
    assert_eq!(cleared, json!({"cleared": 4}));
    assert_eq!(host.storage_keys("audit-trail", "").expect("keys"), Vec::<String>::new());
}

#[test]
fn word_count_widget_renders_and_validates_against_its_setting() {
    let (_guard, host) = fresh_host();
    host.load_plugin(example("word-count-widget")).expect("load");
    let widgets = host.widgets();
    assert_eq!(widgets.len(), 1);
    assert_eq!(widgets[0].id, "plugin:word-count-widget:word-count");
    assert_eq!(widgets[0].field_types, ["text"]);

    let context =
        FieldContext { field_name: "bio".into(), value: json!("three <small> words"), ..Default::default() };
    let html = host.render_widget("plugin:word-count-widget:word-count", &context).expect("render");
    assert!(html.contains("3 / 200 words"), "{html}");
    assert!(html.contains("&lt;small&gt;"), "values must be escaped: {html}");

    assert_eq!(
        host.validate_widget("plugin:word-count-widget:word-count", &json!("a b c")).expect("validate"),
        Vec::<String>::new()
    );
    host.set_settings("word-count-widget", json!({"max_words": 2}).as_object().cloned().unwrap_or_default())
        .expect("set");
    let problems =
        host.validate_widget("plugin:word-count-widget:word-count", &json!("a b c")).expect("validate");
    assert_eq!(problems, ["3 words is more than the maximum of 2"]);
    assert_eq!(
        host.validate_widget("plugin:word-count-widget:word-count", &json!(12)).expect("validate"),
        ["the value must be text"]
    );

    let unknown = host.render_widget("plugin:word-count-widget:nope", &context).expect_err("unknown widget");
    assert_eq!(unknown.code(), "unknown_widget");
    let unnamed = host.render_widget("word-count", &context).expect_err("not a widget id");
    assert_eq!(unnamed.code(), "unknown_widget", "{unnamed}");
}

#[test]
fn all_examples_load_together_and_share_events() {
    if !guest_built(guests::CHARACTER_STATS_PY)
        || !guest_built(guests::WORD_COUNT_WIDGET_JS)
        || !guest_built(guests::MY_PLUGIN_PY)
    {
        return;
    }
    let (_guard, host) = fresh_host();
    let loaded = host.load_plugins_in(example("")).expect("read example-plugins");
    let ids: Vec<String> = loaded
        .into_iter()
        .map(|(dir, result)| result.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).id)
        .collect();
    assert_eq!(
        ids,
        [
            "audit-trail",
            "character-stats",
            "character-stats-py",
            "daily-digest",
            "my-plugin",
            "word-count-widget",
            "word-count-widget-js"
        ]
    );
    assert_eq!(host.widgets().len(), 2, "a widget from Rust and one from JavaScript");
    let write = host.create_entity("character", json!({"name": "Ada"})).expect("create");
    assert!(write.hooks_succeeded(), "{:?}", write.hooks);
    let hooked: Vec<&str> = write.hooks.iter().map(|h| h.plugin_id.as_str()).collect();
    assert_eq!(
        hooked,
        ["audit-trail", "character-stats", "character-stats-py", "my-plugin"],
        "only plugins exporting events get hooks, in whatever language"
    );
    assert_eq!(host.plugin("word-count-widget").map(|p| p.exports), Some(vec!["field-widget"]));
    assert_eq!(host.hook_history().expect("hook history").len(), 4);
}
