//! `plinth build [DIR...]`: runs each plugin's `build.command` (from its
//! `plugin.json`) in its folder. A DIR is a plugin folder or a folder of
//! plugin folders. A legacy module's folder takes part too when it holds a
//! `plinth-module.json` (`{"module": "dist/math.wasm", "build": {...}}`), so
//! a Bubbledesk module keeps its own build (`npm run build -- math`).
//! `plinth dev` reuses the same pieces to rebuild on changes.

use anyhow::Context;
use plinth_host::manifest::Manifest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// One plugin's build, from its manifest.
pub struct PluginBuild {
    /// The plugin's id.
    pub id: String,
    /// Its folder.
    pub dir: PathBuf,
    /// The shell command.
    pub command: String,
    /// What to watch, resolved against the folder.
    pub watch: Vec<PathBuf>,
    /// The component the build must write (`wasm.module`).
    pub module: PathBuf,
}

/// A legacy module folder's description of its build.
const MODULE_MANIFEST: &str = "plinth-module.json";

/// `plinth-module.json`: where a legacy module's build writes it, and how.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleManifest {
    /// The `.wasm` the build writes, relative to the folder.
    module: String,
    build: plinth_host::manifest::BuildSection,
}

/// Whether `dir` is a plugin folder or a legacy module folder with a build.
fn buildable(dir: &Path) -> bool {
    dir.join("plugin.json").is_file() || dir.join(MODULE_MANIFEST).is_file()
}

/// The plugin folders a DIR names (and legacy module folders with a
/// `plinth-module.json`): itself when it is one, else its sub-folders that
/// are, in name order.
pub fn plugin_folders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if buildable(dir) {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| buildable(path))
        .collect();
    folders.sort();
    Ok(folders)
}

/// The build of the plugin in `dir`, or `None` when its manifest has no `build`.
pub fn plugin_build(dir: &Path) -> anyhow::Result<Option<PluginBuild>> {
    let path = dir.join("plugin.json");
    if !path.is_file() {
        return module_build(dir).map(Some);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = Manifest::parse(&text).with_context(|| format!("{} is invalid", path.display()))?;
    let Some(build) = manifest.build else { return Ok(None) };
    let Some(module) = manifest.wasm.as_ref().map(|wasm| dir.join(&wasm.module)) else {
        anyhow::bail!("{}: `build` needs `wasm.module`, the file the build writes", dir.display())
    };
    Ok(Some(PluginBuild {
        id: manifest.id,
        dir: dir.to_path_buf(),
        command: build.command,
        watch: build.watch.iter().map(|path| dir.join(path)).collect(),
        module,
    }))
}

/// A legacy module folder's build, from its `plinth-module.json`.
fn module_build(dir: &Path) -> anyhow::Result<PluginBuild> {
    let path = dir.join(MODULE_MANIFEST);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: ModuleManifest =
        serde_json::from_str(&text).with_context(|| format!("{} is invalid", path.display()))?;
    let relative = Path::new(&manifest.module);
    anyhow::ensure!(
        manifest.module.ends_with(".wasm") && relative.is_relative() && !manifest.module.contains(".."),
        "{}: `module` must be a .wasm file inside the folder",
        path.display()
    );
    Ok(PluginBuild {
        id: relative
            .file_name()
            .map_or_else(|| manifest.module.clone(), |n| n.to_string_lossy().into_owned()),
        dir: dir.to_path_buf(),
        command: manifest.build.command,
        watch: manifest.build.watch.iter().map(|watched| dir.join(watched)).collect(),
        module: dir.join(relative),
    })
}

impl PluginBuild {
    /// Runs the command in the plugin's folder, all its output going to this
    /// process's stderr (stdout stays for what scripts read, like the
    /// server's address). Returns whether it succeeded.
    pub fn run(&self) -> anyhow::Result<bool> {
        eprintln!("plinth: building {} ({}): {}", self.id, self.dir.display(), self.command);
        let status = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::io::stderr())
            .status()
            .with_context(|| format!("running the build of {}", self.id))?;
        if !status.success() {
            eprintln!("plinth: the build of {} failed ({status}); fix it and build again", self.id);
            return Ok(false);
        }
        // A command that exits 0 but leaves no component is a failed build too.
        // (Not "written now": an up-to-date incremental build rewrites nothing.)
        let written = self.module.is_file();
        if !written {
            eprintln!(
                "plinth: the build of {} succeeded but {} is missing; make `build.command` write `wasm.module`",
                self.id,
                self.module.display()
            );
        }
        Ok(written)
    }

    /// A fingerprint of the watched files (paths, sizes, modification times):
    /// it changes when any of them does.
    pub fn fingerprint(&self) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
        let mut seen = Vec::new();
        for path in &self.watch {
            collect(path, &mut seen, 0);
        }
        seen.sort();
        seen
    }
}

/// Files under `path`, skipping hidden entries and `target/` (build output),
/// at most 16 levels and 100,000 files deep.
fn collect(path: &Path, seen: &mut Vec<(PathBuf, u64, Option<SystemTime>)>, depth: usize) {
    let Ok(metadata) = std::fs::metadata(path) else { return };
    if metadata.is_file() {
        seen.push((path.to_path_buf(), metadata.len(), metadata.modified().ok()));
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else { return };
    if depth >= 16 || seen.len() >= 100_000 {
        return;
    }
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && name != "target" && name != "node_modules" {
            collect(&entry.path(), seen, depth + 1);
        }
    }
}

/// `plinth build DIR...`: every plugin with a `build` section, in order;
/// false if any build failed (the others still run).
pub fn run(dirs: &[PathBuf]) -> anyhow::Result<bool> {
    let mut ok = true;
    let mut built = 0;
    for dir in dirs {
        let folders = plugin_folders(dir)?;
        if folders.is_empty() {
            eprintln!(
                "plinth: {} holds no plugin: no plugin.json in it or in its sub-folders",
                dir.display()
            );
            ok = false;
        }
        for folder in folders {
            // One bad manifest does not stop the other builds.
            match plugin_build(&folder) {
                Ok(Some(build)) => {
                    ok &= build.run()?;
                    built += 1;
                }
                Ok(None) => eprintln!("plinth: {} has no build section; nothing to build", folder.display()),
                Err(error) => {
                    eprintln!("plinth: {error:#}");
                    ok = false;
                }
            }
        }
    }
    eprintln!("plinth: {built} plugin build{} run", if built == 1 { "" } else { "s" });
    Ok(ok)
}
