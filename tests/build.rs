//! Builds every guest (example plugins and test guests) from source, once per
//! change, for `wasm32-wasip2`, in the workspace's own target directory, so
//! `example-plugins/*/plugin.json` find their components where a plain
//! `cargo build --target wasm32-wasip2 --release` puts them. Writes
//! `$OUT_DIR/guests.rs` with a constant naming each component's path.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, folder) of each guest.
const GUESTS: &[(&str, &str)] = &[
    ("character-stats", "example-plugins/character-stats"),
    ("word-count-widget", "example-plugins/word-count-widget"),
    ("audit-trail", "example-plugins/audit-trail"),
    ("probe-plugin", "tests/guests/probe-plugin"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf();
    for watched in ["wit", "guest-sdk/src", "guest-sdk/Cargo.toml", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    for (_, folder) in GUESTS {
        println!(
            "cargo:rerun-if-changed={}",
            root.join(folder).join("src").display()
        );
        println!(
            "cargo:rerun-if-changed={}",
            root.join(folder).join("Cargo.toml").display()
        );
    }

    let target_dir = env::var_os("PLINTH_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    build_guests(&root, &target_dir);

    let mut generated = String::new();
    for (package, folder) in GUESTS {
        let constant = package.to_uppercase().replace('-', "_");
        let wasm = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{}.wasm", package.replace('-', "_")));
        assert!(
            wasm.is_file(),
            "guest {package} did not produce {}",
            wasm.display()
        );
        writeln!(generated, "/// The built component of `{package}`.").unwrap();
        writeln!(
            generated,
            "pub const {constant}_COMPONENT: &str = {:?};",
            wasm.display().to_string()
        )
        .unwrap();
        writeln!(generated, "/// The source folder of `{package}`.").unwrap();
        writeln!(
            generated,
            "pub const {constant}_DIR: &str = {:?};",
            root.join(folder).display().to_string()
        )
        .unwrap();
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("guests.rs");
    std::fs::write(out, generated).expect("writing guests.rs");
}

fn build_guests(root: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--target", TARGET])
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
    for (package, _) in GUESTS {
        command.args(["--package", package]);
    }
    let status = command.status().expect("running cargo to build the guests");
    assert!(
        status.success(),
        "building the guests failed (the compiler output is above); if the target is missing, run `rustup target add {TARGET}`"
    );
}
