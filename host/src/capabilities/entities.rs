//! `plinth:plugin/entities`: plugins read the application's entities with the
//! `entity_read` and `entity_list` grants and, from 0.3.0,
//! create, update and delete them with `entity_create`, `entity_update` and
//! `entity_delete` (each narrowed to entity types by the manifest's
//! `capabilities.entity_types`): through the host's own `Entities` part, so
//! field configurations check them and every plugin's hooks see them.
//!
//! A call's writes commit with its storage changes, both or neither, so a
//! call that fails, or runs again after a conflict, has written nothing.
//! Only routes, hooks, jobs and `on-message` write. Writes are bounded:
//! [`MAX_WRITES_PER_CALL`] per call, and as steps of a chain of hooks
//! (`chain.rs`: its length, its cycles, and the budget of its whole tree).

use super::chain::PerCall;
use super::{Caller, PluginContext, in_place, read_in_place};
use crate::GuestError;
use crate::bindings::plinth::plugin::{entities as wit, types};
use crate::entity_writes::{Entities, EntitiesHandle};
use crate::error::HostError;
use crate::manifest::HostFunction;
use crate::store::{ChainLink, EntityChange, EntityStore, StoreError, WriteChain};
use crate::types::{Entity, EntityEvent, EntityQuery};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{HasData, Linker};

/// What an entities call sees: the caller, the entity store, and the
/// host's `Entities` part, for writes.
pub(crate) struct EntitiesView<'a> {
    pub caller: &'a mut Caller,
    pub store: &'a Arc<dyn EntityStore>,
    pub entities: &'a EntitiesHandle,
}

struct HasEntities;

impl HasData for HasEntities {
    type Data<'a> = EntitiesView<'a>;
}

pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> EntitiesView<'_>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasEntities>(linker, get)
}

fn query_of(query: wit::EntityQuery) -> Result<EntityQuery, GuestError> {
    let query = EntityQuery {
        entity_type: query.entity_type,
        filters: query.filters.into_iter().map(|f| (f.field, f.value)).collect(),
        limit: query.limit,
        offset: query.offset,
    };
    query.check().map_err(GuestError::InvalidInput)?;
    Ok(query)
}

/// The most entities one call writes itself.
pub(crate) const MAX_WRITES_PER_CALL: usize = 100;

/// A host-side failure of a plugin's write, as the guest sees it.
fn guest_error(error: HostError) -> GuestError {
    match error {
        HostError::EntityNotFound(_) => GuestError::NotFound(error.to_string()),
        HostError::Store(_) | HostError::DataDir { .. } | HostError::Engine(_) => {
            GuestError::Internal(format!("entity write failed in the host: {error}"))
        }
        _ => GuestError::InvalidInput(error.to_string()),
    }
}

/// A write's data, a JSON object as text.
fn data_of(data: &str) -> Result<serde_json::Value, GuestError> {
    serde_json::from_str(data).map_err(|e| GuestError::InvalidInput(format!("entity data is not JSON: {e}")))
}

/// The grant a write needs.
fn grant_of(write: EntityEvent) -> HostFunction {
    match write {
        EntityEvent::Created => HostFunction::EntityCreate,
        EntityEvent::Updated => HostFunction::EntityUpdate,
        EntityEvent::Deleted => HostFunction::EntityDelete,
    }
}

/// Whether a plugin holds any entity write grant.
pub(crate) fn writes_entities(plugin: &PluginContext) -> bool {
    [EntityEvent::Created, EntityEvent::Updated, EntityEvent::Deleted]
        .into_iter()
        .any(|write| plugin.grants.contains(&grant_of(write)))
}

