//! `plinth:plugin/storage`: key-value storage private to each plugin. The
//! plugin id comes from the host, never from the guest, so one plugin cannot
//! reach another's keys.
//!
//! A call's reads are recorded with the version they saw and its writes are
//! buffered in a [`StorageCtx`]; when the call succeeds, the host hands them
//! to the backend's commit, which applies them only if nothing the call read
//! has changed and the quota holds (see [`crate::store`]). A trap, timeout or
//! returned error drops them, so a failing plugin never leaves half its writes.
//! A key read twice with different versions in one call means another call
//! committed in between: the call stops with [`StorageConflict`] and is re-run.

use super::{Caller, read_in_place};
use crate::GuestError;
use crate::bindings::plinth::plugin::storage as wit;
use crate::manifest::HostFunction;
use crate::store::{KvChanges, PluginKv, Usage};
use std::collections::BTreeSet;
use std::collections::btree_map::Entry;
use wasmtime::component::{HasData, Linker};

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// The storage reads and writes of one call, not yet committed.
#[derive(Default)]
pub(crate) struct StorageCtx {
    changes: KvChanges,
    /// Usage with the buffered writes applied, for an early quota check (the
    /// commit checks again); read from the store on the first write.
    usage: Option<Usage>,
}

impl StorageCtx {
    pub(crate) fn into_changes(self) -> KvChanges {
        self.changes
    }
}

/// Raised (as a trap) when a call sees another call's commit part-way
/// through; the host runs the call again.
#[derive(Debug)]
pub(crate) struct StorageConflict;

impl std::fmt::Display for StorageConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("another call changed this plugin's storage during the call")
    }
}

impl std::error::Error for StorageConflict {}

/// What a storage call sees: the caller, the plugin store and this call's changes.
pub(crate) struct StorageView<'a> {
    pub caller: &'a mut Caller,
    pub kv: &'a dyn PluginKv,
    pub ctx: &'a mut StorageCtx,
}

struct HasStorage;

impl HasData for HasStorage {
    type Data<'a> = StorageView<'a>;
}

pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> StorageView<'_>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasStorage>(linker, get)
}

fn check_key(key: &str) -> Result<(), GuestError> {
    if key.is_empty() {
        Err(GuestError::InvalidInput("storage keys must not be empty".into()))
    } else if key.contains('\0') {
        Err(GuestError::InvalidInput("storage keys must not contain NUL characters".into()))
    } else if key.len() > MAX_KEY_BYTES {
        Err(GuestError::InvalidInput(format!(
            "storage key of {} bytes is longer than the {MAX_KEY_BYTES}-byte limit",
            key.len()
        )))
    } else {
        Ok(())
    }
}

/// A host-side result: the outer error stops the call (a conflict), the
/// inner one goes to the guest.
type Checked<T> = wasmtime::Result<Result<T, GuestError>>;

