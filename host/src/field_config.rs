//! Field configurations: for each entity type, how each field is edited
//! (a built-in input or a plugin field widget `plugin:{pluginId}:{widgetId}`),
//! like the guide's template `field_config`. The host keeps them in the
//! backend and enforces them on every write (`entity_writes`), so no front end
//! (and no widget frame) can skip them.

use crate::error::HostError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Fields one configuration may describe.
pub const MAX_FIELDS: usize = 100;
/// Bytes of one configuration, as JSON.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Entity types that may have a configuration.
pub const MAX_CONFIGS: usize = 1000;

/// How the fields of one entity type are edited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// The stored template's version: each save adds one. A save that names
    /// the version it was edited from is refused when another save came
    /// first ([`HostError::FieldConfigConflict`]); one without saves anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Field names in the order front ends show them; fields not listed
    /// follow in name order. (JSON objects have no order of their own.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<String>,
    /// By field name (a key of the entity's `data`).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSetting>,
}

/// How one field is edited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSetting {
    /// The field's type: `text` (the default), `number`, `boolean` or `json`.
    #[serde(default = "text", rename = "type")]
    pub kind: String,
    /// A label for people (the field name when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The widget that edits it, `plugin:{pluginId}:{widgetId}`; none for a built-in input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<String>,
    /// A write without a value for this field (absent, null or "") is refused.
    #[serde(default)]
    pub required: bool,
    /// Set when the entity is created, never changed by an update afterwards
    /// (front ends show it without letting people change it).
    #[serde(default)]
    pub read_only: bool,
    /// Free-form options handed to the widget.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
}

fn text() -> String {
    "text".to_string()
}

/// The field types a configuration may name.
pub const FIELD_TYPES: [&str; 4] = ["text", "number", "boolean", "json"];

impl FieldConfig {
    /// Checks names, types, sizes and widget ids (well-formed; whether the
    /// widget is loaded is checked on each write, as plugins come and go).
    pub(crate) fn check(&self, entity_type: &str) -> Result<(), HostError> {
        let invalid =
            |message: String| HostError::InvalidFieldConfig { entity_type: entity_type.into(), message };
        if self.fields.len() > MAX_FIELDS {
            return Err(invalid(format!("at most {MAX_FIELDS} fields may be configured")));
        }
        let bytes = serde_json::to_vec(self).map_or(usize::MAX, |json| json.len());
        if bytes > MAX_CONFIG_BYTES {
            return Err(invalid(format!("the configuration is {bytes} bytes; at most {MAX_CONFIG_BYTES}")));
        }
        let mut listed = std::collections::BTreeSet::new();
        for name in &self.order {
            if !self.fields.contains_key(name) || !listed.insert(name) {
                return Err(invalid(format!(
                    "`order` lists `{name}`, which is not a configured field or is listed twice"
                )));
            }
        }
        for (name, field) in &self.fields {
            if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                return Err(invalid(format!("`{name}`: a field name is 1 to 128 bytes of printable text")));
            }
            if !FIELD_TYPES.contains(&field.kind.as_str()) {
                return Err(invalid(format!(
                    "field `{name}`: type `{}` is not one of {}",
                    field.kind,
                    FIELD_TYPES.join(", ")
                )));
            }
            if let Some(widget) = &field.widget
                && parse_widget_id(widget).is_none()
            {
                return Err(invalid(format!(
                    "field `{name}`: `{widget}` is not a widget id; use plugin:{{pluginId}}:{{widgetId}}"
                )));
            }
        }
        Ok(())
    }

    /// The fields in the order front ends show them.
    pub fn ordered(&self) -> Vec<(&String, &FieldSetting)> {
        let listed = self.order.iter().filter_map(|name| self.fields.get_key_value(name));
        let rest = self.fields.iter().filter(|(name, _)| !self.order.contains(name));
        listed.chain(rest).collect()
    }
}

/// `plugin:{pluginId}:{widgetId}` → (plugin id, widget id).
pub(crate) fn parse_widget_id(id: &str) -> Option<(&str, &str)> {
    let (plugin, widget) = id.strip_prefix("plugin:")?.split_once(':')?;
    (crate::manifest::is_identifier(plugin) && crate::manifest::is_identifier(widget))
        .then_some((plugin, widget))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widget_ids_parse() {
        assert_eq!(parse_widget_id("plugin:word-count:count"), Some(("word-count", "count")));
        assert_eq!(parse_widget_id("plugin:Bad:count"), None);
        assert_eq!(parse_widget_id("word-count:count"), None);
        assert_eq!(parse_widget_id("plugin:a:b:c"), None);
    }

    #[test]
    fn configurations_are_checked() {
        let config: FieldConfig =
            serde_json::from_value(serde_json::json!({"fields": {"bio": {"type": "colour"}}}))
                .expect("parses");
        let error = config.check("character").expect_err("unknown type");
        assert!(error.to_string().contains("colour"), "{error}");
        let config: FieldConfig =
            serde_json::from_value(serde_json::json!({"fields": {"bio": {"widget": "count"}}}))
                .expect("parses");
        assert!(config.check("character").is_err());
        assert!(
            serde_json::from_value::<FieldConfig>(serde_json::json!({"fields": {"bio": {"colour": 1}}}))
                .is_err()
        );
    }
}
