//! `plinth precompile PATH --target T…`: compiles a plugin's component (or a
//! legacy module) ahead of time for each target, into the `precompiled`
//! folder beside it, for hosts that cannot compile (a runtime-only build, an
//! iOS app) or should not at start. PATH is a plugin folder, a `.wasm` file,
//! or a package (`.tgz`, unpacked into `--out` first, its checksum printed).

use anyhow::Context;
use plinth_host::artifact;
use plinth_host::install::package;
use plinth_host::{HostConfig, Target};
use std::path::{Path, PathBuf};

/// Precompiles `path` for every target in `targets`.
pub fn run(path: &Path, targets: &[String], fuel: bool, out: Option<&Path>) -> anyhow::Result<bool> {
    let targets: Vec<Target> =
        targets.iter().map(|t| Target::parse(t).map_err(anyhow::Error::msg)).collect::<Result<_, _>>()?;
    let (owner, wasm) = locate(path, out)?;
    for target in &targets {
        let written = artifact::precompile(&owner, &wasm, target, fuel)?;
        println!("{target}: {}", written.display());
    }
    Ok(true)
}

/// The folder the artifacts go into and the wasm file to compile.
fn locate(path: &Path, out: Option<&Path>) -> anyhow::Result<(PathBuf, PathBuf)> {
    if path.is_dir() {
        let manifest = plinth_host::manifest::Manifest::parse(
            &std::fs::read_to_string(path.join("plugin.json"))
                .with_context(|| format!("{} has no readable plugin.json", path.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: plugin.json is invalid at {e}", path.display()))?;
        let module =
            manifest.wasm_module().context("the plugin has no component (wasm.module) to precompile")?;
        return Ok((path.to_path_buf(), path.join(module)));
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if package::is_package(&bytes) {
        let out =
            out.context("a package is unpacked first: name the plugin folder to make with --out DIR")?;
        package::unpack(&bytes, out, &HostConfig::new(".").install, &path.display().to_string())?;
        println!(
            "unpacked {} (sha256 {}) into {}",
            path.display(),
            package::sha256_hex(&bytes),
            out.display()
        );
        return Ok((out.to_path_buf(), out.join("plugin.wasm")));
    }
    let owner = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok((owner.to_path_buf(), path.to_path_buf()))
}
