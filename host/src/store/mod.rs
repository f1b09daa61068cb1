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

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use crate::types::{Entity, EntityEvent, EntityQuery, HookOutcome};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Entities: the application's records.
pub trait EntityStore: Send + Sync {
    /// One entity.
    fn get(&self, id: &str) -> Result<Option<Entity>, StoreError>;
    /// The entities matching `query` (already [checked](EntityQuery::check)),
    /// oldest first, ties by insertion order. A query still running at
    /// `deadline` is stopped with an error, releasing whatever it held.
    fn find(&self, query: &EntityQuery, deadline: Option<Instant>) -> Result<Vec<Entity>, StoreError>;
    /// How many entities match `query`, ignoring its limit and offset;
    /// stopped at `deadline` like [`EntityStore::find`].
    fn count(&self, query: &EntityQuery, deadline: Option<Instant>) -> Result<u64, StoreError>;
    /// Adds an entity and, in the same transaction, its `created` event's
    /// deliveries; `None` (and nothing written) when the id is taken, else
    /// the deliveries' ids in the order of [`NewDeliveries::plugins`].
    fn insert(&self, entity: &Entity, deliveries: &NewDeliveries) -> Result<Option<Vec<u64>>, StoreError>;
    /// Replaces an entity's data and `updated_at` and adds its `updated`
    /// event's deliveries, in one transaction; `None` when it does not exist.
    fn update(&self, entity: &Entity, deliveries: &NewDeliveries) -> Result<Option<Vec<u64>>, StoreError>;
    /// Removes an entity and adds its `deleted` event's deliveries, in one
    /// transaction, returning it as it was; `None` when it did not exist.
    fn delete(&self, id: &str, deliveries: &NewDeliveries) -> Result<Option<(Entity, Vec<u64>)>, StoreError>;
}

/// The hook deliveries an entity write puts in the outbox, in the write's
/// own transaction: one per plugin, leased to the writing node, which
/// delivers them at once. Another node takes over a delivery only when its
/// lease has run out (the writer died mid-way).
#[derive(Debug, Clone, Default)]
pub struct NewDeliveries {
    /// The plugins whose hooks get the event (none: nothing is added).
    pub plugins: Vec<String>,
    /// The node that holds the lease.
    pub node: String,
    /// How long the lease lasts.
    pub lease: Duration,
}

/// One event waiting in the outbox for one plugin's hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its id in the outbox.
    pub id: u64,
    /// The plugin whose hook it is for.
    pub plugin_id: String,
    /// The event.
    pub event: EntityEvent,
    /// The entity as written (for a delete: as it was).
    pub entity: Entity,
    /// How many times a node has claimed it after its writer (0: never).
    pub attempts: u32,
}

/// A delivery marked done inside a storage commit ([`KvChanges::delivery`]):
/// the hook's storage writes and the mark commit together or not at all, so
/// an event's effect on plugin storage happens exactly once however many
/// nodes run the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryMark {
    /// The delivery.
    pub id: u64,
    /// The node running the hook.
    pub node: String,
}

/// The outbox of hook deliveries (see [`NewDeliveries`]). A delivery is
/// pending until a node completes it; each node claims due ones (never
/// leased, or whose lease ran out) for the plugins it runs, so a delivery a
/// dead node left is delivered by another.
pub trait HookOutbox: Send + Sync {
    /// Leases to `node`, for `lease`, up to `limit` pending deliveries whose
    /// lease has run out, oldest first, for the given plugins only, and
    /// counts the claim in their `attempts`. Concurrent claims from several
    /// nodes never get the same delivery. A delivery marked done whose lease
    /// ran out (its node died before completing it) is removed.
    fn claim_due(
        &self,
        node: &str,
        plugins: &[String],
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Gives back a delivery `node` holds (its plugin was busy): it is due
    /// again after `after`. When that is at once, every node sharing the
    /// database is woken to claim it. A stale holder changes nothing.
    fn retry(&self, id: u64, node: &str, after: Duration) -> Result<(), StoreError>;
    /// Completes a delivery `node` holds (leased to it, or marked done by its
    /// commit) and records `outcome` in the hook records, in one transaction:
    /// `false` (nothing recorded) when it is gone or another node holds it,
    /// which then settles it.
    fn complete(&self, id: u64, node: &str, outcome: &HookOutcome) -> Result<bool, StoreError>;
    /// How many deliveries have not taken effect yet (leased or not; one
    /// marked done but not yet completed does not count).
    fn pending(&self) -> Result<u64, StoreError>;
    /// Told when a delivery is given up for a retry, by any node sharing the
    /// database, so idle nodes claim it without waiting for their next poll.
    fn wake_ups(&self) -> Arc<tokio::sync::Notify>;
}

/// A stored value and the version it has had since its last write. Versions
/// of one plugin only grow, so an unchanged version means an unchanged value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The value.
    pub value: Vec<u8>,
    /// Its version.
    pub version: u64,
}

