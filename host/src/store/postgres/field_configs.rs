//! Field configurations in PostgreSQL: one row per entity type, as `jsonb`.
//!
//! Every entity write reads its type's configuration, so each node keeps
//! the ones its writes read (`get_for_write`; the API and the editor read
//! the stored one): a save on any node clears every node's copies
//! (`NOTIFY plinth_field_configs`, heard through `LISTEN`; a listener that
//! reconnects clears them too; a read under way then keeps nothing, as it
//! may have found what the save replaced), and a copy is used for at most
//! [`FRESH_FOR`], should a notification be lost on a connection that stayed
//! up. A write is checked against the configuration saved before it, or
//! one the notification is still on its way to replace.

use super::{Error, Postgres};
use crate::store::{FieldConfigStore, StoreError};
use crate::sync::locked;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The channel a save notifies, so other nodes drop their copies.
pub(super) const CHANNEL: &str = "plinth_field_configs";

/// The longest a node uses a copy it read, should a notification be lost.
pub(super) const FRESH_FOR: Duration = Duration::from_secs(5);

/// This node's copies, shared with the task that hears other nodes' saves.
pub(super) type Copies = Arc<Mutex<Kept>>;

/// Each entity type's configuration (or none) and when it was read, and how
/// many times copies were dropped: a read that began before a drop (a save
/// it may not have seen) keeps nothing.
#[derive(Default)]
pub(super) struct Kept {
    drops: u64,
    configs: HashMap<String, (Option<Value>, Instant)>,
}

impl Kept {
    /// The copy of `entity_type`'s configuration, if one is fresh.
    fn fresh(&self, entity_type: &str) -> Option<Option<Value>> {
        let (config, read) = self.configs.get(entity_type)?;
        (read.elapsed() < FRESH_FOR).then(|| config.clone())
    }

    /// Keeps what a read begun at `read` (after `drops` drops) found,
    /// unless copies were dropped since it began.
    fn keep(&mut self, entity_type: &str, config: Option<Value>, read: Instant, drops: u64) {
        // Bounded by the types written within `FRESH_FOR`.
        self.configs.retain(|_, (_, at)| at.elapsed() < FRESH_FOR);
        if drops == self.drops {
            self.configs.insert(entity_type.to_string(), (config, read));
        }
    }

    /// Drops every copy (another node saved, or this one did).
    pub(super) fn drop_all(&mut self) {
        self.drops += 1;
        self.configs.clear();
    }
}

impl FieldConfigStore for Postgres {
    fn all(&self) -> Result<BTreeMap<String, Value>, StoreError> {
        self.run("reading field configurations", move |pool| async move {
            let client = pool.get().await?;
            let statement = client.prepare_cached("SELECT entity_type, config FROM field_configs").await?;
            client
                .query(&statement, &[])
                .await?
                .iter()
                .map(|row| -> Result<(String, Value), Error> { Ok((row.try_get(0)?, row.try_get(1)?)) })
                .collect()
        })
    }

    fn get(&self, entity_type: &str) -> Result<Option<Value>, StoreError> {
        let entity_type = entity_type.to_owned();
        self.run("reading a field configuration", move |pool| async move {
            let client = pool.get().await?;
            let statement =
                client.prepare_cached("SELECT config FROM field_configs WHERE entity_type = $1").await?;
            match client.query_opt(&statement, &[&entity_type]).await? {
                Some(row) => Ok(Some(row.try_get(0)?)),
                None => Ok(None),
            }
        })
    }

    fn get_for_write(&self, entity_type: &str) -> Result<Option<Value>, StoreError> {
        let (read, drops) = {
            let copies = locked(&self.field_config_copies);
            if let Some(config) = copies.fresh(entity_type) {
                return Ok(config);
            }
            (Instant::now(), copies.drops)
        };
        let config = self.get(entity_type)?;
        locked(&self.field_config_copies).keep(entity_type, config.clone(), read, drops);
        Ok(config)
    }

