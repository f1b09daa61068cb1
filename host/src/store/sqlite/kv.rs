//! Plugin storage in SQLite. Rows are keyed by (plugin id, key) and carry the
//! version of the commit that last wrote them: the plugin's `generation` in
//! `plugin_usage`, raised by one per commit. Usage (bytes, keys) is kept in
//! the same row and moved by exactly what each commit changed.

use super::held::Held;
use super::{Sqlite, entities, error, fail};
use crate::store::PluginCommit;
use crate::store::{CommitError, KvChanges, PluginKv, StoreError, Usage, Versioned};
use rusqlite::{Connection, OptionalExtension, params};

fn list_keys(db: &Connection, plugin: &str, prefix: &str) -> rusqlite::Result<Vec<String>> {
    db.prepare_cached(
        "SELECT key FROM plugin_storage
         WHERE plugin_id = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2
         ORDER BY key",
    )?
    .query_map(params![plugin, prefix], |row| row.get(0))?
    .collect()
}

/// The plugin's usage row, counted from its rows (and kept) if missing.
fn usage(db: &Connection, plugin: &str) -> rusqlite::Result<Usage> {
    let kept = db
        .prepare_cached("SELECT bytes, keys FROM plugin_usage WHERE plugin_id = ?1")?
        .query_row([plugin], |row| Ok(Usage { bytes: row.get(0)?, keys: row.get(1)? }))
        .optional()?;
    if let Some(usage) = kept {
        return Ok(usage);
    }
    let counted = db
        .prepare_cached(
            "SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(value)), 0), COUNT(*)
             FROM plugin_storage WHERE plugin_id = ?1",
        )?
        .query_row([plugin], |row| Ok(Usage { bytes: row.get(0)?, keys: row.get(1)? }))?;
    // The generation restarts above every stored version, so versions never repeat.
    db.prepare_cached(
        "INSERT INTO plugin_usage (plugin_id, bytes, keys, generation)
         VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(version), 0) FROM plugin_storage WHERE plugin_id = ?1))",
    )?
    .execute(params![plugin, counted.bytes, counted.keys])?;
    Ok(counted)
}

fn version(db: &Connection, plugin: &str, key: &str) -> rusqlite::Result<Option<u64>> {
    db.prepare_cached("SELECT version FROM plugin_storage WHERE plugin_id = ?1 AND key = ?2")?
        .query_row(params![plugin, key], |row| row.get(0))
        .optional()
}

/// Key plus value bytes of a stored row.
fn stored_size(db: &Connection, plugin: &str, key: &str) -> rusqlite::Result<Option<u64>> {
    db.prepare_cached(
        "SELECT length(CAST(key AS BLOB)) + length(value) FROM plugin_storage
         WHERE plugin_id = ?1 AND key = ?2",
    )?
    .query_row(params![plugin, key], |row| row.get(0))
    .optional()
}

impl PluginKv for Sqlite {
    fn reads_in_place(&self) -> bool {
        true
    }

    fn get(&self, plugin: &str, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.read()?
            .prepare_cached("SELECT value, version FROM plugin_storage WHERE plugin_id = ?1 AND key = ?2")
            .and_then(|mut statement| {
                statement
                    .query_row(params![plugin, key], |row| {
                        Ok(Versioned { value: row.get(0)?, version: row.get(1)? })
                    })
                    .optional()
            })
            .map_err(fail("reading plugin storage"))
    }

    fn list_keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        list_keys(&*self.read()?, plugin, prefix).map_err(fail("listing plugin storage"))
    }

    fn usage(&self, plugin: &str) -> Result<Usage, StoreError> {
        usage(&*Held::waiting(&self.connection)?, plugin).map_err(fail("reading plugin storage usage"))
    }

    fn commit(&self, plugin: &str, changes: &KvChanges, quota: Usage) -> Result<(), CommitError> {
        self.commit_grouped(PluginCommit { plugin, changes, quota })
    }

    fn commit_together(&self, commits: &[PluginCommit<'_>]) -> Vec<Result<(), CommitError>> {
        self.commit_all_now(commits)
    }

    fn commits_together(&self) -> bool {
        true
    }

    fn commits_entity_writes(&self) -> bool {
        true
    }

    fn commits_messages(&self) -> bool {
        true
    }
}

/// Applies one plugin's commit inside `db`'s open transaction (or
/// savepoint): checks that every read and listing still holds, writes, and
/// checks the quota. On an error the caller rolls back what it wrote.
pub(super) fn apply(db: &Connection, commit: &PluginCommit<'_>) -> Result<(), CommitError> {
    let PluginCommit { plugin, changes, quota } = *commit;
    let sql = |e| CommitError::Store(error("committing plugin storage", e));
    if let Some(mark) = &changes.delivery
        && !super::outbox::settle(db, mark).map_err(sql)?
    {
        return Err(CommitError::Delivered);
    }
    if let Some(mark) = &changes.job
        && !super::jobs::settle(db, mark).map_err(sql)?
    {
        return Err(CommitError::Delivered);
    }
    for (key, seen) in &changes.reads {
        if version(db, plugin, key).map_err(sql)? != *seen {
            return Err(CommitError::Conflict { key: key.clone() });
        }
    }
    for (prefix, seen) in &changes.listed {
        if list_keys(db, plugin, prefix).map_err(sql)? != *seen {
            return Err(CommitError::Conflict { key: format!("{prefix}*") });
        }
    }
    for change in &changes.entities {
        if !entities::apply_change(db, change).map_err(sql)? {
            return Err(CommitError::Conflict { key: format!("(entity `{}`)", change.entity.id) });
        }
    }
    for change in &changes.messages {
        super::outbox::add_message(db, change).map_err(sql)?;
    }
    if changes.writes.is_empty() {
        return Ok(());
    }
    let before = usage(db, plugin).map_err(sql)?;
    let generation: u64 = db
        .prepare_cached(
            "UPDATE plugin_usage SET generation = generation + 1 WHERE plugin_id = ?1 RETURNING generation",
        )
        .and_then(|mut statement| statement.query_row([plugin], |row| row.get(0)))
        .map_err(sql)?;
    let (mut bytes, mut keys) = (0i64, 0i64);
    for (key, value) in &changes.writes {
        let old = stored_size(db, plugin, key).map_err(sql)?;
        bytes -= old.map_or(0, |size| i64::try_from(size).unwrap_or(i64::MAX));
        keys -= i64::from(old.is_some());
        let written = match value {
            Some(value) => {
                bytes += i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX);
                keys += 1;
                db.prepare_cached(
                    "INSERT INTO plugin_storage (plugin_id, key, value, version) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (plugin_id, key) DO UPDATE SET value = excluded.value, version = excluded.version",
                )
                .and_then(|mut statement| statement.execute(params![plugin, key, value, generation]))
            }
            None => db
                .prepare_cached("DELETE FROM plugin_storage WHERE plugin_id = ?1 AND key = ?2")
                .and_then(|mut statement| statement.execute(params![plugin, key])),
        };
        written.map_err(sql)?;
    }
    let after = Usage {
        bytes: before.bytes.saturating_add_signed(bytes),
        keys: before.keys.saturating_add_signed(keys),
    };
    let grew = bytes > 0 || keys > 0;
    if grew && (after.bytes > quota.bytes || after.keys > quota.keys) {
        return Err(CommitError::QuotaExceeded { after, quota });
    }
    db.prepare_cached("UPDATE plugin_usage SET bytes = ?2, keys = ?3 WHERE plugin_id = ?1")
        .and_then(|mut statement| statement.execute(params![plugin, after.bytes, after.keys]))
        .map_err(sql)?;
    Ok(())
}
