//! The transactional group: entities, the hook outbox, hook records and
//! plugin storage. They are separate traits, but one database must hold them
//! all, since their writes commit together: an entity write adds its hooks'
//! deliveries in its own transaction ([`EntityStore::insert`] takes the
//! [`NewDeliveries`]), and a hook's storage commit settles its delivery and
//! records its outcome ([`KvChanges::delivery`]). A backend
//! implements all four on one connection pool; the other traits
//! (settings, field configurations, switches, packages, node reports) may
//! live anywhere.

use super::StoreError;
use crate::types::{Entity, EntityEvent, EntityQuery, HookEvent, HookOutcome, Message};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entities: the application's records.
pub trait EntityStore: Send + Sync {
    /// Whether the host may run a plugin's read on its call's runtime worker:
    /// only Plinth's SQLite backend can say so, as it keeps to the budget of
    /// the host's quick reads. Others keep the default, a hand-off first.
    fn reads_in_place(&self) -> bool {
        false
    }
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
    /// The plugin writes that led to this event (none for the application's own).
    pub chain: WriteChain,
}

/// The plugin writes that led to an event, oldest first, and what the
/// event's hooks may still write. The application's own write starts none;
/// a write a hook makes is its event's chain plus itself, so a chain of
/// hooks that write entities can be bounded and its cycles found
/// (`capabilities::entities`). Kept with each delivery, as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "StoredChain")]
pub struct WriteChain {
    /// The writes, oldest first.
    pub links: Vec<ChainLink>,
    /// The entity writes each hook of the event may make, its own and every
    /// one that follows from them (none: the application's write, whose
    /// hooks each start with the full budget).
    pub budget: Option<u32>,
}

impl WriteChain {
    /// What a delivery whose stored chain cannot be read carries: its hooks
    /// run, but may write nothing (one bad row never stalls the outbox).
    pub fn unreadable() -> WriteChain {
        WriteChain { links: Vec::new(), budget: Some(0) }
    }
}

/// A [`WriteChain`] as stored: the object it is written as, or the bare
/// list of links the first development build of 0.3.0 wrote.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum StoredChain {
    Chain {
        #[serde(default)]
        links: Vec<ChainLink>,
        #[serde(default)]
        budget: Option<u32>,
    },
    Links(Vec<ChainLink>),
}

impl From<StoredChain> for WriteChain {
    fn from(stored: StoredChain) -> WriteChain {
        match stored {
            StoredChain::Chain { links, budget } => WriteChain { links, budget },
            StoredChain::Links(links) => WriteChain { links, budget: None },
        }
    }
}

/// One plugin write, or message, in a [`WriteChain`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainLink {
    /// The plugin that wrote.
    pub plugin: String,
    /// What it did: an entity write, or `message` for a publish.
    pub write: HookEvent,
    /// The entity written; for a message, its topic.
    pub entity: String,
}

/// What a delivery brings its plugin.
#[derive(Debug, Clone, PartialEq)]
pub enum Carried {
    /// An entity event, for the plugin's hook: the entity as written (for a
    /// delete: as it was).
    Entity {
        /// Which write.
        event: EntityEvent,
        /// The entity.
        entity: Entity,
    },
    /// A message, for the plugin's `on-message`.
    Message(Message),
}

impl Carried {
    /// Its name in hook records and the outbox.
    pub fn event(&self) -> HookEvent {
        match self {
            Carried::Entity { event, .. } => (*event).into(),
            Carried::Message(_) => HookEvent::Message,
        }
    }

    /// What a hook record names: the entity's id, or the message's topic.
    pub fn subject(&self) -> &str {
        match self {
            Carried::Entity { entity, .. } => &entity.id,
            Carried::Message(message) => &message.topic,
        }
    }

    /// What an outbox row carries, from its `event` and `entity` columns.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_row(event: &str, json: serde_json::Value) -> Result<Carried, serde_json::Error> {
        Ok(match HookEvent::of(event) {
            HookEvent::Message => Carried::Message(serde_json::from_value(json)?),
            HookEvent::Created => {
                Carried::Entity { event: EntityEvent::Created, entity: serde_json::from_value(json)? }
            }
            HookEvent::Updated => {
                Carried::Entity { event: EntityEvent::Updated, entity: serde_json::from_value(json)? }
            }
            HookEvent::Deleted => {
                Carried::Entity { event: EntityEvent::Deleted, entity: serde_json::from_value(json)? }
            }
        })
    }
}

