//! Load bookkeeping and hot reload, for every embedder: the host remembers
//! which plugin folders failed to load and why (a failed reload keeps the
//! running version and is remembered too), and
//! [`Host::reload_changed`](crate::Host::reload_changed)
//! polls a plugins folder, loading new plugin folders and reloading those
//! whose manifest or component changed on disk.

use crate::error::LoadError;
use crate::host::PluginInfo;
use crate::manifest::Manifest;
use crate::sync::locked;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// A plugin folder whose last load or reload failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedLoad {
    /// The plugin's id, when its manifest could be read.
    pub id: Option<String>,
    /// The folder.
    pub dir: PathBuf,
    /// Why it failed.
    pub error: String,
}

/// What the host remembers about plugin folders.
#[derive(Default)]
pub(crate) struct Folders {
    failed: Mutex<Vec<FailedLoad>>,
    /// Each folder's fingerprint when it was last loaded (or tried).
    seen: Mutex<BTreeMap<PathBuf, Fingerprint>>,
}

type Fingerprint = Vec<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> (Option<SystemTime>, u64) {
    std::fs::metadata(path).map(|m| (m.modified().ok(), m.len())).unwrap_or((None, 0))
}

/// The manifest's and the component's modification times and sizes.
fn fingerprint(dir: &Path) -> Fingerprint {
    let manifest_path = dir.join("plugin.json");
    let mut print = vec![stamp(&manifest_path)];
    if let Some(manifest) =
        std::fs::read_to_string(&manifest_path).ok().and_then(|t| Manifest::parse(&t).ok())
        && let Some(module) = manifest.wasm_module()
    {
        print.push(stamp(&dir.join(module)));
    }
    print
}

/// The sub-folders of `root` that hold a `plugin.json`, in name order.
pub(crate) fn plugin_dirs(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("plugin.json").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

impl Folders {
    /// Records how loading `dir` went: a failure replaces the folder's
    /// earlier one, a success clears it.
    pub(crate) fn record(&self, dir: &Path, result: &Result<PluginInfo, LoadError>) {
        locked(&self.seen).insert(dir.to_path_buf(), fingerprint(dir));
        let mut failed = locked(&self.failed);
        failed.retain(|f| f.dir != dir);
        if let Err(error) = result {
            let id = error.plugin().map(str::to_string);
            failed.push(FailedLoad { id, dir: dir.to_path_buf(), error: error.to_string() });
        }
    }

    /// The folders whose last load or reload failed.
    pub(crate) fn failed(&self) -> Vec<FailedLoad> {
        locked(&self.failed).clone()
    }

    /// Whether `dir`'s manifest and component are as they were when it was
    /// last loaded (or tried).
    pub(crate) fn unchanged(&self, dir: &Path) -> bool {
        let print = fingerprint(dir);
        locked(&self.seen).get(dir) == Some(&print)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_s_last_failure_is_kept_and_a_change_on_disk_is_seen() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("probe");
        std::fs::create_dir(&dir).expect("folder");
        std::fs::write(dir.join("plugin.json"), r#"{"id": "probe"}"#).expect("manifest");
        let folders = Folders::default();
        assert!(!folders.unchanged(&dir), "never loaded: not seen yet");
        let taken = |plugin: &str| LoadError::DuplicateId { plugin: plugin.into(), dirs: vec![dir.clone()] };

        folders.record(&dir, &Err(taken("probe")));
        folders.record(&dir, &Err(taken("probe-2")));
        let failed = folders.failed();
        assert_eq!(failed.len(), 1, "a folder's newer failure replaces its older one: {failed:?}");
        assert_eq!((failed[0].id.as_deref(), &failed[0].dir), (Some("probe-2"), &dir));
        assert!(folders.unchanged(&dir));

        std::fs::write(dir.join("plugin.json"), r#"{"id": "probe", "name": "Probe"}"#).expect("edited");
        assert!(!folders.unchanged(&dir), "an edited manifest is a change to reload");
        assert_eq!(plugin_dirs(root.path()).expect("listed"), [dir]);
    }
}
