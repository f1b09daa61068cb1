//! The backend seam: what the host needs from a database, as small traits
//! (entities, plugin key-value storage, settings, hook records, the hook
//! outbox, field configurations, installed packages, node reports) with one
//! error type. SQLite ([`Backend::sqlite`]) is the default; PostgreSQL
//! (`Backend::postgres`, feature `postgres`) lets several nodes share one
//! database; another database plugs in by implementing the traits, and the
//! conformance suite in `plinth-tests` runs against any [`Backend`].
//!
//! Plugin storage is serializable per call: a call reads through
//! [`PluginKv::get`] (which returns each key's version), buffers its writes,
//! and hands everything to [`PluginKv::commit`], which applies the writes only
//! if every key and key list the call read is unchanged, and only if the
//! plugin's quota still holds afterwards. Both checks run inside the commit,
//! so no interleaving of calls can lose an update or pass the quota.
//!
//! The traits are synchronous, by choice. The default backend, SQLite (the
//! only one on a phone or a desktop), blocks whatever its signature says, so
//! async traits would only move the blocking into every SQLite method
//! (`spawn_blocking`) and box every call's future. The host instead decides
//! how to block, in `capabilities::in_place`: on a multi-threaded runtime's
//! worker it hands the worker's other tasks away (`block_in_place`),
//! elsewhere it simply runs; a plugin's reads from SQLite run on the worker
//! itself while they are short (`quick.rs`, `capabilities::reads`). The cost
//! of that choice is PostgreSQL's own small runtime (`postgres/mod.rs`),
//! which turns its driver's futures into answers on any thread. Entities, the
//! outbox, hook records and plugin storage must share one database
//! (`writes.rs`); the other traits may each live anywhere.

pub(crate) mod jobs;
#[cfg(feature = "postgres")]
pub mod postgres;
pub(crate) mod quick;
#[cfg(feature = "sqlite")]
mod sqlite;
mod writes;

pub use jobs::{DeclaredJob, DueRun, JobMark, JobOutcome, JobState, JobStore};
pub use writes::{
    Carried, ChainLink, CommitError, Delivery, DeliveryMark, EntityChange, EntityStore, HookOutbox,
    HookRecords, KvChanges, MessageChange, NewDeliveries, PluginCommit, PluginKv, Usage, Versioned,
    WriteChain,
};
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(unused_imports))]
pub(crate) use writes::{HOOK_RECORDS_KEPT, HOOK_RECORDS_TRIM_EVERY, event_name, event_of};

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// A claimed outbox row whose content cannot be read (a newer Plinth's,
/// say) is left to its lease, for a node that can read it; one such row
/// never holds up the others claimed with it.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn unreadable_delivery(id: u64, error: &serde_json::Error) {
    tracing::warn!(delivery = id, "an outbox delivery cannot be read and is left for a later claim: {error}");
}

/// The embedded database's file name in the data directory.
pub const DATABASE_FILE: &str = "plinth.sqlite3";

/// Why a backend operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (stopped, restarting, out of connections):
    /// the same request may succeed later.
    #[error("the database is unavailable ({operation}): {message}")]
    Unavailable {
        /// What was being done.
        operation: &'static str,
        /// The driver's reason.
        message: String,
    },
    /// The database refused or failed the operation.
    #[error("database error during {operation}: {message}")]
    Failed {
        /// What was being done.
        operation: &'static str,
        /// The driver's reason.
        message: String,
    },
}

/// Plugin settings set by the application (defaults live in the manifest).
pub trait SettingsStore: Send + Sync {
    /// Whether the host may run a plugin's read on its call's runtime worker:
    /// only Plinth's SQLite backend can say so, as it keeps to the budget of
    /// the host's quick reads. Others keep the default, a hand-off first.
    fn reads_in_place(&self) -> bool {
        false
    }
    /// Every stored value of a plugin.
    fn all(&self, plugin: &str) -> Result<Map<String, Value>, StoreError>;
    /// Stores `set` and removes `reset`, in one transaction.
    fn change(&self, plugin: &str, set: &Map<String, Value>, reset: &[String]) -> Result<(), StoreError>;
}

