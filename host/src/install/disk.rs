//! The installs' folders in the data directory, and the only ways they
//! change: renames, so every step is all or nothing.
//!
//! - `installed/{id}/`: approved plugins, each with its `install.json`;
//! - `_install/pending/{id}/`: where installs waiting for approval were kept
//!   before the shared list of installs (now only read, once, to add them to it);
//! - `_install/staging/`: work in progress (`unpack-*`, `approve-*`), the
//!   version being replaced (`old-{id}`), and folders on their way out
//!   (`trash-*`), which are renamed in before they are deleted, so a deletion
//!   cut short never leaves half a plugin where one is expected;
//! - `_install/lock`: held (an OS file lock) by every step of every process
//!   sharing the data directory, a server and `plinth` commands alike.

use super::Install;
use super::error::{InstallError, io};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Approved, installed plugins: `DATA/installed/{id}/`.
pub const INSTALLED_DIR: &str = "installed";
const PENDING_DIR: &str = "_install/pending";
const STAGING_DIR: &str = "_install/staging";
const LOCK_FILE: &str = "_install/lock";
const RECORD_FILE: &str = "install.json";

/// The install folders of one data directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    data_dir: PathBuf,
}

/// Held while one install step runs; released when dropped.
pub(crate) struct StepLock {
    _file: File,
}

impl Layout {
    pub(crate) fn new(data_dir: &Path) -> Layout {
        Layout { data_dir: data_dir.to_path_buf() }
    }

    pub(crate) fn installed_root(&self) -> PathBuf {
        self.data_dir.join(INSTALLED_DIR)
    }

    pub(crate) fn installed(&self, id: &str) -> PathBuf {
        self.installed_root().join(id)
    }

    /// A new, unique folder name in staging (`unpack-…`, `approve-…`).
    pub(crate) fn staging(&self, purpose: &str) -> PathBuf {
        self.data_dir.join(STAGING_DIR).join(format!("{purpose}-{}", uuid::Uuid::new_v4()))
    }

    fn backup(&self, id: &str) -> PathBuf {
        self.data_dir.join(STAGING_DIR).join(format!("old-{id}"))
    }

    /// Waits for, then holds, the data directory's install lock.
    pub(crate) fn lock(&self) -> Result<StepLock, InstallError> {
        let path = self.data_dir.join(LOCK_FILE);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        Ok(StepLock { _file: file })
    }

    /// Every folder with a record under `installed/` and under
    /// `_install/pending/` (where a Plinth before the shared list of
    /// installs kept pending ones), with its record.
    pub(crate) fn records_on_disk(&self) -> Result<Vec<(PathBuf, Install)>, InstallError> {
        let mut records = Vec::new();
        for root in [self.installed_root(), self.data_dir.join(PENDING_DIR)] {
            let Ok(entries) = std::fs::read_dir(&root) else { continue };
            for entry in entries {
                let dir = entry.map_err(io(&root))?.path();
                records.extend(read_record(&dir).map(|record| (dir, record)));
            }
        }
        Ok(records)
    }

    /// Moves `dir` out of the way and deletes it; absent is fine.
    pub(crate) fn remove(&self, dir: &Path) -> Result<(), InstallError> {
        if !dir.exists() {
            return Ok(());
        }
        let trash = self.staging("trash");
        rename(dir, &trash)?;
        std::fs::remove_dir_all(&trash).map_err(io(&trash))
    }

    /// Puts the folder `ready` in place of `installed/{id}`, then runs
    /// `activate` (which loads it). The previous folder waits in staging as
    /// `old-{id}` until `activate` succeeds; if it fails, the new folder goes
    /// and the old one comes back.
    pub(crate) fn swap_in(
        &self,
        id: &str,
        ready: &Path,
        activate: impl FnOnce() -> Result<(), InstallError>,
    ) -> Result<(), InstallError> {
        let (target, backup) = (self.installed(id), self.backup(id));
        self.remove(&backup)?;
        let had_previous = target.is_dir();
        if had_previous {
            rename(&target, &backup)?;
        }
        rename(ready, &target)?;
        match activate() {
            Ok(()) => self.remove(&backup),
            Err(error) => {
                let failed = self.staging("trash");
                rename(&target, &failed)?;
                if had_previous {
                    rename(&backup, &target)?;
                }
                let _ = std::fs::remove_dir_all(&failed);
                Err(error)
            }
        }
    }

    /// Finishes what an interrupted step left: a version caught between two
    /// renames goes back in place, and staging is emptied. Run, under the
    /// lock, when a host opens.
    pub(crate) fn recover(&self) {
        let staging = self.data_dir.join(STAGING_DIR);
        // A data directory that never installed anything gets no `_install/`.
        if !staging.is_dir() {
            return;
        }
        let Ok(_held) = self.lock() else { return };
        let Ok(entries) = std::fs::read_dir(&staging) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_prefix("old-") {
                let target = self.installed(id);
                if !target.exists() && rename(&path, &target).is_ok() {
                    tracing::warn!(plugin = %id, "an interrupted install was rolled back to the previous version");
                    continue;
                }
            }
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

pub(crate) fn read_record(dir: &Path) -> Option<Install> {
    let text = std::fs::read_to_string(dir.join(RECORD_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

pub(crate) fn write_record(dir: &Path, record: &Install) -> Result<(), InstallError> {
    let path = dir.join(RECORD_FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(record).expect("record JSON")).map_err(io(&path))
}

pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), InstallError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::rename(from, to).map_err(io(to))
}
