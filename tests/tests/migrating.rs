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
