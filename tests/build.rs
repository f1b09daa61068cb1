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

/// A guest: its package, folder, target, the file the build writes, and
/// what its constants' names add to the package's (`_WASIP1` for a plugin
/// built as a core module, beside its component).
struct Guest {
    package: &'static str,
    folder: &'static str,
    target: &'static str,
    file: &'static str,
    suffix: &'static str,
}

const fn component(package: &'static str, folder: &'static str, file: &'static str) -> Guest {
    Guest { package, folder, target: "wasm32-wasip2", file, suffix: "" }
}

const fn legacy(package: &'static str, folder: &'static str, file: &'static str) -> Guest {
    Guest { package, folder, target: "wasm32-wasip1", file, suffix: "" }
}

/// A plugin built the migration guide's way: a core module for wasm32-wasip1.
const fn core_module(package: &'static str, folder: &'static str, file: &'static str) -> Guest {
    Guest { package, folder, target: "wasm32-wasip1", file, suffix: "_WASIP1" }
}

const GUESTS: &[Guest] = &[
    component("character-stats", "example-plugins/character-stats", "character_stats.wasm"),
    component("word-count-widget", "example-plugins/word-count-widget", "word_count_widget.wasm"),
    component("audit-trail", "example-plugins/audit-trail", "audit_trail.wasm"),
    component("probe-plugin", "tests/guests/probe-plugin", "probe_plugin.wasm"),
    component("foreign-import", "tests/guests/foreign-import", "foreign_import.wasm"),
    component("embedder-import", "tests/guests/embedder-import", "embedder_import.wasm"),
    component("outbound-http", "tests/guests/outbound-http", "outbound_http.wasm"),
    component("v0-1-plugin", "tests/guests/v0-1-plugin", "v0_1_plugin.wasm"),
    component("v0-2-plugin", "tests/guests/v0-2-plugin", "v0_2_plugin.wasm"),
    component("v0-3-plugin", "tests/guests/v0-3-plugin", "v0_3_plugin.wasm"),
    component("daily-digest", "example-plugins/daily-digest", "daily_digest.wasm"),
    legacy("legacy-math", "example-plugins/legacy-math", "math.wasm"),
    legacy("legacy-probe", "tests/guests/legacy-probe", "legacy-probe.wasm"),
    core_module("character-stats", "example-plugins/character-stats", "character_stats.wasm"),
];

/// The WIT version the Python and JavaScript examples build against.
const NEWEST_WIT: &str = "0.3.0";

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
        let constant = format!("{}{}", guest.package.to_uppercase().replace('-', "_"), guest.suffix);
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
    // The Python and JavaScript guests need their componentize tools; without
    // them the Rust tests still build and run, and these say why they did not.
    for (constant, built) in [
        ("CHARACTER_STATS_PY", build_python_guest(&root, &target_dir)),
        ("WORD_COUNT_WIDGET_JS", build_javascript_guest(&root, &target_dir)),
        ("MY_PLUGIN_PY", build_guide_python_guest(&root, &target_dir)),
    ] {
        writeln!(generated, "/// The built component, or why it could not be built.").unwrap();
        match built {
            Ok(path) => writeln!(
                generated,
                "pub const {constant}: Result<&str, &str> = Ok({:?});",
                path.display().to_string()
            ),
            Err(reason) => {
                println!("cargo:warning={reason}");
                writeln!(generated, "pub const {constant}: Result<&str, &str> = Err({reason:?});")
            }
        }
        .unwrap();
    }

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("guests.rs");
    std::fs::write(out, generated).expect("writing guests.rs");
}

