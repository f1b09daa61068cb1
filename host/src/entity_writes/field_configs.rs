//! Storing the field configurations (templates) every write is checked
//! against: versioned saves, so two editors never overwrite each other
//! unseen. What a configuration may say is `crate::field_config`'s.

use super::Entities;
use crate::capabilities::in_place;
use crate::error::HostError;
use crate::field_config::{FieldConfig, MAX_CONFIGS};
use serde_json::Value;
use std::collections::BTreeMap;

impl Entities {
    /// Every entity type's field configuration (those with fields).
    pub(crate) fn field_configs(&self) -> Result<BTreeMap<String, FieldConfig>, HostError> {
        let stored = in_place(|| self.backend().field_configs.all())?;
        // Only configurations this host checked are stored; one that no longer
        // parses (edited by hand) is skipped rather than failing every read.
        // A removed one stays as an empty row that keeps its version.
        Ok(stored
            .into_iter()
            .filter_map(|(entity_type, json)| Some((entity_type, parsed(json)?)))
            .filter(|(_, config)| !config.fields.is_empty())
            .collect())
    }

    /// The field configuration of one entity type (empty when none is stored).
    pub(crate) fn field_config(&self, entity_type: &str) -> Result<FieldConfig, HostError> {
        Ok(or_none(in_place(|| self.backend().field_configs.get(entity_type))?))
    }

    /// The field configuration a write of `entity_type` is checked against:
    /// the backend may answer its own copy, a moment old
    /// (`FieldConfigStore::get_for_write`).
    pub(crate) fn field_config_for_write(&self, entity_type: &str) -> Result<FieldConfig, HostError> {
        Ok(or_none(in_place(|| self.backend().field_configs.get_for_write(entity_type))?))
    }

    /// Saves the field configuration (the template) of `entity_type`; one
    /// without fields removes it (its version is kept, so an editor holding
    /// an older one still gets a conflict). With a `version`, only if that is
    /// still the stored one's; without, over whatever is stored. Answers what
    /// was stored, with its new version.
    pub(crate) fn set_field_config(
        &self,
        entity_type: &str,
        config: &FieldConfig,
    ) -> Result<FieldConfig, HostError> {
        let invalid =
            |message: String| HostError::InvalidFieldConfig { entity_type: entity_type.into(), message };
        super::check_entity_type(entity_type)?;
        config.check(entity_type)?;
        for (name, field) in &config.fields {
            if let Some(problem) =
                field.widget.as_deref().and_then(|id| self.widget_type_problem(id, &field.kind))
            {
                return Err(invalid(format!("field `{name}`: {problem}")));
            }
            if let Some(problem) =
                field.widget.as_deref().and_then(|id| self.widget_config_problem(id, &field.config))
            {
                return Err(invalid(format!("field `{name}`: {problem}")));
            }
        }
        if !config.fields.is_empty() {
            let configured = self.field_configs()?;
            if !configured.contains_key(entity_type) && configured.len() >= MAX_CONFIGS {
                return Err(invalid(format!(
                    "at most {MAX_CONFIGS} entity types may have a field configuration"
                )));
            }
        }
        // Removing what was never there stores nothing (no row per name asked).
        if config.fields.is_empty() && config.version.unwrap_or(0) == 0 {
            let current = self.field_config(entity_type)?;
            if current.fields.is_empty() && current.version == Some(0) {
                return Ok(current);
            }
        }
        // A save without a version is a save from the current one, tried
        // again if another save slips in between: versions never repeat.
        for _ in 0..UNVERSIONED_TRIES {
            let expected = match config.version {
                Some(version) => version,
                None => self.field_config(entity_type)?.version.unwrap_or(0),
            };
            let next = expected.checked_add(1).ok_or_else(|| invalid("`version` is too large".into()))?;
            let saved = FieldConfig { version: Some(next), ..config.clone() };
            let json = serde_json::to_value(&saved).map_err(|e| invalid(e.to_string()))?;
            if crate::types::contains_nul(&json) {
                return Err(invalid(
                    "a field configuration must not contain NUL characters (\\u0000)".into(),
                ));
            }
            if in_place(|| self.backend().field_configs.put(entity_type, Some(expected), Some(&json)))? {
                return Ok(saved);
            }
            if config.version.is_some() {
                break;
            }
        }
        let current = self.field_config(entity_type)?;
        Err(HostError::FieldConfigConflict { entity_type: entity_type.into(), current: Box::new(current) })
    }
}

/// Saves without a version tried before giving up (each lost to another save).
const UNVERSIONED_TRIES: usize = 5;

/// A stored configuration, if it still parses; one stored before versions is version 0.
fn parsed(json: Value) -> Option<FieldConfig> {
    let mut config: FieldConfig = serde_json::from_value(json).ok()?;
    config.version.get_or_insert(0);
    Some(config)
}

/// A stored configuration, or none stored as version 0: what a first save
/// names to be refused if another save comes first.
fn or_none(stored: Option<serde_json::Value>) -> FieldConfig {
    stored.and_then(parsed).unwrap_or_else(|| FieldConfig { version: Some(0), ..FieldConfig::default() })
}
