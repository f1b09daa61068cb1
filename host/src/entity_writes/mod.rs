//! Entities, as one part that owns them end to end: reads, writes and their
//! events, the outbox that delivers those events to hooks (`delivery`), and
//! the field configurations every write is checked against
//! (`field_configs`, `field_check`). `Host` answers through `Entities`,
//! and so does a capability view (through an `EntitiesHandle`), so a
//! plugin's write takes the same path into the store.
//!
//! A write and its event's hook deliveries commit in one transaction. A
//! write through the host's API then runs every hook at once (in turn while
//! they are quick, side by side once one is slow), and answers once they
//! all ended, so the writer sees their outcomes (and one writer's writes
//! reach each plugin in order); a write a plugin makes (`entities.create`,
//! `update` and `delete`, from 0.3.0) leaves them to the outbox's loop, so
//! a hook that writes never runs hooks inside itself, and its deliveries
//! carry the chain of plugin writes that led to them (`WriteChain`). A failing
//! hook is logged under the plugin's id and recorded in the outcome, and
//! never undoes the write.

use crate::capabilities::in_place;
use crate::error::HostError;
use crate::plugin::LoadedPlugin;
use crate::plugin::gathering::Gathering;
use crate::plugin::invoke::Invoker;
use crate::plugin_log::now_millis;
use crate::store::{Backend, Carried, NewDeliveries, WriteChain};
use crate::types::{Entity, EntityQuery};
use delivery::Delivered;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

mod delivery;
mod field_check;
mod field_configs;
mod plugin_writes;

pub use crate::types::{EntityEvent, HookOutcome};
pub(crate) use delivery::POLL_INTERVAL;
use delivery::{LEASE, Leases};
pub use delivery::{MAX_ATTEMPTS, PendingHook};

/// Hook outcomes [`Host::hook_history`](crate::Host::hook_history) returns.
const HISTORY_SHOWN: usize = 1000;

/// A committed entity write and what the hooks made of it.
#[derive(Debug, Clone, Serialize)]
pub struct EntityWrite {
    /// The entity as written (for a delete: as it was).
    pub entity: Entity,
    /// One outcome per plugin that exports `events` whose hook ran here.
    pub hooks: Vec<HookOutcome>,
    /// Hooks put back in the outbox (their plugin was busy): a later
    /// attempt, on this node or another, delivers them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingHook>,
}

impl EntityWrite {
    /// Whether every hook ran here and succeeded.
    pub fn hooks_succeeded(&self) -> bool {
        self.pending.is_empty() && self.hooks.iter().all(|hook| hook.error.is_none())
    }
}

/// Hook outcomes a slow subscriber may fall behind by before it misses some
/// (it is told how many, and the history still has them).
const HOOK_FEED_CAPACITY: usize = 1024;

/// How a capability view reaches the `Entities` part, so a plugin's write
/// takes the host's path: set once the host has made the part, and weak,
/// because the part owns the invoker whose stores hold this handle.
#[derive(Clone, Default)]
pub(crate) struct EntitiesHandle(Arc<OnceLock<Weak<Entities>>>);

impl EntitiesHandle {
    /// The part, unless the host has stopped (or, in a test, never made it).
    pub(crate) fn get(&self) -> Option<Arc<Entities>> {
        self.0.get().and_then(Weak::upgrade)
    }
}

/// How long a hook runs on the writer's task before the write's other hooks
/// start beside it.
const QUICK_HOOK: Duration = Duration::from_millis(2);
/// How long a write's hooks run in turn while some wait to commit together:
/// a waiting call keeps its call slot and its plugin's serial lock.
const GATHERING_AT_MOST: Duration = Duration::from_millis(8);

/// Hooks of one write spawned at once, besides the one on the writer's own
/// task: enough to keep both cores and the commit queue busy, few enough
/// that one write with many hook plugins does not take most of the pool.
const HOOKS_AT_ONCE: usize = 8;

/// The entity part: the invoker that runs the hooks and the widget checks a
/// write needs, this node's name for the outbox's leases, and the live feed
/// of hook outcomes.
pub(crate) struct Entities {
    invoker: Arc<Invoker>,
    /// This host's name in the outbox's leases: unique per opened host.
    node: String,
    /// Hook outcomes as they settle, for `Host::subscribe_hooks`.
    hook_feed: tokio::sync::broadcast::Sender<HookOutcome>,
    /// The leases on the deliveries this node is running, kept renewed.
    leases: Leases,
}

impl Entities {
    /// Makes the part and points `handle` (the one the invoker's stores
    /// hold) at it.
    pub(crate) fn start(invoker: Arc<Invoker>, handle: &EntitiesHandle) -> Arc<Entities> {
        let node = format!("node-{}", uuid::Uuid::new_v4());
        let leases = Leases::start(invoker.backend.outbox.clone(), node.clone(), &invoker.runtime);
        let entities = Arc::new(Entities {
            invoker,
            node,
            hook_feed: tokio::sync::broadcast::channel(HOOK_FEED_CAPACITY).0,
            leases,
        });
        let _ = handle.0.set(Arc::downgrade(&entities));
        entities
    }