    fn put(
        &self,
        entity_type: &str,
        expected: Option<u64>,
        config: Option<&Value>,
    ) -> Result<bool, StoreError> {
        let (owned, config) = (entity_type.to_owned(), config.cloned());
        let saved = self.run("storing a field configuration", move |pool| async move {
            let client = pool.get().await?;
            let saved = save(&client, &owned, expected, config.as_ref()).await?;
            // Best effort: a node that misses it reads again within `FRESH_FOR`.
            if saved
                && let Err(problem) = client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &owned]).await
            {
                tracing::warn!(
                    entity_type = owned,
                    "telling other nodes of a field configuration change failed: {problem}"
                );
            }
            Ok(saved)
        });
        // Whatever happened, this node reads again; the others were told.
        locked(&self.field_config_copies).drop_all();
        saved
    }
}

/// Stores `config` for `entity_type` (see [`FieldConfigStore::put`]).
async fn save(
    client: &deadpool_postgres::Client,
    entity_type: &str,
    expected: Option<u64>,
    config: Option<&Value>,
) -> Result<bool, Error> {
    let Some(expected) = expected else {
        match &config {
            Some(config) => {
                let statement = client
                    .prepare_cached(
                        "INSERT INTO field_configs (entity_type, config) VALUES ($1, $2)
                                 ON CONFLICT (entity_type) DO UPDATE SET config = excluded.config",
                    )
                    .await?;
                client.execute(&statement, &[&entity_type, config]).await?;
            }
            None => {
                let statement =
                    client.prepare_cached("DELETE FROM field_configs WHERE entity_type = $1").await?;
                client.execute(&statement, &[&entity_type]).await?;
            }
        }
        return Ok(true);
    };
    let expected = i64::try_from(expected).unwrap_or(i64::MAX);
    // READ COMMITTED re-checks the WHERE on a row another save just
    // changed, so of two saves from one version only one matches.
    let changed = match &config {
        Some(config) => {
            let sql =
                format!("UPDATE field_configs SET config = $2 WHERE entity_type = $1 AND {VERSION} = $3");
            let statement = client.prepare_cached(&sql).await?;
            client.execute(&statement, &[&entity_type, config, &expected]).await?
        }
        None => {
            let sql = format!("DELETE FROM field_configs WHERE entity_type = $1 AND {VERSION} = $2");
            let statement = client.prepare_cached(&sql).await?;
            client.execute(&statement, &[&entity_type, &expected]).await?
        }
    };
    if changed == 1 || expected != 0 {
        return Ok(changed == 1);
    }
    // Expected none stored: add it, unless another save just did.
    match &config {
        Some(config) => {
            let statement = client
                .prepare_cached(
                    "INSERT INTO field_configs (entity_type, config) VALUES ($1, $2)
                             ON CONFLICT (entity_type) DO NOTHING",
                )
                .await?;
            Ok(client.execute(&statement, &[&entity_type, config]).await? == 1)
        }
        None => {
            let statement =
                client.prepare_cached("SELECT 1 FROM field_configs WHERE entity_type = $1").await?;
            Ok(client.query_opt(&statement, &[&entity_type]).await?.is_none())
        }
    }
}

/// A stored configuration's version (0 for one saved before versions).
const VERSION: &str = "COALESCE((config->>'version')::bigint, 0)";

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that began before a save's notification dropped the copies
    /// may have found the configuration the save replaced: it keeps nothing.
    #[test]
    fn a_read_begun_before_a_drop_keeps_no_copy() {
        let mut kept = Kept::default();
        let old = Some(serde_json::json!({ "version": 1 }));
        let (read, drops) = (Instant::now(), kept.drops);
        kept.drop_all();
        kept.keep("character", old.clone(), read, drops);
        assert_eq!(kept.fresh("character"), None, "a copy from before the drop");
        let (read, drops) = (Instant::now(), kept.drops);
        kept.keep("character", old.clone(), read, drops);
        assert_eq!(kept.fresh("character"), Some(old), "a copy from after it");
    }
}
