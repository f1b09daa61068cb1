//! Plugin settings in SQLite: one row per set value, as JSON text.

use super::{Sqlite, fail};
use crate::store::{SettingsStore, StoreError};
use rusqlite::params;
use serde_json::{Map, Value};

impl SettingsStore for Sqlite {
    fn reads_in_place(&self) -> bool {
        true
    }

    fn all(&self, plugin: &str) -> Result<Map<String, Value>, StoreError> {
        let db = self.read()?;
        let rows = || -> rusqlite::Result<Vec<(String, String)>> {
            db.prepare_cached("SELECT name, value FROM plugin_settings WHERE plugin_id = ?1")?
                .query_map([plugin], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        };
        // The column is CHECKed to hold valid JSON, so parsing only fails if
        // the file was edited by hand; such a value counts as unset.
        Ok(rows()
            .map_err(fail("reading settings"))?
            .into_iter()
            .filter_map(|(name, text)| Some((name, serde_json::from_str(&text).ok()?)))
            .collect())
    }

    fn change(&self, plugin: &str, set: &Map<String, Value>, reset: &[String]) -> Result<(), StoreError> {
        let mut db = self.lock();
        let mut run = || -> rusqlite::Result<()> {
            let transaction = db.transaction()?;
            for (name, value) in set {
                transaction
                    .prepare_cached(
                        "INSERT INTO plugin_settings (plugin_id, name, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (plugin_id, name) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![plugin, name, value.to_string()])?;
            }
            for name in reset {
                transaction
                    .prepare_cached("DELETE FROM plugin_settings WHERE plugin_id = ?1 AND name = ?2")?
                    .execute(params![plugin, name])?;
            }
            transaction.commit()
        };
        run().map_err(fail("storing settings"))
    }
}