    fn backend(&self) -> &Backend {
        &self.invoker.backend
    }

    /// One entity.
    pub(crate) fn get(&self, id: &str) -> Result<Option<Entity>, HostError> {
        Ok(self.backend().entities.get(id)?)
    }

    /// The entities matching `query`, oldest first.
    pub(crate) fn find(&self, query: &EntityQuery) -> Result<Vec<Entity>, HostError> {
        query.check().map_err(HostError::InvalidEntity)?;
        Ok(self.backend().entities.find(query, None)?)
    }

    /// How many entities match `query` (limit and offset ignored).
    pub(crate) fn count(&self, query: &EntityQuery) -> Result<u64, HostError> {
        query.check().map_err(HostError::InvalidEntity)?;
        Ok(self.backend().entities.count(query, None)?)
    }

    /// Creates an entity (with a generated id when `id` is `None`) and fires
    /// `on-entity-created`.
    pub(crate) async fn create(
        self: &Arc<Self>,
        id: Option<&str>,
        entity_type: &str,
        data: Value,
    ) -> Result<EntityWrite, HostError> {
        let plugins = self.invoker.registry.hook_plugins();
        let deliveries = self.deliveries(&plugins);
        let (entity, ids) = self.store_new(id, entity_type, data, &deliveries).await?;
        Ok(self.fan_out(EntityEvent::Created, entity, &plugins, ids).await)
    }

    /// Stores a new entity without firing any hook, checked exactly as a
    /// create is (field configurations included).
    pub(crate) async fn import(
        &self,
        id: Option<&str>,
        entity_type: &str,
        data: Value,
    ) -> Result<Entity, HostError> {
        Ok(self.store_new(id, entity_type, data, &NewDeliveries::default()).await?.0)
    }

    /// Stores a new entity and `deliveries` in one transaction.
    async fn store_new(
        &self,
        id: Option<&str>,
        entity_type: &str,
        data: Value,
        deliveries: &NewDeliveries,
    ) -> Result<(Entity, Vec<u64>), HostError> {
        let id = id.map_or_else(crate::types::new_id, str::to_string);
        let entity = self.new_entity(&id, entity_type, data).await?;
        match in_place(|| self.backend().entities.insert(&entity, deliveries))? {
            Some(ids) => Ok((entity, ids)),
            None => Err(HostError::EntityExists(id)),
        }
    }

    /// A new entity, checked (its id, type and data, and its type's field
    /// configuration).
    async fn new_entity(&self, id: &str, entity_type: &str, data: Value) -> Result<Entity, HostError> {
        check_entity(id, entity_type, &data)?;
        self.check_fields(entity_type, &data, None).await?;
        let now = now_millis();
        Ok(Entity {
            id: id.to_string(),
            entity_type: entity_type.to_string(),
            data,
            created_at: now,
            updated_at: now,
        })
    }

    /// `current` with `data`, checked as any update is.
    async fn updated(&self, mut current: Entity, data: Value) -> Result<Entity, HostError> {
        check_entity(&current.id, &current.entity_type, &data)?;
        self.check_fields(&current.entity_type, &data, Some(&current.data)).await?;
        current.data = data;
        // Always later than the version replaced, even within a millisecond
        // or on a node whose clock is behind: plugins' writes check it.
        current.updated_at = now_millis().max(current.updated_at.saturating_add(1));
        Ok(current)
    }

    /// Replaces an entity's data and fires `on-entity-updated`.
    pub(crate) async fn update(self: &Arc<Self>, id: &str, data: Value) -> Result<EntityWrite, HostError> {
        let current = in_place(|| self.get(id))?.ok_or_else(|| HostError::EntityNotFound(id.to_string()))?;
        let entity = self.updated(current, data).await?;
        let plugins = self.invoker.registry.hook_plugins();
        let deliveries = self.deliveries(&plugins);
        let Some(ids) = in_place(|| self.backend().entities.update(&entity, &deliveries))? else {
            return Err(HostError::EntityNotFound(id.to_string()));
        };
        Ok(self.fan_out(EntityEvent::Updated, entity, &plugins, ids).await)
    }

    /// Deletes an entity and fires `on-entity-deleted`.
    pub(crate) async fn delete(self: &Arc<Self>, id: &str) -> Result<EntityWrite, HostError> {
        let plugins = self.invoker.registry.hook_plugins();
        let deliveries = self.deliveries(&plugins);
        let (entity, ids) = in_place(|| self.backend().entities.delete(id, &deliveries))?
            .ok_or_else(|| HostError::EntityNotFound(id.to_string()))?;
        Ok(self.fan_out(EntityEvent::Deleted, entity, &plugins, ids).await)
    }

