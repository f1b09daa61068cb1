//! Migrating from the guide: what its steps produce loads as written.

use plinth_tests::{PluginDir, fresh_host, guests};

/// A plugin built the migration guide's way, `cargo build --target
/// wasm32-wasip1` with wit-bindgen (through plinth-sdk), loads: the host wraps
/// the core module with the WASI preview 1 adapter, once, and it answers as
/// its wasip2 build does.
#[test]
fn a_core_module_built_the_guides_way_loads_and_answers() {
    let (_guard, host) = fresh_host();
    let module = std::fs::read(guests::CHARACTER_STATS_WASIP1_WASM).expect("the wasip1 build");
    assert_eq!(&module[..8], b"\0asm\x01\0\0\0", "the guide's build output is a core module");
    let manifest = serde_json::json!({
        "id": "my-plugin",
        "wasm": { "module": "plugin.wasm" },
        "capabilities": { "host_functions": ["entity_read", "entity_list", "storage_get", "storage_set", "setting_get", "log"] },
    });
    let dir = PluginDir::raw(&manifest.to_string(), &module);
    let info = host.load_plugin(dir.path()).expect("the core module becomes a component");
    assert_eq!(info.exports, ["events", "routes"]);
    let write = host.create_entity("character", serde_json::json!({"name": "Ada"})).expect("create");
    assert!(write.hooks_succeeded(), "{:?}", write.hooks);
    let (status, body) = plinth_tests::get_json(&host, "my-plugin", "/stats/character");
    assert_eq!((status, body["count"].clone()), (200, serde_json::json!(1)), "{body}");
}

/// "Frontend panels: no changes needed": a plugin with only panels and a
/// widget that is only an HTML page loads without a component. Its widget is
/// listed as page-only, a render or validate call says it has none, and a
/// field that uses it is not checked by the server (there is nothing to check
/// with). Without a component, a widget that is not a page is refused.
#[test]
fn a_front_end_only_plugin_loads_without_a_component() {
    let (_guard, host) = fresh_host();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("frontend/panels")).expect("folders");
    std::fs::write(dir.path().join("frontend/panels/main-panel.html"), "<p>panel</p>").expect("panel");
    std::fs::write(dir.path().join("frontend/panels/stars.html"), "<p>stars</p>").expect("widget page");
    let manifest = serde_json::json!({
        "id": "pages",
        "panels": [{ "id": "main", "title": "Main", "html": "frontend/panels/main-panel.html" }],
        "field_widgets": [{ "id": "stars", "label": "Stars", "field_types": ["number"], "html": "frontend/panels/stars.html" }],
    });
    std::fs::write(dir.path().join("plugin.json"), manifest.to_string()).expect("manifest");
    let info = host.load_plugin(dir.path()).expect("a front-end-only plugin loads");
    assert!(info.exports.is_empty() && info.routes.is_empty(), "{info:?}");
    assert_eq!(info.panels.len(), 1);
    assert_eq!(info.widgets.len(), 1);
    assert!(!info.widgets[0].server_validation, "{info:?}");

    let context = plinth_host::FieldContext::default();
    let error = host.render_widget("plugin:pages:stars", &context).expect_err("no WASM render");
    assert!(error.to_string().contains("page-only widget"), "{error}");
    let config: plinth_host::FieldConfig = serde_json::from_value(
        serde_json::json!({ "fields": { "rating": { "type": "number", "widget": "plugin:pages:stars" } } }),
    )
    .expect("a field configuration");
    host.set_field_config("review", &config).expect("configure");
    host.create_entity("review", serde_json::json!({ "rating": 3 }))
        .expect("nothing checks the value on the server");

    let no_page =
        serde_json::json!({ "id": "half", "field_widgets": [{ "id": "w", "field_types": ["text"] }] });
    std::fs::write(dir.path().join("plugin.json"), no_page.to_string()).expect("manifest");
    let error = host.load_plugin(dir.path()).expect_err("a widget that is not a page needs a component");
    assert!(error.to_string().contains("`wasm`: missing"), "{error}");
}
