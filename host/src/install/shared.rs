//! Installs shared by every node on one database.
//!
//! The list of installs is the backend's [`PackageStore`]: each install,
//! pending or approved, is a row holding its record and its package. Every
//! install step writes it; a node's `installed/` folder is only its copy of
//! the approved packages, which [`Host::sync_installs`] brings in line (a
//! package approved on another node is unpacked and loaded here, one
//! uninstalled there is unloaded and removed here). `plinth serve` runs the
//! sync at start, whenever another node announces a change, and every few
//! seconds behind that ([`Host::start_background`]).
//!
//! A data directory from before the shared list had its installs only on
//! disk: the first sync on it adds them to the list, once per data directory
//! and database (recorded in the database, so a data directory moved to a
//! new database brings its installs along).

use super::disk::{self, Layout, read_record};
use super::error::InstallError;
use super::{Install, InstallState, package};
use crate::store::{PackageSlot, PackageStore, StoredPackage};
use crate::sync::locked;
use crate::{Host, HostError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a node compares its installs with the shared list when no
/// change was announced (a missed announcement delays a change by this much).
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_secs(5);

/// The data directory's id, under which the list records that its older
/// installs joined it.
const DATA_DIR_ID: &str = "_install/id";

/// What this host follows of the shared list, by plugin id: the approved
/// version (SHA-256) it serves from `installed/`, and the versions it gave
/// up on (refused, or failing to load here): those are not tried again until
/// the list holds another version.
#[derive(Debug, Default)]
pub(crate) struct Followed(Mutex<FollowedVersions>);

#[derive(Debug, Default)]
pub(crate) struct FollowedVersions {
    pub(crate) serving: HashMap<String, String>,
    skipped: HashMap<String, String>,
}

impl Followed {
    pub(crate) fn get(&self) -> std::sync::MutexGuard<'_, FollowedVersions> {
        locked(&self.0)
    }
}

/// What [`Host::sync_installs`] did for one plugin.
#[derive(Debug)]
pub struct Synced {
    /// The plugin.
    pub id: String,
    /// `installed` (an approved version put in place, or found in place, and
    /// loaded) or `removed` (no longer in the list).
    pub change: &'static str,
    /// Whether it worked; a failure leaves this node as it was.
    pub result: Result<(), InstallError>,
}