    /// The most recent hook outcomes (up to 1,000), oldest first.
    pub(crate) fn hook_history(&self) -> Result<Vec<HookOutcome>, HostError> {
        Ok(self.backend().hooks.recent(HISTORY_SHOWN)?)
    }

    /// Hook outcomes from now on, as they happen.
    pub(crate) fn subscribe_hooks(&self) -> tokio::sync::broadcast::Receiver<HookOutcome> {
        self.hook_feed.subscribe()
    }

    /// Tells the live feed's subscribers of a settled hook (having none is
    /// fine: the feed is for whoever listens).
    fn announce_to_feed(&self, outcome: &HookOutcome) {
        let _ = self.hook_feed.send(outcome.clone());
    }

    /// This host's name in the outbox's leases and the node reports.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// The outbox entries a write adds for `plugins`, leased to this node
    /// for one short lease, which `fan_out` renews while the hooks run.
    fn deliveries(&self, plugins: &[Arc<LoadedPlugin>]) -> NewDeliveries {
        NewDeliveries {
            plugins: plugins.iter().map(|plugin| plugin.id().to_string()).collect(),
            node: self.node.clone(),
            lease: LEASE,
            chain: WriteChain::default(),
        }
    }

    /// Delivers a committed write's event to `plugins` (delivery `ids`, in
    /// the same order). Hooks run in turn on the writer's own task while
    /// each is quick ([`QUICK_HOOK`]): quick hooks are work for the CPU, and
    /// running them side by side only adds thread hand-offs (measured: ten
    /// quick hooks took a quarter longer). Once one is slow (still running
    /// when the timer fires, as a hook that sleeps or computes is, or found
    /// slow when it ends, as one that waited on the database is), the rest
    /// are spawned on the writer's runtime, [`HOOKS_AT_ONCE`] at a time,
    /// beside the slow one, so a slow hook does not delay the others.
    /// Where the backend commits together, a hook run in turn stops at its
    /// commit, which waits in the write's [`Gathering`] (for
    /// [`GATHERING_AT_MOST`] at most), and the write commits them all in one
    /// go once it has run them: ten quick hooks are then one SQLite
    /// transaction instead of ten. Outcomes come back in `plugins`' order.
    async fn fan_out(
        self: &Arc<Self>,
        event: EntityEvent,
        entity: Entity,
        plugins: &[Arc<LoadedPlugin>],
        ids: Vec<u64>,
    ) -> EntityWrite {
        let carried = Arc::new(Carried::Entity { event, entity: entity.clone() });
        let renewal = self.leases.hold(&ids);
        let mut waiting = plugins.iter().cloned().zip(ids.iter().copied()).enumerate();
        let mut delivered: Vec<Option<Delivered>> = Vec::new();
        delivered.resize_with(plugins.len(), || None);
        let mut settle = |index: usize, outcome: Delivered| {
            renewal.finished(ids[index]);
            delivered[index] = Some(outcome);
        };
        // The writer's runtime, or the host's under another executor.
        let runtime = tokio::runtime::Handle::try_current().unwrap_or_else(|_| self.invoker.runtime.clone());
        let mut running = Running::default();
        // The quick hooks' commits, made together once they have all run.
        let gathering = Arc::new(Gathering::new(self.backend().kv.commits_together()));
        let mut parked = Vec::new();
        let gathering_since = std::time::Instant::now();
        for (index, (plugin, id)) in waiting.by_ref() {
            let started = std::time::Instant::now();
            let parks = gathering.parks();
            let mut hook =
                Box::pin(gathering.around(self.clone().deliver_owned(plugin, id, carried.clone())));
            let timer = {
                let _host_timer = self.invoker.runtime.enter();
                tokio::time::sleep(QUICK_HOOK)
            };
            let ran = tokio::select! {
                biased;
                outcome = &mut hook => Ran::Ended(outcome),
                () = gathering.parked_beyond(parks) => Ran::Parked,
                () = timer => Ran::Slow,
            };
            match ran {
                Ran::Ended(outcome) => settle(index, outcome),
                // At its commit, which waits for the others'.
                Ran::Parked => parked.push((index, hook)),
                // Still running: it goes on beside the others.
                Ran::Slow => {
                    running.spawn(index, hook, &runtime);
                    break;
                }
            }
            // A parked call holds its call slot and its plugin's serial lock.
            let gathered_long = !parked.is_empty() && gathering_since.elapsed() > GATHERING_AT_MOST;
            if started.elapsed() > QUICK_HOOK || gathered_long {
                break;
            }
        }
        gathering.close_and_commit(&*self.backend().kv);
        self.top_up(&mut running, &mut waiting, &carried, &runtime);
        // The parked hooks are answered now (one whose commit conflicted
        // runs again) and end beside the spawned ones.
        let mut parked: futures_util::stream::FuturesUnordered<_> =
            parked.into_iter().map(|(index, hook)| async move { (index, hook.await) }).collect();
        loop {
            let (index, outcome) = tokio::select! {
                Some(ended) = parked.next() => ended,
                Some((index, outcome)) = running.next() => (index, outcome.unwrap_or_else(|| {
                    // Its task panicked: the delivery stays in the outbox, and
                    // its lease, no longer renewed, runs out for a later claim.
                    Delivered::Later(PendingHook {
                        plugin_id: plugins[index].id().to_string(),
                        reason: "the hook's task failed on this node; it is delivered again later".into(),
                    })
                })),
                else => break,
            };
            settle(index, outcome);
            self.top_up(&mut running, &mut waiting, &carried, &runtime);
        }
        let mut write = EntityWrite { entity, hooks: Vec::new(), pending: Vec::new() };
        for outcome in delivered.into_iter().flatten() {
            match outcome {
                Delivered::Done(outcome) => write.hooks.push(outcome),
                Delivered::Later(pending) => write.pending.push(pending),
                Delivered::Elsewhere => {}
            }
        }
        write
    }

