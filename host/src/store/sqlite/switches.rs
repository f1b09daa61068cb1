//! Plugins switched off, in SQLite: one row per disabled plugin.

use super::{Sqlite, fail};
use crate::store::{PluginSwitches, StoreError};
use std::collections::BTreeSet;

impl PluginSwitches for Sqlite {
    fn disabled(&self) -> Result<BTreeSet<String>, StoreError> {
        let db = self.lock();
        let ids = || -> rusqlite::Result<BTreeSet<String>> {
            db.prepare_cached("SELECT plugin_id FROM disabled_plugins")?
                .query_map([], |row| row.get(0))?
                .collect()
        };
        ids().map_err(fail("reading the disabled plugins"))
    }

    fn set_disabled(&self, plugin_id: &str, disabled: bool) -> Result<(), StoreError> {
        let db = self.lock();
        let sql = if disabled {
            "INSERT INTO disabled_plugins (plugin_id) VALUES (?1) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM disabled_plugins WHERE plugin_id = ?1"
        };
        db.execute(sql, [plugin_id]).map(drop).map_err(fail("switching a plugin on or off"))
    }
}
