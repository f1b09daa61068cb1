//! Loading, reloading, unloading and listing plugins: the host's face of
//! its `Registry`.

use super::{Host, PluginInfo};
use crate::error::{HostError, LoadError};
use crate::limits::Limits;
use crate::plugin::{self, LoadedPlugin};
use crate::plugin_log::LogRecord;
use crate::registry::Refused;
use crate::reload::{FailedLoad, plugin_dirs};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Host {
    /// Loads the plugin in `dir` (a folder with `plugin.json`). A failure is
    /// also kept in [`Host::failed_loads`] until the folder loads.
    pub fn load_plugin(&self, dir: impl AsRef<Path>) -> Result<PluginInfo, LoadError> {
        let dir = dir.as_ref();
        let result = self.load_new(dir);
        self.folders.record(dir, &result);
        result
    }

    fn load_new(&self, dir: &Path) -> Result<PluginInfo, LoadError> {
        let manifest = plugin::read_manifest(dir)?;
        if let Some(existing) = self.loaded(&manifest.id) {
            return Err(LoadError::AlreadyLoaded { plugin: manifest.id, existing: existing.dir.clone() });
        }
        let loaded = Arc::new(plugin::load(&self.invoker, &self.loader, dir)?);
        let info = PluginInfo::of(&loaded, &self.invoker);
        if let Err(Refused::Taken(existing)) = self.registry.add(loaded) {
            return Err(LoadError::AlreadyLoaded { plugin: info.id, existing });
        }
        self.declare_jobs(&info.id);
        tracing::info!(plugin = %info.id, exports = ?info.exports, "plugin loaded");
        Ok(info)
    }

    /// Loads every sub-folder of `dir` that holds a `plugin.json`, in name
    /// order. One plugin failing does not stop the others.
    pub fn load_plugins_in(
        &self,
        dir: impl AsRef<Path>,
    ) -> std::io::Result<Vec<(PathBuf, Result<PluginInfo, LoadError>)>> {
        Ok(self.load_dirs(plugin_dirs(dir.as_ref())?, |_| None))
    }

    /// Loads `dirs` in parallel, except those `refused` answers for.
    pub(crate) fn load_dirs(
        &self,
        dirs: Vec<PathBuf>,
        refused: impl Fn(&Path) -> Option<LoadError> + Sync,
    ) -> Vec<(PathBuf, Result<PluginInfo, LoadError>)> {
        // Folders that declare the same id are all refused: which one would
        // win would depend on the order of loading, and the winner would read
        // the others' stored data.
        let mut by_id: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
        for dir in &dirs {
            if let Ok(manifest) = plugin::read_manifest(dir) {
                by_id.entry(manifest.id).or_default().push(dir.clone());
            }
        }
        let shared_ids: BTreeMap<&PathBuf, (&String, &Vec<PathBuf>)> = by_id
            .iter()
            .filter(|(_, dirs)| dirs.len() > 1)
            .flat_map(|(id, dirs)| dirs.iter().map(move |dir| (dir, (id, dirs))))
            .collect();
        let load = |dir: &PathBuf| match shared_ids.get(dir) {
            Some((id, dirs)) => {
                let result = Err(LoadError::DuplicateId { plugin: id.to_string(), dirs: dirs.to_vec() });
                self.folders.record(dir, &result);
                result
            }
            None => match refused(dir) {
                Some(refusal) => {
                    let result = Err(refusal);
                    self.folders.record(dir, &result);
                    result
                }
                None => self.load_plugin(dir),
            },
        };
        // Compile in parallel, one worker per core: each load is independent
        // until it registers.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(dirs.len());
        let mut results: Vec<(usize, Result<PluginInfo, LoadError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(dir) = dirs.get(index) else { break done };
                            done.push((index, load(dir)));
                        }
                    })
                })
                .collect();
            handles.into_iter().filter_map(|worker| worker.join().ok()).flatten().collect()
        });
        results.sort_by_key(|(index, _)| *index);
        results.into_iter().map(|(index, result)| (dirs[index].clone(), result)).collect()
    }

    /// Loads a plugin again from the folder it came from (to pick up a rebuilt
    /// component or an edited manifest) and swaps it in. When the new version
    /// fails to load, the old one stays in service, the error is returned and
    /// kept in [`Host::failed_loads`].
    pub fn reload_plugin(&self, id: &str) -> Result<PluginInfo, LoadError> {
        let dir = match self.loaded(id) {
            Some(existing) => existing.dir.clone(),
            None => {
                return Err(LoadError::NotLoaded { plugin: id.to_string() });
            }
        };
        let result = self.reload_from(id, &dir);
        self.folders.record(&dir, &result);
        result
    }

    fn reload_from(&self, id: &str, dir: &Path) -> Result<PluginInfo, LoadError> {
        let fresh = Arc::new(plugin::load(&self.invoker, &self.loader, dir)?);
        if fresh.id() != id {
            return Err(LoadError::Invalid {
                plugin: id.to_string(),
                problem: format!(
                    "its manifest now says id `{}`; unload it and load the folder instead",
                    fresh.id()
                ),
            });
        }
        let info = PluginInfo::of(&fresh, &self.invoker);
        // Unloaded while the new version compiled: stay unloaded.
        if self.registry.replace(fresh).is_err() {
            return Err(LoadError::NotLoaded { plugin: id.to_string() });
        }
        self.declare_jobs(id);
        tracing::info!(plugin = %id, "plugin reloaded");
        Ok(info)
    }

    /// Unloads a plugin. Its storage and settings stay in the database.
    pub fn unload_plugin(&self, id: &str) -> Result<(), HostError> {
        match self.registry.remove(id) {
            true => Ok(()),
            false => Err(HostError::UnknownPlugin(id.to_string())),
        }
    }

    /// The loaded plugins, by id.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.loaded_all().iter().map(|p| PluginInfo::of(p, &self.invoker)).collect()
    }

    /// The effective limits of a loaded plugin.
    pub fn plugin_limits(&self, id: &str) -> Option<Limits> {
        self.loaded(id).map(|p| p.context.limits)
    }

    /// One loaded plugin.
    pub fn plugin(&self, id: &str) -> Option<PluginInfo> {
        self.loaded(id).map(|p| PluginInfo::of(&p, &self.invoker))
    }

    /// The most recent log records of a plugin (its log calls, its output, its
    /// denied calls and failed hooks), oldest first.
    pub fn plugin_log(&self, id: &str) -> Vec<LogRecord> {
        self.invoker.log.records(id)
    }

    /// Vets the plugin in `dir` without loading it (an install's first look).
    #[cfg(feature = "install")]
    pub(crate) fn vet(&self, dir: &Path) -> Result<plugin::vet::Vetted, LoadError> {
        plugin::vet::vet(&self.invoker.sandbox, &self.loader, dir)
    }

    pub(crate) fn loaded(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.registry.get(id)
    }

    pub(crate) fn loaded_all(&self) -> Vec<Arc<LoadedPlugin>> {
        self.registry.all()
    }

    /// The plugin folders whose last load or reload failed. A folder whose
    /// reload failed is also in [`Host::plugins`]: its previous version runs.
    pub fn failed_loads(&self) -> Vec<FailedLoad> {
        self.folders.failed()
    }

    /// Looks at every plugin folder under `root` once: loads the new ones and
    /// reloads those whose manifest or component changed since they were last
    /// loaded. Returns what it did; unchanged folders are not listed. Call it
    /// on a timer for hot reload (`plinth serve --reload` does, every second).
    pub fn reload_changed(
        &self,
        root: impl AsRef<Path>,
    ) -> std::io::Result<Vec<(PathBuf, Result<PluginInfo, LoadError>)>> {
        let mut done = Vec::new();
        for dir in plugin_dirs(root.as_ref())? {
            if self.folders.unchanged(&dir) {
                continue;
            }
            let loaded = self.loaded_all().into_iter().find(|p| p.dir == dir).map(|p| p.id().to_string());
            let result = match loaded {
                Some(id) => self.reload_plugin(&id),
                None => self.load_plugin(&dir),
            };
            done.push((dir, result));
        }
        Ok(done)
    }
}