    /// Spawns waiting deliveries until [`HOOKS_AT_ONCE`] run.
    fn top_up(
        self: &Arc<Self>,
        running: &mut Running,
        waiting: &mut impl Iterator<Item = (usize, (Arc<LoadedPlugin>, u64))>,
        carried: &Arc<Carried>,
        runtime: &tokio::runtime::Handle,
    ) {
        while running.len() < HOOKS_AT_ONCE
            && let Some((index, (plugin, id))) = waiting.next()
        {
            running.spawn(index, self.clone().deliver_owned(plugin, id, carried.clone()), runtime);
        }
    }

    /// [`Entities::deliver`] owning what it uses, to run as a task.
    async fn deliver_owned(
        self: Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        id: u64,
        carried: Arc<Carried>,
    ) -> Delivered {
        self.deliver(&plugin, id, &carried, 0, WriteChain::default()).await
    }
}

/// How a hook run in turn ended for now.
enum Ran {
    Ended(Delivered),
    /// Its call waits at its commit, in the write's gathering.
    Parked,
    /// Still running after [`QUICK_HOOK`].
    Slow,
}

/// A write's hooks running as tasks, each with its place in the write.
#[derive(Default)]
struct Running {
    tasks: tokio::task::JoinSet<Delivered>,
    places: std::collections::HashMap<tokio::task::Id, usize>,
}

impl Running {
    fn spawn(
        &mut self,
        index: usize,
        hook: impl std::future::Future<Output = Delivered> + Send + 'static,
        runtime: &tokio::runtime::Handle,
    ) {
        let task = self.tasks.spawn_on(hook, runtime);
        self.places.insert(task.id(), index);
    }

    fn len(&self) -> usize {
        self.tasks.len()
    }

    /// The next hook to end: its place, and its outcome (`None` if its task
    /// panicked).
    async fn next(&mut self) -> Option<(usize, Option<Delivered>)> {
        let (id, outcome) = match self.tasks.join_next_with_id().await? {
            Ok((id, outcome)) => (id, Some(outcome)),
            Err(failed) => (failed.id(), None),
        };
        Some((self.places.remove(&id)?, outcome))
    }
}

/// `.` and `..` cannot be used in a URL path segment (clients normalise them away).
fn is_dot_segment(text: &str) -> bool {
    text == "." || text == ".."
}

/// An entity type: 1 to 128 bytes of printable text, not `.` or `..`.
pub(crate) fn check_entity_type(entity_type: &str) -> Result<(), HostError> {
    if entity_type.is_empty()
        || entity_type.len() > 128
        || entity_type.chars().any(char::is_control)
        || is_dot_segment(entity_type)
    {
        return Err(HostError::InvalidEntity(
            "the entity type must be 1 to 128 bytes of printable text, and not `.` or `..`".into(),
        ));
    }
    Ok(())
}

fn check_entity(id: &str, entity_type: &str, data: &Value) -> Result<(), HostError> {
    check_entity_type(entity_type)?;
    let problem = if id.is_empty() || id.len() > 256 || is_dot_segment(id) || id.contains('\0') {
        "the id must be 1 to 256 bytes without NUL, and not `.` or `..`"
    } else if !data.is_object() {
        "the data must be a JSON object"
    } else if crate::types::contains_nul(data) {
        "the data must not contain NUL characters (\\u0000)"
    } else {
        return Ok(());
    };
    Err(HostError::InvalidEntity(problem.to_string()))
}

#[cfg(test)]
mod tests;
