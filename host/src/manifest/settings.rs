//! The settings a manifest declares (and a widget's `config_schema`, in the
//! same language): their types, defaults and the keys Plinth refuses.

use super::{MIGRATING, ManifestError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One declared setting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct SettingSchema {
    /// The JSON type values must have.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// The value used until the application sets one.
    #[serde(default)]
    pub default: Option<Value>,
    /// What the setting does.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the plugin's widget and panel pages receive this setting (in
    /// their `init` message). Off by default: a setting may hold a secret.
    #[serde(default)]
    pub expose_to_ui: bool,
    /// Keys Plinth does not know (`label`, `placeholder`, …): kept, shown to
    /// front ends, and warned about. Keys that would change which values are
    /// valid ([`CONSTRAINT_KEYS`]) are refused instead, since the host would
    /// accept values the author meant to forbid.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// Settings-schema keys that restrict values, which Plinth does not enforce.
pub const CONSTRAINT_KEYS: [&str; 14] = [
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "items",
    "required",
    "properties",
];

/// The JSON type of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingType {
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// Text.
    String,
    /// `true` or `false`.
    Boolean,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
}

impl SettingType {
    /// Whether `value` has this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            SettingType::Integer => value.is_i64() || value.is_u64(),
            SettingType::Number => value.is_number(),
            SettingType::String => value.is_string(),
            SettingType::Boolean => value.is_boolean(),
            SettingType::Array => value.is_array(),
            SettingType::Object => value.is_object(),
        }
    }

    /// The name used in `plugin.json`.
    pub fn name(self) -> &'static str {
        match self {
            SettingType::Integer => "integer",
            SettingType::Number => "number",
            SettingType::String => "string",
            SettingType::Boolean => "boolean",
            SettingType::Array => "array",
            SettingType::Object => "object",
        }
    }
}

/// Checks a schema (plugin settings, a widget's `config_schema`): no
/// constraint keys Plinth would not enforce, defaults of the declared type.
pub(super) fn check_schema(
    path: &str,
    schema: &BTreeMap<String, SettingSchema>,
) -> Result<(), ManifestError> {
    for (name, schema) in schema {
        if let Some(key) = schema.other.keys().find(|key| CONSTRAINT_KEYS.contains(&key.as_str())) {
            return Err(ManifestError::at(
                format!("{path}.{name}.{key}"),
                format!(
                    "Plinth does not enforce `{key}`, so it would accept values this setting forbids: remove it and check the value in the plugin (see {MIGRATING})"
                ),
            ));
        }
        if let Some(default) = &schema.default
            && !schema.kind.accepts(default)
        {
            return Err(ManifestError::at(
                format!("{path}.{name}.default"),
                format!("{default} is not of type {}", schema.kind.name()),
            ));
        }
    }
    Ok(())
}
