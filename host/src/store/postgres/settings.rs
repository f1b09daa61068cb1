//! Plugin settings in PostgreSQL: one row per set value, as `jsonb`.

use super::{Error, Postgres};
use crate::store::{SettingsStore, StoreError};
use serde_json::{Map, Value};

impl SettingsStore for Postgres {
    fn all(&self, plugin: &str) -> Result<Map<String, Value>, StoreError> {
        let plugin = plugin.to_owned();
        self.run("reading settings", move |pool| async move {
            let client = pool.get().await?;
            let statement =
                client.prepare_cached("SELECT name, value FROM plugin_settings WHERE plugin_id = $1").await?;
            client
                .query(&statement, &[&plugin])
                .await?
                .iter()
                .map(|row| -> Result<(String, Value), Error> { Ok((row.try_get(0)?, row.try_get(1)?)) })
                .collect()
        })
    }

    fn change(&self, plugin: &str, set: &Map<String, Value>, reset: &[String]) -> Result<(), StoreError> {
        let (plugin, set, reset) = (plugin.to_owned(), set.clone(), reset.to_vec());
        self.run("storing settings", move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            if !set.is_empty() {
                let upsert = transaction
                    .prepare_cached(
                        "INSERT INTO plugin_settings (plugin_id, name, value) VALUES ($1, $2, $3)
                         ON CONFLICT (plugin_id, name) DO UPDATE SET value = excluded.value",
                    )
                    .await?;
                for (name, value) in &set {
                    transaction.execute(&upsert, &[&plugin, name, value]).await?;
                }
            }
            if !reset.is_empty() {
                let delete = transaction
                    .prepare_cached(
                        "DELETE FROM plugin_settings WHERE plugin_id = $1 AND name = ANY($2::text[])",
                    )
                    .await?;
                transaction.execute(&delete, &[&plugin, &reset]).await?;
            }
            transaction.commit().await?;
            Ok(())
        })
    }
}