/// What a plugin keeps in its storage: bytes (keys plus values) and keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of keys plus values.
    pub bytes: u64,
    /// Keys.
    pub keys: u64,
}

/// What one call read and wrote, for [`PluginKv::commit`].
#[derive(Debug, Clone, Default)]
pub struct KvChanges {
    /// Each key read from the store, with the version seen (`None`: absent).
    pub reads: BTreeMap<String, Option<u64>>,
    /// Each prefix listed, with the keys the store had under it.
    pub listed: BTreeMap<String, Vec<String>>,
    /// Each key written: the new value, or `None` to delete it.
    pub writes: BTreeMap<String, Option<Vec<u8>>>,
    /// The hook delivery this call is, marked done in the same commit.
    pub delivery: Option<DeliveryMark>,
}

impl KvChanges {
    /// Whether the commit has anything to check, write or mark.
    pub fn needs_commit(&self) -> bool {
        self.needs_storage_commit() || self.delivery.is_some()
    }

    /// Whether the commit must check or write storage (beyond a delivery
    /// mark). A call that read one key or one list and wrote nothing saw a
    /// single consistent state.
    pub fn needs_storage_commit(&self) -> bool {
        !self.writes.is_empty() || self.reads.len() + self.listed.len() > 1
    }
}

/// Why a commit wrote nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// Another call changed something this call read: run it again.
    #[error("storage conflict: another call changed `{key}` after this call read it")]
    Conflict {
        /// The key (or listed prefix) that changed.
        key: String,
    },
    /// The writes would take the plugin over its quota.
    #[error("storage quota: the writes would make it {} bytes in {} keys (quota {} bytes, {} keys)", after.bytes, after.keys, quota.bytes, quota.keys)]
    QuotaExceeded {
        /// The usage the writes would leave.
        after: Usage,
        /// The plugin's quota.
        quota: Usage,
    },
    /// The call is a hook delivery another node has completed already:
    /// nothing is written, so the event takes effect once.
    #[error("the event was delivered already (by another node)")]
    Delivered,
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a delivery marked done stays before any node may remove it:
/// time for the marking node to complete it and record its outcome.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const DONE_GRACE: Duration = Duration::from_secs(60);

/// Hook outcomes a backend keeps; older ones are deleted as new ones arrive.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const HOOK_RECORDS_KEPT: i64 = 1000;

/// An event's name as backends store it.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn event_name(event: EntityEvent) -> &'static str {
    match event {
        EntityEvent::Created => "created",
        EntityEvent::Updated => "updated",
        EntityEvent::Deleted => "deleted",
    }
}

/// The event a stored name stands for.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn event_of(name: &str) -> EntityEvent {
    match name {
        "created" => EntityEvent::Created,
        "updated" => EntityEvent::Updated,
        _ => EntityEvent::Deleted,
    }
}

/// Plugin key-value storage, scoped by plugin id.
pub trait PluginKv: Send + Sync {
    /// A value and its version.
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Versioned>, StoreError>;
    /// The keys under `prefix`, sorted.
    fn list_keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// What the plugin keeps now.
    fn usage(&self, plugin: &str) -> Result<Usage, StoreError>;
    /// Atomically: checks that every read and listing in `changes` still
    /// holds, applies the writes, and checks that the plugin's usage is within
    /// `quota` wherever the writes made it grow. All or nothing.
    fn commit(&self, plugin: &str, changes: &KvChanges, quota: Usage) -> Result<(), CommitError>;
}

/// Plugin settings set by the application (defaults live in the manifest).
pub trait SettingsStore: Send + Sync {
    /// Every stored value of a plugin.
    fn all(&self, plugin: &str) -> Result<Map<String, Value>, StoreError>;
    /// Stores `set` and removes `reset`, in one transaction.
    fn change(&self, plugin: &str, set: &Map<String, Value>, reset: &[String]) -> Result<(), StoreError>;
}

/// Hook outcomes, the most recent kept (older ones dropped by the backend).
/// They are written by [`HookOutbox::complete`], in the transaction that
/// settles the delivery.
pub trait HookRecords: Send + Sync {
    /// The most recent `limit` outcomes, oldest first.
    fn recent(&self, limit: usize) -> Result<Vec<HookOutcome>, StoreError>;
}

/// Per-entity-type field configurations (which field is edited by which
/// widget), kept as JSON the host validated.
pub trait FieldConfigStore: Send + Sync {
    /// Every stored configuration, by entity type.
    fn all(&self) -> Result<BTreeMap<String, Value>, StoreError>;
    /// The configuration of one entity type (read on every entity write).
    fn get(&self, entity_type: &str) -> Result<Option<Value>, StoreError>;
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
            switches: db,
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
    #[cfg(feature = "postgres")]
    pub fn postgres(url: &str) -> Result<Backend, StoreError> {
        Ok(Backend::of(Arc::new(postgres::Postgres::connect(url)?)))
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backend")
    }
}
