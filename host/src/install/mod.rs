//! Installing plugins from packages, with consent (cargo feature `install`).
//!
//! A package ([`package`]) is checked (size, SHA-256, signature), unpacked
//! into a staging folder and vetted without running any of its code
//! (manifest, component, imports, exports). A new plugin then waits, as a
//! *pending* install, until someone approves what it asks for: its grants,
//! limits, widgets, panels and settings ([`PluginRequest`]). An update that
//! asks for no more than the approved version (no new grant, no higher
//! limit) replaces it at once; one that asks for more is pending again.
//!
//! The folders, the renames that make every step all or nothing, the lock
//! that serializes steps across processes and the recovery after a crash are
//! in `disk`.
//!
//! Nothing of a plugin runs before it is approved, so its route paths are
//! known only once it loads (its request says whether it serves routes).

mod disk;
pub mod error;
pub mod index;
pub mod package;
mod serving;
mod shared;
mod types;

pub use disk::INSTALLED_DIR;
use shared::Followed;
pub(crate) use shared::SYNC_INTERVAL;
pub use shared::Synced;
use types::consent_reasons;
pub use types::{Install, InstallConfig, InstallState, Package, PluginRequest, Uninstalled};

use crate::store::PackageSlot;
use crate::{Host, HostError, LoadError};
use disk::Layout;
use error::InstallError;

use crate::sync::locked;
use std::path::{Path, PathBuf};

/// The install part of a [`Host`]: its state is the install module's alone.
#[derive(Debug)]
pub(crate) struct Installs {
    config: InstallConfig,
    /// One install step at a time: each ends with renames that must not interleave.
    lock: std::sync::Mutex<()>,
    /// The approved versions this host serves, and those it gave up on.
    followed: Followed,
}

impl Installs {
    pub(crate) fn new(config: InstallConfig) -> Installs {
        Installs { config, lock: Default::default(), followed: Default::default() }
    }
}

/// A staged package: its folder, digest and signer.
struct Staged {
    dir: PathBuf,
    sha256: String,
    signed_by: Option<String>,
}

impl Host {
    fn layout(&self) -> Layout {
        Layout::new(self.data_dir())
    }

    /// Installs a package: checks it, unpacks it and vets the plugin. A new
    /// plugin, or an update asking for more than the approved version, is
    /// left pending ([`Host::approve_install`]); an update asking for no
    /// more replaces the approved version and is reloaded at once.
    pub fn install(&self, package: Package<'_>) -> Result<Install, InstallError> {
        let _one_at_a_time = locked(&self.installs.lock);
        let layout = self.layout();
        let _held = layout.lock()?;
        let staged = self.stage(&layout, &package)?;
        let result = self.install_staged(&layout, &package, &staged);
        // Whatever happened, nothing stays in staging.
        let _ = std::fs::remove_dir_all(&staged.dir);
        result
    }

