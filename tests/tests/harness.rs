//! `plinth-test`, the harness for plugin authors' `#[test]`s, against the
//! example plugins built from source: seeding, hooks, routes, widgets,
//! storage and log reads, strict mode, and grants checked exactly as the
//! real host checks them.

use plinth_test::{
    FieldContext, HostFunction, LogLevel, LogRecord, LogSource, Method, RouteRequest, TestHost,
};
use plinth_tests::{copy_example, example, fresh_host, shared_compile_cache};
use serde_json::{Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

const WORD_COUNT: &str = "plugin:word-count-widget:word-count";

/// A harness host on the tests' shared compile cache (under `target/`), so
/// the suite compiles each component once and writes nothing to the user's
/// cache folder.
fn harness() -> TestHost {
    TestHost::builder().compile_cache_dir(shared_compile_cache()).build()
}

fn strict_harness() -> TestHost {
    TestHost::builder().compile_cache_dir(shared_compile_cache()).strict().build()
}

/// The message of the panic `action` raises; fails the test when it does not panic.
fn panic_message(action: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(action)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload.downcast_ref::<&str>().map(|text| text.to_string()).unwrap_or_default(),
    }
}

/// A copy of the character-stats example whose manifest grants only `grants`.
fn character_stats_granting(grants: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let plugins = tempfile::tempdir().expect("temp dir");
    let dir = copy_example("character-stats", plugins.path());
    let path = dir.join("plugin.json");
    let text = std::fs::read_to_string(&path).expect("read the manifest");
    let mut manifest: Value = serde_json::from_str(&text).expect("manifest JSON");
    manifest["capabilities"]["host_functions"] = json!(grants);
    std::fs::write(&path, manifest.to_string()).expect("write the manifest");
    (plugins, dir)
}

#[test]
fn a_character_stats_hook_is_seen_in_storage_and_routes() {
    let t = harness();
    assert_eq!(t.load(example("character-stats")).expect("load").id, "character-stats");
    let ada = t.seed_entity("character", json!({"name": "Ada"}));
    t.seed_entity("location", json!({"name": "Harbor"}));
    assert_eq!(t.entity(&ada.id).map(|entity| entity.data), Some(json!({"name": "Ada"})));
    assert_eq!(t.storage_keys("character-stats", ""), Vec::<String>::new(), "seeding fires no hook");
    assert!(t.host_calls("character-stats").is_empty(), "seeding runs no plugin");

    let write = t.create_entity("character", json!({"name": "Bo"})).expect("create");
    t.assert_hooks_succeeded(&write);
    let key = format!("analysis/{}", write.entity.id);
    assert_eq!(t.storage_keys("character-stats", "analysis/"), std::slice::from_ref(&key));
    assert_eq!(
        t.storage_json("character-stats", &key),
        Some(json!({"related_count": 2})),
        "the seeded character counts"
    );
    assert_eq!(t.host_calls("character-stats"), [HostFunction::EntityList, HostFunction::StorageSet]);

    let stats = t.get("character-stats", "/stats/character").expect("route");
    assert_eq!(stats.status, 200);
    assert_eq!(
        stats.json().expect("JSON"),
        json!({"entity_type": "character", "count": 2, "analysis_depth": 3})
    );

    // POST /analyze analyses every character again, the seeded one included, and logs it.
    let analyzed =
        t.post_json("character-stats", "/analyze", &json!({"entity_type": "character"})).expect("route");
    assert_eq!((analyzed.status, analyzed.json().expect("JSON")), (200, json!({"analyzed": 2})));
    assert_eq!(
        t.storage_json("character-stats", &format!("analysis/{}", ada.id)),
        Some(json!({"related_count": 2}))
    );
    assert!(t.log_contains("character-stats", "analyzed 2 character"));
    assert!(!t.log_contains("character-stats", "analyzed 3"));
    t.assert_log_contains("character-stats", "analyzed 2 character");
    let missing = panic_message(|| t.assert_log_contains("character-stats", "no such line"));
    assert!(missing.contains("no such line") && missing.contains("analyzed 2 character"), "{missing}");

    // A plugin's typed error comes back as the host's CallError.
    let bad_body = t
        .call_route("character-stats", RouteRequest::new(Method::Post, "/analyze").with_body("nope"))
        .expect_err("not JSON");
    assert_eq!(bad_body.code(), "plugin_invalid_input", "{bad_body}");
    let unknown = panic_message(|| {
        t.plugin("nope");
    });
    assert_eq!(unknown, "no plugin `nope` is loaded (loaded: character-stats)");
}

