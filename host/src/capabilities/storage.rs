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
    /// What the plugin kept before the call, for an early quota check (the
    /// commit checks again): the backend's hint at the first write, which
    /// may lag behind other nodes, or, once `exact`, the stored usage.
    base: Option<Usage>,
    exact: bool,
    /// What the buffered writes add, in bytes and keys: an upper bound while
    /// `assumed_new` is not empty.
    added: (i64, i64),
    /// Keys set without looking up what they replace: counted in `added` as
    /// new, which is the most a set can add (see `StorageView::write`).
    assumed_new: BTreeSet<String>,
}

impl StorageCtx {
    /// The usage with the buffered writes and `more` applied.
    fn after(&self, base: Usage, more: (i64, i64)) -> Usage {
        let grown =
            |stored: u64, added: i64, more: i64| stored.saturating_add_signed(added.saturating_add(more));
        Usage { bytes: grown(base.bytes, self.added.0, more.0), keys: grown(base.keys, self.added.1, more.1) }
    }
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
    /// and answers whether the key existed (for a set, only when it looked).
    /// A set looks up the old value only for its size: it first counts
    /// itself as a new key, the most it can add, and looks up what it and the
    /// earlier such sets replace only when that bound would pass the quota;
    /// so a set far from the quota costs no read, and one near it is exact.
    /// The old value is not recorded as read, so blind writes of one key do
    /// not conflict; a delete's answer is a read, and recorded.
    fn write(&mut self, key: String, value: Option<Vec<u8>>) -> Checked<bool> {
        let plugin = self.caller.plugin.clone();
        let mut old_size = match self.ctx.changes.writes.get(&key) {
            Some(buffered) => Some(buffered.as_ref().map(|v| key.len() + v.len())),
            None if value.is_none() => match self.stored_size(&key, true)? {
                Ok(size) => Some(size),
                Err(e) => return Ok(Err(e)),
            },
            None => None,
        };
        // `old_size`: `None` while not looked up (a set far from the quota).
        // Only a set checks the quota, so only a set needs the base.
        let base = match (self.ctx.base, &value) {
            (Some(base), _) => base,
            (None, None) => Usage::default(),
            (None, Some(_)) => match self.stored_usage(HostFunction::StorageSet, false)? {
                Ok(base) => {
                    self.ctx.base = Some(base);
                    base
                }
                Err(e) => return Ok(Err(e)),
            },
        };
        let size = |size: Option<usize>| {
            (i64::try_from(size.unwrap_or(0)).unwrap_or(i64::MAX), i64::from(size.is_some()))
        };
        let change = |old: Option<usize>, new: Option<usize>| {
            let (old, new) = (size(old), size(new));
            (new.0 - old.0, new.1 - old.1)
        };
        let new_size = value.as_ref().map(|v| key.len() + v.len());
        let limits = &plugin.limits;
        let over = |usage: Usage| usage.bytes > limits.storage_bytes || usage.keys > limits.storage_keys;
        let mut after = self.ctx.after(base, change(old_size.flatten(), new_size));
        let estimated = old_size.is_none() || !self.ctx.assumed_new.is_empty() || !self.ctx.exact;
        if value.is_some() && over(after) && estimated {
            // Near the quota: the stored usage, what the keys counted as new
            // replace (their stored value goes, whatever this call wrote over
            // them), and what this one replaces.
            let base = match self.stored_usage(HostFunction::StorageSet, true)? {
                Ok(base) => base,
                Err(e) => return Ok(Err(e)),
            };
            self.ctx.base = Some(base);
            // Each key leaves `assumed_new` once corrected, so a lookup that
            // fails leaves the rest to correct at the next set.
            for assumed in self.ctx.assumed_new.clone() {
                match self.stored_size(&assumed, false)? {
                    Ok(replaced) => {
                        let (bytes, keys) = change(replaced, None);
                        self.ctx.added = (self.ctx.added.0 + bytes, self.ctx.added.1 + keys);
                        self.ctx.assumed_new.remove(&assumed);
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            self.ctx.exact = true;
            if old_size.is_none() {
                old_size = match self.stored_size(&key, false)? {
                    Ok(size) => Some(size),
                    Err(e) => return Ok(Err(e)),
                };
            }
            after = self.ctx.after(base, change(old_size.flatten(), new_size));
        }
        if value.is_some() && over(after) {
            return Ok(Err(GuestError::QuotaExceeded(format!(
                "plugin `{}` may store {} bytes in {} keys; this write would make it {} bytes in {} keys",
                plugin.id, limits.storage_bytes, limits.storage_keys, after.bytes, after.keys
            ))));
        }
        if old_size.is_none() {
            self.ctx.assumed_new.insert(key.clone());
        }
        let (bytes, keys) = change(old_size.flatten(), new_size);
        self.ctx.added = (self.ctx.added.0 + bytes, self.ctx.added.1 + keys);
        self.ctx.changes.writes.insert(key, value);
        Ok(Ok(old_size.flatten().is_some()))
    }

    /// What the plugin keeps: `exact`ly, or the backend's hint.
    fn stored_usage(
        &mut self,
        function: HostFunction,
        exact: bool,
    ) -> wasmtime::Result<Result<Usage, GuestError>> {
        let plugin = self.caller.plugin.id.clone();
        let read = read_in_place(self.caller, function, self.kv.reads_in_place(), || match exact {
            true => self.kv.usage(&plugin),
            false => self.kv.usage_hint(&plugin),
        });
        Ok(read.map_err(|e| self.caller.internal("storage usage", e)))
    }

    /// The size (key and value) of `key` as stored, recorded as read when
    /// `seen` (a delete's answer).
    fn stored_size(&mut self, key: &str, seen: bool) -> wasmtime::Result<Result<Option<usize>, GuestError>> {
        let plugin = self.caller.plugin.id.clone();
        match read_in_place(self.caller, HostFunction::StorageGet, self.kv.reads_in_place(), || {
            self.kv.get(&plugin, key)
        }) {
            Ok(stored) => {
                if seen {
                    self.saw(key, stored.as_ref().map(|v| v.version))?;
                }
                Ok(Ok(stored.map(|v| key.len() + v.value.len())))
            }
            Err(e) => Ok(Err(self.caller.internal("storage get", e))),
        }
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
