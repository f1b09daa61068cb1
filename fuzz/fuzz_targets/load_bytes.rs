//! Any bytes as a plugin's component and as a legacy module: loading returns
//! a typed error or succeeds; the host never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plinth_host::{Host, HostConfig};
use std::sync::OnceLock;

struct Fixture {
    host: Host,
    plugin_dir: tempfile::TempDir,
    _data: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let data = tempfile::tempdir().expect("temp dir");
        let plugin_dir = tempfile::tempdir().expect("temp dir");
        let manifest = r#"{"id":"fuzzed","name":"F","version":"0","wasm":{"module":"plugin.wasm"}}"#;
        std::fs::write(plugin_dir.path().join("plugin.json"), manifest).expect("manifest");
        Fixture { host: Host::with_config(HostConfig { legacy: Some(Default::default()), ..HostConfig::new(data.path()) }).expect("host"), plugin_dir, _data: data }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    std::fs::write(fixture.plugin_dir.path().join("plugin.wasm"), data).expect("write");
    if fixture.host.load_plugin(fixture.plugin_dir.path()).is_ok() {
        fixture.host.unload_plugin("fuzzed").expect("unload");
    }
    let _ = fixture.host.legacy().expect("legacy adapter").add_module_bytes("fuzzed.wasm", data);
});