#[test]
fn audit_trail_hook_writes_are_read_back() {
    let t = harness();
    t.load(example("audit-trail")).expect("load");
    t.seed_entity_with_id("a", "character", json!({"v": 1}));
    assert_eq!(t.storage_keys("audit-trail", ""), Vec::<String>::new(), "seeding fires no hook");

    let updated = t.update_entity("a", json!({"v": 2})).expect("update");
    t.assert_hooks_succeeded(&updated);
    assert_eq!(t.entity("a").map(|entity| entity.data), Some(json!({"v": 2})));
    let created = t.create_entity_with_id("b", "location", json!({})).expect("create");
    t.assert_hooks_succeeded(&created);
    let deleted = t.delete_entity("a").expect("delete");
    t.assert_hooks_succeeded(&deleted);
    assert_eq!(t.entity("a"), None);

    let events: Vec<Value> = t
        .storage_keys("audit-trail", "event/")
        .iter()
        .map(|key| t.storage_json("audit-trail", key).expect("a listed key has a value"))
        .collect();
    let event = |event: &str, entity_type: &str, id: &str| json!({"event": event, "entity_type": entity_type, "entity_id": id});
    assert_eq!(
        events,
        [
            event("updated", "character", "a"),
            event("created", "location", "b"),
            event("deleted", "character", "a")
        ]
    );
    let log = t.get("audit-trail", "/log?entity_id=a").expect("route");
    assert_eq!(log.json().expect("JSON")["events"].as_array().map(Vec::len), Some(2));
}

/// The default `TestHost::new()`, as an author uses it.
#[test]
fn word_count_widget_renders_and_validates() {
    let t = TestHost::new();
    assert!(!t.is_strict());
    t.load(example("word-count-widget")).expect("load");
    assert_eq!(t.plugin("word-count-widget").widgets.len(), 1);

    let context =
        FieldContext { field_name: "bio".into(), value: json!("three short words"), ..Default::default() };
    let html = t.render_widget(WORD_COUNT, &context).expect("render");
    assert!(html.contains("3 / 200 words") && html.contains("data-state=\"ok\""), "{html}");
    assert_eq!(
        t.validate_widget(WORD_COUNT, &json!("three short words")).expect("validate"),
        Vec::<String>::new()
    );
    assert_eq!(t.validate_widget(WORD_COUNT, &json!(12)).expect("validate"), ["the value must be text"]);

    t.set_settings("word-count-widget", json!({"max_words": 2}));
    assert_eq!(
        t.validate_widget(WORD_COUNT, &json!("three short words")).expect("validate"),
        ["3 words is more than the maximum of 2"]
    );
    let over = t.render_widget(WORD_COUNT, &context).expect("render");
    assert!(over.contains("3 / 2 words") && over.contains("data-state=\"over\""), "{over}");

    let unknown = t.render_widget("plugin:word-count-widget:nope", &context).expect_err("no such widget");
    assert_eq!(unknown.code(), "unknown_widget");
    assert_eq!(t.host_calls("word-count-widget"), [HostFunction::SettingGet; 4]);
}