/// Builds `example-plugins/<folder>` with a pinned componentize tool (one the
/// README's test command installs under `target/`) into `target/<output>`,
/// where its manifest looks. `args` adds the tool's own arguments. A missing
/// tool is not an error here: the reason comes back for the tests to report.
fn componentize(
    root: &Path,
    target_dir: &Path,
    folder: &str,
    source: &str,
    (tool, install): (&str, &str),
    output: &str,
    args: impl FnOnce(&mut Command),
) -> Result<PathBuf, String> {
    let folder = root.join("example-plugins").join(folder);
    println!("cargo:rerun-if-changed={}", folder.join(source).display());
    let tool = root.join(tool);
    // Installing the tool later makes the guest build again.
    println!("cargo:rerun-if-changed={}", tool.display());
    if !tool.is_file() {
        return Err(format!(
            "{} is missing, so {} was not built and its tests do not run: run `{install}` (the README's test command does)",
            tool.display(),
            folder.display()
        ));
    }
    let output = target_dir.join(output);
    std::fs::create_dir_all(output.parent().expect("a folder")).expect("creating the output folder");
    let mut command = Command::new(&tool);
    command.current_dir(&folder);
    args(&mut command);
    let status = command.arg("-o").arg(&output).status().expect("running a componentize tool");
    assert!(
        status.success(),
        "{} failed to build {} (its output is above)",
        tool.display(),
        folder.display()
    );
    Ok(output)
}

/// `character-stats-py`, with componentize-py (world `hooks-and-routes`).
fn build_python_guest(root: &Path, target_dir: &Path) -> Result<PathBuf, String> {
    let tool = (
        "target/py-tools/bin/componentize-py",
        "python3 -m venv target/py-tools && target/py-tools/bin/pip install componentize-py==0.25.1",
    );
    let wit = root.join("wit").join(NEWEST_WIT);
    componentize(
        root,
        target_dir,
        "character-stats-py",
        "app.py",
        tool,
        "python/character_stats_py.wasm",
        |c| {
            c.arg("-d").arg(&wit).args(["-w", "hooks-and-routes", "componentize", "app"]);
        },
    )
}

/// `my-plugin`: the migration guide's Python plugin, ported with the fewest
/// changes, on the `plinth_plugin` module (`guest-sdk/python`).
fn build_guide_python_guest(root: &Path, target_dir: &Path) -> Result<PathBuf, String> {
    let tool = (
        "target/py-tools/bin/componentize-py",
        "python3 -m venv target/py-tools && target/py-tools/bin/pip install componentize-py==0.25.1",
    );
    let wit = root.join("wit").join(NEWEST_WIT);
    let sdk = root.join("guest-sdk").join("python");
    println!("cargo:rerun-if-changed={}", sdk.join("plinth_plugin.py").display());
    componentize(root, target_dir, "my-plugin", "backend", tool, "python/my_plugin.wasm", |c| {
        c.arg("-d").arg(&wit).args(["-w", "hooks-and-routes", "componentize", "-p", "backend", "-p"]);
        c.arg(&sdk).arg("app");
    })
}

/// `word-count-widget-js`, with componentize-js (world `widget-plugin`).
/// `wasi:http` and the fetch event are left out: Plinth gives plugins no network.
fn build_javascript_guest(root: &Path, target_dir: &Path) -> Result<PathBuf, String> {
    let tool = (
        "target/js-tools/node_modules/.bin/componentize-js",
        "npm install --prefix target/js-tools @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.25.0",
    );
    let wit = root.join("wit").join(NEWEST_WIT);
    let output = "javascript/word_count_widget_js.wasm";
    componentize(root, target_dir, "word-count-widget-js", "app.js", tool, output, |c| {
        c.arg("app.js").arg("-w").arg(&wit).args(["-n", "widget-plugin", "-d", "http", "-d", "fetch-event"]);
    })
}

/// Builds every guest for `target`, in one cargo.
fn build_guests(root: &Path, target_dir: &Path, target: &str) {
    let packages: Vec<&str> =
        GUESTS.iter().filter(|guest| guest.target == target).map(|g| g.package).collect();
    cargo_build(root, target_dir, target, &packages);
}

/// One `cargo build --release` of `packages` for `target`.
fn cargo_build(root: &Path, target_dir: &Path, target: &str, packages: &[&str]) {
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
    for package in packages {
        command.args(["--package", package]);
    }
    let status = command.status().expect("running cargo to build the guests");
    assert!(
        status.success(),
        "building the guests failed (the compiler output is above); if the target is missing, run `rustup target add {target}`"
    );
}
