//! Plugin settings: declared with a type and default in `plugin.json`, set by
//! the application (validated against that schema), read by the plugin through
//! `plinth:plugin/settings` with the `setting_get` grant.

use super::internal;
use crate::GuestError;
use crate::bindings::plinth::plugin::settings as wit;
use crate::manifest::{HostFunction, SettingSchema};
use crate::sandbox::InvocationState;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use wasmtime::component::{HasSelf, Linker};

pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

fn stored(db: &Connection, plugin_id: &str, name: &str) -> rusqlite::Result<Option<Value>> {
    let text: Option<String> = db
        .prepare_cached("SELECT value FROM plugin_settings WHERE plugin_id = ?1 AND name = ?2")?
        .query_row(params![plugin_id, name], |row| row.get(0))
        .optional()?;
    // The column is CHECKed to hold valid JSON, so parsing only fails if the file was edited by hand.
    Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
}

/// The value in force: the stored one, else the schema's default.
pub(crate) fn effective(
    db: &Connection,
    plugin_id: &str,
    name: &str,
    schema: &SettingSchema,
) -> rusqlite::Result<Option<Value>> {
    Ok(stored(db, plugin_id, name)?.or_else(|| schema.default.clone()))
}

/// Every declared setting that has a value in force.
pub(crate) fn all_effective(
    db: &Connection,
    plugin_id: &str,
    schema: &BTreeMap<String, SettingSchema>,
) -> rusqlite::Result<Map<String, Value>> {
    let mut values = Map::new();
    for (name, setting) in schema {
        if let Some(value) = effective(db, plugin_id, name, setting)? {
            values.insert(name.clone(), value);
        }
    }
    Ok(values)
}

/// Checks `value` against the schema: the name must be declared and the type match.
pub(crate) fn validate(
    schema: &BTreeMap<String, SettingSchema>,
    name: &str,
    value: &Value,
) -> Result<(), String> {
    let setting = schema.get(name).ok_or_else(|| {
        let known: Vec<&str> = schema.keys().map(String::as_str).collect();
        format!("no such setting; the manifest declares: {}", known.join(", "))
    })?;
    if setting.kind.accepts(value) {
        Ok(())
    } else {
        Err(format!("{value} is not of type {}", setting.kind.name()))
    }
}

/// Stores several values in one transaction: all or none.
pub(crate) fn store_all(
    db: &mut Connection,
    plugin_id: &str,
    values: &Map<String, Value>,
) -> rusqlite::Result<()> {
    let transaction = db.transaction()?;
    for (name, value) in values {
        transaction
            .prepare_cached(
                "INSERT INTO plugin_settings (plugin_id, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (plugin_id, name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![plugin_id, name, value.to_string()])?;
    }
    transaction.commit()
}

impl wit::Host for InvocationState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<Option<String>, GuestError>> {
        let result = self.require(HostFunction::SettingGet).and_then(|()| {
            let schema = self.plugin.settings.get(&name).ok_or_else(|| {
                GuestError::NotFound(format!("setting `{name}` is not declared in plugin.json"))
            })?;
            effective(&self.db.lock(), &self.plugin.id, &name, schema)
                .map(|value| value.map(|v| v.to_string()))
                .map_err(|e| internal(self, "setting get", e))
        });
        Ok(result)
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, GuestError>> {
        let result = self.require(HostFunction::SettingGet).and_then(|()| {
            all_effective(&self.db.lock(), &self.plugin.id, &self.plugin.settings)
                .map(|values| values.into_iter().map(|(k, v)| (k, v.to_string())).collect())
                .map_err(|e| internal(self, "setting get-all", e))
        });
        Ok(result)
    }
}
