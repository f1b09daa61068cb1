//! `plinth:plugin/storage`: key-value storage private to each plugin. Rows are
//! keyed by (plugin id, key), and the plugin id comes from the host, never from
//! the guest, so one plugin cannot reach another's keys.

use super::internal;
use crate::GuestError;
use crate::bindings::plinth::plugin::storage;
use crate::manifest::HostFunction;
use crate::sandbox::InvocationState;
use rusqlite::{Connection, OptionalExtension, params};
use wasmtime::component::{HasSelf, Linker};

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    storage::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

pub(crate) fn get(db: &Connection, plugin_id: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    db.prepare_cached("SELECT value FROM plugin_storage WHERE plugin_id = ?1 AND key = ?2")?
        .query_row(params![plugin_id, key], |row| row.get(0))
        .optional()
}

pub(crate) fn set(db: &Connection, plugin_id: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    db.prepare_cached(
        "INSERT INTO plugin_storage (plugin_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (plugin_id, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![plugin_id, key, value])?;
    Ok(())
}

pub(crate) fn delete(db: &Connection, plugin_id: &str, key: &str) -> rusqlite::Result<bool> {
    let removed = db
        .prepare_cached("DELETE FROM plugin_storage WHERE plugin_id = ?1 AND key = ?2")?
        .execute(params![plugin_id, key])?;
    Ok(removed > 0)
}

pub(crate) fn list_keys(db: &Connection, plugin_id: &str, prefix: &str) -> rusqlite::Result<Vec<String>> {
    db.prepare_cached(
        "SELECT key FROM plugin_storage
         WHERE plugin_id = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2
         ORDER BY key",
    )?
    .query_map(params![plugin_id, prefix], |row| row.get(0))?
    .collect()
}

fn check_key(key: &str) -> Result<(), GuestError> {
    if key.is_empty() {
        Err(GuestError::InvalidInput("storage keys must not be empty".into()))
    } else if key.len() > MAX_KEY_BYTES {
        Err(GuestError::InvalidInput(format!(
            "storage key of {} bytes is longer than the {MAX_KEY_BYTES}-byte limit",
            key.len()
        )))
    } else {
        Ok(())
    }
}

impl storage::Host for InvocationState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, GuestError>> {
        let result = self.require(HostFunction::StorageGet).and_then(|()| check_key(&key)).and_then(|()| {
            get(&self.db.lock(), &self.plugin.id, &key).map_err(|e| internal(self, "storage get", e))
        });
        Ok(result)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), GuestError>> {
        let max = self.limits.storage_value_bytes;
        let result = self
            .require(HostFunction::StorageSet)
            .and_then(|()| check_key(&key))
            .and_then(|()| match value.len() > max {
                true => Err(GuestError::QuotaExceeded(format!(
                    "a stored value may be at most {max} bytes; this one is {}",
                    value.len()
                ))),
                false => Ok(()),
            })
            .and_then(|()| {
                set(&self.db.lock(), &self.plugin.id, &key, &value)
                    .map_err(|e| internal(self, "storage set", e))
            });
        Ok(result)
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, GuestError>> {
        let result =
            self.require(HostFunction::StorageDelete).and_then(|()| check_key(&key)).and_then(|()| {
                delete(&self.db.lock(), &self.plugin.id, &key)
                    .map_err(|e| internal(self, "storage delete", e))
            });
        Ok(result)
    }

    fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, GuestError>> {
        let result = self.require(HostFunction::StorageList).and_then(|()| {
            list_keys(&self.db.lock(), &self.plugin.id, &prefix)
                .map_err(|e| internal(self, "storage list-keys", e))
        });
        Ok(result)
    }
}
