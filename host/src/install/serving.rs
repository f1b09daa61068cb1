//! Serving installed plugins: loading them at start, and swapping a new
//! version in (or back out) as one step of an install.

use super::disk::{Layout, read_record, write_record};
use super::error::InstallError;
use super::types::Install;
use crate::sync::locked;
use crate::{Host, LoadError, PluginInfo};
use std::path::{Path, PathBuf};

impl Host {
    /// Loads every approved, installed plugin not loaded yet (a server does at start), after
    /// bringing the `installed/` folder in line with the shared list of
    /// installs. With signatures required, an unsigned one is refused (and
    /// kept on disk, so a signed package of it can replace it).
    pub fn load_installed(&self) -> Vec<(PathBuf, Result<PluginInfo, LoadError>)> {
        let layout = self.layout();
        // Held throughout, so no install step (an API call, a `plinth`
        // command) moves a folder while it loads.
        let _one_at_a_time = locked(&self.installs.lock);
        let _held = match layout.lock() {
            Ok(held) => Some(held),
            Err(error) => {
                tracing::warn!("the install folders could not be locked: {error}");
                None
            }
        };
        // Versions the list changed since this node last ran are put in place
        // (and loaded) first; those already in place load together below.
        let mut results: Vec<(PathBuf, Result<PluginInfo, LoadError>)> = Vec::new();
        match self.reconcile(&layout, true) {
            Ok(synced) => results.extend(
                synced
                    .into_iter()
                    .filter(|s| s.change == "installed" && s.result.is_ok())
                    .filter_map(|s| Some((layout.installed(&s.id), Ok(self.plugin(&s.id)?)))),
            ),
            Err(error) => {
                tracing::warn!(
                    "the list of installs could not be read, so this node loads its own copies: {error}"
                )
            }
        }
        let dirs: Vec<PathBuf> = crate::reload::plugin_dirs(&layout.installed_root())
            .unwrap_or_default()
            .into_iter()
            .filter(|dir| results.iter().all(|(done, _)| done != dir))
            .filter(|dir| self.loaded_all().iter().all(|plugin| plugin.dir != *dir))
            .collect();
        let loaded = self.load_dirs(dirs, |dir| match read_record(dir) {
            Some(record) => (!self.trusts_signer(&record)).then(|| LoadError::Invalid {
                plugin: record.id,
                problem: "it was installed unsigned (or signed by a key this host does not trust), and this host \
                          installs only packages signed by its trusted keys: install a signed package of it, or \
                          turn off require_signatures"
                    .into(),
            }),
            // Nothing says who signed a folder without a readable record.
            None if self.installs.config.require_signatures => Some(LoadError::Invalid {
                plugin: dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default(),
                problem: "its install record (install.json) cannot be read, so nothing says who signed it, and \
                          this host installs only signed packages: install a signed package of it again"
                    .into(),
            }),
            None => None,
        });
        for (dir, result) in &loaded {
            if let (Ok(info), Some(record)) = (result, read_record(dir)) {
                self.installs.followed.get().serving.insert(info.id.clone(), record.sha256);
            }
        }
        results.extend(loaded);
        results
    }

    /// Whether this host's rules let `record` run: with signatures required,
    /// only if one of its trusted keys signed it.
    pub(super) fn trusts_signer(&self, record: &Install) -> bool {
        let config = &self.installs.config;
        !config.require_signatures
            || record
                .signed_by
                .as_ref()
                .is_some_and(|by| config.trusted_keys.iter().any(|key| key.name == *by))
    }

    /// Makes `record` (approved, unpacked in `ready`) the installed version
    /// here, then in the shared list if its approved and pending versions
    /// are still `expected` (see [`Host::publish`]). If it does not load, or
    /// another installer changed the list first, the previous version comes
    /// back and keeps serving.
    pub(super) fn activate(
        &self,
        layout: &Layout,
        record: &Install,
        ready: &Path,
        bytes: &[u8],
        expected: (Option<&str>, Option<&str>),
    ) -> Result<(), InstallError> {
        write_record(ready, record)?;
        let publish = || self.publish(record, bytes, expected.0, expected.1);
        self.swap_in(layout, &record.id, ready, Some(&publish))?;
        self.installs.followed.get().serving.insert(record.id.clone(), record.sha256.clone());
        Ok(())
    }

    /// Puts `ready` in place of `installed/{id}`, loads it, then runs
    /// `publish`; on a failure the previous folder comes back and its
    /// version serves (it was never unloaded if the new one did not load).
    pub(super) fn swap_in(
        &self,
        layout: &Layout,
        id: &str,
        ready: &Path,
        publish: Option<&dyn Fn() -> Result<(), InstallError>>,
    ) -> Result<(), InstallError> {
        let target = layout.installed(id);
        let mut loaded_new = false;
        let result = layout.swap_in(id, ready, || {
            let loaded = match self.loaded(id) {
                Some(_) => self.reload_plugin(id),
                None => self.load_plugin(&target),
            };
            loaded.map_err(|e| InstallError::LoadFailed { plugin: id.to_string(), source: Box::new(e) })?;
            loaded_new = true;
            publish.map_or(Ok(()), |publish| publish())
        });
        if result.is_err() && loaded_new {
            self.serve_installed_folder(id);
        }
        result
    }

    /// Loads what `installed/{id}` holds now in place of what is loaded
    /// (nothing, if the folder is gone).
    pub(super) fn serve_installed_folder(&self, id: &str) {
        let target = self.layout().installed(id);
        let restored = match (target.is_dir(), self.loaded(id).is_some()) {
            (true, true) => self.reload_plugin(id).map(drop),
            (true, false) => self.load_plugin(&target).map(drop),
            (false, true) => self
                .unload_plugin(id)
                .map_err(|e| LoadError::Invalid { plugin: id.to_string(), problem: e.to_string() }),
            (false, false) => Ok(()),
        };
        if let Err(error) = restored {
            tracing::error!(plugin = %id, "putting the previous version back failed: {error}");
        }
    }
}
