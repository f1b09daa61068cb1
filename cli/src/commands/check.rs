//! `plinth check PLUGIN_DIR|PACKAGE`: loads the plugin the way the server
//! would (into a throw-away data directory) and reports every problem found.
//! A package is unpacked first, with the checks an install makes.

use super::inspect;
use plinth_host::install::{InstallConfig, package};
use std::path::{Path, PathBuf};

/// Returns whether the plugin passed.
pub fn run(path: &Path) -> anyhow::Result<bool> {
    let unpacked = tempfile::tempdir()?;
    let dir = match unpack_if_package(path, unpacked.path())? {
        Some(dir) => dir,
        None => path.to_path_buf(),
    };
    check(&dir)
}

/// Unpacks `path` into `scratch` when it is a package; `None` otherwise.
fn unpack_if_package(path: &Path, scratch: &Path) -> anyhow::Result<Option<PathBuf>> {
    if !path.is_file() {
        return Ok(None);
    }
    let max = InstallConfig::default().max_package_bytes;
    if std::fs::metadata(path)?.len() > max {
        anyhow::bail!("{} is larger than the {max} bytes a package may be", path.display());
    }
    let bytes = std::fs::read(path)?;
    if !package::is_package(&bytes) {
        return Ok(None);
    }
    println!("package: {} bytes, sha256 {}", bytes.len(), package::sha256_hex(&bytes));
    let dir = scratch.join("plugin");
    package::unpack(&bytes, &dir, &InstallConfig::default(), &path.display().to_string())?;
    Ok(Some(dir))
}

fn check(dir: &Path) -> anyhow::Result<bool> {
    let mut errors: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    let scratch = tempfile::tempdir()?;
    let host = super::host_with_compile_cache(scratch.path())?;
    match host.load_plugin(dir) {
        Ok(info) => {
            println!(
                "loaded {} {} (plinth:plugin@{}): exports {}",
                info.id,
                info.version,
                info.wit_version,
                info.exports.join(", ")
            );
            for route in &info.routes {
                println!("  route {} {}", route.method, route.path);
            }
            for widget in &info.widgets {
                println!("  widget {}", widget.id);
            }
        }
        Err(error) => errors.push(error.to_string()),
    }
    if let Ok(manifest) = plinth_host::manifest::Manifest::parse(
        &std::fs::read_to_string(dir.join("plugin.json")).unwrap_or_default(),
    ) {
        warnings.extend(manifest.warnings.iter().map(|warning| format!("plugin.json {warning}")));
    }
    // The grant comparison needs a readable manifest and a decodable component.
    if let Ok((Some(manifest), component)) = inspect::locate(dir)
        && let Ok(report) = inspect::report(&component)
    {
        let needed = report.needed_grants();
        let missing: Vec<&str> =
            needed.difference(&manifest.capabilities.host_functions).map(|grant| grant.name()).collect();
        if let Some(tool) = report.toolchain.filter(|_| !missing.is_empty()) {
            // componentize tools import every host function whatever the
            // code calls: one note, so that a real gap is not buried.
            warnings.push(format!(
                "built by {tool}, which imports every host function whatever the code calls, so the imports cannot \
                 tell which grants it needs; not granted: {} (calls to them return `denied`)",
                missing.join(", ")
            ));
        } else {
            for missing in missing {
                warnings.push(format!(
                    "the component imports a function that needs `{missing}`, which plugin.json does not grant: those calls will return `denied`"
                ));
            }
        }
        for unused in manifest.capabilities.host_functions.difference(&needed) {
            warnings
                .push(format!("plugin.json grants `{unused}`, which the component never calls: remove it"));
        }
    }
    for warning in &warnings {
        println!("warning: {warning}");
    }
    for error in &errors {
        println!("error: {error}");
    }
    let passed = errors.is_empty();
    println!("{}", if passed { "ok" } else { "failed" });
    Ok(passed)
}