impl EntitiesView<'_> {
    /// Checks a plugin's write of entity `target`, whose grant [`grant_of`]
    /// was required already, as a step of its chain
    /// ([`Caller::continue_chain`](super::Caller::continue_chain)): the host's
    /// entity part and the chain the write's events carry, or the refusal.
    fn begin_write(
        &mut self,
        write: EntityEvent,
        target: &str,
    ) -> Result<(Arc<Entities>, WriteChain), GuestError> {
        self.may_write()?;
        let entities = self.entities()?;
        let link = ChainLink {
            plugin: self.caller.plugin.id.clone(),
            write: write.into(),
            entity: target.to_string(),
        };
        let taken = self.caller.entity_changes.len();
        let per_call = PerCall { taken, most: MAX_WRITES_PER_CALL, verb: "wrote", noun: "entities" };
        Ok((entities, self.caller.continue_chain(link, per_call)?))
    }

    /// Refuses a write from a call that may not write: loading and widgets
    /// (whose calls run inside other writes' field checks).
    fn may_write(&mut self) -> Result<(), GuestError> {
        if self.caller.chain.is_some() {
            return Ok(());
        }
        let message = format!(
            "plugin `{}` may write entities only from its routes, hooks, jobs and on-message, not while loading or from a widget",
            self.caller.plugin.id
        );
        Err(self.refuse(GuestError::Denied(message)))
    }

    /// The host's entity part, if it is running and its database commits
    /// plugins' entity writes with their storage.
    fn entities(&mut self) -> Result<Arc<Entities>, GuestError> {
        let entities = self
            .entities
            .get()
            .ok_or_else(|| GuestError::Internal("entity write did not run: the host is stopping".into()))?;
        if !entities.commits_plugin_writes() {
            let message = "this application's database does not commit plugins' entity writes".to_string();
            return Err(self.refuse(GuestError::Denied(message)));
        }
        Ok(entities)
    }

    /// Whether the manifest's `entity_types` lets `write` touch `entity_type`.
    fn type_allowed(&self, write: EntityEvent, entity_type: &str) -> bool {
        let types = self.caller.plugin.entity_types.get(&grant_of(write));
        types.is_none_or(|types| types.contains(entity_type))
    }

    fn refuse(&mut self, error: GuestError) -> GuestError {
        self.caller.refuse(error)
    }

    /// The entity an update or delete targets, with the version the write
    /// applies to: as this call's own writes left it, else as stored, at the
    /// version the call first read (a write by another call since then makes
    /// the commit conflict, and the call runs again). None when it does not
    /// exist or is of a type the plugin may not `write` (so an ungranted type
    /// is not told from a missing entity).
    fn target(&mut self, write: EntityEvent, id: &str) -> Result<Option<(Entity, u64)>, GuestError> {
        let own = self.caller.entity_changes.iter().rev().find(|change| change.entity.id == id);
        let own = own.map(|change| (change.write != EntityEvent::Deleted).then(|| change.entity.clone()));
        let found = match &own {
            Some(own) => own.clone(),
            None => in_place(|| self.store.get(id)).map_err(|e| self.caller.internal("entity write", e))?,
        };
        match found {
            Some(entity) if !self.type_allowed(write, &entity.entity_type) => {
                self.type_refused(write, None);
                Ok(None)
            }
            Some(entity) => {
                let read_first = own.is_none().then(|| self.caller.entities_read.get(id).copied()).flatten();
                let seen = read_first.unwrap_or(entity.updated_at);
                Ok(Some((entity, seen)))
            }
            None => Ok(None),
        }
    }

    /// Logs and counts a write of a type the manifest does not list; the
    /// refusal a create answers (`type_named`: the type it asked for).
    fn type_refused(&mut self, write: EntityEvent, type_named: Option<&str>) -> GuestError {
        self.caller.plugin.health.denied();
        let grant = grant_of(write);
        let mut message = format!(
            "plugin `{}` may {} only entities of the types in capabilities.entity_types.{grant}",
            self.caller.plugin.id,
            grant.name().trim_start_matches("entity_")
        );
        if let Some(entity_type) = type_named {
            message.push_str(&format!(", not `{entity_type}`"));
        }
        self.refuse(GuestError::Denied(message))
    }

    /// Keeps a planned write for the call's commit, or answers why not.
    fn keep(&mut self, planned: Result<EntityChange, HostError>) -> Result<Entity, GuestError> {
        let change = planned.map_err(guest_error)?;
        let entity = change.entity.clone();
        self.caller.entity_changes.push(change);
        Ok(entity)
    }

    /// Remembers the version of an entity the call read, which its update
    /// or delete of that entity then applies to; only for calls that may write.
    fn remember_read(&mut self, entity: &Entity) {
        if self.caller.chain.is_some() && writes_entities(&self.caller.plugin) {
            self.caller.entities_read.entry(entity.id.clone()).or_insert(entity.updated_at);
        }
    }

    /// Each write is checked now (grant, phase, types, field configuration,
    /// chain) and committed with the call's storage changes, both or
    /// neither; the hooks run after the call, from the outbox.
    async fn create_entity(&mut self, entity_type: &str, data: &str) -> Result<Entity, GuestError> {
        self.caller.require(grant_of(EntityEvent::Created))?;
        self.may_write()?;
        if !self.type_allowed(EntityEvent::Created, entity_type) {
            return Err(self.type_refused(EntityEvent::Created, Some(entity_type)));
        }
        let data = data_of(data)?;
        let id = crate::types::new_id();
        let (entities, chain) = self.begin_write(EntityEvent::Created, &id)?;
        self.keep(entities.plan_create(&id, entity_type, data, chain).await)
    }

    async fn update_entity(&mut self, id: &str, data: &str) -> Result<Entity, GuestError> {
        self.caller.require(grant_of(EntityEvent::Updated))?;
        self.may_write()?;
        let data = data_of(data)?;
        let Some((current, seen)) = self.target(EntityEvent::Updated, id)? else {
            return Err(GuestError::NotFound(format!("no entity with id `{id}`")));
        };
        let (entities, chain) = self.begin_write(EntityEvent::Updated, id)?;
        self.keep(entities.plan_update(current, seen, data, chain).await)
    }

    /// Whether the entity existed (as far as the plugin may know).
    fn delete_entity(&mut self, id: &str) -> Result<bool, GuestError> {
        self.caller.require(grant_of(EntityEvent::Deleted))?;
        self.may_write()?;
        let Some((current, seen)) = self.target(EntityEvent::Deleted, id)? else {
            return Ok(false);
        };
        let (entities, chain) = self.begin_write(EntityEvent::Deleted, id)?;
        self.keep(Ok(entities.plan_delete(current, seen, chain))).map(|_| true)
    }

    /// Runs a query, stopped by the backend at the call's deadline, so a slow
    /// query holds the database no longer than the call may run.
    fn listing<R>(
        &mut self,
        query: wit::EntityQuery,
        operation: &str,
        run: impl Fn(&dyn EntityStore, &EntityQuery, Instant) -> Result<R, StoreError>,
    ) -> Result<R, GuestError> {
        self.caller.require(HostFunction::EntityList)?;
        let query = query_of(query)?;
        let (store, deadline) = (&**self.store, self.caller.deadline);
        let result = read_in_place(self.caller, HostFunction::EntityList, store.reads_in_place(), || {
            run(store, &query, deadline)
        });
        result.map_err(|e| self.caller.internal(operation, e))
    }
}

