//! Plugins that must not load, each refused with an error that names the
//! plugin (or its folder) and says what to do.

use plinth_host::LoadError;
use plinth_tests::{PluginDir, fresh_host, guests, manifest};
use serde_json::json;

#[test]
fn unknown_host_function_is_refused_with_its_path() {
    let (_guard, host) = fresh_host();
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &["log", "filesystem_write"], json!({}));
    let error = host.load_plugin(dir.path()).expect_err("unknown grant");
    let text = error.to_string();
    assert!(matches!(error, LoadError::ManifestInvalid { .. }), "{text}");
    assert!(text.contains("capabilities.host_functions[1]") && text.contains("filesystem_write"), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "names the plugin's folder: {text}");
}

#[test]
fn missing_wasm_file_names_the_plugin_and_how_to_build() {
    let (_guard, host) = fresh_host();
    let dir = PluginDir::raw(&manifest("ghost"), b"");
    std::fs::remove_file(dir.path().join("plugin.wasm")).expect("remove");
    let error = host.load_plugin(dir.path()).expect_err("missing wasm");
    let text = error.to_string();
    assert!(matches!(error, LoadError::WasmUnreadable { ref plugin, .. } if plugin == "ghost"), "{text}");
    assert!(text.contains("plugin `ghost`") && text.contains("cargo build --target wasm32-wasip2"), "{text}");
}

/// A core module without Plinth's component type (here the smallest valid
/// one, and a legacy stdin/stdout program) cannot become a component: the
/// error names the plugin and the fix.
#[test]
fn a_core_module_without_plinths_component_type_is_refused_with_the_fix() {
    let (_guard, host) = fresh_host();
    let legacy = std::fs::read(guests::LEGACY_MATH_WASM).expect("the legacy module");
    for bytes in [b"\0asm\x01\0\0\0".to_vec(), legacy] {
        let dir = PluginDir::raw(&manifest("core"), &bytes);
        let error = host.load_plugin(dir.path()).expect_err("core module");
        let text = error.to_string();
        assert!(matches!(error, LoadError::CoreModule { ref plugin, .. } if plugin == "core"), "{text}");
        assert!(
            text.contains("cannot become a component") && text.contains("wit-bindgen against Plinth's WIT"),
            "{text}"
        );
    }
}

#[test]
fn random_bytes_and_broken_components_are_refused() {
    let (_guard, host) = fresh_host();
    let mut noise = Vec::with_capacity(4096);
    let mut x: u32 = 0x2545_f491;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push(x.to_le_bytes()[0]);
    }
    let random = PluginDir::raw(&manifest("noise"), &noise);
    let error = host.load_plugin(random.path()).expect_err("random bytes");
    assert!(matches!(error, LoadError::NotWasm { ref plugin, .. } if plugin == "noise"), "{error}");
    assert!(error.to_string().contains("\\0asm"), "{error}");

    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("read component");
    let truncated = PluginDir::raw(&manifest("cut"), &component[..component.len() / 2]);
    let error = host.load_plugin(truncated.path()).expect_err("truncated");
    assert!(matches!(error, LoadError::Compile { ref plugin, .. } if plugin == "cut"), "{error}");
}

#[test]
fn malformed_manifests_name_the_field() {
    let (_guard, host) = fresh_host();
    let cases = [
        ("{", "plugin.json is invalid"),
        (r#"{"id":"x","name":"x","version":"1"}"#, "wasm"),
        (r#"{"id":"Has Space","name":"x","version":"1","wasm":{"module":"a.wasm"}}"#, "`id`"),
        (
            r#"{"id":"x","name":"x","version":"1","wasm":{"module":"a.wasm"},"capabilities":{"settings":{"n":{"type":"integer","default":"many"}}}}"#,
            "capabilities.settings.n.default",
        ),
    ];
    for (text, expected) in cases {
        let dir = PluginDir::raw(text, b"");
        let error = host.load_plugin(dir.path()).expect_err(text);
        assert!(error.to_string().contains(expected), "{text} → {error}");
    }
    let empty = tempfile::tempdir().expect("temp dir");
    let error = host.load_plugin(empty.path()).expect_err("no manifest");
    assert!(matches!(error, LoadError::ManifestUnreadable { .. }), "{error}");
}

#[test]
fn the_same_id_cannot_load_twice_and_unload_frees_it() {
    let (_guard, host) = fresh_host();
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({}));
    host.load_plugin(dir.path()).expect("load");
    let error = host.load_plugin(dir.path()).expect_err("twice");
    assert!(matches!(error, LoadError::AlreadyLoaded { .. }), "{error}");
    host.unload_plugin("probe").expect("unload");
    assert!(host.plugins().is_empty());
    host.load_plugin(dir.path()).expect("load again");
}

#[test]
fn manifest_widgets_must_exist_in_the_component() {
    let (_guard, host) = fresh_host();
    let extra = json!({"field_widgets": [{"id": "shout"}, {"id": "whisper"}]});
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], extra);
    let error = host.load_plugin(dir.path()).expect_err("undeclared widget");
    assert!(error.to_string().contains("whisper"), "{error}");
}

#[test]
fn settings_are_validated_against_the_schema() {
    let (_guard, host) = fresh_host();
    let extra = json!({"capabilities": {"settings": {"depth": {"type": "integer", "default": 3}, "name": {"type": "string"}}}});
    let dir = PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], extra);
    host.load_plugin(dir.path()).expect("load");
    assert_eq!(host.settings("probe").expect("settings"), *json!({"depth": 3}).as_object().expect("object"));
    let set =
        |value: serde_json::Value| host.set_settings("probe", value.as_object().cloned().unwrap_or_default());
    let error = set(json!({"depth": "deep"})).expect_err("wrong type");
    assert!(error.to_string().contains("not of type integer"), "{error}");
    let error = set(json!({"name": "x", "colour": "red"})).expect_err("undeclared");
    assert!(error.to_string().contains("colour"), "{error}");
    assert_eq!(host.settings("probe").expect("settings").get("name"), None, "a refused batch stores nothing");
    assert_eq!(
        set(json!({"depth": 9, "name": "n"})).expect("valid"),
        *json!({"depth": 9, "name": "n"}).as_object().expect("object")
    );
    // null resets to the default, in the same batch as a change.
    assert_eq!(
        set(json!({"depth": null, "name": "m"})).expect("reset"),
        *json!({"depth": 3, "name": "m"}).as_object().expect("object")
    );
}
