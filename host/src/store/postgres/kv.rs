//! Plugin storage in PostgreSQL, with SQLite's semantics. Rows are keyed by
//! (plugin id, key) and carry the version of the commit that last wrote them:
//! the plugin's `generation` in `plugin_usage`, raised by one per commit.
//! Usage (bytes, keys) is kept in the same row and moved by exactly what each
//! commit changed.
//!
//! Several nodes may commit for one plugin at once, so a commit first locks
//! the plugin's usage row (`FOR UPDATE`): commits of one plugin run one after
//! another, and each of its later statements (read committed: a fresh
//! snapshot per statement) sees every commit that came before it.

use super::{Error, LOCK_TIMEOUT, Postgres, to_i64, to_u64};
use crate::store::{CommitError, KvChanges, PluginKv, StoreError, Usage, Versioned};
use crate::sync::locked;
use deadpool_postgres::Transaction;
use std::collections::BTreeMap;
use tokio_postgres::{IsolationLevel, Row};

/// The keys under a prefix, in byte order (the column is `COLLATE "C"`).
const LIST: &str = "SELECT key FROM plugin_storage
    WHERE plugin_id = $1 AND key >= $2::text AND left(key, char_length($2::text)) = $2::text
    ORDER BY key";

/// The plugin's usage row, counted from its rows if missing. The generation
/// starts above every stored version, so versions never repeat.
const ENSURE_USAGE: &str = "INSERT INTO plugin_usage (plugin_id, bytes, keys, generation)
    SELECT $1::text, COALESCE(SUM(octet_length(key) + octet_length(value)), 0)::bigint, COUNT(*),
           COALESCE(MAX(version), 0)
    FROM plugin_storage WHERE plugin_id = $1::text
    ON CONFLICT (plugin_id) DO NOTHING";

