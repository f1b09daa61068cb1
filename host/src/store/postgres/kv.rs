//! Plugin storage in PostgreSQL, with SQLite's semantics. Rows are keyed by
//! (plugin id, key) and carry a version from one sequence, so a key's version
//! changes with every write and never comes back. Usage (bytes, keys) is kept
//! per plugin in `plugin_usage` and moved by exactly what each commit changed.
//!
//! Several nodes may commit for one plugin at once. A commit locks only what
//! it touches (`plinth_commit`, migration 7): each key it read or wrote, with
//! transaction-scoped advisory locks (a key that does not exist yet has no
//! row to lock), and the usage row from its last statement to its end. Two
//! commits of one plugin that share no key run side by side up to that last
//! statement (writing commits then take the usage row in turn, each until it
//! has committed, its WAL flush included); two that share a key one of them
//! writes run one after another, and the later one's checks (read
//! committed, which the connections ask for: a fresh snapshot per
//! statement, taken after its locks) see the earlier one's writes.

use super::{Error, LOCK_TIMEOUT, Postgres, entities, to_i64, to_u64};
use crate::store::{CommitError, KvChanges, PluginKv, StoreError, Usage, Versioned};
use crate::store::{HOOK_RECORDS_KEPT as KEPT, HOOK_RECORDS_TRIM_EVERY as TRIM_EVERY, event_name};
use crate::sync::locked;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

/// The keys under a prefix, in byte order (the column is `COLLATE "C"`).
const LIST: &str = "SELECT key FROM plugin_storage
    WHERE plugin_id = $1 AND key >= $2::text AND left(key, char_length($2::text)) = $2::text
    ORDER BY key";

