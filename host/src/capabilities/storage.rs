//! `plinth:plugin/storage`: key-value storage private to each plugin. Rows are
//! keyed by (plugin id, key), and the plugin id comes from the host, never from
//! the guest, so one plugin cannot reach another's keys.
//!
//! Writes of one invocation are buffered in a [`StorageTxn`] and committed in
//! one SQLite transaction only when the invocation succeeds; a trap, timeout or
//! returned error drops them, so a failing plugin never leaves half its writes.
//! The per-plugin quota (bytes and keys) is checked as writes arrive.

use super::internal;
use crate::GuestError;
use crate::bindings::plinth::plugin::storage;
use crate::manifest::HostFunction;
use crate::sandbox::InvocationState;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
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

pub(crate) fn list_keys(db: &Connection, plugin_id: &str, prefix: &str) -> rusqlite::Result<Vec<String>> {
    db.prepare_cached(
        "SELECT key FROM plugin_storage
         WHERE plugin_id = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2
         ORDER BY key",
    )?
    .query_map(params![plugin_id, prefix], |row| row.get(0))?
    .collect()
}

/// Bytes (keys plus values) and keys a plugin has stored. Kept in
/// `plugin_usage`, updated in the same transaction as the writes, so a quota
/// check costs one row read; counted from the rows once if it is missing.
fn usage(db: &Connection, plugin_id: &str) -> rusqlite::Result<Usage> {
    let kept = db
        .prepare_cached("SELECT bytes, keys FROM plugin_usage WHERE plugin_id = ?1")?
        .query_row([plugin_id], |row| Ok(Usage { bytes: row.get(0)?, keys: row.get(1)? }))
        .optional()?;
    if let Some(usage) = kept {
        return Ok(usage);
    }
    let counted = db
        .prepare_cached(
            "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(value)), 0), COUNT(*)
             FROM plugin_storage WHERE plugin_id = ?1",
        )?
        .query_row([plugin_id], |row| Ok(Usage { bytes: row.get(0)?, keys: row.get(1)? }))?;
    db.prepare_cached("INSERT OR REPLACE INTO plugin_usage (plugin_id, bytes, keys) VALUES (?1, ?2, ?3)")?
        .execute(params![plugin_id, counted.bytes, counted.keys])?;
    Ok(counted)
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    bytes: u64,
    keys: u64,
}

/// The storage writes of one invocation, not yet committed.
#[derive(Default)]
pub(crate) struct StorageTxn {
    /// `None` marks a delete.
    writes: BTreeMap<String, Option<Vec<u8>>>,
    /// Usage with the buffered writes applied, for the quota check; read from
    /// the database on the first write.
    usage: Option<Usage>,
}

impl StorageTxn {
    /// Writes every buffered change in one transaction, and moves the
    /// plugin's usage by exactly what the rows changed (measured here, under
    /// the database lock, so calls running side by side cannot skew it).
    pub(crate) fn commit(self, db: &mut Connection, plugin_id: &str) -> rusqlite::Result<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let transaction = db.transaction()?;
        // Makes sure the usage row exists (counted from the rows before this change).
        usage(&transaction, plugin_id)?;
        let (mut bytes, mut keys) = (0i64, 0i64);
        for (key, value) in &self.writes {
            let old: Option<i64> = transaction
                .prepare_cached(
                    "SELECT length(CAST(key AS BLOB)) + length(value) FROM plugin_storage
                     WHERE plugin_id = ?1 AND key = ?2",
                )?
                .query_row(params![plugin_id, key], |row| row.get(0))
                .optional()?;
            bytes -= old.unwrap_or(0);
            keys -= i64::from(old.is_some());
            match value {
                Some(value) => {
                    transaction
                        .prepare_cached(
                            "INSERT INTO plugin_storage (plugin_id, key, value) VALUES (?1, ?2, ?3)
                             ON CONFLICT (plugin_id, key) DO UPDATE SET value = excluded.value",
                        )?
                        .execute(params![plugin_id, key, value])?;
                    bytes += i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX);
                    keys += 1;
                }
                None => {
                    transaction
                        .prepare_cached("DELETE FROM plugin_storage WHERE plugin_id = ?1 AND key = ?2")?
                        .execute(params![plugin_id, key])?;
                }
            }
        }
        transaction
            .prepare_cached(
                "UPDATE plugin_usage SET bytes = bytes + ?2, keys = keys + ?3 WHERE plugin_id = ?1",
            )?
            .execute(params![plugin_id, bytes, keys])?;
        transaction.commit()
    }
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

