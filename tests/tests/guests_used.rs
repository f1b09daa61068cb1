//! Every test guest (`tests/guests/*`) is used by some test: a guest kept
//! building for nothing costs every test run its build time and tests nothing.

use std::path::Path;

#[test]
fn every_test_guest_is_used_by_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tests: Vec<String> = ["tests/tests", "cli/tests", "desktop/tests", "host/benches", "cli/benches"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir)).ok())
        .flatten()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .filter(|path| !path.ends_with("guests_used.rs"))
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect();
    let guests = std::fs::read_dir(root.join("tests/guests")).expect("tests/guests");
    let mut checked = 0;
    for guest in guests.filter_map(|entry| entry.ok()) {
        // The constant tests/build.rs writes for it (`PROBE_PLUGIN_WASM`).
        let constant =
            format!("{}_WASM", guest.file_name().to_string_lossy().to_uppercase().replace('-', "_"));
        assert!(tests.iter().any(|text| text.contains(&constant)), "no test uses {constant}");
        checked += 1;
    }
    assert!(checked >= 5, "found {checked} guests");
}
