//! Field configurations in SQLite: one row per entity type, as JSON text.

use super::{Sqlite, fail};
use crate::store::{FieldConfigStore, StoreError};
use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use std::collections::BTreeMap;

impl FieldConfigStore for Sqlite {
    fn all(&self) -> Result<BTreeMap<String, Value>, StoreError> {
        let db = self.read()?;
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
        let db = self.read()?;
        let text: Option<String> = db
            .prepare_cached("SELECT config FROM field_configs WHERE entity_type = ?1")
            .and_then(|mut statement| statement.query_row([entity_type], |row| row.get(0)).optional())
            .map_err(fail("reading a field configuration"))?;
        Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
    }

    fn put(
        &self,
        entity_type: &str,
        expected: Option<u64>,
        config: Option<&Value>,
    ) -> Result<bool, StoreError> {
        let db = self.lock();
        let text = config.map(Value::to_string);
        let stored = || -> rusqlite::Result<bool> {
            let Some(expected) = expected else {
                match &text {
                    Some(text) => db.execute(
                        "INSERT INTO field_configs (entity_type, config) VALUES (?1, ?2)
                         ON CONFLICT (entity_type) DO UPDATE SET config = excluded.config",
                        params![entity_type, text],
                    )?,
                    None => db.execute("DELETE FROM field_configs WHERE entity_type = ?1", [entity_type])?,
                };
                return Ok(true);
            };
            let expected = i64::try_from(expected).unwrap_or(i64::MAX);
            let changed = match &text {
                Some(text) => db.execute(
                    &format!(
                        "UPDATE field_configs SET config = ?2 WHERE entity_type = ?1 AND {VERSION} = ?3"
                    ),
                    params![entity_type, text, expected],
                )?,
                None => db.execute(
                    &format!("DELETE FROM field_configs WHERE entity_type = ?1 AND {VERSION} = ?2"),
                    params![entity_type, expected],
                )?,
            };
            if changed == 1 || expected != 0 {
                return Ok(changed == 1);
            }
            // Expected none stored: add it, unless another save just did.
            match &text {
                Some(text) => Ok(db.execute(
                    "INSERT INTO field_configs (entity_type, config) VALUES (?1, ?2) ON CONFLICT (entity_type) DO NOTHING",
                    params![entity_type, text],
                )? == 1),
                None => Ok(db
                    .query_row("SELECT 1 FROM field_configs WHERE entity_type = ?1", [entity_type], |_| Ok(()))
                    .optional()?
                    .is_none()),
            }
        };
        stored().map_err(fail("storing a field configuration"))
    }
}

/// A stored configuration's version (0 for one saved before versions).
const VERSION: &str = "COALESCE(json_extract(config, '$.version'), 0)";