/// Per-entity-type field configurations (which field is edited by which
/// widget), kept as JSON the host validated.
pub trait FieldConfigStore: Send + Sync {
    /// Every stored configuration, by entity type.
    fn all(&self) -> Result<BTreeMap<String, Value>, StoreError>;
    /// The configuration of one entity type, as stored now.
    fn get(&self, entity_type: &str) -> Result<Option<Value>, StoreError>;
    /// The configuration an entity write of `entity_type` is checked
    /// against: a backend whose reads cost a round trip may answer a copy of
    /// its own, a moment old. Default: [`FieldConfigStore::get`].
    fn get_for_write(&self, entity_type: &str) -> Result<Option<Value>, StoreError> {
        self.get(entity_type)
    }
    /// Stores the configuration of `entity_type`, or removes it (`None`).
    /// With `expected`, only if the stored one's `version` is that (0 when
    /// none is stored), in one statement: false when another save came first.
    fn put(
        &self,
        entity_type: &str,
        expected: Option<u64>,
        config: Option<&Value>,
    ) -> Result<bool, StoreError>;
}

/// The plugins an operator switched off, shared by every node on the database.
pub trait PluginSwitches: Send + Sync {
    /// The ids of the plugins switched off.
    fn disabled(&self) -> Result<BTreeSet<String>, StoreError>;
    /// Switches `plugin_id` off (`true`) or back on (`false`).
    fn set_disabled(&self, plugin_id: &str, disabled: bool) -> Result<(), StoreError>;
}

/// Which of a plugin's two install slots a package fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageSlot {
    /// Waiting for an operator's approval; runs nowhere.
    Pending,
    /// Approved: every node runs it.
    Approved,
}

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
impl PackageSlot {
    /// The slot's name as backends store it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PackageSlot::Pending => "pending",
            PackageSlot::Approved => "approved",
        }
    }

    /// The slot a stored name stands for.
    pub(crate) fn of(name: &str) -> PackageSlot {
        if name == "approved" { PackageSlot::Approved } else { PackageSlot::Pending }
    }
}

/// A package kept for an install, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPackage {
    /// The plugin it holds.
    pub plugin_id: String,
    /// Pending or approved.
    pub slot: PackageSlot,
    /// The package's SHA-256 (hex): what a node compares its own copy with.
    pub sha256: String,
    /// The install's record (JSON), kept as the installer wrote it.
    pub record: String,
}

/// Installed plugin packages, pending and approved: the one list every node
/// sharing the database installs from, so an install, approval or uninstall
/// on one node holds on all of them.
pub trait PackageStore: Send + Sync {
    /// Every stored package, without its bytes, by plugin id.
    fn list(&self) -> Result<Vec<StoredPackage>, StoreError>;
    /// A stored package's bytes.
    fn bytes(&self, plugin_id: &str, slot: PackageSlot) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `package` in its slot, in one transaction, if the plugin's
    /// approved package is still the one with SHA-256 `approved_now` (`None`:
    /// none is approved): that is what the install's consent was weighed
    /// against. Storing an approved package removes the pending one: only if
    /// it is still `pending_now` (the one being approved), or whichever there
    /// is when `pending_now` is `None` (an update that needs no approval
    /// supersedes it). `false`, and nothing stored, when another installer
    /// changed either first. Every node sharing the database is told
    /// ([`PackageStore::changes`]).
    fn put(
        &self,
        package: &StoredPackage,
        bytes: &[u8],
        approved_now: Option<&str>,
        pending_now: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Removes the plugin's package in `slot` (`None`: both); whether there was one.
    fn remove(&self, plugin_id: &str, slot: Option<PackageSlot>) -> Result<bool, StoreError>;
    /// Told when any node sharing the database stores or removes a package.
    fn changes(&self) -> Arc<tokio::sync::Notify>;
    /// Whether the installs a data directory (by its id) held on disk alone,
    /// from a Plinth before this list, were added to the list already.
    fn adopted(&self, data_dir: &str) -> Result<bool, StoreError>;
    /// Records that they were.
    fn mark_adopted(&self, data_dir: &str) -> Result<(), StoreError>;
}

/// A node's last report of itself, as [`NodeReports::reports`] gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    /// The node.
    pub node: String,
    /// How long ago it reported (by the database's clock).
    pub age: Duration,
    /// What it reported (JSON), as it wrote it.
    pub report: Value,
}