    /// Checks and unpacks `package` into a new staging folder.
    fn stage(&self, layout: &Layout, package: &Package<'_>) -> Result<Staged, InstallError> {
        let config = &self.installs.config;
        let origin = package.origin.clone();
        let size = package.bytes.len() as u64;
        if size > config.max_package_bytes {
            return Err(InstallError::TooLarge { origin, size, max: config.max_package_bytes });
        }
        if let Some(expected) = package.expected_size.filter(|expected| *expected != size) {
            return Err(InstallError::SizeMismatch { origin, expected, actual: size });
        }
        let digest = package::sha256(package.bytes);
        let sha256 = package::hex(&digest);
        if let Some(expected) = package.expected_sha256.as_ref().filter(|e| !e.eq_ignore_ascii_case(&sha256))
        {
            return Err(InstallError::ChecksumMismatch {
                origin,
                expected: expected.clone(),
                actual: sha256,
            });
        }
        let signed_by = index::verify(&digest, package.signature.as_ref(), &config.trusted_keys, &origin)?;
        if signed_by.is_none() && config.require_signatures {
            return Err(InstallError::Unsigned { origin });
        }
        let dir = layout.staging("unpack");
        if let Err(error) = package::unpack(package.bytes, &dir, config, &origin) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(error);
        }
        Ok(Staged { dir, sha256, signed_by })
    }

    fn install_staged(
        &self,
        layout: &Layout,
        package: &Package<'_>,
        staged: &Staged,
    ) -> Result<Install, InstallError> {
        let origin = &package.origin;
        let invalid =
            |source: LoadError| InstallError::Invalid { origin: origin.clone(), source: Box::new(source) };
        // The code that runs must be the code that was checked and signed.
        let manifest = crate::plugin::read_manifest(&staged.dir).map_err(invalid)?;
        if let Some(module) = manifest.wasm_module().filter(|module| !package::is_inside(module)) {
            return Err(InstallError::BadArchive {
                origin: origin.clone(),
                problem: format!("wasm.module `{module}` is not a file inside the package"),
            });
        }
        let request = self.vet_plugin(&staged.dir).map_err(invalid)?;
        if let Some(expected) = package.expected_id.as_ref().filter(|id| **id != request.id) {
            return Err(InstallError::WrongPlugin {
                origin: origin.clone(),
                expected: expected.clone(),
                found: request.id.clone(),
            });
        }
        let id = request.id.clone();
        self.check_managed(layout, &id)?;
        let approved = self.stored_install(&id, PackageSlot::Approved)?;
        let reasons = match &approved {
            Some((_, approved)) => consent_reasons(&approved.request, &request),
            None => vec!["a new plugin: approve what it asks for before it runs".to_string()],
        };
        let approved_now = approved.as_ref().map(|(package, _)| package.sha256.clone());
        let mut record = Install {
            id: id.clone(),
            version: request.version.clone(),
            state: InstallState::Pending,
            reasons,
            request,
            sha256: staged.sha256.clone(),
            origin: origin.clone(),
            signed_by: staged.signed_by.clone(),
            replaces: approved.map(|(_, a)| a.version),
        };
        if record.reasons.is_empty() {
            // Asks for no more: it replaces the approved version (and any pending update).
            record.state = InstallState::Approved;
            self.activate(layout, &record, &staged.dir, package.bytes, (approved_now.as_deref(), None))?;
        } else {
            self.publish(&record, package.bytes, approved_now.as_deref(), None)?;
        }
        Ok(record)
    }

    /// Refuses an id loaded from a folder the installer does not manage
    /// (`--plugins`): installing would shadow it or be shadowed by it.
    fn check_managed(&self, layout: &Layout, id: &str) -> Result<(), InstallError> {
        match self.loaded(id) {
            Some(loaded) if loaded.dir != layout.installed(id) => {
                Err(InstallError::NotManaged { plugin: id.to_string(), dir: loaded.dir.clone() })
            }
            _ => Ok(()),
        }
    }

    /// Checks the plugin in `dir` without running it, and says what it asks for.
    pub fn vet_plugin(&self, dir: &Path) -> Result<PluginRequest, LoadError> {
        let vetted = self.vet(dir)?;
        let manifest = &vetted.manifest;
        Ok(PluginRequest {
            id: manifest.id.clone(),
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            description: manifest.description.clone(),
            wit_version: vetted.wit_version.to_string(),
            exports: vetted.exports().into_iter().map(str::to_string).collect(),
            host_functions: manifest.capabilities.grant_names(),
            limits: vetted.limits,
            widgets: manifest.field_widgets.iter().map(|w| w.id.clone()).collect(),
            panels: manifest.panels.clone(),
            settings: manifest.capabilities.settings.clone(),
        })
    }

    /// Installs (pending and approved), by id: the list every node sharing
    /// the database shares.
    pub fn installs(&self) -> Result<Vec<Install>, InstallError> {
        let mut installs: Vec<Install> =
            self.stored_installs()?.into_iter().map(|(_, record)| record).collect();
        installs.sort_by(|a, b| {
            (&a.id, a.state == InstallState::Approved).cmp(&(&b.id, b.state == InstallState::Approved))
        });
        Ok(installs)
    }

    /// Approves the pending install of `id`: it replaces the approved version
    /// (if any), is loaded, and then every node sharing the database loads
    /// it. If it does not load here, the previous version stays loaded and
    /// the install stays pending.
    pub fn approve_install(&self, id: &str) -> Result<Install, InstallError> {
        self.approve_install_as_shown(id, None)
    }

    /// [`Host::approve_install`], only if the pending install is still the
    /// package with SHA-256 `shown` (the one the operator was shown: another
    /// node may have replaced it since); else `install_conflict`.
    pub fn approve_install_as_shown(&self, id: &str, shown: Option<&str>) -> Result<Install, InstallError> {
        checked_id(id)?;
        let _one_at_a_time = locked(&self.installs.lock);
        let layout = self.layout();
        let _held = layout.lock()?;
        let not_pending = || InstallError::NotFound { plugin: id.to_string(), what: "pending install" };
        let stored = self.stored_installs()?;
        let find = |slot| stored.iter().find(|(p, _)| p.plugin_id == id && p.slot == slot);
        let (pending, record) = find(PackageSlot::Pending).ok_or_else(not_pending)?;
        if shown.is_some_and(|shown| !shown.eq_ignore_ascii_case(&pending.sha256)) {
            return Err(InstallError::Changed { plugin: id.to_string() });
        }
        // The operator's rules may have changed since it was staged.
        if !self.trusts_signer(record) {
            return Err(InstallError::Unsigned { origin: record.origin.clone() });
        }
        self.check_managed(&layout, id)?;
        // The bytes of the very install the operator saw, or none.
        let bytes = self.listed_bytes(pending)?;
        let approved_now = find(PackageSlot::Approved).map(|(package, _)| package.sha256.as_str());
        let dir = layout.staging("approve");
        let record = Install { state: InstallState::Approved, reasons: Vec::new(), ..record.clone() };
        let result = package::unpack(&bytes, &dir, &self.installs.config, &record.origin).and_then(|()| {
            self.activate(&layout, &record, &dir, &bytes, (approved_now, Some(pending.sha256.as_str())))
        });
        let _ = std::fs::remove_dir_all(&dir);
        result.map(|()| record)
    }

    /// Drops the pending install of `id`; the approved version, if any, stays.
    pub fn reject_install(&self, id: &str) -> Result<(), InstallError> {
        checked_id(id)?;
        let _one_at_a_time = locked(&self.installs.lock);
        match self.packages().remove(id, Some(PackageSlot::Pending)).map_err(HostError::from)? {
            true => Ok(()),
            false => Err(InstallError::NotFound { plugin: id.to_string(), what: "pending install" }),
        }
    }

    /// Uninstalls `id`, on every node sharing the database: unloads it,
    /// removes its folder and any pending install. Its storage and settings
    /// are kept for a later install unless `remove_data`.
    pub fn uninstall(&self, id: &str, remove_data: bool) -> Result<Uninstalled, InstallError> {
        checked_id(id)?;
        let _one_at_a_time = locked(&self.installs.lock);
        let layout = self.layout();
        let _held = layout.lock()?;
        let stored = self.stored_installs()?;
        let find = |slot| stored.iter().find(|(p, _)| p.plugin_id == id && p.slot == slot);
        let version = find(PackageSlot::Approved).map(|(_, record)| record.version.clone());
        let dropped_pending = find(PackageSlot::Pending).is_some();
        if version.is_none() && !dropped_pending {
            return Err(InstallError::NotFound { plugin: id.to_string(), what: "installed version" });
        }
        let target = layout.installed(id);
        if self.loaded(id).is_some_and(|plugin| plugin.dir == target) {
            self.unload_plugin(id)?;
        }
        // The data goes first: if that fails, the install is still listed and
        // the uninstall can be run again.
        if remove_data {
            self.remove_plugin_data(id)?;
        }
        self.packages().remove(id, None).map_err(HostError::from)?;
        self.installs.followed.get().serving.remove(id);
        layout.remove(&target)?;
        Ok(Uninstalled {
            id: id.to_string(),
            version,
            dropped_pending,
            data: if remove_data { "removed" } else { "kept" },
        })
    }

    /// Removes every stored key and setting of `id`.
    fn remove_plugin_data(&self, id: &str) -> Result<(), InstallError> {
        let backend = self.backend();
        let keys = backend.kv.list_keys(id, "").map_err(crate::HostError::from)?;
        let changes = crate::store::KvChanges {
            writes: keys.into_iter().map(|key| (key, None)).collect(),
            ..Default::default()
        };
        let unbounded = crate::store::Usage { bytes: u64::MAX, keys: u64::MAX };
        backend.kv.commit(id, &changes, unbounded).map_err(|e| {
            let (operation, message) = ("removing a plugin's storage", e.to_string());
            crate::HostError::Store(crate::store::StoreError::Failed { operation, message })
        })?;
        let names: Vec<String> =
            backend.settings.all(id).map_err(crate::HostError::from)?.keys().cloned().collect();
        backend.settings.change(id, &Default::default(), &names).map_err(crate::HostError::from)?;
        Ok(())
    }
}

/// Ids come from callers (URLs, commands) and name folders: only plugin ids.
fn checked_id(id: &str) -> Result<(), InstallError> {
    if crate::manifest::is_identifier(id) {
        Ok(())
    } else {
        Err(InstallError::NotFound { plugin: id.chars().take(64).collect(), what: "install under that id" })
    }
}

/// Finishes what an interrupted step left on disk (see [`disk`]); run when a host opens.
pub(crate) fn recover(data_dir: &Path) {
    Layout::new(data_dir).recover();
}