/// One entity event or message waiting in the outbox for one plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Its id in the outbox.
    pub id: u64,
    /// The plugin it is for.
    pub plugin_id: String,
    /// The entity event or the message.
    pub carried: Carried,
    /// How many times a node has claimed it after its writer (0: never).
    pub attempts: u32,
    /// The plugin writes and messages that led to it.
    pub chain: WriteChain,
}

/// A delivery settled inside a hook's storage commit ([`KvChanges::delivery`]):
/// the delivery is removed and its outcome recorded in the transaction that
/// applies the hook's writes, all or nothing. An event's effect on plugin
/// storage so happens exactly once however many nodes run the hook, and a
/// hook that ran costs one commit.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryMark {
    /// The delivery.
    pub id: u64,
    /// What the hook's run came to, for the hook records.
    pub outcome: HookOutcome,
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
    /// again after `after`, and no node holds it until one claims it (so a
    /// renewal by `node` leaves it alone). When that is at once, every node
    /// sharing the database is woken to claim it. A stale holder changes
    /// nothing.
    fn retry(&self, id: u64, node: &str, after: Duration) -> Result<(), StoreError>;
    /// Extends to `lease` from now the leases `node` holds on deliveries
    /// `ids` that are still pending (the others are left alone): a node
    /// renews what it is running, so a node that dies loses its deliveries
    /// within one short lease, and another takes them over.
    fn renew(&self, ids: &[u64], node: &str, lease: Duration) -> Result<(), StoreError>;
    /// Completes a delivery `node` holds whose hook did not commit (it trapped,
    /// timed out or was given up) and records `outcome` in the hook records,
    /// in one transaction:
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
    /// The hook delivery this call is, settled in the same commit.
    pub delivery: Option<DeliveryMark>,
    /// The scheduled job's run this call is, settled in the same commit.
    pub job: Option<super::JobMark>,
    /// The entity writes the call made (WIT 0.3.0), in order: committed with
    /// its storage changes, both or neither. One whose entity is gone by
    /// then, or written since the version the call saw (an update or
    /// delete), is a conflict: the call runs again.
    pub entities: Vec<EntityChange>,
    /// The messages the call published (WIT 0.3.0), in order: their
    /// deliveries are added in the same commit, both or neither.
    pub messages: Vec<MessageChange>,
}

/// A message a plugin's call published, with its deliveries (one per subscriber).
#[derive(Debug, Clone)]
pub struct MessageChange {
    /// The message.
    pub message: Message,
    /// The outbox entries it adds.
    pub deliveries: NewDeliveries,
}

/// An entity write a plugin's call made, with its event's deliveries.
#[derive(Debug, Clone)]
pub struct EntityChange {
    /// Which write.
    pub write: EntityEvent,
    /// The entity as written (for a delete, only its id counts).
    pub entity: Entity,
    /// For an update or delete, the `updated_at` the call saw: the write
    /// applies only to the entity as it was then (another write since is a
    /// conflict, and the call runs again).
    pub seen: Option<u64>,
    /// The outbox entries its event adds.
    pub deliveries: NewDeliveries,
}

impl KvChanges {
    /// Whether the commit has anything to check, write or mark.
    pub fn needs_commit(&self) -> bool {
        self.needs_storage_commit()
            || self.delivery.is_some()
            || self.job.is_some()
            || !self.entities.is_empty()
            || !self.messages.is_empty()
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
    /// The call is a hook delivery another node has completed already, or a
    /// job's run another node holds now: nothing is written, so the event or
    /// the run takes effect once.
    #[error("the event was delivered already (by another node)")]
    Delivered,
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hook outcomes a backend keeps; older ones are deleted as new ones arrive.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const HOOK_RECORDS_KEPT: i64 = 1000;

/// Hook records appended between two trims of the oldest: trimming in every
/// append would touch the table's oldest page (and, on PostgreSQL, lock its
/// oldest row) in every hook's commit. Backends keep up to this many more
/// than [`HOOK_RECORDS_KEPT`] meanwhile and return no more than it.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) const HOOK_RECORDS_TRIM_EVERY: i64 = 64;

/// An event's name as backends store it.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn event_name(event: impl Into<HookEvent>) -> &'static str {
    event.into().as_str()
}

/// The event a stored name stands for.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn event_of(name: &str) -> HookEvent {
    HookEvent::of(name)
}