/// What each node last said of itself (its plugins' health), so that any
/// node can show every node's.
pub trait NodeReports: Send + Sync {
    /// Stores `node`'s report, replacing its last one, and forgets the
    /// reports of nodes silent for longer than `forget_after`.
    fn report(&self, node: &str, report: &Value, forget_after: Duration) -> Result<(), StoreError>;
    /// Every node's last report, by node name.
    fn reports(&self) -> Result<Vec<NodeReport>, StoreError>;
    /// Removes `node`'s report (it is stopping).
    fn withdraw(&self, node: &str) -> Result<(), StoreError>;
}

/// A complete backend: one implementation of each trait, usually sharing one
/// database. Cheap to clone.
#[derive(Clone)]
pub struct Backend {
    /// Entities.
    pub entities: Arc<dyn EntityStore>,
    /// Plugin storage.
    pub kv: Arc<dyn PluginKv>,
    /// Plugin settings.
    pub settings: Arc<dyn SettingsStore>,
    /// Hook outcomes.
    pub hooks: Arc<dyn HookRecords>,
    /// Hook deliveries not yet completed.
    pub outbox: Arc<dyn HookOutbox>,
    /// Field configurations.
    pub field_configs: Arc<dyn FieldConfigStore>,
    /// Installed plugin packages.
    pub packages: Arc<dyn PackageStore>,
    /// Nodes' reports of themselves.
    pub nodes: Arc<dyn NodeReports>,
    /// Plugins switched off.
    pub switches: Arc<dyn PluginSwitches>,
    /// Scheduled jobs: when each is due, how it last ran.
    pub jobs: Arc<dyn JobStore>,
}

impl Backend {
    /// A backend whose one database implements every trait.
    pub fn of<D>(db: Arc<D>) -> Backend
    where
        D: EntityStore
            + PluginKv
            + SettingsStore
            + HookRecords
            + HookOutbox
            + FieldConfigStore
            + PackageStore
            + NodeReports
            + PluginSwitches
            + JobStore
            + 'static,
    {
        Backend {
            entities: db.clone(),
            kv: db.clone(),
            settings: db.clone(),
            hooks: db.clone(),
            outbox: db.clone(),
            field_configs: db.clone(),
            packages: db.clone(),
            nodes: db.clone(),
            switches: db.clone(),
            jobs: db,
        }
    }

    /// The embedded SQLite database `DATA_DIR/plinth.sqlite3`, created or
    /// migrated to the current schema.
    #[cfg(feature = "sqlite")]
    pub fn sqlite(data_dir: &std::path::Path) -> Result<Backend, StoreError> {
        Ok(Backend::of(Arc::new(sqlite::Sqlite::open(&data_dir.join(DATABASE_FILE))?)))
    }

    /// The PostgreSQL database at `url` (`postgres://user:password@host:port/db`),
    /// migrated to the current schema (once, however many nodes start
    /// together). A database that cannot be reached is
    /// [`StoreError::Unavailable`].
    ///
    /// With `sslmode=require` in the URL it connects over TLS and verifies the
    /// server's certificate and host name (as libpq's `verify-full` does),
    /// trusting the PEM file that the `PGSSLROOTCERT` environment variable
    /// names, or else the Mozilla roots; any other mode connects without TLS.
    #[cfg(feature = "postgres")]
    pub fn postgres(url: &str) -> Result<Backend, StoreError> {
        Ok(Backend::of(Arc::new(postgres::Postgres::connect(url)?)))
    }

    /// Like [`Backend::postgres`], trusting the root certificates in the PEM
    /// file `roots` (a private CA's, say) instead of `PGSSLROOTCERT`'s.
    #[cfg(feature = "postgres")]
    pub fn postgres_trusting(url: &str, roots: &std::path::Path) -> Result<Backend, StoreError> {
        Ok(Backend::of(Arc::new(postgres::Postgres::connect_trusting(url, Some(roots))?)))
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backend")
    }
}
