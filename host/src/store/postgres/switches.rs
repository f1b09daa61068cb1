//! Plugins switched off, in PostgreSQL: one row per disabled plugin.

use super::Postgres;
use crate::store::{PluginSwitches, StoreError};
use std::collections::BTreeSet;

impl PluginSwitches for Postgres {
    fn disabled(&self) -> Result<BTreeSet<String>, StoreError> {
        self.run("reading the disabled plugins", move |pool| async move {
            let client = pool.get().await?;
            let statement = client.prepare_cached("SELECT plugin_id FROM disabled_plugins").await?;
            let rows = client.query(&statement, &[]).await?;
            Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<BTreeSet<String>, _>>()?)
        })
    }

    fn set_disabled(&self, plugin_id: &str, disabled: bool) -> Result<(), StoreError> {
        let plugin_id = plugin_id.to_owned();
        self.run("switching a plugin on or off", move |pool| async move {
            let client = pool.get().await?;
            let sql = if disabled {
                "INSERT INTO disabled_plugins (plugin_id) VALUES ($1) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM disabled_plugins WHERE plugin_id = $1"
            };
            let statement = client.prepare_cached(sql).await?;
            client.execute(&statement, &[&plugin_id]).await?;
            Ok(())
        })
    }
}
