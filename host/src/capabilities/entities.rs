//! `plinth:plugin/entities`: plugins read the application's entities with the
//! `entity_read` and `entity_list` grants and, from 0.3.0 (in development),
//! delete them with `entity_delete`: through the host's own `Entities` part,
//! so every plugin's hooks see the delete.

use super::{Caller, in_place, read_in_place};
use crate::GuestError;
use crate::bindings::plinth::plugin::{entities as wit, types};
use crate::entity_writes::EntitiesHandle;
use crate::manifest::HostFunction;
use crate::store::{EntityStore, StoreError};
use crate::types::{Entity, EntityQuery};
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

impl EntitiesView<'_> {
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

    /// Commits at once, with the hooks' deliveries; the hooks run after the
    /// call, from the outbox (so a hook's delete never runs hooks inside it).
    async fn delete(&mut self, id: String) -> wasmtime::Result<Result<bool, GuestError>> {
        let result = self.caller.require(HostFunction::EntityDelete).and_then(|()| {
            let entities = self.entities.get().ok_or_else(|| {
                GuestError::Internal("entity delete did not run: the host is stopping".into())
            })?;
            in_place(|| entities.delete_for_plugin(&id)).map_err(|e| self.caller.internal("entity delete", e))
        });
        Ok(result)
    }
}