#[test]
fn seeded_settings_change_a_routes_answer() {
    let t = harness();
    t.load(example("character-stats")).expect("load");
    let depth = |t: &TestHost| {
        t.get("character-stats", "/stats/character").expect("route").json().expect("JSON")["analysis_depth"]
            .clone()
    };
    assert_eq!(depth(&t), 3, "the manifest's default");
    let in_force = t.set_settings("character-stats", json!({"analysis_depth": 5}));
    assert_eq!(in_force["analysis_depth"], 5);
    assert_eq!(depth(&t), 5);

    // Checked against the manifest's schema, as the host checks them.
    let refused = panic_message(|| {
        t.set_settings("character-stats", json!({"analysis_depth": "deep"}));
    });
    assert!(refused.starts_with("set_settings: ") && refused.contains("analysis_depth"), "{refused}");
    assert_eq!(depth(&t), 5, "a refused value changes nothing");

    t.set_settings("character-stats", json!({"analysis_depth": null}));
    assert_eq!(depth(&t), 3, "null resets to the default");
}

#[test]
fn strict_mode_fails_on_a_host_call_the_test_did_not_expect() {
    let t = strict_harness();
    assert!(t.is_strict());
    t.load(example("character-stats")).expect("load");
    t.expect_host_calls("character-stats", &[HostFunction::EntityList]);

    // GET /stats counts (entity_list), then reads its setting (setting_get).
    let message = panic_message(|| {
        let _ = t.get("character-stats", "/stats/character");
    });
    assert_eq!(
        message,
        "strict mode: plugin `character-stats` called setting_get, which the test did not expect (expected: entity_list)"
    );
    assert!(t.take_violations().is_empty(), "reported once, by the call that made it");

    t.expect_host_calls("character-stats", &[HostFunction::SettingGet]);
    assert_eq!(t.get("character-stats", "/stats/character").expect("route").status, 200);
}

#[test]
fn strict_mode_passes_when_every_call_is_expected() {
    let t = TestHost::builder()
        .compile_cache_dir(shared_compile_cache())
        .expect_host_calls("word-count-widget", &[HostFunction::SettingGet])
        .expect_host_calls("character-stats", &[HostFunction::EntityList, HostFunction::StorageSet])
        .expect_host_calls("character-stats", &[HostFunction::SettingGet])
        .build();
    assert!(t.is_strict(), "declaring expectations makes the host strict");
    t.load(example("word-count-widget")).expect("load");
    t.load(example("character-stats")).expect("load");

    let context = FieldContext { value: json!("a b"), ..Default::default() };
    assert!(t.render_widget(WORD_COUNT, &context).expect("render").contains("2 / 200 words"));
    assert_eq!(t.validate_widget(WORD_COUNT, &json!("a b")).expect("validate"), Vec::<String>::new());
    let write = t.create_entity("character", json!({"name": "Ada"})).expect("create");
    t.assert_hooks_succeeded(&write);
    assert_eq!(t.get("character-stats", "/stats/character").expect("route").status, 200);

    assert_eq!(t.host_calls("word-count-widget"), [HostFunction::SettingGet, HostFunction::SettingGet]);
    assert_eq!(
        t.host_calls("character-stats"),
        [
            HostFunction::EntityList,
            HostFunction::StorageSet,
            HostFunction::EntityList,
            HostFunction::SettingGet
        ]
    );
    t.clear_host_calls();
    assert!(t.host_calls("character-stats").is_empty());
    assert!(t.take_violations().is_empty());
}

#[test]
fn declaring_an_expectation_turns_strict_mode_on() {
    let t = harness();
    t.load(example("word-count-widget")).expect("load");
    t.validate_widget(WORD_COUNT, &json!("a")).expect("not strict: any call goes");

    t.expect_host_calls("word-count-widget", &[HostFunction::Log]);
    assert!(t.is_strict());
    let message = panic_message(|| {
        let _ = t.validate_widget(WORD_COUNT, &json!("a"));
    });
    assert_eq!(
        message,
        "strict mode: plugin `word-count-widget` called setting_get, which the test did not expect (expected: log)"
    );
}

