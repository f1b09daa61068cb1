//! Entities in PostgreSQL: one row each, the data as `jsonb`. A filter's
//! field path is a `text[]` parameter of `data #> …`, so no text from a query
//! reaches the SQL itself. A query with a deadline that passes is cancelled
//! in the server (PostgreSQL's cancel request), so the server stops a slow
//! query and releases what it held; a quick one costs a single statement.

use super::{Error, Postgres, fail, outbox, to_i64, to_u64};
use crate::store::{EntityChange, EntityStore, NewDeliveries, StoreError};
use crate::types::{Entity, EntityEvent, EntityQuery, field_path};
use deadpool_postgres::{GenericClient, Pool};
use std::time::Instant;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Parameters built on the caller's thread and moved to the runtime.
type Params = Vec<Box<dyn ToSql + Send + Sync>>;

/// The WHERE clause of `query` and its parameters. A filter matches, as in
/// SQLite, a string by its text, a number by its JSON text (`3`, `2.5`) and
/// a boolean by `true` or `false`; null, objects, arrays and missing fields
/// never match.
fn where_clause(query: &EntityQuery) -> Result<(String, Params), String> {
    let mut conditions = Vec::new();
    let mut values: Params = Vec::new();
    if let Some(entity_type) = &query.entity_type {
        values.push(Box::new(entity_type.clone()));
        conditions.push(format!("entity_type = ${}", values.len()));
    }
    for (field, value) in &query.filters {
        // `stats.level` → `data -> 'stats' -> 'level'`: each step a text key
        // (a parameter), which never indexes an array, as in SQLite.
        let mut field_value = String::from("data");
        for segment in field_path(field)? {
            values.push(Box::new(segment.to_owned()));
            field_value.push_str(&format!(" -> ${}::text", values.len()));
        }
        values.push(Box::new(value.clone()));
        conditions.push(format!(
            "(jsonb_typeof({field_value}) IN ('string', 'number', 'boolean') AND ({field_value}) #>> '{{}}' = ${}::text)",
            values.len()
        ));
    }
    let sql =
        if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    Ok((sql, values))
}

fn from_row(row: &Row) -> Result<Entity, Error> {
    Ok(Entity {
        id: row.try_get(0)?,
        entity_type: row.try_get(1)?,
        data: row.try_get(2)?,
        created_at: to_u64(row.try_get(3)?)?,
        updated_at: to_u64(row.try_get(4)?)?,
    })
}

/// Runs a SELECT. With a deadline: waits for a connection no longer than
/// the time left, and when the deadline passes before the answer, cancels
/// the query in the server (over `tls`, as the connection was made).
async fn select(
    pool: Pool,
    tls: MakeRustlsConnect,
    sql: String,
    params: Params,
    deadline: Option<Instant>,
) -> Result<Vec<Row>, Error> {
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    let Some(deadline) = deadline else {
        let client = pool.get().await?;
        let statement = client.prepare_cached(&sql).await?;
        return Ok(client.query(&statement, &refs).await?);
    };
    let mut timeouts = pool.timeouts();
    let waiting = deadline.saturating_duration_since(Instant::now());
    timeouts.wait = Some(timeouts.wait.map_or(waiting, |wait| wait.min(waiting)));
    let client = pool.timeout_get(&timeouts).await?;
    let answer = tokio::time::timeout_at(deadline.into(), async {
        let statement = client.prepare_cached(&sql).await?;
        client.query(&statement, &refs).await
    })
    .await;
    match answer {
        Ok(rows) => Ok(rows?),
        Err(_) => {
            // A cancel request reaches whatever the connection runs when it
            // arrives, which could be its next user's query if this one
            // ended meanwhile: the connection leaves the pool and closes
            // once the cancel is sent (by a task of its own, so the caller
            // is answered at its deadline). A cancel that fails is logged:
            // the query then runs to its end, holding only what a read holds.
            let client = deadpool_postgres::Object::take(client);
            tokio::spawn(async move {
                if let Err(error) = client.cancel_token().cancel_query(tls).await {
                    tracing::warn!("cancelling a query past its deadline failed: {error}");
                }
            });
            Err(Error::Deadline)
        }
    }
}

/// [`Error::Deadline`] as `operation`'s error when `deadline` has passed:
/// such a query is refused before it is sent.
fn passed(operation: &'static str, deadline: Option<Instant>) -> Result<(), StoreError> {
    match deadline {
        Some(deadline) if Instant::now() >= deadline => Err(fail(operation)(Error::Deadline)),
        _ => Ok(()),
    }
}

/// A query the caller should have checked; refused here all the same.
fn invalid(problem: String) -> StoreError {
    StoreError::Failed { operation: "querying entities", message: problem }
}

impl EntityStore for Postgres {
    fn get(&self, id: &str) -> Result<Option<Entity>, StoreError> {
        let id = id.to_owned();
        self.run("reading an entity", move |pool| async move {
            let client = pool.get().await?;
            let statement = client
                .prepare_cached(
                    "SELECT id, entity_type, data, created_at, updated_at FROM entities WHERE id = $1",
                )
                .await?;
            client.query_opt(&statement, &[&id]).await?.as_ref().map(from_row).transpose()
        })
    }

