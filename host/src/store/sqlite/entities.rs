//! Entities in SQLite: one row each, the data as JSON text. Filters become
//! `json_extract` on quoted path segments, so no text from a query reaches
//! the SQL itself.

use super::held::stopped_at_deadline;
use super::{Sqlite, fail, outbox};
use crate::store::{EntityChange, EntityStore, NewDeliveries, StoreError};
use crate::types::{Entity, EntityEvent, EntityQuery, field_path};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::time::Instant;

const COLUMNS: &str = "id, entity_type, data, created_at, updated_at";

/// The WHERE clause of `query` and its parameters. A type is a plain
/// `entity_type = ?` (not `? IS NULL OR …`), so SQLite can use the
/// `entities_by_type` index.
fn where_clause(query: &EntityQuery) -> Result<(String, Vec<SqlValue>), String> {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if let Some(entity_type) = &query.entity_type {
        values.push(SqlValue::Text(entity_type.clone()));
        conditions.push("entity_type = ?1".to_string());
    }
    for (field, value) in &query.filters {
        // `stats.level` → `$."stats"."level"`.
        let path = field_path(field)?.iter().fold(String::from("$"), |path, s| format!("{path}.\"{s}\""));
        let (p, v) = (values.len() + 1, values.len() + 2);
        conditions.push(format!(
            "(CASE json_type(data, ?{p})
                     WHEN 'text' THEN json_extract(data, ?{p})
                     WHEN 'integer' THEN CAST(json_extract(data, ?{p}) AS TEXT)
                     WHEN 'real' THEN CAST(json_extract(data, ?{p}) AS TEXT)
                     WHEN 'true' THEN 'true'
                     WHEN 'false' THEN 'false'
                   END) = ?{v}"
        ));
        values.push(SqlValue::Text(path));
        values.push(SqlValue::Text(value.clone()));
    }
    let sql =
        if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    Ok((sql, values))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Entity> {
    let data: String = row.get(2)?;
    Ok(Entity {
        id: row.get(0)?,
        entity_type: row.get(1)?,
        data: serde_json::from_str(&data).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

fn read(db: &Connection, id: &str) -> rusqlite::Result<Option<Entity>> {
    db.prepare_cached(&format!("SELECT {COLUMNS} FROM entities WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

/// A query the caller should have checked; refused here all the same.
fn invalid(problem: String) -> StoreError {
    StoreError::Failed { operation: "querying entities", message: problem }
}

impl EntityStore for Sqlite {
    fn reads_in_place(&self) -> bool {
        true
    }

    fn get(&self, id: &str) -> Result<Option<Entity>, StoreError> {
        read(&*self.read()?, id).map_err(fail("reading an entity"))
    }

    fn find(&self, query: &EntityQuery, deadline: Option<Instant>) -> Result<Vec<Entity>, StoreError> {
        let (clause, mut values) = where_clause(query).map_err(invalid)?;
        let (limit, offset) = (values.len() + 1, values.len() + 2);
        values.push(SqlValue::Integer(query.limit.map_or(-1, i64::from)));
        values.push(SqlValue::Integer(i64::from(query.offset)));
        let sql = format!(
            "SELECT {COLUMNS} FROM entities {clause} ORDER BY created_at, rowid LIMIT ?{limit} OFFSET ?{offset}"
        );
        let mut db = self.read()?;
        stopped_at_deadline(&mut db, deadline, |db| {
            let mut statement = db.prepare_cached(&sql)?;
            let rows = statement.query_map(params_from_iter(values), from_row)?;
            rows.collect()
        })
        .map_err(fail("querying entities"))
    }

    fn count(&self, query: &EntityQuery, deadline: Option<Instant>) -> Result<u64, StoreError> {
        let (clause, values) = where_clause(query).map_err(invalid)?;
        let mut db = self.read()?;
        stopped_at_deadline(&mut db, deadline, |db| {
            db.prepare_cached(&format!("SELECT COUNT(*) FROM entities {clause}"))?
                .query_row(params_from_iter(values), |row| row.get(0))
        })
        .map_err(fail("counting entities"))
    }

    fn insert(&self, entity: &Entity, deliveries: &NewDeliveries) -> Result<Option<Vec<u64>>, StoreError> {
        self.in_transaction("creating an entity", |db| insert_in(db, entity, deliveries))
    }

    fn update(&self, entity: &Entity, deliveries: &NewDeliveries) -> Result<Option<Vec<u64>>, StoreError> {
        self.in_transaction("updating an entity", |db| update_in(db, entity, None, deliveries))
    }

    fn delete(&self, id: &str, deliveries: &NewDeliveries) -> Result<Option<(Entity, Vec<u64>)>, StoreError> {
        self.in_transaction("deleting an entity", |db| delete_in(db, id, None, deliveries))
    }
}

impl Sqlite {
    /// Runs one entity write in a transaction of its own, committed when it wrote.
    fn in_transaction<T>(
        &self,
        operation: &'static str,
        write: impl FnOnce(&Connection) -> rusqlite::Result<Option<T>>,
    ) -> Result<Option<T>, StoreError> {
        let mut db = self.lock();
        let run = || -> rusqlite::Result<Option<T>> {
            let transaction = db.transaction()?;
            let written = write(&transaction)?;
            if written.is_some() {
                transaction.commit()?;
            }
            Ok(written)
        };
        run().map_err(fail(operation))
    }
}

/// Applies a plugin's entity write inside `db`'s transaction: whether it
/// found its entity as the plugin saw it (a create, whether the id was free).
pub(super) fn apply_change(db: &Connection, change: &EntityChange) -> rusqlite::Result<bool> {
    let (entity, seen, deliveries) = (&change.entity, change.seen, &change.deliveries);
    Ok(match change.write {
        EntityEvent::Created => insert_in(db, entity, deliveries)?.is_some(),
        EntityEvent::Updated => update_in(db, entity, seen, deliveries)?.is_some(),
        EntityEvent::Deleted => delete_in(db, &entity.id, seen, deliveries)?.is_some(),
    })
}

/// Adds an entity and its `created` deliveries inside `db`'s transaction;
/// `None` when the id is taken.
pub(super) fn insert_in(
    db: &Connection,
    entity: &Entity,
    deliveries: &NewDeliveries,
) -> rusqlite::Result<Option<Vec<u64>>> {
    let inserted = db
        .prepare_cached(&format!(
            "INSERT INTO entities ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING"
        ))?
        .execute(params![
            entity.id,
            entity.entity_type,
            entity.data.to_string(),
            entity.created_at,
            entity.updated_at
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    outbox::add(db, EntityEvent::Created, entity, deliveries).map(Some)
}

/// Replaces an entity's data and adds its `updated` deliveries inside
/// `db`'s transaction; `None` when it does not exist (or, given `seen`, was
/// written since it had that `updated_at`).
pub(super) fn update_in(
    db: &Connection,
    entity: &Entity,
    seen: Option<u64>,
    deliveries: &NewDeliveries,
) -> rusqlite::Result<Option<Vec<u64>>> {
    let changed = db
        .prepare_cached(
            "UPDATE entities SET data = ?2, updated_at = ?3 WHERE id = ?1 AND (?4 IS NULL OR updated_at = ?4)",
        )?
        .execute(params![entity.id, entity.data.to_string(), entity.updated_at, seen])?;
    if changed == 0 {
        return Ok(None);
    }
    outbox::add(db, EntityEvent::Updated, entity, deliveries).map(Some)
}

/// Removes an entity and adds its `deleted` deliveries inside `db`'s
/// transaction: the entity as it was, or `None` when it did not exist (or,
/// given `seen`, was written since it had that `updated_at`).
pub(super) fn delete_in(
    db: &Connection,
    id: &str,
    seen: Option<u64>,
    deliveries: &NewDeliveries,
) -> rusqlite::Result<Option<(Entity, Vec<u64>)>> {
    let deleted = db
        .prepare_cached(&format!(
            "DELETE FROM entities WHERE id = ?1 AND (?2 IS NULL OR updated_at = ?2) RETURNING {COLUMNS}"
        ))?
        .query_row(params![id, seen], from_row)
        .optional()?;
    let Some(entity) = deleted else {
        return Ok(None);
    };
    let ids = outbox::add(db, EntityEvent::Deleted, &entity, deliveries)?;
    Ok(Some((entity, ids)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query by type searches the index for that type (a `SCAN` would read
    /// the index of every entity).
    #[test]
    fn queries_by_type_use_the_type_index() {
        let db = Sqlite::in_memory();
        let db = db.lock();
        let plan = |sql: &str, values: &[SqlValue]| -> String {
            let mut statement = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("plan");
            let rows =
                statement.query_map(params_from_iter(values), |row| row.get::<_, String>(3)).expect("rows");
            rows.collect::<rusqlite::Result<Vec<_>>>().expect("plan rows").join("; ")
        };
        for query in
            [EntityQuery::of_type("character"), EntityQuery::of_type("character").where_field("a", "b")]
        {
            let (clause, values) = where_clause(&query).expect("clause");
            let counting = plan(&format!("SELECT COUNT(*) FROM entities {clause}"), &values);
            let searched =
                |plan: &str| plan.contains("SEARCH entities USING") && plan.contains("(entity_type=?)");
            assert!(searched(&counting), "{counting}");
            let listing =
                plan(&format!("SELECT {COLUMNS} FROM entities {clause} ORDER BY created_at, rowid"), &values);
            assert!(searched(&listing) && !listing.contains("TEMP B-TREE"), "{listing}");
        }
    }
}