impl InvocationState {
    /// The value in force for this invocation: its own write, else the database's.
    fn storage_read(&self, key: &str) -> Result<Option<Vec<u8>>, GuestError> {
        match self.storage.writes.get(key) {
            Some(buffered) => Ok(buffered.clone()),
            None => get(&self.db.lock(), &self.plugin.id, key).map_err(|e| internal(self, "storage get", e)),
        }
    }

    /// Buffers a write (`None`: delete) after checking it against the quota.
    fn storage_write(&mut self, key: String, value: Option<Vec<u8>>) -> Result<bool, GuestError> {
        let old = self.storage_read(&key)?;
        let mut usage = match self.storage.usage {
            Some(usage) => usage,
            None => {
                usage(&self.db.lock(), &self.plugin.id).map_err(|e| internal(self, "storage usage", e))?
            }
        };
        let size = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, |v| (key.len() + v.len()) as u64);
        usage.bytes = usage.bytes.saturating_sub(size(&old)) + size(&value);
        usage.keys = usage.keys.saturating_sub(u64::from(old.is_some())) + u64::from(value.is_some());
        let limits = &self.limits;
        if value.is_some() && (usage.bytes > limits.storage_bytes || usage.keys > limits.storage_keys) {
            return Err(GuestError::QuotaExceeded(format!(
                "plugin `{}` may store {} bytes in {} keys; this write would make it {} bytes in {} keys",
                self.plugin.id, limits.storage_bytes, limits.storage_keys, usage.bytes, usage.keys
            )));
        }
        self.storage.usage = Some(usage);
        self.storage.writes.insert(key, value);
        Ok(old.is_some())
    }
}

impl storage::Host for InvocationState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, GuestError>> {
        let result = self
            .require(HostFunction::StorageGet)
            .and_then(|()| check_key(&key))
            .and_then(|()| self.storage_read(&key));
        Ok(result)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), GuestError>> {
        let max = self.limits.storage_value_bytes;
        let result = self.require(HostFunction::StorageSet).and_then(|()| check_key(&key)).and_then(|()| {
            if value.len() > max {
                return Err(GuestError::QuotaExceeded(format!(
                    "a stored value may be at most {max} bytes; this one is {}",
                    value.len()
                )));
            }
            self.storage_write(key, Some(value)).map(|_| ())
        });
        Ok(result)
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, GuestError>> {
        let result = self
            .require(HostFunction::StorageDelete)
            .and_then(|()| check_key(&key))
            .and_then(|()| self.storage_write(key, None));
        Ok(result)
    }

    fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, GuestError>> {
        let result = self.require(HostFunction::StorageList).and_then(|()| {
            let stored = list_keys(&self.db.lock(), &self.plugin.id, &prefix)
                .map_err(|e| internal(self, "storage list-keys", e))?;
            let mut keys: std::collections::BTreeSet<String> = stored.into_iter().collect();
            for (key, value) in self.storage.writes.range(prefix.clone()..) {
                if !key.starts_with(&prefix) {
                    break;
                }
                match value {
                    Some(_) => keys.insert(key.clone()),
                    None => keys.remove(key),
                };
            }
            Ok(keys.into_iter().collect())
        });
        Ok(result)
    }
}