impl Host {
    pub(super) fn packages(&self) -> &dyn PackageStore {
        &*self.backend().packages
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
    /// version is still `approved_now` and (approving) the pending one `pending_now`.
    pub(super) fn publish(
        &self,
        record: &Install,
        bytes: &[u8],
        approved_now: Option<&str>,
        pending_now: Option<&str>,
    ) -> Result<(), InstallError> {
        let stored = StoredPackage {
            plugin_id: record.id.clone(),
            slot: slot_of(record.state),
            sha256: record.sha256.clone(),
            record: serde_json::to_string(record).expect("record JSON"),
        };
        match self.packages().put(&stored, bytes, approved_now, pending_now).map_err(HostError::from)? {
            true => Ok(()),
            false => Err(InstallError::Changed { plugin: record.id.clone() }),
        }
    }

    /// Brings this host in line with the shared list of installs: an
    /// approved version it does not serve is put in place and loaded (from
    /// the package, unless a `plinth` command on this data directory put it
    /// in place already), replacing the version it had only once the new one
    /// loads; a plugin no longer approved is unloaded and its folder removed.
    /// One that cannot be put in place is logged and, if trying again would
    /// fail the same way, not tried again until it changes. Returns what changed.
    pub fn sync_installs(&self) -> Result<Vec<Synced>, InstallError> {
        let _one_at_a_time = locked(&self.installs.lock);
        let layout = self.layout();
        let _held = layout.lock()?;
        self.reconcile(&layout, false)
    }

    /// [`Host::sync_installs`] under the caller's locks. `starting`: the
    /// versions already in place are left for the caller to load.
    pub(super) fn reconcile(&self, layout: &Layout, starting: bool) -> Result<Vec<Synced>, InstallError> {
        self.adopt_once(layout)?;
        // From the raw list: a record this Plinth cannot read is no uninstall.
        let approved: BTreeMap<String, StoredPackage> = self
            .packages()
            .list()
            .map_err(HostError::from)?
            .into_iter()
            .filter(|package| package.slot == PackageSlot::Approved)
            .map(|package| (package.plugin_id.clone(), package))
            .collect();
        let mut done = Vec::new();
        for (id, package) in &approved {
            let followed = self.installs.followed.get();
            if followed.serving.get(id) == Some(&package.sha256)
                || followed.skipped.get(id) == Some(&package.sha256)
            {
                continue;
            }
            drop(followed);
            // Left alone (and not looked at again until it changes): an id
            // that is not a plugin id never names a folder, and a record this
            // Plinth cannot read is no uninstall.
            let skip = || self.installs.followed.get().skipped.insert(id.clone(), package.sha256.clone());
            if !crate::manifest::is_identifier(id) {
                let shown: String = id.chars().take(64).collect();
                tracing::warn!(plugin = %crate::plugin_log::escaped(&shown), "a listed install whose id is not a plugin id is left alone");
                skip();
                continue;
            }
            let record = match serde_json::from_str::<Install>(&package.record) {
                Ok(record) if record.id == *id => record,
                Ok(record) => {
                    tracing::warn!(plugin = %id, "a listed install whose record names another plugin ({}) is left alone", crate::plugin_log::escaped(&record.id.chars().take(64).collect::<String>()));
                    skip();
                    continue;
                }
                Err(error) => {
                    tracing::warn!(plugin = %id, "its install record is unreadable to this Plinth, so it is left as it is here: {error}");
                    skip();
                    continue;
                }
            };
            let in_place = read_record(&layout.installed(id))
                .is_some_and(|local| local.sha256 == package.sha256 && local.state == InstallState::Approved);
            if starting && in_place {
                continue;
            }
            let result = self.follow(layout, package, &record, in_place);
            let mut followed = self.installs.followed.get();
            match &result {
                Ok(()) => {
                    followed.serving.insert(id.clone(), package.sha256.clone());
                }
                Err(error) if error.recurs() => {
                    tracing::error!(plugin = %id, "the approved version {} does not run on this node, which keeps what it had: {error}; install a version that does (or fix this node), and it is tried again", record.version);
                    followed.skipped.insert(id.clone(), package.sha256.clone());
                }
                Err(error) => {
                    tracing::warn!(plugin = %id, "the approved version {} could not be put in place yet (tried again in a few seconds): {error}", record.version);
                }
            }
            done.push(Synced { id: id.clone(), change: "installed", result });
        }
        done.extend(self.remove_unlisted(layout, &approved));
        self.installs
            .followed
            .get()
            .skipped
            .retain(|id, sha| approved.get(id).is_some_and(|p| p.sha256 == *sha));
        Ok(done)
    }

    /// Unloads the installed plugins the list no longer approves, and removes their folders.
    fn remove_unlisted(&self, layout: &Layout, approved: &BTreeMap<String, StoredPackage>) -> Vec<Synced> {
        let root = layout.installed_root();
        let mut ids: Vec<String> = self
            .loaded_all()
            .iter()
            .filter(|plugin| plugin.dir.starts_with(&root))
            .map(|plugin| plugin.id().to_string())
            .collect();
        let folders = crate::reload::plugin_dirs(&root).unwrap_or_default();
        ids.extend(folders.iter().filter_map(|dir| dir.file_name()?.to_str().map(str::to_string)));
        ids.sort();
        ids.dedup();
        let mut removed = Vec::new();
        for id in ids.into_iter().filter(|id| !approved.contains_key(id)) {
            if self.loaded(&id).is_some_and(|plugin| plugin.dir.starts_with(&root)) {
                let _ = self.unload_plugin(&id);
            }
            self.installs.followed.get().serving.remove(&id);
            let result = layout.remove(&layout.installed(&id));
            match &result {
                Ok(()) => {
                    tracing::info!(plugin = %id, "no longer in the list of installs: unloaded and removed here")
                }
                Err(error) => {
                    tracing::error!(plugin = %id, "no longer in the list of installs, and unloaded, but its folder could not be removed: {error}")
                }
            }
            removed.push(Synced { id, change: "removed", result });
        }
        removed
    }

    /// Loads the approved `package` here: from its folder if `in_place`,
    /// else unpacked from the list into place (the previous version serving
    /// until it loads).
    fn follow(
        &self,
        layout: &Layout,
        package: &StoredPackage,
        record: &Install,
        in_place: bool,
    ) -> Result<(), InstallError> {
        let id = &package.plugin_id;
        if !self.trusts_signer(record) {
            return Err(InstallError::Unsigned { origin: record.origin.clone() });
        }
        self.check_managed(layout, id)?;
        if in_place {
            let loaded = match self.loaded(id) {
                Some(_) => self.reload_plugin(id),
                None => self.load_plugin(layout.installed(id)),
            };
            return loaded
                .map(drop)
                .map_err(|e| InstallError::LoadFailed { plugin: id.clone(), source: Box::new(e) });
        }
        let bytes = self.listed_bytes(package)?;
        let dir = layout.staging("sync");
        let result = package::unpack(&bytes, &dir, &self.installs.config, &record.origin)
            .and_then(|()| disk::write_record(&dir, record))
            .and_then(|()| self.swap_in(layout, id, &dir, None));
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// The bytes of a listed package, checked against the SHA-256 it was
    /// listed with: other bytes mean the list changed since it was read.
    pub(super) fn listed_bytes(&self, package: &StoredPackage) -> Result<Vec<u8>, InstallError> {
        let changed = || InstallError::Changed { plugin: package.plugin_id.clone() };
        let bytes = self.packages().bytes(&package.plugin_id, package.slot).map_err(HostError::from)?;
        bytes.filter(|bytes| package::sha256_hex(bytes) == package.sha256).ok_or_else(changed)
    }

    /// Adds the installs this data directory held on disk alone (from a
    /// Plinth before the list) to the list, once per data directory and
    /// database: a data directory moved to a new database brings them along.
    fn adopt_once(&self, layout: &Layout) -> Result<(), InstallError> {
        let id_file = self.data_dir().join(DATA_DIR_ID);
        let data_dir_id = match std::fs::read_to_string(&id_file) {
            Ok(id) if !id.trim().is_empty() => id.trim().to_string(),
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(super::error::io(&id_file)(error));
            }
            // Missing, or empty after a crash mid-write: a new id, written whole.
            _ => {
                let id = uuid::Uuid::new_v4().to_string();
                let partial = id_file.with_extension("new");
                if let Some(parent) = id_file.parent() {
                    std::fs::create_dir_all(parent).map_err(super::error::io(parent))?;
                }
                std::fs::write(&partial, &id).map_err(super::error::io(&partial))?;
                std::fs::rename(&partial, &id_file).map_err(super::error::io(&id_file))?;
                id
            }
        };
        if self.packages().adopted(&data_dir_id).map_err(HostError::from)? {
            return Ok(());
        }
        adopt(layout, self.packages())?;
        self.packages().mark_adopted(&data_dir_id).map_err(HostError::from)?;
        Ok(())
    }

    /// One round of the install-sync loop (`Host::start_background`).
    pub(crate) async fn sync_installs_in_background(self: Arc<Self>) {
        let runtime = self.runtime().clone();
        if let Ok(Err(error)) = runtime.spawn_blocking(move || self.sync_installs()).await {
            tracing::warn!(
                "comparing this node's installs with the shared list failed (tried again in a few seconds): {error}"
            );
        }
    }
}

/// Adds every install on disk that the list lacks, re-packed from its
/// folder (approved ones first, so a pending update is weighed against
/// them); its SHA-256 becomes the re-packed package's. A pending folder then
/// goes, its install living on in the list.
fn adopt(layout: &Layout, packages: &dyn PackageStore) -> Result<(), InstallError> {
    let on_disk = layout.records_on_disk()?;
    for wanted in [InstallState::Approved, InstallState::Pending] {
        let stored = packages.list().map_err(HostError::from)?;
        for (dir, record) in on_disk.iter().filter(|(_, record)| record.state == wanted) {
            let slot = slot_of(record.state);
            let find = |slot| stored.iter().find(|p| p.plugin_id == record.id && p.slot == slot);
            if find(slot).is_none() {
                let bytes = package::pack(dir)?;
                let record = Install { sha256: package::sha256_hex(&bytes), ..record.clone() };
                let stored_package = StoredPackage {
                    plugin_id: record.id.clone(),
                    slot,
                    sha256: record.sha256.clone(),
                    record: serde_json::to_string(&record).expect("record JSON"),
                };
                let approved_now = find(PackageSlot::Approved).map(|p| p.sha256.as_str());
                if !packages.put(&stored_package, &bytes, approved_now, None).map_err(HostError::from)? {
                    return Err(InstallError::Changed { plugin: record.id });
                }
                if slot == PackageSlot::Approved {
                    // This copy is the listed version.
                    disk::write_record(dir, &record)?;
                }
                tracing::info!(plugin = %record.id, "an install on disk was added to the list of installs");
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
