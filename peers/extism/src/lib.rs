//! Plinth beside its peers. The benchmark `benches/extism.rs` runs the same
//! work — `character-stats`' `GET /stats/character`, a cold start, a no-op
//! call — in Plinth and in Extism in one process, so every ratio compares two
//! numbers taken on the same machine at the same time.
//!
//! This library only builds the Extism guest (`guest/`, an `extism-pdk` crate
//! outside the workspace, for `wasm32-unknown-unknown`, Extism's usual target
//! for Rust plugins).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the Extism twin of `character-stats` and returns its `.wasm` path.
///
/// Panics with the build output when cargo fails: a benchmark has no better
/// place to report it.
pub fn build_extism_guest() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = crate_dir.join("../../target/peer-guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-unknown-unknown", "--manifest-path"])
        .arg(crate_dir.join("guest/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Not the outer build's flags and profile: the guest is its own build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo for the Extism guest");
    assert!(
        output.status.success(),
        "building peers/extism/guest failed (is `rustup target add wasm32-unknown-unknown` done?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target_dir.join("wasm32-unknown-unknown/release/character_stats_extism.wasm")
}
