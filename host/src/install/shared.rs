//! Installs shared by every node on one database.
//!
//! The list of installs is the backend's [`PackageStore`]: each install,
//! pending or approved, is a row holding its record and its package. Every
//! install step writes it; a node's `installed/` folder is only its copy of
//! the approved packages, which [`Host::sync_installs`] brings in line (a
//! package approved on another node is unpacked and loaded here, one
//! uninstalled there is unloaded and removed here). `plinth serve` runs the
//! sync at start, whenever another node announces a change, and every few
//! seconds behind that ([`Host::start_install_sync`]).
//!
//! A data directory from before the shared list had its installs only on
//! disk: the first host to open it adds them to the list ([`recover`]), once.

use super::disk::{self, Layout, read_record};
use super::error::InstallError;
use super::{Install, InstallState, package};
use crate::Host;
use crate::store::{Backend, PackageSlot, PackageStore, StoredPackage};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often a node compares its installs with the shared list when no
/// change was announced (a missed announcement delays a change by this much).
const SYNC_INTERVAL: Duration = Duration::from_secs(5);

/// Present once a data directory's own installs are in the shared list.
const ADOPTED_MARKER: &str = "_install/shared";

/// Approved packages this node did not put in place (refused or failed to
/// load), by plugin id, with the SHA-256 it tried: not tried again until the
/// shared list holds another package for that plugin.
#[derive(Debug, Default)]
pub(crate) struct Skips(Mutex<HashMap<String, String>>);