    fn find(&self, query: &EntityQuery, deadline: Option<Instant>) -> Result<Vec<Entity>, StoreError> {
        const OPERATION: &str = "querying entities";
        let (clause, mut params) = where_clause(query).map_err(invalid)?;
        let (limit, offset) = (params.len() + 1, params.len() + 2);
        // `LIMIT NULL` is no limit.
        params.push(Box::new(query.limit.map(i64::from)));
        params.push(Box::new(i64::from(query.offset)));
        let sql = format!(
            "SELECT id, entity_type, data, created_at, updated_at FROM entities {clause}
             ORDER BY created_at, seq LIMIT ${limit} OFFSET ${offset}"
        );
        passed(OPERATION, deadline)?;
        let tls = self.tls.clone();
        self.run(OPERATION, move |pool| async move {
            select(pool, tls, sql, params, deadline).await?.iter().map(from_row).collect()
        })
    }

    fn count(&self, query: &EntityQuery, deadline: Option<Instant>) -> Result<u64, StoreError> {
        const OPERATION: &str = "counting entities";
        let (clause, params) = where_clause(query).map_err(invalid)?;
        let sql = format!("SELECT COUNT(*) FROM entities {clause}");
        passed(OPERATION, deadline)?;
        let tls = self.tls.clone();
        self.run(OPERATION, move |pool| async move {
            let rows = select(pool, tls, sql, params, deadline).await?;
            let row = rows.first().ok_or_else(|| Error::Invalid("COUNT(*) returned no row".into()))?;
            to_u64(row.try_get(0)?)
        })
    }

    fn insert(&self, entity: &Entity, deliveries: &NewDeliveries) -> Result<Option<Vec<u64>>, StoreError> {
        let (entity, deliveries) = (entity.clone(), deliveries.clone());
        self.run("creating an entity", move |pool| async move {
            insert_in(&pool.get().await?, &entity, &deliveries).await
        })
    }

    fn update(&self, entity: &Entity, deliveries: &NewDeliveries) -> Result<Option<Vec<u64>>, StoreError> {
        let (entity, deliveries) = (entity.clone(), deliveries.clone());
        self.run("updating an entity", move |pool| async move {
            update_in(&pool.get().await?, &entity, None, &deliveries).await
        })
    }

    fn delete(&self, id: &str, deliveries: &NewDeliveries) -> Result<Option<(Entity, Vec<u64>)>, StoreError> {
        let (id, deliveries) = (id.to_owned(), deliveries.clone());
        self.run("deleting an entity", move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let deleted = delete_in(&transaction, &id, None, &deliveries).await?;
            transaction.commit().await?;
            Ok(deleted)
        })
    }
}

/// Applies a plugin's entity write inside the open `transaction`: whether
/// it found its entity as the plugin saw it (a create, whether the id was free).
pub(super) async fn apply_change(
    transaction: &impl GenericClient,
    change: &EntityChange,
) -> Result<bool, Error> {
    let (entity, seen, deliveries) = (&change.entity, change.seen, &change.deliveries);
    Ok(match change.write {
        EntityEvent::Created => insert_in(transaction, entity, deliveries).await?.is_some(),
        EntityEvent::Updated => update_in(transaction, entity, seen, deliveries).await?.is_some(),
        EntityEvent::Deleted => delete_in(transaction, &entity.id, seen, deliveries).await?.is_some(),
    })
}

/// Adds an entity and its `created` deliveries in one statement on
/// `client` (a connection or an open transaction); `None` when the id is taken.
pub(super) async fn insert_in(
    client: &impl GenericClient,
    entity: &Entity,
    deliveries: &NewDeliveries,
) -> Result<Option<Vec<u64>>, Error> {
    let (created_at, updated_at) = (to_i64(entity.created_at)?, to_i64(entity.updated_at)?);
    let params: [&(dyn ToSql + Sync); 5] =
        [&entity.id, &entity.entity_type, &entity.data, &created_at, &updated_at];
    outbox::write_with_deliveries(
        client,
        "INSERT INTO entities (id, entity_type, data, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING id",
        &params,
        EntityEvent::Created,
        entity,
        deliveries,
    )
    .await
}

/// Replaces an entity's data and adds its `updated` deliveries in one
/// statement on `client`; `None` when it does not exist (or, given `seen`,
/// was written since it had that `updated_at`).
pub(super) async fn update_in(
    client: &impl GenericClient,
    entity: &Entity,
    seen: Option<u64>,
    deliveries: &NewDeliveries,
) -> Result<Option<Vec<u64>>, Error> {
    let (updated_at, seen) = (to_i64(entity.updated_at)?, seen.map(to_i64).transpose()?);
    outbox::write_with_deliveries(
        client,
        "UPDATE entities SET data = $2, updated_at = $3
         WHERE id = $1 AND ($4::bigint IS NULL OR updated_at = $4) RETURNING id",
        &[&entity.id, &entity.data, &updated_at, &seen],
        EntityEvent::Updated,
        entity,
        deliveries,
    )
    .await
}

/// Removes an entity and adds its `deleted` deliveries inside the open
/// `transaction`: the entity as it was, or `None` when it did not exist
/// (or, given `seen`, was written since it had that `updated_at`).
pub(super) async fn delete_in(
    transaction: &impl GenericClient,
    id: &str,
    seen: Option<u64>,
    deliveries: &NewDeliveries,
) -> Result<Option<(Entity, Vec<u64>)>, Error> {
    let statement = transaction
        .prepare_cached(
            "DELETE FROM entities WHERE id = $1 AND ($2::bigint IS NULL OR updated_at = $2)
             RETURNING id, entity_type, data, created_at, updated_at",
        )
        .await?;
    let seen = seen.map(to_i64).transpose()?;
    let found = transaction.query_opt(&statement, &[&id, &seen]).await?;
    let Some(entity) = found.as_ref().map(from_row).transpose()? else {
        return Ok(None);
    };
    let ids = outbox::add(transaction, EntityEvent::Deleted, &entity, deliveries).await?;
    Ok(Some((entity, ids)))
}
