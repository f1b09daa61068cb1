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

    fn put(&self, entity_type: &str, config: Option<&Value>) -> Result<(), StoreError> {
        let (entity_type, config) = (entity_type.to_owned(), config.cloned());
        self.run("storing a field configuration", move |pool| async move {
            let client = pool.get().await?;
            match config {
                Some(config) => {
                    let statement = client
                        .prepare_cached(
                            "INSERT INTO field_configs (entity_type, config) VALUES ($1, $2)
                             ON CONFLICT (entity_type) DO UPDATE SET config = excluded.config",
                        )
                        .await?;
                    client.execute(&statement, &[&entity_type, &config]).await?;
                }
                None => {
                    let statement =
                        client.prepare_cached("DELETE FROM field_configs WHERE entity_type = $1").await?;
                    client.execute(&statement, &[&entity_type]).await?;
                }
            }
            Ok(())
        })
    }
}
