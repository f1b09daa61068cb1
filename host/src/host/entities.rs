//! Entities as the embedding API offers them: reads, writes that fire hooks,
//! the outbox, and field configurations. Each method hands its work to the
//! `Entities` part (`crate::entity_writes`), which owns it.

use super::Host;
use crate::entity_writes::EntityWrite;
use crate::error::HostError;
use crate::field_config::FieldConfig;
use crate::types::{Entity, EntityQuery, HookOutcome};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

impl Host {
    /// One entity.
    pub fn entity(&self, id: &str) -> Result<Option<Entity>, HostError> {
        self.entities.get(id)
    }

    /// The entities matching `query`, oldest first.
    pub fn entities(&self, query: &EntityQuery) -> Result<Vec<Entity>, HostError> {
        self.entities.find(query)
    }

    /// How many entities match `query` (limit and offset ignored).
    pub fn count_entities(&self, query: &EntityQuery) -> Result<u64, HostError> {
        self.entities.count(query)
    }

    /// Creates an entity with a generated id (a time-ordered UUID, version
    /// 7) and fires `on-entity-created`, from code without an async runtime (see [`Host::create_entity_async`]).
    pub fn create_entity(&self, entity_type: &str, data: Value) -> Result<EntityWrite, HostError> {
        self.block_on(self.create_entity_async(None, entity_type, data))
    }

    /// Creates an entity with the given id and fires `on-entity-created`.
    pub fn create_entity_with_id(
        &self,
        id: &str,
        entity_type: &str,
        data: Value,
    ) -> Result<EntityWrite, HostError> {
        self.block_on(self.create_entity_async(Some(id), entity_type, data))
    }

    /// Replaces an entity's data and fires `on-entity-updated`.
    pub fn update_entity(&self, id: &str, data: Value) -> Result<EntityWrite, HostError> {
        self.block_on(self.update_entity_async(id, data))
    }

    /// Deletes an entity and fires `on-entity-deleted`.
    pub fn delete_entity(&self, id: &str) -> Result<EntityWrite, HostError> {
        self.block_on(self.delete_entity_async(id))
    }

    /// Creates an entity (with a generated id when `id` is `None`) and fires
    /// `on-entity-created`.
    pub async fn create_entity_async(
        &self,
        id: Option<&str>,
        entity_type: &str,
        data: Value,
    ) -> Result<EntityWrite, HostError> {
        self.entities.create(id, entity_type, data).await
    }

    /// Stores a new entity (with a generated id when `id` is `None`) without
    /// firing any hook: for importing existing records and for a test's
    /// setup. Checked exactly as a create is (field configurations included).
    pub fn import_entity(
        &self,
        id: Option<&str>,
        entity_type: &str,
        data: Value,
    ) -> Result<Entity, HostError> {
        self.block_on(self.entities.import(id, entity_type, data))
    }

    /// Replaces an entity's data and fires `on-entity-updated`.
    pub async fn update_entity_async(&self, id: &str, data: Value) -> Result<EntityWrite, HostError> {
        self.entities.update(id, data).await
    }

    /// Deletes an entity and fires `on-entity-deleted`.
    pub async fn delete_entity_async(&self, id: &str) -> Result<EntityWrite, HostError> {
        self.entities.delete(id).await
    }

    /// The most recent hook outcomes (up to 1,000), oldest first.
    pub fn hook_history(&self) -> Result<Vec<HookOutcome>, HostError> {
        self.entities.hook_history()
    }

    /// Hook outcomes from now on, as they happen (a console's live view).
    /// A subscriber that falls more than 1,024 behind gets
    /// `RecvError::Lagged` and goes on from the newest.
    pub fn subscribe_hooks(&self) -> tokio::sync::broadcast::Receiver<HookOutcome> {
        self.entities.subscribe_hooks()
    }

    /// This host's name in the outbox's leases: unique per opened host.
    pub fn node_id(&self) -> &str {
        self.entities.node()
    }

    /// Hook deliveries waiting in the outbox (leased or not), on every node
    /// sharing the database.
    pub fn pending_deliveries(&self) -> Result<u64, HostError> {
        self.entities.pending_deliveries()
    }

    /// Claims the due deliveries (left by a node that died, or put back) of
    /// the plugins loaded here, up to 8, and delivers them one after the
    /// other; how many it claimed. Embedders that do not run
    /// [`Host::start_background`] call this themselves, for instance once
    /// after loading their plugins.
    pub async fn deliver_due(&self) -> Result<usize, HostError> {
        self.entities.deliver_due().await
    }

    /// One round of the delivery loop (`Host::start_background`): reads the
    /// switches again (those made on other nodes take effect here within a
    /// round), then delivers due deliveries until fewer than a batch are due.
    pub(crate) async fn deliver_round(self: Arc<Self>) {
        let refresh = self.clone();
        if let Ok(Err(error)) = self.invoker.runtime.spawn_blocking(move || refresh.refresh_switches()).await
        {
            tracing::warn!("reading which plugins are switched off failed: {error}");
        }
        self.entities.deliver_all_due().await;
    }

    /// Every entity type's field configuration (those with fields).
    pub fn field_configs(&self) -> Result<BTreeMap<String, FieldConfig>, HostError> {
        self.entities.field_configs()
    }

    /// The field configuration of one entity type (empty when none is stored).
    pub fn field_config(&self, entity_type: &str) -> Result<FieldConfig, HostError> {
        self.entities.field_config(entity_type)
    }

    /// Saves the field configuration (the template) of `entity_type`; one
    /// without fields removes it (its version is kept, so an editor holding
    /// an older one still gets a conflict). With a `version`, only if that is
    /// still the stored one's; without, over whatever is stored. Answers what
    /// was stored, with its new version.
    pub fn set_field_config(
        &self,
        entity_type: &str,
        config: &FieldConfig,
    ) -> Result<FieldConfig, HostError> {
        self.entities.set_field_config(entity_type, config)
    }
}