impl StorageView<'_> {
    /// The value in force for this call: its own write, else the store's,
    /// recorded with its version.
    fn read(&mut self, key: &str) -> Checked<Option<Vec<u8>>> {
        if let Some(buffered) = self.ctx.changes.writes.get(key) {
            return Ok(Ok(buffered.clone()));
        }
        let stored =
            match read_in_place(self.caller, HostFunction::StorageGet, self.kv.reads_in_place(), || {
                self.kv.get(&self.caller.plugin.id, key)
            }) {
                Ok(stored) => stored,
                Err(e) => return Ok(Err(self.caller.internal("storage get", e))),
            };
        self.saw(key, stored.as_ref().map(|v| v.version))?;
        Ok(Ok(stored.map(|v| v.value)))
    }

    /// Records that the call saw `key` at `version`; a second look that finds
    /// another version means a commit came in between.
    fn saw(&mut self, key: &str, version: Option<u64>) -> wasmtime::Result<()> {
        match self.ctx.changes.reads.entry(key.to_string()) {
            Entry::Vacant(entry) => {
                entry.insert(version);
            }
            Entry::Occupied(seen) if *seen.get() != version => return Err(StorageConflict.into()),
            Entry::Occupied(_) => {}
        }
        Ok(())
    }

    /// Buffers a write (`None`: delete) after checking it against the quota,
    /// and answers whether the key existed. A set looks at the old value only
    /// for its size and does not record it as read, so blind writes of one key
    /// do not conflict; a delete's answer is a read, and recorded.
    fn write(&mut self, key: String, value: Option<Vec<u8>>) -> Checked<bool> {
        let plugin = self.caller.plugin.clone();
        let old_size = match self.ctx.changes.writes.get(&key) {
            Some(buffered) => buffered.as_ref().map(|v| key.len() + v.len()),
            None => {
                match read_in_place(self.caller, HostFunction::StorageGet, self.kv.reads_in_place(), || {
                    self.kv.get(&plugin.id, &key)
                }) {
                    Ok(stored) => {
                        if value.is_none() {
                            self.saw(&key, stored.as_ref().map(|v| v.version))?;
                        }
                        stored.map(|v| key.len() + v.value.len())
                    }
                    Err(e) => return Ok(Err(self.caller.internal("storage get", e))),
                }
            }
        };
        let mut usage = match self.ctx.usage {
            Some(usage) => usage,
            None => {
                match read_in_place(self.caller, HostFunction::StorageSet, self.kv.reads_in_place(), || {
                    self.kv.usage(&plugin.id)
                }) {
                    Ok(usage) => usage,
                    Err(e) => return Ok(Err(self.caller.internal("storage usage", e))),
                }
            }
        };
        let new_size = value.as_ref().map(|v| key.len() + v.len());
        usage.bytes = usage.bytes.saturating_sub(old_size.unwrap_or(0) as u64) + new_size.unwrap_or(0) as u64;
        usage.keys = usage.keys.saturating_sub(u64::from(old_size.is_some())) + u64::from(new_size.is_some());
        let limits = &plugin.limits;
        if value.is_some() && (usage.bytes > limits.storage_bytes || usage.keys > limits.storage_keys) {
            return Ok(Err(GuestError::QuotaExceeded(format!(
                "plugin `{}` may store {} bytes in {} keys; this write would make it {} bytes in {} keys",
                plugin.id, limits.storage_bytes, limits.storage_keys, usage.bytes, usage.keys
            ))));
        }
        self.ctx.usage = Some(usage);
        self.ctx.changes.writes.insert(key, value);
        Ok(Ok(old_size.is_some()))
    }

    fn list(&mut self, prefix: String) -> Checked<Vec<String>> {
        let stored =
            match read_in_place(self.caller, HostFunction::StorageList, self.kv.reads_in_place(), || {
                self.kv.list_keys(&self.caller.plugin.id, &prefix)
            }) {
                Ok(stored) => stored,
                Err(e) => return Ok(Err(self.caller.internal("storage list-keys", e))),
            };
        match self.ctx.changes.listed.entry(prefix.clone()) {
            Entry::Vacant(entry) => {
                entry.insert(stored.clone());
            }
            Entry::Occupied(seen) if *seen.get() != stored => return Err(StorageConflict.into()),
            Entry::Occupied(_) => {}
        }
        let mut keys: BTreeSet<String> = stored.into_iter().collect();
        for (key, value) in self.ctx.changes.writes.range(prefix.clone()..) {
            if !key.starts_with(&prefix) {
                break;
            }
            match value {
                Some(_) => keys.insert(key.clone()),
                None => keys.remove(key),
            };
        }
        Ok(Ok(keys.into_iter().collect()))
    }
}

impl wit::Host for StorageView<'_> {
    async fn get(&mut self, key: String) -> Checked<Option<Vec<u8>>> {
        if let Err(e) = self.caller.require(HostFunction::StorageGet).and_then(|()| check_key(&key)) {
            return Ok(Err(e));
        }
        self.read(&key)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Checked<()> {
        let max = self.caller.plugin.limits.storage_value_bytes;
        let allowed =
            self.caller.require(HostFunction::StorageSet).and_then(|()| check_key(&key)).and_then(|()| {
                if value.len() > max {
                    return Err(GuestError::QuotaExceeded(format!(
                        "a stored value may be at most {max} bytes; this one is {}",
                        value.len()
                    )));
                }
                Ok(())
            });
        if let Err(e) = allowed {
            return Ok(Err(e));
        }
        Ok(self.write(key, Some(value))?.map(|_| ()))
    }

    async fn delete(&mut self, key: String) -> Checked<bool> {
        if let Err(e) = self.caller.require(HostFunction::StorageDelete).and_then(|()| check_key(&key)) {
            return Ok(Err(e));
        }
        self.write(key, None)
    }

    /// A read (recorded, so concurrent increments conflict and re-run rather
    /// than lose a count) and a write, in the call's one commit.
    async fn increment(&mut self, key: String, delta: i64) -> Checked<i64> {
        if let Err(e) = self.caller.require(HostFunction::StorageIncrement).and_then(|()| check_key(&key)) {
            return Ok(Err(e));
        }
        let current = match self.read(&key)? {
            Ok(None) => 0,
            Ok(Some(bytes)) => {
                match std::str::from_utf8(&bytes).ok().and_then(|text| text.parse::<i64>().ok()) {
                    Some(number) => number,
                    None => {
                        return Ok(Err(GuestError::InvalidInput(format!(
                            "storage key `{}` holds a value that is not a decimal integer; increment needs one, or no value",
                            crate::plugin_log::bounded(&key, 64)
                        ))));
                    }
                }
            }
            Err(e) => return Ok(Err(e)),
        };
        let Some(next) = current.checked_add(delta) else {
            return Ok(Err(GuestError::InvalidInput(format!(
                "{current} + {delta} leaves the range of a 64-bit counter"
            ))));
        };
        Ok(self.write(key, Some(next.to_string().into_bytes()))?.map(|_| next))
    }

    async fn list_keys(&mut self, prefix: String) -> Checked<Vec<String>> {
        if let Err(e) = self.caller.require(HostFunction::StorageList) {
            return Ok(Err(e));
        }
        self.list(prefix)
    }
}
