//! Entity writes a plugin makes (`entities.create`, `update`, `delete`,
//! from 0.3.0): checked when made, as the application's own writes are, and
//! left as [`EntityChange`]s for the call's commit, which applies them with
//! the call's storage changes (both or neither). Messages it publishes
//! (`messages.publish`) are left the same way, as [`MessageChange`]s, one
//! delivery per subscriber. Their deliveries are due at once and carry the
//! chain of writes and messages that led to them.

use super::Entities;
use crate::error::HostError;
use crate::plugin_log::now_millis;
use crate::store::{EntityChange, MessageChange, NewDeliveries, WriteChain};
use crate::types::{Entity, EntityEvent, Message};
use serde_json::Value;
use std::time::Duration;

impl Entities {
    /// The deliveries of a plugin's write (`entities.create`, `update`,
    /// `delete`, from a capability view): due at once, for whichever node's
    /// delivery loop claims them first, and carrying the write's `chain`.
    /// The hooks run after the plugin's call, so one never runs inside another.
    fn due_now(&self, chain: WriteChain) -> NewDeliveries {
        let plugins = self.invoker.registry.hook_plugins();
        NewDeliveries { lease: Duration::ZERO, chain, ..self.deliveries(&plugins) }
    }

    /// A plugin's create of entity `id`, checked as the host's own is and
    /// left for the call's commit.
    pub(crate) async fn plan_create(
        &self,
        id: &str,
        entity_type: &str,
        data: Value,
        chain: WriteChain,
    ) -> Result<EntityChange, HostError> {
        let entity = self.new_entity(id, entity_type, data).await?;
        Ok(EntityChange { write: EntityEvent::Created, entity, seen: None, deliveries: self.due_now(chain) })
    }

    /// A plugin's update of `current`, checked as the host's own is and left
    /// for the call's commit.
    /// It applies only to the entity as it was at `seen` (its `updated_at`).
    pub(crate) async fn plan_update(
        &self,
        current: Entity,
        seen: u64,
        data: Value,
        chain: WriteChain,
    ) -> Result<EntityChange, HostError> {
        let seen = Some(seen);
        let entity = self.updated(current, data).await?;
        Ok(EntityChange { write: EntityEvent::Updated, entity, seen, deliveries: self.due_now(chain) })
    }

    /// A plugin's delete of `current`, as it was at `seen`, left for the
    /// call's commit.
    pub(crate) fn plan_delete(&self, current: Entity, seen: u64, chain: WriteChain) -> EntityChange {
        let seen = Some(seen);
        EntityChange { write: EntityEvent::Deleted, entity: current, seen, deliveries: self.due_now(chain) }
    }

    /// `publisher`'s message on `topic`, checked by the capability, for
    /// each plugin here that subscribes to it, left for the call's commit.
    pub(crate) fn plan_message(
        &self,
        publisher: &str,
        topic: String,
        payload: String,
        chain: WriteChain,
    ) -> MessageChange {
        let subscribers = self.invoker.registry.subscribers(&topic);
        let deliveries = NewDeliveries { lease: Duration::ZERO, chain, ..self.deliveries(&subscribers) };
        let id = crate::types::new_id();
        let message =
            Message { id, topic, publisher: publisher.to_string(), payload, published_at: now_millis() };
        MessageChange { message, deliveries }
    }

    /// Whether the database adds messages' deliveries in their call's
    /// commit (a backend of the embedder's own may not).
    pub(crate) fn commits_messages(&self) -> bool {
        self.backend().kv.commits_messages()
    }

    /// Whether the database commits plugins' entity writes with their
    /// storage (a backend of the embedder's own may not).
    pub(crate) fn commits_plugin_writes(&self) -> bool {
        self.backend().kv.commits_entity_writes()
    }
}