#[test]
fn strict_mode_reports_calls_made_behind_its_back_when_dropped() {
    let t = strict_harness();
    t.load(example("word-count-widget")).expect("load");
    // Straight through the host: no harness method runs afterwards to report it.
    let problems = t.host().validate_widget(WORD_COUNT, &json!("a b")).expect("validate");
    assert_eq!(problems, Vec::<String>::new());
    let message = panic_message(move || drop(t));
    assert_eq!(
        message,
        "strict mode: plugin `word-count-widget` called setting_get, which the test did not expect (expected: none)\n\
         (found when the TestHost was dropped)"
    );
}

#[test]
fn a_missing_grant_is_denied_and_logged_exactly_as_by_the_real_host() {
    let (_plugins, dir) = character_stats_granting(&["entity_list"]);
    // Expecting a call grants nothing: only the manifest does.
    let expected = [HostFunction::EntityList, HostFunction::StorageSet, HostFunction::SettingGet];
    let t = TestHost::builder()
        .compile_cache_dir(shared_compile_cache())
        .expect_host_calls("character-stats", &expected)
        .build();
    assert_eq!(t.load(&dir).expect("load").host_functions, ["entity_list"]);

    let write = t.create_entity_with_id("ada", "character", json!({"name": "Ada"})).expect("create");
    let denial = "plugin `character-stats` called storage_set without the grant: \
                  add \"storage_set\" to capabilities.host_functions in plugin.json";
    let error = write.hooks[0].error.as_deref().expect("the hook failed");
    assert!(error.contains("denied") && error.contains(denial), "{error}");
    assert_eq!(t.storage_keys("character-stats", ""), Vec::<String>::new(), "nothing was stored");
    let failed = panic_message(|| t.assert_hooks_succeeded(&write));
    assert!(failed.starts_with("hooks failed for character `ada`") && failed.contains(denial), "{failed}");

    // The route's setting_get is denied too; the plugin falls back to its default.
    let stats = t.get("character-stats", "/stats/character").expect("route");
    assert_eq!(
        stats.json().expect("JSON"),
        json!({"entity_type": "character", "count": 1, "analysis_depth": 3})
    );
    t.assert_log_contains("character-stats", "called setting_get without the grant");
    assert_eq!(
        t.host_calls("character-stats"),
        [
            HostFunction::EntityList,
            HostFunction::StorageSet,
            HostFunction::EntityList,
            HostFunction::SettingGet
        ],
        "denied calls are recorded too"
    );

    // The real host, on the same folder, answers and logs exactly the same.
    let (_guard, host) = fresh_host();
    host.load_plugin(&dir).expect("load");
    let real = host.create_entity_with_id("ada", "character", json!({"name": "Ada"})).expect("create");
    assert_eq!(real.hooks[0].error, write.hooks[0].error);
    let real_stats = host
        .call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"))
        .expect("route");
    assert_eq!(real_stats, stats);
    let records = |log: Vec<LogRecord>| -> Vec<(LogLevel, LogSource, String)> {
        log.into_iter().map(|record| (record.level, record.source, record.message)).collect()
    };
    let logged = records(t.logs("character-stats"));
    assert_eq!(logged, records(host.plugin_log("character-stats")));
    let denials = logged
        .iter()
        .filter(|(level, source, message)| {
            *level == LogLevel::Warn && *source == LogSource::Host && message.contains("without the grant")
        })
        .count();
    assert_eq!(denials, 2, "{logged:?}");
}

#[test]
fn a_manifest_the_host_refuses_is_refused_by_the_harness_alike() {
    let (_plugins, dir) = character_stats_granting(&["entity_list", "filesystem_write"]);
    let t = harness();
    let refused = t.load(&dir).expect_err("an unknown grant");
    let (_guard, host) = fresh_host();
    let real = host.load_plugin(&dir).expect_err("an unknown grant");
    assert_eq!(refused.to_string(), real.to_string());
    assert!(refused.to_string().contains("capabilities.host_functions"), "{refused}");
    assert_eq!(t.plugin_ids(), Vec::<String>::new());
}
