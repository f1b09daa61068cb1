//! Builds every guest (example plugins and test guests) from source, once per
//! change: components for `wasm32-wasip2`, legacy modules for `wasm32-wasip1`,
//! in `target/guest-build`, then copies them where a plain `cargo build
//! --target wasm32-wasip2 --release` puts them, so `example-plugins/*/plugin.json`
//! find their components. Writes `$OUT_DIR/guests.rs` with a constant naming
//! each built file (`<PACKAGE>_WASM`) and source folder (`<PACKAGE>_DIR`).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A guest: its package, folder, target, and the file the build writes.
struct Guest {
    package: &'static str,
    folder: &'static str,
    target: &'static str,
    file: &'static str,
}

const fn component(package: &'static str, folder: &'static str, file: &'static str) -> Guest {
    Guest { package, folder, target: "wasm32-wasip2", file }
}

const fn legacy(package: &'static str, folder: &'static str, file: &'static str) -> Guest {
    Guest { package, folder, target: "wasm32-wasip1", file }
}

const GUESTS: &[Guest] = &[
    component("character-stats", "example-plugins/character-stats", "character_stats.wasm"),
    component("word-count-widget", "example-plugins/word-count-widget", "word_count_widget.wasm"),
    component("audit-trail", "example-plugins/audit-trail", "audit_trail.wasm"),
    component("probe-plugin", "tests/guests/probe-plugin", "probe_plugin.wasm"),
    component("foreign-import", "tests/guests/foreign-import", "foreign_import.wasm"),
    legacy("legacy-math", "example-plugins/legacy-math", "math.wasm"),
    legacy("legacy-probe", "tests/guests/legacy-probe", "legacy-probe.wasm"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("tests/ sits in the workspace root").to_path_buf();
    for watched in ["wit", "guest-sdk/src", "guest-sdk/Cargo.toml", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    for guest in GUESTS {
        println!("cargo:rerun-if-changed={}", root.join(guest.folder).join("src").display());
        println!("cargo:rerun-if-changed={}", root.join(guest.folder).join("Cargo.toml").display());
    }

    // The guests build in a target directory of their own: a nested cargo on
    // the outer build's directory would wait forever for its lock when the
    // outer build is a release one (`cargo bench`, `cargo test --release`).
    // The results are then copied where a plain `cargo build --target … --release`
    // puts them, which is where the example manifests look.
    let target_dir = root.join("target");
    let build_dir = target_dir.join("guest-build");
    for target in ["wasm32-wasip2", "wasm32-wasip1"] {
        build_guests(&root, &build_dir, target);
    }

    let mut generated = String::new();
    for guest in GUESTS {
        let constant = guest.package.to_uppercase().replace('-', "_");
        let built = build_dir.join(guest.target).join("release").join(guest.file);
        assert!(built.is_file(), "guest {} did not produce {}", guest.package, built.display());
        let wasm = target_dir.join(guest.target).join("release").join(guest.file);
        std::fs::create_dir_all(wasm.parent().expect("a folder")).expect("creating the guests' folder");
        std::fs::copy(&built, &wasm).expect("copying a built guest");
        let folder = root.join(guest.folder);
        writeln!(generated, "/// The built {} of `{}`.", guest.target, guest.package).unwrap();
        writeln!(generated, "pub const {constant}_WASM: &str = {:?};", wasm.display().to_string()).unwrap();
        writeln!(generated, "/// The source folder of `{}`.", guest.package).unwrap();
        writeln!(generated, "pub const {constant}_DIR: &str = {:?};", folder.display().to_string()).unwrap();
    }
    let python = build_python_guest(&root, &target_dir);
    writeln!(generated, "/// The built component of `character-stats-py` (componentize-py).").unwrap();
    writeln!(generated, "pub const CHARACTER_STATS_PY_WASM: &str = {:?};", python.display().to_string())
        .unwrap();

    let javascript = build_javascript_guest(&root, &target_dir);
    writeln!(generated, "/// The built component of `word-count-widget-js` (componentize-js).").unwrap();
    writeln!(
        generated,
        "pub const WORD_COUNT_WIDGET_JS_WASM: &str = {:?};",
        javascript.display().to_string()
    )
    .unwrap();

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("guests.rs");
    std::fs::write(out, generated).expect("writing guests.rs");
}

/// The pinned componentize-py, installed by the README's test command into
/// `target/py-tools` (a virtual environment).
const COMPONENTIZE_PY: &str = "target/py-tools/bin/componentize-py";

/// Builds `example-plugins/character-stats-py` with componentize-py against
/// `wit/` into `target/python/`, where its manifest looks.
fn build_python_guest(root: &Path, target_dir: &Path) -> PathBuf {
    let folder = root.join("example-plugins/character-stats-py");
    println!("cargo:rerun-if-changed={}", folder.join("app.py").display());
    let tool = root.join(COMPONENTIZE_PY);
    assert!(
        tool.is_file(),
        "componentize-py is missing: run `python3 -m venv target/py-tools && target/py-tools/bin/pip install componentize-py==0.25.1` (the README's test command does)"
    );
    let output = target_dir.join("python/character_stats_py.wasm");
    std::fs::create_dir_all(output.parent().expect("a folder")).expect("creating target/python");
    let status = Command::new(&tool)
        .current_dir(&folder)
        .arg("-d")
        .arg(root.join("wit"))
        .args(["-w", "hooks-and-routes", "componentize", "app", "-o"])
        .arg(&output)
        .status()
        .expect("running componentize-py");
    assert!(status.success(), "componentize-py failed to build character-stats-py (its output is above)");
    output
}

/// The pinned componentize-js, installed by the README's test command into
/// `target/js-tools`.
const COMPONENTIZE_JS: &str = "target/js-tools/node_modules/.bin/componentize-js";

/// Builds `example-plugins/word-count-widget-js` with componentize-js against
/// `wit/` into `target/javascript/`, where its manifest looks. `wasi:http` and
/// the fetch event are left out: Plinth gives plugins no network.
fn build_javascript_guest(root: &Path, target_dir: &Path) -> PathBuf {
    let folder = root.join("example-plugins/word-count-widget-js");
    println!("cargo:rerun-if-changed={}", folder.join("app.js").display());
    let tool = root.join(COMPONENTIZE_JS);
    assert!(
        tool.is_file(),
        "componentize-js is missing: run `npm install --prefix target/js-tools @bytecodealliance/componentize-js@0.23.0` (the README's test command does)"
    );
    let output = target_dir.join("javascript/word_count_widget_js.wasm");
    std::fs::create_dir_all(output.parent().expect("a folder")).expect("creating target/javascript");
    let status = Command::new(&tool)
        .arg(folder.join("app.js"))
        .arg("-w")
        .arg(root.join("wit"))
        .args(["-n", "widget-plugin", "-d", "http", "-d", "fetch-event", "-o"])
        .arg(&output)
        .status()
        .expect("running componentize-js");
    assert!(status.success(), "componentize-js failed to build word-count-widget-js (its output is above)");
    output
}

fn build_guests(root: &Path, target_dir: &Path, target: &str) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--target", target])
        .arg("--target-dir")
        .arg(target_dir)
        // Flags and wrappers meant for the host build (clippy's among them)
        // must not leak into the guests' build and change its fingerprints.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR");
    for guest in GUESTS.iter().filter(|guest| guest.target == target) {
        command.args(["--package", guest.package]);
    }
    let status = command.status().expect("running cargo to build the guests");
    assert!(
        status.success(),
        "building the guests failed (the compiler output is above); if the target is missing, run `rustup target add {target}`"
    );
}
