//! Entities: the application's records. The host API writes them (and fires
//! events, see [`crate::events`]); plugins read them through
//! `plinth:plugin/entities` with the `entity_read` and `entity_list` grants.

use super::internal;
use crate::GuestError;
use crate::bindings::plinth::plugin::{entities as wit, types};
use crate::manifest::HostFunction;
use crate::sandbox::InvocationState;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde::{Deserialize, Serialize};
use wasmtime::component::{HasSelf, Linker};

/// A stored entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Unique id.
    pub id: String,
    /// Its type (`character`).
    pub entity_type: String,
    /// Its fields: always a JSON object.
    pub data: serde_json::Value,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

impl Entity {
    pub(crate) fn to_wit(&self) -> types::Entity {
        types::Entity {
            id: self.id.clone(),
            entity_type: self.entity_type.clone(),
            data: self.data.to_string(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Which entities to list, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityQuery {
    /// Only this type; `None` for all.
    pub entity_type: Option<String>,
    /// (field, value) pairs that must all match; see `wit/entities.wit`.
    pub filters: Vec<(String, String)>,
    /// At most this many.
    pub limit: Option<u32>,
    /// Skip this many first.
    pub offset: u32,
}

impl EntityQuery {
    /// Entities of one type.
    pub fn of_type(entity_type: &str) -> Self {
        EntityQuery { entity_type: Some(entity_type.to_string()), ..Self::default() }
    }

    /// Adds a field filter.
    pub fn where_field(mut self, field: &str, value: &str) -> Self {
        self.filters.push((field.to_string(), value.to_string()));
        self
    }

    fn from_wit(query: wit::EntityQuery) -> Self {
        EntityQuery {
            entity_type: query.entity_type,
            filters: query.filters.into_iter().map(|f| (f.field, f.value)).collect(),
            limit: query.limit,
            offset: query.offset,
        }
    }

    /// The WHERE clause and its parameters. Field names become quoted JSON
    /// path segments, so no text from a plugin reaches the SQL itself. A type
    /// is a plain `entity_type = ?` (not `? IS NULL OR …`), so SQLite can use
    /// the `entities_by_type` index.
    fn where_clause(&self) -> Result<(String, Vec<SqlValue>), String> {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        if let Some(entity_type) = &self.entity_type {
            values.push(SqlValue::Text(entity_type.clone()));
            conditions.push("entity_type = ?1".to_string());
        }
        for (field, value) in &self.filters {
            let path = json_path(field)?;
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
}

/// `stats.level` → `$."stats"."level"`.
fn json_path(field: &str) -> Result<String, String> {
    if field.is_empty() || field.split('.').any(|s| s.is_empty() || s.contains('"') || s.contains('\\')) {
        return Err(format!(
            "`{field}` is not a field name: use a name or a dotted path without quotes or backslashes"
        ));
    }
    Ok(field.split('.').fold(String::from("$"), |path, segment| format!("{path}.\"{segment}\"")))
}

const COLUMNS: &str = "id, entity_type, data, created_at, updated_at";

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

/// Why a query could not run.
#[derive(Debug)]
pub(crate) enum QueryError {
    Invalid(String),
    Database(rusqlite::Error),
}

impl From<rusqlite::Error> for QueryError {
    fn from(error: rusqlite::Error) -> Self {
        QueryError::Database(error)
    }
}

pub(crate) fn read(db: &Connection, id: &str) -> rusqlite::Result<Option<Entity>> {
    db.prepare_cached(&format!("SELECT {COLUMNS} FROM entities WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()
}

pub(crate) fn find(db: &Connection, query: &EntityQuery) -> Result<Vec<Entity>, QueryError> {
    let (clause, mut values) = query.where_clause().map_err(QueryError::Invalid)?;
    let (limit, offset) = (values.len() + 1, values.len() + 2);
    values.push(SqlValue::Integer(query.limit.map_or(-1, i64::from)));
    values.push(SqlValue::Integer(i64::from(query.offset)));
    let sql = format!(
        "SELECT {COLUMNS} FROM entities {clause} ORDER BY created_at, rowid LIMIT ?{limit} OFFSET ?{offset}"
    );
    let mut statement = db.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values), from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn count(db: &Connection, query: &EntityQuery) -> Result<u64, QueryError> {
    let (clause, values) = query.where_clause().map_err(QueryError::Invalid)?;
    let mut statement = db.prepare_cached(&format!("SELECT COUNT(*) FROM entities {clause}"))?;
    Ok(statement.query_row(params_from_iter(values), |row| row.get(0))?)
}

pub(crate) fn insert(db: &Connection, entity: &Entity) -> rusqlite::Result<()> {
    db.prepare_cached(&format!("INSERT INTO entities ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"))?.execute(
        params![entity.id, entity.entity_type, entity.data.to_string(), entity.created_at, entity.updated_at],
    )?;
    Ok(())
}

/// Replaces an entity's data; `false` when there is no such entity.
pub(crate) fn update(db: &Connection, entity: &Entity) -> rusqlite::Result<bool> {
    let changed = db
        .prepare_cached("UPDATE entities SET data = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![entity.id, entity.data.to_string(), entity.updated_at])?;
    Ok(changed > 0)
}

/// Removes an entity; `false` when there was none.
pub(crate) fn delete(db: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(db.prepare_cached("DELETE FROM entities WHERE id = ?1")?.execute([id])? > 0)
}

pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

impl InvocationState {
    fn query_error(&self, operation: &str, error: QueryError) -> GuestError {
        match error {
            QueryError::Invalid(message) => GuestError::InvalidInput(message),
            QueryError::Database(e) => internal(self, operation, e),
        }
    }
}

impl wit::Host for InvocationState {
    fn read(&mut self, id: String) -> wasmtime::Result<Result<types::Entity, GuestError>> {
        let result = self.require(HostFunction::EntityRead).and_then(|()| match read(&self.db.lock(), &id) {
            Ok(Some(entity)) => Ok(entity.to_wit()),
            Ok(None) => Err(GuestError::NotFound(format!("no entity with id `{id}`"))),
            Err(e) => Err(internal(self, "entity read", e)),
        });
        Ok(result)
    }

    fn find(&mut self, query: wit::EntityQuery) -> wasmtime::Result<Result<Vec<types::Entity>, GuestError>> {
        let result = self.require(HostFunction::EntityList).and_then(|()| {
            find(&self.db.lock(), &EntityQuery::from_wit(query))
                .map(|entities| entities.iter().map(Entity::to_wit).collect())
                .map_err(|e| self.query_error("entity find", e))
        });
        Ok(result)
    }

    fn count(&mut self, query: wit::EntityQuery) -> wasmtime::Result<Result<u64, GuestError>> {
        let result = self.require(HostFunction::EntityList).and_then(|()| {
            count(&self.db.lock(), &EntityQuery::from_wit(query))
                .map_err(|e| self.query_error("entity count", e))
        });
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn db_with(entities: &[(&str, &str, serde_json::Value)]) -> Connection {
        let db = Connection::open_in_memory().expect("in-memory db");
        db.execute_batch(crate::db::SCHEMA).expect("schema");
        for (i, (id, entity_type, data)) in entities.iter().enumerate() {
            let entity = Entity {
                id: id.to_string(),
                entity_type: entity_type.to_string(),
                data: data.clone(),
                created_at: i as u64,
                updated_at: i as u64,
            };
            insert(&db, &entity).expect("insert");
        }
        db
    }

    #[test]
    fn filters_match_strings_numbers_and_booleans() {
        let db = db_with(&[
            ("a", "character", json!({"name": "Ada", "level": 3, "alive": true, "stats": {"hp": 10}})),
            ("b", "character", json!({"name": "Bo", "level": 4, "alive": false})),
            ("c", "location", json!({"name": "Ada"})),
        ]);
        let ids = |q: EntityQuery| -> Vec<String> {
            find(&db, &q).expect("query").into_iter().map(|e| e.id).collect()
        };
        assert_eq!(ids(EntityQuery::of_type("character")), ["a", "b"]);
        assert_eq!(ids(EntityQuery::default().where_field("name", "Ada")), ["a", "c"]);
        assert_eq!(ids(EntityQuery::of_type("character").where_field("level", "4")), ["b"]);
        assert_eq!(ids(EntityQuery::default().where_field("alive", "true")), ["a"]);
        assert_eq!(ids(EntityQuery::default().where_field("stats.hp", "10")), ["a"]);
        assert_eq!(ids(EntityQuery { limit: Some(1), offset: 1, ..Default::default() }), ["b"]);
        assert_eq!(count(&db, &EntityQuery::of_type("character")).expect("count"), 2);
    }

    /// A query by type searches the index for that type (a `SCAN` would read
    /// the index of every entity).
    #[test]
    fn queries_by_type_use_the_type_index() {
        let db = db_with(&[]);
        let plan = |sql: &str, values: &[SqlValue]| -> String {
            let mut statement = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("plan");
            let rows =
                statement.query_map(params_from_iter(values), |row| row.get::<_, String>(3)).expect("rows");
            rows.collect::<rusqlite::Result<Vec<_>>>().expect("plan rows").join("; ")
        };
        for query in
            [EntityQuery::of_type("character"), EntityQuery::of_type("character").where_field("a", "b")]
        {
            let (clause, values) = query.where_clause().expect("clause");
            let counting = plan(&format!("SELECT COUNT(*) FROM entities {clause}"), &values);
            let searched =
                |plan: &str| plan.contains("SEARCH entities USING") && plan.contains("(entity_type=?)");
            assert!(searched(&counting), "{counting}");
            let listing =
                plan(&format!("SELECT {COLUMNS} FROM entities {clause} ORDER BY created_at, rowid"), &values);
            assert!(searched(&listing) && !listing.contains("TEMP B-TREE"), "{listing}");
        }
    }

    #[test]
    fn quoting_field_names_is_refused() {
        let db = db_with(&[]);
        let bad = EntityQuery::default().where_field("name\") OR 1=1 --", "x");
        assert!(matches!(find(&db, &bad), Err(QueryError::Invalid(_))));
        assert!(matches!(
            find(&db, &EntityQuery::default().where_field("a..b", "x")),
            Err(QueryError::Invalid(_))
        ));
    }
}
