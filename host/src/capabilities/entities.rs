//! `plinth:plugin/entities`: plugins read the application's entities with the
//! `entity_read` and `entity_list` grants and, from 0.3.0 (in development),
//! create, update and delete them with `entity_create`, `entity_update` and
//! `entity_delete` (each narrowed to entity types by the manifest's
//! `capabilities.entity_types`): through the host's own `Entities` part, so
//! field configurations check them and every plugin's hooks see them.
//!
//! Writes are bounded: [`MAX_WRITES_PER_CALL`] per call, and a chain of
//! hooks that write entities ends at [`MAX_CHAIN`] writes. A plugin making
//! a write (create, update, delete) of an entity that it made earlier in the
//! same chain is refused: it would run the same hooks round again (a cycle).

use super::{Caller, in_place, read_in_place};
use crate::GuestError;
use crate::bindings::plinth::plugin::{entities as wit, types};
use crate::entity_writes::{Entities, EntitiesHandle};
use crate::error::HostError;
use crate::manifest::HostFunction;
use crate::plugin_log::{LogLevel, LogSource};
use crate::store::{ChainLink, EntityStore, StoreError, WriteChain};
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

/// The most entities one call writes.
pub(crate) const MAX_WRITES_PER_CALL: usize = 100;

/// The most plugin writes in one chain of hooks: the application's write
/// (not counted), a hook's write, the hook that write runs, and so on.
pub(crate) const MAX_CHAIN: usize = 8;

/// The grant a write needs.
fn grant_of(write: EntityEvent) -> HostFunction {
    match write {
        EntityEvent::Created => HostFunction::EntityCreate,
        EntityEvent::Updated => HostFunction::EntityUpdate,
        EntityEvent::Deleted => HostFunction::EntityDelete,
    }
}

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

