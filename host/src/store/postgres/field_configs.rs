//! Field configurations in PostgreSQL: one row per entity type, as `jsonb`.

use super::{Error, Postgres};
use crate::store::{FieldConfigStore, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;

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

    fn put(
        &self,
        entity_type: &str,
        expected: Option<u64>,
        config: Option<&Value>,
    ) -> Result<bool, StoreError> {
        let (entity_type, config) = (entity_type.to_owned(), config.cloned());
        self.run("storing a field configuration", move |pool| async move {
            let client = pool.get().await?;
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
                    let sql = format!(
                        "UPDATE field_configs SET config = $2 WHERE entity_type = $1 AND {VERSION} = $3"
                    );
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
        })
    }
}

/// A stored configuration's version (0 for one saved before versions).
const VERSION: &str = "COALESCE((config->>'version')::bigint, 0)";
