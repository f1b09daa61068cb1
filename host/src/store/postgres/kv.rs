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
use crate::store::{HOOK_RECORDS_KEPT as KEPT, HOOK_RECORDS_TRIM_EVERY as TRIM_EVERY, event_name};
use crate::sync::locked;
use tokio_postgres::Row;

/// The keys under a prefix, in byte order (the column is `COLLATE "C"`).
const LIST: &str = "SELECT key FROM plugin_storage
    WHERE plugin_id = $1 AND key >= $2::text AND left(key, char_length($2::text)) = $2::text
    ORDER BY key";

fn keys_of(rows: &[Row]) -> Result<Vec<String>, Error> {
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

fn usage_of(row: &Row) -> Result<Usage, Error> {
    Ok(Usage { bytes: to_u64(row.try_get(0)?)?, keys: to_u64(row.try_get(1)?)? })
}

/// A storage commit as one statement: the database runs the whole commit
/// (the delivery settled with its hook record, the usage row locked, the
/// reads checked, the quota, the writes, the usage moved) in the statement's
/// own transaction, so a commit costs one round trip instead of eight.
/// Migration 6 installs it; change it only in a later migration (`CREATE OR
/// REPLACE`). Answers `ok` (with the usage after, when it wrote);
/// `delivered` when the delivery was gone; `conflict` with the key (or
/// `prefix*`) that changed; or `quota` with the usage the writes would have
/// left. A conflict or a full quota must undo the settled delivery too: the
/// body runs in a block whose handler catches the error it raises then
/// (`PLCNF`, `PLQTA`), which rolls the block back, and answers a row rather
/// than an error a server would log for every conflict.
pub(super) const COMMIT_FUNCTION: &str = r#"CREATE FUNCTION plinth_commit(
    p_plugin text, p_check_storage boolean,
    p_read_keys text[], p_read_versions bigint[], p_listed jsonb,
    p_put_keys text[], p_put_values bytea[], p_deleted text[],
    p_quota_bytes bigint, p_quota_keys bigint, p_lock_timeout_ms bigint,
    p_delivery bigint, p_event text, p_entity_id text, p_at bigint, p_duration_us bigint,
    p_error text, p_trim_every bigint, p_kept bigint,
    OUT outcome text, OUT key text, OUT bytes bigint, OUT keys bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_generation bigint;
    v_seen bigint;
    v_listed jsonb;
    v_bytes bigint;
    v_keys bigint;
    d_bytes bigint;
    d_keys bigint;
    i integer;
BEGIN
    outcome := 'ok';
    PERFORM set_config('lock_timeout', p_lock_timeout_ms::text, true);
    BEGIN
    IF p_delivery IS NOT NULL THEN
        WITH removed AS (DELETE FROM hook_deliveries WHERE id = p_delivery AND NOT done RETURNING id)
        INSERT INTO hook_records (plugin_id, event, entity_id, "at", duration_us, error)
        SELECT p_plugin, p_event, p_entity_id, p_at, p_duration_us, p_error FROM removed
        RETURNING seq INTO v_seq;
        IF v_seq IS NULL THEN
            outcome := 'delivered';
            RETURN;
        END IF;
        IF v_seq % p_trim_every = 0 THEN
            DELETE FROM hook_records WHERE seq IN (
                SELECT seq FROM hook_records
                WHERE seq < (SELECT seq FROM hook_records ORDER BY seq DESC OFFSET p_kept - 1 LIMIT 1)
                FOR UPDATE SKIP LOCKED);
        END IF;
    END IF;
    IF NOT p_check_storage THEN
        RETURN;
    END IF;
    -- Commits of one plugin, on any node, run one after another from here;
    -- each statement below sees every commit that came before.
    SELECT u.bytes, u.keys, u.generation INTO v_bytes, v_keys, v_generation
        FROM plugin_usage u WHERE u.plugin_id = p_plugin FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO plugin_usage (plugin_id, bytes, keys, generation)
            SELECT p_plugin, COALESCE(SUM(octet_length(s.key) + octet_length(s.value)), 0)::bigint,
                   COUNT(*), COALESCE(MAX(s.version), 0)
            FROM plugin_storage s WHERE s.plugin_id = p_plugin
            ON CONFLICT (plugin_id) DO NOTHING;
        SELECT u.bytes, u.keys, u.generation INTO v_bytes, v_keys, v_generation
            FROM plugin_usage u WHERE u.plugin_id = p_plugin FOR UPDATE;
    END IF;
    FOR i IN 1 .. COALESCE(array_length(p_read_keys, 1), 0) LOOP
        v_seen := NULL;
        SELECT s.version INTO v_seen FROM plugin_storage s
            WHERE s.plugin_id = p_plugin AND s.key = p_read_keys[i];
        IF v_seen IS DISTINCT FROM p_read_versions[i] THEN
            RAISE EXCEPTION USING ERRCODE = 'PLCNF', MESSAGE = p_read_keys[i];
        END IF;
    END LOOP;
    FOR v_listed IN SELECT value FROM jsonb_array_elements(COALESCE(p_listed, '[]'::jsonb)) LOOP
        IF (SELECT COALESCE(jsonb_agg(s.key ORDER BY s.key), '[]'::jsonb) FROM plugin_storage s
            WHERE s.plugin_id = p_plugin AND s.key >= (v_listed->>0)
              AND left(s.key, char_length(v_listed->>0)) = (v_listed->>0)) <> (v_listed->1) THEN
            RAISE EXCEPTION USING ERRCODE = 'PLCNF', MESSAGE = (v_listed->>0) || '*';
        END IF;
    END LOOP;
    IF COALESCE(array_length(p_put_keys, 1), 0) + COALESCE(array_length(p_deleted, 1), 0) = 0 THEN
        RETURN;
    END IF;
    -- What the writes change: the old rows' sizes out, the new ones in.
    SELECT COALESCE(SUM(octet_length(w.key) + octet_length(w.value)), 0), COUNT(*)
        INTO d_bytes, d_keys FROM unnest(p_put_keys, p_put_values) AS w (key, value);
    SELECT d_bytes - COALESCE(SUM(octet_length(s.key) + octet_length(s.value)), 0), d_keys - COUNT(*)
        INTO d_bytes, d_keys FROM plugin_storage s
        WHERE s.plugin_id = p_plugin AND (s.key = ANY(p_put_keys) OR s.key = ANY(p_deleted));
    IF (d_bytes > 0 OR d_keys > 0)
       AND (GREATEST(v_bytes + d_bytes, 0) > p_quota_bytes OR GREATEST(v_keys + d_keys, 0) > p_quota_keys) THEN
        RAISE EXCEPTION USING ERRCODE = 'PLQTA',
            MESSAGE = GREATEST(v_bytes + d_bytes, 0)::text || ' ' || GREATEST(v_keys + d_keys, 0)::text;
    END IF;
    INSERT INTO plugin_storage (plugin_id, key, value, version)
        SELECT p_plugin, w.key, w.value, v_generation + 1
        FROM unnest(p_put_keys, p_put_values) AS w (key, value)
        ON CONFLICT (plugin_id, key) DO UPDATE SET value = excluded.value, version = excluded.version;
    DELETE FROM plugin_storage s WHERE s.plugin_id = p_plugin AND s.key = ANY(p_deleted);
    UPDATE plugin_usage u SET bytes = GREATEST(v_bytes + d_bytes, 0),
        keys = GREATEST(v_keys + d_keys, 0), generation = v_generation + 1
        WHERE u.plugin_id = p_plugin;
    bytes := GREATEST(v_bytes + d_bytes, 0);
    keys := GREATEST(v_keys + d_keys, 0);
    EXCEPTION
        WHEN SQLSTATE 'PLCNF' THEN
            outcome := 'conflict';
            key := SQLERRM;
        WHEN SQLSTATE 'PLQTA' THEN
            outcome := 'quota';
            bytes := split_part(SQLERRM, ' ', 1)::bigint;
            keys := split_part(SQLERRM, ' ', 2)::bigint;
    END;
END
$$;"#;

/// `changes` committed for `plugin` by [`COMMIT_FUNCTION`], in one
/// statement; with the usage after it when it wrote.
async fn commit_in_one_statement(
    client: &deadpool_postgres::Client,
    plugin: &str,
    changes: &KvChanges,
    quota: Usage,
) -> Result<Result<Option<(i64, i64)>, CommitError>, Error> {
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
            "SELECT outcome, key, bytes, keys FROM plinth_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
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
        "ok" => Ok(row.try_get::<_, Option<i64>>(2)?.zip(row.try_get::<_, Option<i64>>(3)?)),
        "delivered" => Err(CommitError::Delivered),
        "conflict" => Err(CommitError::Conflict { key: row.try_get(1)? }),
        "quota" => {
            let after = Usage { bytes: to_u64(row.try_get(2)?)?, keys: to_u64(row.try_get(3)?)? };
            Err(CommitError::QuotaExceeded { after, quota })
        }
        other => return Err(Error::Invalid(format!("plinth_commit answered `{other}`"))),
    })
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

    /// From this node's last commit for `plugin` when there was one (see
    /// [`PluginKv::usage_hint`]): no round trip per call.
    fn usage_hint(&self, plugin: &str) -> Result<Usage, StoreError> {
        if let Some(usage) = locked(&self.usage_hints).get(plugin) {
            return Ok(*usage);
        }
        let usage = self.usage(plugin)?;
        // A commit's figure that came in meanwhile is newer: keep it.
        Ok(*locked(&self.usage_hints).entry(plugin.to_string()).or_insert(usage))
    }

    fn commit(&self, plugin: &str, changes: &KvChanges, quota: Usage) -> Result<(), CommitError> {
        let (plugin, changes) = (plugin.to_owned(), changes.clone());
        // One commit per plugin at a time on this node: the others wait here,
        // not holding a pooled connection while they wait for the row lock.
        let serial = changes.needs_storage_commit().then(|| self.commit_lock(&plugin));
        let hints = self.usage_hints.clone();
        self.run("committing plugin storage", move |pool| async move {
            let _one_per_plugin = match &serial {
                Some(serial) => Some(serial.lock().await),
                None => None,
            };
            let client = pool.get().await?;
            let outcome = match commit_in_one_statement(&client, &plugin, &changes, quota).await {
                Ok(outcome) => outcome,
                // Another node's commit held the row too long, or the database
                // broke a deadlock: nothing was written; the host runs the call again.
                Err(Error::Db(error)) if is_contention(&error) => Err(CommitError::Conflict {
                    key: format!("({plugin}'s storage is busy on another node)"),
                }),
                Err(error) => {
                    // Its outcome is unknown (a connection lost mid-commit, say).
                    locked(&hints).remove(&plugin);
                    return Err(error);
                }
            };
            // Still one commit of this plugin at a time: the hints keep the order of the commits.
            let mut hints = locked(&hints);
            match &outcome {
                Ok(Some((bytes, keys))) => {
                    hints.insert(plugin.clone(), Usage { bytes: to_u64(*bytes)?, keys: to_u64(*keys)? });
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