impl Skips {
    fn get(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What [`Host::sync_installs`] did for one plugin.
#[derive(Debug)]
pub struct Synced {
    /// The plugin.
    pub id: String,
    /// `installed` (a new or changed approved version put in place and
    /// loaded) or `removed` (uninstalled elsewhere).
    pub change: &'static str,
    /// Whether it worked; a failure leaves this node as it was.
    pub result: Result<(), InstallError>,
}

impl Host {
    pub(super) fn packages(&self) -> &dyn PackageStore {
        &*self.shared.backend.packages
    }

    /// Every install in the shared list, with its parsed record.
    pub(super) fn stored_installs(&self) -> Result<Vec<(StoredPackage, Install)>, InstallError> {
        let stored = self.packages().list().map_err(crate::HostError::from)?;
        Ok(stored
            .into_iter()
            .filter_map(|package| match serde_json::from_str::<Install>(&package.record) {
                Ok(record) => Some((package, record)),
                Err(error) => {
                    tracing::warn!(plugin = %package.plugin_id, "an unreadable install record was skipped: {error}");
                    None
                }
            })
            .collect())
    }

    /// The install of `id` in `slot`, if any.
    pub(super) fn stored_install(
        &self,
        id: &str,
        slot: PackageSlot,
    ) -> Result<Option<(StoredPackage, Install)>, InstallError> {
        Ok(self.stored_installs()?.into_iter().find(|(p, _)| p.plugin_id == id && p.slot == slot))
    }

    /// Stores `record` with its package in the shared list, if the approved
    /// version is still `approved_now`.
    pub(super) fn publish(
        &self,
        record: &Install,
        bytes: &[u8],
        approved_now: Option<&str>,
    ) -> Result<(), InstallError> {
        let stored = StoredPackage {
            plugin_id: record.id.clone(),
            slot: slot_of(record.state),
            sha256: record.sha256.clone(),
            record: serde_json::to_string(record).expect("record JSON"),
        };
        match self.packages().put(&stored, bytes, approved_now).map_err(crate::HostError::from)? {
            true => Ok(()),
            false => Err(InstallError::Changed { plugin: record.id.clone() }),
        }
    }

    /// Brings this node's installed plugins in line with the shared list:
    /// an approved package this node does not have (or has another version
    /// of) is unpacked and loaded, replacing its version only once the new
    /// one loads; a plugin no longer approved is unloaded and its folder
    /// removed. One that cannot be put in place is logged and not tried
    /// again until it changes. Returns what changed.
    pub fn sync_installs(&self) -> Result<Vec<Synced>, InstallError> {
        let _one_at_a_time = self.install_lock.lock().unwrap_or_else(|p| p.into_inner());
        let layout = self.layout();
        let _held = layout.lock()?;
        self.reconcile(&layout, true)
    }

    /// [`Host::sync_installs`] under the caller's locks; `activate` false
    /// only puts folders in place (a host about to load them all).
    pub(super) fn reconcile(&self, layout: &Layout, activate: bool) -> Result<Vec<Synced>, InstallError> {
        let approved: BTreeMap<String, (StoredPackage, Install)> = self
            .stored_installs()?
            .into_iter()
            .filter(|(package, _)| package.slot == PackageSlot::Approved)
            .map(|entry| (entry.0.plugin_id.clone(), entry))
            .collect();
        let mut done = Vec::new();
        for (id, (package, record)) in &approved {
            let local = read_record(&layout.installed(id));
            if local
                .is_some_and(|local| local.sha256 == package.sha256 && local.state == InstallState::Approved)
                || self.install_skips.get().get(id) == Some(&package.sha256)
            {
                continue;
            }
            let result = self.put_in_place(layout, package, record, activate);
            if let Err(error) = &result {
                tracing::error!(plugin = %id, "the approved version {} was not installed on this node: {error}", record.version);
                self.install_skips.get().insert(id.clone(), package.sha256.clone());
            }
            done.push(Synced { id: id.clone(), change: "installed", result });
        }
        let local_ids = crate::reload::plugin_dirs(&layout.installed_root()).unwrap_or_default();
        for dir in local_ids {
            let Some(id) = dir.file_name().and_then(|name| name.to_str()).map(str::to_string) else {
                continue;
            };
            if approved.contains_key(&id) {
                continue;
            }
            if self.loaded(&id).is_some_and(|plugin| plugin.dir == dir) {
                let _ = self.unload_plugin(&id);
            }
            let result = layout.remove(&dir);
            tracing::info!(plugin = %id, "uninstalled on another node: unloaded and removed here");
            done.push(Synced { id, change: "removed", result });
        }
        self.install_skips.get().retain(|id, sha| approved.get(id).is_some_and(|(p, _)| p.sha256 == *sha));
        Ok(done)
    }

    /// Unpacks the approved `package` into place (and loads it, if `activate`).
    fn put_in_place(
        &self,
        layout: &Layout,
        package: &StoredPackage,
        record: &Install,
        activate: bool,
    ) -> Result<(), InstallError> {
        let id = &package.plugin_id;
        if record.signed_by.is_none() && self.install_config.require_signatures {
            return Err(InstallError::Unsigned { origin: record.origin.clone() });
        }
        self.check_managed(layout, id)?;
        let bytes = self
            .packages()
            .bytes(id, PackageSlot::Approved)
            .map_err(crate::HostError::from)?
            .ok_or_else(|| InstallError::NotFound { plugin: id.clone(), what: "installed version" })?;
        let dir = layout.staging("sync");
        let result = package::unpack(&bytes, &dir, &self.install_config, &record.origin)
            .and_then(|()| disk::write_record(&dir, record))
            .and_then(|()| match activate {
                true => self.swap_in(layout, id, &dir, None),
                false => layout.swap_in(id, &dir, || Ok(())),
            });
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// Runs [`Host::sync_installs`] at once, whenever any node sharing the
    /// database stores or removes a package, and every 5 s behind that, until
    /// the host is dropped. `plinth serve` starts it once its plugins load.
    pub fn start_install_sync(host: &Arc<Host>) {
        let weak: Weak<Host> = Arc::downgrade(host);
        let changes = host.shared.backend.packages.changes();
        let runtime = host.shared.runtime.clone();
        host.shared.runtime.spawn(async move {
            loop {
                let _ = tokio::time::timeout(SYNC_INTERVAL, changes.notified()).await;
                let Some(host) = weak.upgrade() else { return };
                let synced = runtime.spawn_blocking(move || host.sync_installs()).await;
                if let Ok(Err(error)) = synced {
                    tracing::warn!("comparing this node's installs with the shared list failed: {error}");
                }
            }
        });
    }
}

/// Run when a host opens: finishes what an interrupted step left on disk,
/// then, once per data directory, adds the installs it holds only on disk
/// (from a Plinth before the shared list) to the shared list.
pub(crate) fn recover(data_dir: &Path, backend: &Backend) {
    let layout = Layout::new(data_dir);
    layout.recover();
    if data_dir.join(ADOPTED_MARKER).exists() {
        return;
    }
    let Ok(_held) = layout.lock() else { return };
    match adopt(&layout, &*backend.packages) {
        Ok(()) => {
            if let Err(error) = std::fs::write(data_dir.join(ADOPTED_MARKER), b"") {
                tracing::warn!("could not mark the installs as shared: {error}");
            }
        }
        Err(error) => {
            tracing::warn!("adding this data directory's installs to the shared list failed: {error}")
        }
    }
}

/// Adds every install on disk that the shared list lacks, re-packed from
/// its folder (approved ones first, so a pending update is weighed against
/// them); a pending folder then goes, its install living on in the list.
fn adopt(layout: &Layout, packages: &dyn PackageStore) -> Result<(), InstallError> {
    let on_disk = layout.records_on_disk()?;
    for wanted in [InstallState::Approved, InstallState::Pending] {
        let stored = packages.list().map_err(crate::HostError::from)?;
        for (dir, record) in on_disk.iter().filter(|(_, record)| record.state == wanted) {
            let slot = slot_of(record.state);
            let find = |slot| stored.iter().find(|p| p.plugin_id == record.id && p.slot == slot);
            if find(slot).is_none() {
                let stored_package = StoredPackage {
                    plugin_id: record.id.clone(),
                    slot,
                    sha256: record.sha256.clone(),
                    record: serde_json::to_string(record).expect("record JSON"),
                };
                let approved_now = find(PackageSlot::Approved).map(|p| p.sha256.as_str());
                packages
                    .put(&stored_package, &package::pack(dir)?, approved_now)
                    .map_err(crate::HostError::from)?;
                tracing::info!(plugin = %record.id, "an install on disk was added to the shared list");
            }
            if slot == PackageSlot::Pending {
                layout.remove(dir)?;
            }
        }
    }
    Ok(())
}

/// The slot an install in `state` fills.
pub(super) fn slot_of(state: InstallState) -> PackageSlot {
    match state {
        InstallState::Pending => PackageSlot::Pending,
        InstallState::Approved => PackageSlot::Approved,
    }
}
