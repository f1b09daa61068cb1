//! Plugin settings: declared with a type and default in `plugin.json`, set by
//! the application (validated against that schema), read by the plugin through
//! `plinth:plugin/settings` with the `setting_get` grant.

use super::{Caller, read_in_place};
use crate::GuestError;
use crate::bindings::plinth::plugin::settings as wit;
use crate::manifest::{HostFunction, SettingSchema};
use crate::store::{SettingsStore, StoreError};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use wasmtime::component::{HasData, Linker};

/// What a settings call sees: the caller and the settings store.
pub(crate) struct SettingsView<'a> {
    pub caller: &'a mut Caller,
    pub store: &'a dyn SettingsStore,
}

struct HasSettings;

impl HasData for HasSettings {
    type Data<'a> = SettingsView<'a>;
}

pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> SettingsView<'_>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSettings>(linker, get)
}

/// Every declared setting that has a value in force: the stored one, else
/// the schema's default. Values stored for undeclared names are left out.
pub(crate) fn effective(
    store: &dyn SettingsStore,
    plugin_id: &str,
    schema: &BTreeMap<String, SettingSchema>,
) -> Result<Map<String, Value>, StoreError> {
    let mut stored = store.all(plugin_id)?;
    Ok(schema
        .iter()
        .filter_map(|(name, setting)| Some((name.clone(), stored.remove(name).or(setting.default.clone())?)))
        .collect())
}

/// Checks `value` against the schema: the name must be declared and the type match.
pub(crate) fn validate(
    schema: &BTreeMap<String, SettingSchema>,
    name: &str,
    value: &Value,
) -> Result<(), String> {
    let setting = declared(schema, name)?;
    if crate::types::contains_nul(value) {
        return Err("a setting must not contain NUL characters (\\u0000)".into());
    }
    if setting.kind.accepts(value) {
        Ok(())
    } else {
        Err(format!("{value} is not of type {}", setting.kind.name()))
    }
}

/// The schema of a declared setting.
pub(crate) fn declared<'a>(
    schema: &'a BTreeMap<String, SettingSchema>,
    name: &str,
) -> Result<&'a SettingSchema, String> {
    schema.get(name).ok_or_else(|| {
        let known: Vec<&str> = schema.keys().map(String::as_str).collect();
        format!("no such setting; the manifest declares: {}", known.join(", "))
    })
}

impl SettingsView<'_> {
    fn effective(&mut self, operation: &str) -> Result<Map<String, Value>, GuestError> {
        self.caller.require(HostFunction::SettingGet)?;
        let plugin = self.caller.plugin.clone();
        read_in_place(self.caller, HostFunction::SettingGet, self.store.reads_in_place(), || {
            effective(self.store, &plugin.id, &plugin.settings)
        })
        .map_err(|e| self.caller.internal(operation, e))
    }
}

impl wit::Host for SettingsView<'_> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<Option<String>, GuestError>> {
        let result = self.effective("setting get").and_then(|mut values| {
            if !self.caller.plugin.settings.contains_key(&name) {
                return Err(GuestError::NotFound(format!("setting `{name}` is not declared in plugin.json")));
            }
            Ok(values.remove(&name).map(|value| value.to_string()))
        });
        Ok(result)
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, GuestError>> {
        let result = self.effective("setting get-all");
        Ok(result.map(|values| values.into_iter().map(|(k, v)| (k, v.to_string())).collect()))
    }
}