/// One plugin's commit, as [`PluginKv::commit`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct PluginCommit<'a> {
    /// The plugin whose storage it changes.
    pub plugin: &'a str,
    /// What its call read and wrote.
    pub changes: &'a KvChanges,
    /// Its storage quota.
    pub quota: Usage,
}

/// Plugin key-value storage, scoped by plugin id.
pub trait PluginKv: Send + Sync {
    /// Whether the host may run a plugin's read on its call's runtime worker:
    /// only Plinth's SQLite backend can say so, as it keeps to the budget of
    /// the host's quick reads. Others keep the default, a hand-off first.
    fn reads_in_place(&self) -> bool {
        false
    }
    /// A value and its version.
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Versioned>, StoreError>;
    /// The keys under `prefix`, sorted.
    fn list_keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// What the plugin keeps now.
    fn usage(&self, plugin: &str) -> Result<Usage, StoreError>;
    /// What the plugin keeps, for a call's early quota check, which asks
    /// [`PluginKv::usage`] again before it refuses: it may lag behind other
    /// nodes' commits, as the commit checks the quota exactly. A backend
    /// whose reads cost a round trip keeps it from its own commits.
    fn usage_hint(&self, plugin: &str) -> Result<Usage, StoreError> {
        self.usage(plugin)
    }
    /// Atomically: checks that every read and listing in `changes` still
    /// holds, applies the writes (the entity writes in
    /// [`KvChanges::entities`] too, when [`PluginKv::commits_entity_writes`]),
    /// and checks that the plugin's usage is within `quota` wherever the
    /// writes made it grow. All or nothing.
    fn commit(&self, plugin: &str, changes: &KvChanges, quota: Usage) -> Result<(), CommitError>;
    /// Several commits, each as [`PluginKv::commit`] would make it (all or
    /// nothing, with its own outcome, in order). A backend whose commit
    /// costs more than its statements (SQLite's log write) makes them in one
    /// transaction; the default makes them one after another.
    fn commit_together(&self, commits: &[PluginCommit<'_>]) -> Vec<Result<(), CommitError>> {
        commits.iter().map(|commit| self.commit(commit.plugin, commit.changes, commit.quota)).collect()
    }
    /// Whether [`PluginKv::commit_together`] costs less than the commits one
    /// by one, so that a write's hooks should wait to commit together.
    fn commits_together(&self) -> bool {
        false
    }
    /// Whether [`PluginKv::commit`] applies [`KvChanges::entities`]: Plinth's
    /// backends do. A backend that does not keeps the default, and plugins'
    /// entity writes are refused rather than lost.
    fn commits_entity_writes(&self) -> bool {
        false
    }
    /// Whether [`PluginKv::commit`] adds [`KvChanges::messages`]' deliveries
    /// to the outbox: Plinth's backends do. A backend that does not keeps
    /// the default, and messages are refused rather than lost.
    fn commits_messages(&self) -> bool {
        false
    }
}

/// Hook outcomes, the most recent kept (older ones dropped by the backend).
/// They are written by [`HookOutbox::complete`], in the transaction that
/// settles the delivery.
pub trait HookRecords: Send + Sync {
    /// The most recent `limit` outcomes, oldest first.
    fn recent(&self, limit: usize) -> Result<Vec<HookOutcome>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chains read back from every form they were stored in: the object,
    /// the migration's default `{}`, and the bare list of links the first
    /// development build wrote.
    #[test]
    fn write_chains_read_back_from_every_stored_form() {
        let link = ChainLink { plugin: "p".into(), write: HookEvent::Created, entity: "e".into() };
        let chain = WriteChain { links: vec![link.clone()], budget: Some(3) };
        let stored = serde_json::to_string(&chain).expect("stored");
        assert_eq!(serde_json::from_str::<WriteChain>(&stored).expect("object"), chain);
        assert_eq!(serde_json::from_str::<WriteChain>("{}").expect("default"), WriteChain::default());
        let old = r#"[{"plugin":"p","write":"created","entity":"e"}]"#;
        let read = serde_json::from_str::<WriteChain>(old).expect("a bare list");
        assert_eq!(read, WriteChain { links: vec![link], budget: None });
    }
}