impl EntitiesView<'_> {
    /// Checks a plugin's write of entity `target` (of `entity_type`), whose
    /// grant [`grant_of`] was required already: the grant's entity types,
    /// the call's write budget and the chain it continues. The host's entity
    /// part and the chain the write's events carry, or the refusal (logged
    /// under the plugin's id).
    fn begin_write(
        &mut self,
        write: EntityEvent,
        entity_type: &str,
        target: &str,
    ) -> Result<(Arc<Entities>, WriteChain), GuestError> {
        let grant = grant_of(write);
        let plugin = self.caller.plugin.clone();
        let id = &plugin.id;
        if let Some(types) = plugin.entity_types.get(&grant).filter(|types| !types.contains(entity_type)) {
            let listed: Vec<&str> = types.iter().map(String::as_str).collect();
            let message = format!(
                "plugin `{id}` may {grant} only entities of type {}, not `{entity_type}`: add it to capabilities.entity_types.{grant} in plugin.json",
                listed.join(", ")
            );
            return Err(self.refuse(GuestError::Denied(message)));
        }
        if self.caller.entity_writes >= MAX_WRITES_PER_CALL {
            let message = format!(
                "plugin `{id}` already wrote {MAX_WRITES_PER_CALL} entities in this call, the most one call may"
            );
            return Err(self.refuse(GuestError::InvalidInput(message)));
        }
        let link = ChainLink { plugin: id.clone(), write, entity: target.to_string() };
        let chain = &self.caller.chain.0;
        let path = || {
            let links = chain.iter().map(|l| format!("{} {} {}", l.plugin, l.write.as_str(), l.entity));
            links.collect::<Vec<_>>().join(", then ")
        };
        if chain.contains(&link) {
            let message = format!(
                "plugin `{id}` already {} entity `{target}` earlier in this chain of hooks ({}): doing it again would run the same hooks round again, so it is refused as a cycle",
                write.as_str(),
                path()
            );
            return Err(self.refuse(GuestError::InvalidInput(message)));
        }
        if chain.len() >= MAX_CHAIN {
            let message = format!(
                "this chain of hooks already made {MAX_CHAIN} entity writes ({}), the most one chain may",
                path()
            );
            return Err(self.refuse(GuestError::InvalidInput(message)));
        }
        let entities = self
            .entities
            .get()
            .ok_or_else(|| GuestError::Internal("entity write did not run: the host is stopping".into()))?;
        let mut continued = self.caller.chain.clone();
        continued.0.push(link);
        self.caller.entity_writes += 1;
        Ok((entities, continued))
    }

    /// A refused write, logged under the plugin's id.
    fn refuse(&mut self, error: GuestError) -> GuestError {
        self.caller.log.push(LogLevel::Warn, LogSource::Host, error.message().to_string());
        error
    }

    /// The entity a write targets, read on the host's path.
    fn target(&mut self, id: &str) -> Result<Option<Entity>, GuestError> {
        in_place(|| self.store.get(id)).map_err(|e| self.caller.internal("entity write", e))
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
                Ok(Some(entity)) => Ok(entity.to_wit()),
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
        Ok(self.listing(query, "entity find", |store, query, deadline| {
            Ok(store.find(query, Some(deadline))?.iter().map(Entity::to_wit).collect())
        }))
    }

    async fn count(&mut self, query: wit::EntityQuery) -> wasmtime::Result<Result<u64, GuestError>> {
        Ok(self.listing(query, "entity count", |store, query, deadline| store.count(query, Some(deadline))))
    }

    /// Each write commits at once, with its hooks' deliveries; the hooks run
    /// after the call, from the outbox.
    async fn create(
        &mut self,
        entity_type: String,
        data: String,
    ) -> wasmtime::Result<Result<types::Entity, GuestError>> {
        if let Err(denied) = self.caller.require(grant_of(EntityEvent::Created)) {
            return Ok(Err(denied));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (entities, chain) = match self.begin_write(EntityEvent::Created, &entity_type, &id) {
            Ok(begun) => begun,
            Err(error) => return Ok(Err(error)),
        };
        let data = match serde_json::from_str(&data) {
            Ok(data) => data,
            Err(e) => return Ok(Err(GuestError::InvalidInput(format!("entity data is not JSON: {e}")))),
        };
        let created = entities.create_for_plugin(&id, &entity_type, data, chain).await;
        Ok(created.map(|entity| entity.to_wit()).map_err(guest_error))
    }

    async fn update(
        &mut self,
        id: String,
        data: String,
    ) -> wasmtime::Result<Result<types::Entity, GuestError>> {
        if let Err(denied) = self.caller.require(grant_of(EntityEvent::Updated)) {
            return Ok(Err(denied));
        }
        let entity_type = match self.target(&id) {
            Ok(Some(entity)) => entity.entity_type,
            Ok(None) => return Ok(Err(GuestError::NotFound(format!("no entity with id `{id}`")))),
            Err(error) => return Ok(Err(error)),
        };
        let (entities, chain) = match self.begin_write(EntityEvent::Updated, &entity_type, &id) {
            Ok(begun) => begun,
            Err(error) => return Ok(Err(error)),
        };
        let data = match serde_json::from_str(&data) {
            Ok(data) => data,
            Err(e) => return Ok(Err(GuestError::InvalidInput(format!("entity data is not JSON: {e}")))),
        };
        let updated = entities.update_for_plugin(&id, data, chain).await;
        Ok(updated.map(|entity| entity.to_wit()).map_err(guest_error))
    }

    async fn delete(&mut self, id: String) -> wasmtime::Result<Result<bool, GuestError>> {
        if let Err(denied) = self.caller.require(grant_of(EntityEvent::Deleted)) {
            return Ok(Err(denied));
        }
        let entity_type = match self.target(&id) {
            Ok(Some(entity)) => entity.entity_type,
            Ok(None) => return Ok(Ok(false)),
            Err(error) => return Ok(Err(error)),
        };
        let result =
            self.begin_write(EntityEvent::Deleted, &entity_type, &id).and_then(|(entities, chain)| {
                in_place(|| entities.delete_for_plugin(&id, chain))
                    .map_err(|e| self.caller.internal("entity delete", e))
            });
        Ok(result)
    }
}