fn keys_of(rows: &[Row]) -> Result<Vec<String>, Error> {
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

fn usage_of(row: &Row) -> Result<Usage, Error> {
    Ok(Usage { bytes: to_u64(row.try_get(0)?)?, keys: to_u64(row.try_get(1)?)? })
}

/// `(key, number)` rows as a map.
fn by_key<N: for<'a> tokio_postgres::types::FromSql<'a>>(rows: &[Row]) -> Result<BTreeMap<String, N>, Error> {
    rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
}

/// Checks `changes` against what is stored now and applies its writes, in
/// `transaction`. `Ok(Err(…))`: a conflict or the quota; the caller rolls back.
async fn apply(
    transaction: &Transaction<'_>,
    plugin: &str,
    changes: &KvChanges,
    quota: Usage,
) -> Result<Result<(), CommitError>, Error> {
    if let Some(mark) = &changes.delivery
        && !super::outbox::settle(transaction, mark).await?
    {
        return Ok(Err(CommitError::Delivered));
    }
    if !changes.needs_storage_commit() {
        // Only the mark: no reason to queue behind the plugin's other commits.
        return Ok(Ok(()));
    }
    let lock = transaction
        .prepare_cached("SELECT bytes, keys, generation FROM plugin_usage WHERE plugin_id = $1 FOR UPDATE")
        .await?;
    let locked = match transaction.query_opt(&lock, &[&plugin]).await? {
        Some(row) => row,
        None => {
            // A first commit (or one racing another node's first): the
            // insert waits for a concurrent one and then does nothing.
            transaction.execute(&transaction.prepare_cached(ENSURE_USAGE).await?, &[&plugin]).await?;
            transaction.query_one(&lock, &[&plugin]).await?
        }
    };
    let (before, generation) = (usage_of(&locked)?, locked.try_get::<_, i64>(2)?);

    if !changes.reads.is_empty() {
        let keys: Vec<&str> = changes.reads.keys().map(String::as_str).collect();
        let versions = transaction
            .prepare_cached(
                "SELECT key, version FROM plugin_storage WHERE plugin_id = $1 AND key = ANY($2::text[])",
            )
            .await?;
        let now: BTreeMap<String, i64> = by_key(&transaction.query(&versions, &[&plugin, &keys]).await?)?;
        for (key, seen) in &changes.reads {
            if now.get(key).copied().map(to_u64).transpose()? != *seen {
                return Ok(Err(CommitError::Conflict { key: key.clone() }));
            }
        }
    }
    if !changes.listed.is_empty() {
        let list = transaction.prepare_cached(LIST).await?;
        for (prefix, seen) in &changes.listed {
            if keys_of(&transaction.query(&list, &[&plugin, prefix]).await?)? != *seen {
                return Ok(Err(CommitError::Conflict { key: format!("{prefix}*") }));
            }
        }
    }
    if changes.writes.is_empty() {
        return Ok(Ok(()));
    }

    // The writes, in one statement that also answers the old rows' sizes
    // (every part of it sees the rows as they were before it). Over the
    // quota, the caller rolls them back.
    let version =
        generation.checked_add(1).ok_or_else(|| Error::Invalid("storage versions ran out".into()))?;
    let written: Vec<&str> = changes.writes.keys().map(String::as_str).collect();
    let (mut put_keys, mut put_values, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    for (key, value) in &changes.writes {
        match value {
            Some(value) => {
                put_keys.push(key.as_str());
                put_values.push(value.as_slice());
            }
            None => deleted.push(key.as_str()),
        }
    }
    let write = transaction
        .prepare_cached(
            "WITH old AS (
                SELECT key, octet_length(value) AS size FROM plugin_storage
                WHERE plugin_id = $1 AND key = ANY($2::text[])),
             put AS (
                INSERT INTO plugin_storage (plugin_id, key, value, version)
                SELECT $1::text, written.key, written.value, $5::bigint
                FROM unnest($3::text[], $4::bytea[]) AS written (key, value)
                ON CONFLICT (plugin_id, key) DO UPDATE SET value = excluded.value, version = excluded.version),
             gone AS (DELETE FROM plugin_storage WHERE plugin_id = $1 AND key = ANY($6::text[]))
             SELECT key, size FROM old",
        )
        .await?;
    let old: BTreeMap<String, i32> = by_key(
        &transaction.query(&write, &[&plugin, &written, &put_keys, &put_values, &version, &deleted]).await?,
    )?;
    // What the writes changed: the old rows' sizes out, the new ones in.
    let size = |key: &str, value: usize| i64::try_from(key.len().saturating_add(value)).unwrap_or(i64::MAX);
    let (mut bytes, mut keys) = (0i64, 0i64);
    for (key, value) in &changes.writes {
        if let Some(old) = old.get(key) {
            bytes -= size(key, usize::try_from(*old).unwrap_or(0));
            keys -= 1;
        }
        if let Some(value) = value {
            bytes += size(key, value.len());
            keys += 1;
        }
    }
    let after = Usage {
        bytes: before.bytes.saturating_add_signed(bytes),
        keys: before.keys.saturating_add_signed(keys),
    };
    let grew = bytes > 0 || keys > 0;
    if grew && (after.bytes > quota.bytes || after.keys > quota.keys) {
        return Ok(Err(CommitError::QuotaExceeded { after, quota }));
    }
    let moved = transaction
        .prepare_cached("UPDATE plugin_usage SET bytes = $2, keys = $3, generation = $4 WHERE plugin_id = $1")
        .await?;
    let (bytes, keys) = (to_i64(after.bytes)?, to_i64(after.keys)?);
    transaction.execute(&moved, &[&plugin, &bytes, &keys, &version]).await?;
    Ok(Ok(()))
}

impl PluginKv for Postgres {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Versioned>, StoreError> {
        let (plugin, key) = (plugin.to_owned(), key.to_owned());
        self.run("reading plugin storage", move |pool| async move {
            let client = pool.get().await?;
            let statement = client
                .prepare_cached("SELECT value, version FROM plugin_storage WHERE plugin_id = $1 AND key = $2")
                .await?;
            match client.query_opt(&statement, &[&plugin, &key]).await? {
                Some(row) => {
                    Ok(Some(Versioned { value: row.try_get(0)?, version: to_u64(row.try_get(1)?)? }))
                }
                None => Ok(None),
            }
        })
    }

    fn list_keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (plugin, prefix) = (plugin.to_owned(), prefix.to_owned());
        self.run("listing plugin storage", move |pool| async move {
            let client = pool.get().await?;
            let statement = client.prepare_cached(LIST).await?;
            keys_of(&client.query(&statement, &[&plugin, &prefix]).await?)
        })
    }

    fn usage(&self, plugin: &str) -> Result<Usage, StoreError> {
        let plugin = plugin.to_owned();
        self.run("reading plugin storage usage", move |pool| async move {
            let client = pool.get().await?;
            let kept =
                client.prepare_cached("SELECT bytes, keys FROM plugin_usage WHERE plugin_id = $1").await?;
            if let Some(row) = client.query_opt(&kept, &[&plugin]).await? {
                return usage_of(&row);
            }
            // Never committed through this backend: counted, not stored (a
            // commit stores it under its lock).
            let counted = client
                .prepare_cached(
                    "SELECT COALESCE(SUM(octet_length(key) + octet_length(value)), 0)::bigint, COUNT(*)
                     FROM plugin_storage WHERE plugin_id = $1",
                )
                .await?;
            usage_of(&client.query_one(&counted, &[&plugin]).await?)
        })
    }

    fn commit(&self, plugin: &str, changes: &KvChanges, quota: Usage) -> Result<(), CommitError> {
        let (plugin, changes) = (plugin.to_owned(), changes.clone());
        // One commit per plugin at a time on this node: the others wait here,
        // not holding a pooled connection while they wait for the row lock.
        let serial = changes.needs_storage_commit().then(|| self.commit_lock(&plugin));
        self.run("committing plugin storage", move |pool| async move {
            let _one_per_plugin = match &serial {
                Some(serial) => Some(serial.lock().await),
                None => None,
            };
            let mut client = pool.get().await?;
            let transaction =
                client.build_transaction().isolation_level(IsolationLevel::ReadCommitted).start().await?;
            transaction
                .batch_execute(&format!("SET LOCAL lock_timeout = {}", LOCK_TIMEOUT.as_millis()))
                .await?;
            let outcome = match apply(&transaction, &plugin, &changes, quota).await {
                Ok(outcome) => outcome,
                // Another node's commit held the row too long, or the database
                // broke a deadlock: nothing was written; the host runs the call again.
                Err(Error::Db(error)) if is_contention(&error) => Err(CommitError::Conflict {
                    key: format!("({plugin}'s storage is busy on another node)"),
                }),
                Err(error) => return Err(error),
            };
            if outcome.is_ok() {
                transaction.commit().await?;
            } else {
                // Releases the usage row's lock before answering.
                transaction.rollback().await?;
            }
            Ok(outcome)
        })?
    }
}

/// A lock wait that timed out, a deadlock, or a serialization failure.
fn is_contention(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| matches!(code.code(), "55P03" | "40P01" | "40001"))
}

impl Postgres {
    /// This node's lock for `plugin`'s commits.
    fn commit_lock(&self, plugin: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut locks = locked(&self.commit_locks);
        locks.entry(plugin.to_string()).or_default().clone()
    }
}
