//! Field configurations in SQLite: one row per entity type, as JSON text.

use super::{Sqlite, fail};
use crate::store::{FieldConfigStore, StoreError};
use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use std::collections::BTreeMap;

impl FieldConfigStore for Sqlite {
    fn all(&self) -> Result<BTreeMap<String, Value>, StoreError> {
        let db = self.lock();
        let rows = || -> rusqlite::Result<Vec<(String, String)>> {
            db.prepare_cached("SELECT entity_type, config FROM field_configs")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        };
        // The column is CHECKed to hold valid JSON; a row edited by hand into
        // something else counts as absent.
        Ok(rows()
            .map_err(fail("reading field configurations"))?
            .into_iter()
            .filter_map(|(entity_type, text)| Some((entity_type, serde_json::from_str(&text).ok()?)))
            .collect())
    }

    fn get(&self, entity_type: &str) -> Result<Option<Value>, StoreError> {
        let db = self.lock();
        let text: Option<String> = db
            .prepare_cached("SELECT config FROM field_configs WHERE entity_type = ?1")
            .and_then(|mut statement| statement.query_row([entity_type], |row| row.get(0)).optional())
            .map_err(fail("reading a field configuration"))?;
        Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
    }

    fn put(&self, entity_type: &str, config: Option<&Value>) -> Result<(), StoreError> {
        let db = self.lock();
        let result = match config {
            Some(config) => db
                .prepare_cached(
                    "INSERT INTO field_configs (entity_type, config) VALUES (?1, ?2)
                     ON CONFLICT (entity_type) DO UPDATE SET config = excluded.config",
                )
                .and_then(|mut statement| statement.execute(params![entity_type, config.to_string()])),
            None => db
                .prepare_cached("DELETE FROM field_configs WHERE entity_type = ?1")
                .and_then(|mut statement| statement.execute([entity_type])),
        };
        result.map(drop).map_err(fail("storing a field configuration"))
    }
}