impl wit::Host for EntitiesView<'_> {
    async fn read(&mut self, id: String) -> wasmtime::Result<Result<types::Entity, GuestError>> {
        let result = self.caller.require(HostFunction::EntityRead).and_then(|()| {
            match read_in_place(self.caller, HostFunction::EntityRead, self.store.reads_in_place(), || {
                self.store.get(&id)
            }) {
                Ok(Some(entity)) => {
                    self.remember_read(&entity);
                    Ok(entity.to_wit())
                }
                Ok(None) => Err(GuestError::NotFound(format!("no entity with id `{id}`"))),
                Err(e) => Err(self.caller.internal("entity read", e)),
            }
        });
        Ok(result)
    }

    async fn find(
        &mut self,
        query: wit::EntityQuery,
    ) -> wasmtime::Result<Result<Vec<types::Entity>, GuestError>> {
        let found =
            self.listing(query, "entity find", |store, query, deadline| store.find(query, Some(deadline)));
        Ok(found.map(|entities| {
            for entity in &entities {
                self.remember_read(entity);
            }
            entities.iter().map(Entity::to_wit).collect()
        }))
    }

    async fn count(&mut self, query: wit::EntityQuery) -> wasmtime::Result<Result<u64, GuestError>> {
        Ok(self.listing(query, "entity count", |store, query, deadline| store.count(query, Some(deadline))))
    }

    async fn create(
        &mut self,
        entity_type: String,
        data: String,
    ) -> wasmtime::Result<Result<types::Entity, GuestError>> {
        Ok(self.create_entity(&entity_type, &data).await.map(|entity| entity.to_wit()))
    }

    async fn update(
        &mut self,
        id: String,
        data: String,
    ) -> wasmtime::Result<Result<types::Entity, GuestError>> {
        Ok(self.update_entity(&id, &data).await.map(|entity| entity.to_wit()))
    }

    async fn delete(&mut self, id: String) -> wasmtime::Result<Result<bool, GuestError>> {
        Ok(self.delete_entity(&id))
    }
}