fn keys_of(rows: &[Row]) -> Result<Vec<String>, Error> {
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

/// The usage in `row`'s columns `first` and the one after it.
fn usage_of(row: &Row, first: usize) -> Result<Usage, Error> {
    Ok(Usage { bytes: to_u64(row.try_get(first)?)?, keys: to_u64(row.try_get(first + 1)?)? })
}

/// A plugin's usage as one of its commits left it: `generation` counts the
/// commits that changed it, so of two figures the higher one is newer.
#[derive(Clone, Copy)]
pub(super) struct Hint {
    generation: i64,
    usage: Usage,
}

/// A storage commit as one statement: the database runs the whole commit
/// (the delivery settled with its hook record, what it touches locked, the
/// reads checked, the writes, the usage moved within the quota) in the
/// statement's own transaction, so a commit costs one round trip instead of
/// eight. Migration 6 installed it; migration 7 made it lock only the keys it
/// touches; change it only in a later migration. Answers `ok` (with the usage
/// after and its generation, when it wrote); `delivered` when the delivery was
/// gone; `conflict` with the key (or `prefix*`) that changed; or `quota` with
/// the usage the writes would have left. A conflict or a full quota must undo
/// the settled delivery too: the body runs in a block whose handler catches
/// the error it raises then (`PLCNF`, `PLQTA`), which rolls the block back,
/// and answers a row rather than an error a server would log for every
/// conflict.
pub(super) const COMMIT_FUNCTION: &str = include_str!("migrations/6_commit.sql");
pub(super) const COMMIT_LOCKS_WHAT_IT_TOUCHES: &str =
    include_str!("migrations/7_commit_locks_what_it_touches.sql");

/// `changes` committed for `plugin` by [`COMMIT_FUNCTION`], in one
/// statement; with the usage after it when it wrote.
async fn commit_in_one_statement(
    client: &impl GenericClient,
    plugin: &str,
    changes: &KvChanges,
    quota: Usage,
) -> Result<Result<Option<Hint>, CommitError>, Error> {
    let (read_keys, read_versions): (Vec<&str>, Vec<Option<i64>>) = changes
        .reads
        .iter()
        .map(|(key, seen)| Ok((key.as_str(), seen.map(to_i64).transpose()?)))
        .collect::<Result<Vec<_>, Error>>()?
        .into_iter()
        .unzip();
    let listed: serde_json::Value =
        changes.listed.iter().map(|(prefix, keys)| serde_json::json!([prefix, keys])).collect();
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
    // A quota past what a bigint holds is no quota at all.
    let bounded = |limit: u64| i64::try_from(limit).unwrap_or(i64::MAX);
    let (quota_bytes, quota_keys) = (bounded(quota.bytes), bounded(quota.keys));
    let lock_timeout = i64::try_from(LOCK_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
    let mark = changes.delivery.as_ref();
    let delivery = mark.map(|mark| to_i64(mark.id)).transpose()?;
    let outcome = mark.map(|mark| &mark.outcome);
    let event = outcome.map(|o| event_name(o.event));
    let at = outcome.map(|o| to_i64(o.at)).transpose()?;
    let duration_us = outcome.map(|o| to_i64(o.duration_us)).transpose()?;
    let check_storage = changes.needs_storage_commit();
    let statement = client
        .prepare_cached(
            "SELECT outcome, key, bytes, keys, generation FROM plinth_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .await?;
    let row = client
        .query_one(
            &statement,
            &[
                &plugin,
                &check_storage,
                &read_keys,
                &read_versions,
                &listed,
                &put_keys,
                &put_values,
                &deleted,
                &quota_bytes,
                &quota_keys,
                &lock_timeout,
                &delivery,
                &event,
                &outcome.map(|o| o.entity_id.as_str()),
                &at,
                &duration_us,
                &outcome.and_then(|o| o.error.as_deref()),
                &TRIM_EVERY,
                &KEPT,
            ],
        )
        .await?;
    let answer: String = row.try_get(0)?;
    Ok(match answer.as_str() {
        "ok" => match row.try_get::<_, Option<i64>>(4)? {
            Some(generation) => Ok(Some(Hint { generation, usage: usage_of(&row, 2)? })),
            None => Ok(None),
        },
        "delivered" => Err(CommitError::Delivered),
        "conflict" => Err(CommitError::Conflict { key: row.try_get(1)? }),
        "quota" => Err(CommitError::QuotaExceeded { after: usage_of(&row, 2)?, quota }),
        other => return Err(Error::Invalid(format!("plinth_commit answered `{other}`"))),
    })
}

/// `changes` with entity writes, messages or a job's run: the run settled,
/// the writes, the messages' deliveries, then [`commit_in_one_statement`], in one transaction, committed
/// only if the run was still this node's, every write found its entity and
/// the storage commit succeeded (all or nothing).
async fn commit_in_transaction(
    client: &mut deadpool_postgres::Client,
    plugin: &str,
    changes: &KvChanges,
    quota: Usage,
) -> Result<Result<Option<Hint>, CommitError>, Error> {
    let transaction = client.transaction().await?;
    // An entity row another commit holds is waited for no longer than a
    // storage key is (`plinth_commit` sets its own budget after this).
    let lock_timeout = format!("SET LOCAL lock_timeout = {}", LOCK_TIMEOUT.as_millis());
    transaction.batch_execute(&lock_timeout).await?;
    if let Some(mark) = &changes.job
        && !super::jobs::settle(&transaction, mark).await?
    {
        return Ok(Err(CommitError::Delivered));
    }
    for change in &changes.entities {
        if !entities::apply_change(&transaction, change).await? {
            // Dropped unfinished: the transaction rolls back.
            return Ok(Err(CommitError::Conflict { key: format!("(entity `{}`)", change.entity.id) }));
        }
    }
    for change in &changes.messages {
        super::outbox::add_message(&transaction, change).await?;
    }
    let outcome = commit_in_one_statement(&transaction, plugin, changes, quota).await?;
    if outcome.is_ok() {
        transaction.commit().await?;
    }
    Ok(outcome)
}

impl PluginKv for Postgres {
    fn commits_entity_writes(&self) -> bool {
        true
    }

    fn commits_messages(&self) -> bool {
        true
    }

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
        Ok(self.read_usage(plugin)?.usage)
    }

    /// From this node's newest commit for `plugin` when there was one (see
    /// [`PluginKv::usage_hint`]): no round trip per call.
    fn usage_hint(&self, plugin: &str) -> Result<Usage, StoreError> {
        if let Some(hint) = locked(&self.usage_hints).get(plugin) {
            return Ok(hint.usage);
        }
        let read = self.read_usage(plugin)?;
        Ok(keep_newer(&mut locked(&self.usage_hints), plugin, read).usage)
    }

    fn commit(&self, plugin: &str, changes: &KvChanges, quota: Usage) -> Result<(), CommitError> {
        let (plugin, changes) = (plugin.to_owned(), changes.clone());
        // A few commits per plugin at a time on this node: commits that share
        // a key wait for each other in the database, holding a pooled
        // connection, so a hot key must not take the whole pool.
        let slots = (changes.needs_storage_commit() || !changes.entities.is_empty())
            .then(|| self.commit_slots(&plugin));
        let hints = self.usage_hints.clone();
        self.run("committing plugin storage", move |pool| async move {
            let _slot = match &slots {
                Some(slots) => {
                    Some(slots.acquire().await.map_err(|_| Error::Invalid("commit slots closed".into()))?)
                }
                None => None,
            };
            let mut client = pool.get().await?;
            let in_one_statement =
                changes.entities.is_empty() && changes.messages.is_empty() && changes.job.is_none();
            let committed = match in_one_statement {
                true => commit_in_one_statement(&client, &plugin, &changes, quota).await,
                false => commit_in_transaction(&mut client, &plugin, &changes, quota).await,
            };
            let outcome = match committed {
                Ok(outcome) => outcome,
                // Another commit held a key too long, or the database broke a
                // deadlock: nothing was written; the host runs the call again.
                Err(Error::Db(error)) if is_contention(&error) => Err(CommitError::Conflict {
                    key: format!(
                        "(a key of {plugin}'s storage, or an entity it writes, is held by another commit)"
                    ),
                }),
                Err(error) => {
                    // Its outcome is unknown (a connection lost mid-commit, say).
                    locked(&hints).remove(&plugin);
                    return Err(error);
                }
            };
            let mut hints = locked(&hints);
            match &outcome {
                Ok(Some(hint)) => {
                    keep_newer(&mut hints, &plugin, *hint);
                }
                Ok(None) => {}
                // Something changed that this node did not write: ask again next time.
                Err(_) => {
                    hints.remove(&plugin);
                }
            }
            Ok(outcome.map(|_| ()))
        })?
    }
}

/// Keeps `hint` for `plugin` unless the one kept is newer (commits finish
/// in any order); answers the one kept.
fn keep_newer(hints: &mut std::collections::HashMap<String, Hint>, plugin: &str, hint: Hint) -> Hint {
    let kept = hints.entry(plugin.to_string()).or_insert(hint);
    if kept.generation < hint.generation {
        *kept = hint;
    }
    *kept
}

/// A lock wait that timed out, a deadlock, or a serialization failure.
fn is_contention(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| matches!(code.code(), "55P03" | "40P01" | "40001"))
}

/// Commits of one plugin at once on one node: enough to overlap their round
/// trips, few enough that commits waiting on hot keys of several plugins
/// leave most of the pool (16) to everything else.
const COMMITS_AT_ONCE: usize = 2;

impl Postgres {
    /// This node's commit slots for `plugin` ([`COMMITS_AT_ONCE`]).
    fn commit_slots(&self, plugin: &str) -> std::sync::Arc<tokio::sync::Semaphore> {
        let mut slots = locked(&self.commit_slots);
        slots
            .entry(plugin.to_string())
            .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(COMMITS_AT_ONCE)))
            .clone()
    }

    /// `plugin`'s usage as stored, with its generation; counted when no
    /// commit stored it yet (generation 0: older than any commit's).
    fn read_usage(&self, plugin: &str) -> Result<Hint, StoreError> {
        let plugin = plugin.to_owned();
        self.run("reading plugin storage usage", move |pool| async move {
            let client = pool.get().await?;
            let kept = client
                .prepare_cached("SELECT bytes, keys, generation FROM plugin_usage WHERE plugin_id = $1")
                .await?;
            if let Some(row) = client.query_opt(&kept, &[&plugin]).await? {
                return Ok(Hint { usage: usage_of(&row, 0)?, generation: row.try_get(2)? });
            }
            let counted = client
                .prepare_cached(
                    "SELECT COALESCE(SUM(octet_length(key) + octet_length(value)), 0)::bigint, COUNT(*)
                     FROM plugin_storage WHERE plugin_id = $1",
                )
                .await?;
            Ok(Hint { usage: usage_of(&client.query_one(&counted, &[&plugin]).await?, 0)?, generation: 0 })
        })
    }
}
