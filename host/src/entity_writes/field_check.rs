//! Field configurations enforced on every entity write, whoever writes: each
//! value fits its field's `type`, `required` fields are filled in,
//! `read_only` fields keep the value they were created with, and a field with
//! a widget passes that widget's WASM `validate`. A widget that is not
//! loaded, does not edit the field's type, or fails to answer refuses the
//! write too: validation that cannot run must not be skipped.
//!
//! The widget checks of one write run together under one time budget (the
//! longest widget time limit among them), so a write with a hundred widget
//! fields answers in about one widget time limit, not a hundred.

use super::Entities;
use crate::error::HostError;
use crate::field_config::{FieldSetting, parse_widget_id};
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Widget checks of one write running at once, at most (each holds an
/// instance; fewer when a plugin allows fewer calls at once).
const CHECKS_AT_ONCE: usize = 8;

/// Problems found, by field name.
type Problems = BTreeMap<String, Vec<String>>;

impl FieldSetting {
    /// Whether `value` fits the field's type; `null` clears any field.
    fn accepts(&self, value: &Value) -> bool {
        match self.kind.as_str() {
            "number" => value.is_number() || value.is_null(),
            "boolean" => value.is_boolean() || value.is_null(),
            "json" => true,
            _ => value.is_string() || value.is_null(),
        }
    }

    /// What is wrong with `value` before any widget sees it: its type,
    /// `required`, and `read_only` against the stored entity's value (none
    /// on create).
    fn problem(&self, value: Option<&Value>, stored: Option<Option<&Value>>) -> Option<String> {
        // Absent and null are the same for a read-only field: no value.
        let same =
            |a: Option<&Value>, b: Option<&Value>| a.filter(|v| !v.is_null()) == b.filter(|v| !v.is_null());
        if let Some(stored) = stored
            && self.read_only
            && !same(stored, value)
        {
            return Some("this field is read-only: it keeps the value it was created with".into());
        }
        if self.required && !has_value(value) {
            return Some("a value is required".into());
        }
        match value {
            Some(value) if !self.accepts(value) => Some(format!(
                "must be {} (the field's type is `{}`), or null",
                kind_name(&self.kind),
                self.kind
            )),
            _ => None,
        }
    }
}

/// The JSON a field type takes, for people.
fn kind_name(kind: &str) -> &'static str {
    match kind {
        "number" => "a number",
        "boolean" => "true or false",
        "json" => "any JSON value",
        _ => "text (a JSON string)",
    }
}

/// Whether a field counts as filled in for `required`.
fn has_value(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(text)) => !text.trim().is_empty(),
        Some(_) => true,
    }
}

impl Entities {
    /// The loaded widget `plugin:{pluginId}:{widgetId}`, if it is loaded.
    fn loaded_widget(&self, widget_id: &str) -> Option<crate::WidgetInfo> {
        let (plugin_id, local_id) = parse_widget_id(widget_id)?;
        let plugin = self.invoker.registry.get(plugin_id)?;
        plugin.widget_infos().iter().find(|widget| widget.widget_id == local_id).cloned()
    }

    /// Why widget `widget_id` may not edit a field of type `kind`, if it is
    /// loaded and does not list that type (an empty list takes any type).
    pub(super) fn widget_type_problem(&self, widget_id: &str, kind: &str) -> Option<String> {
        let types = self.loaded_widget(widget_id)?.field_types;
        (!types.is_empty() && !types.iter().any(|t| t == kind)).then(|| {
            format!(
                "{widget_id} edits {} fields, not `{kind}`; pick another widget or field type",
                types.join(", ")
            )
        })
    }

    /// Why `config` is not a configuration widget `widget_id` takes, if it
    /// is loaded and declares a `config_schema` (without one, any goes).
    pub(super) fn widget_config_problem(&self, widget_id: &str, config: &Value) -> Option<String> {
        let schema = self.loaded_widget(widget_id)?.config_schema;
        if schema.is_empty() || config.is_null() {
            return None;
        }
        let Value::Object(options) = config else {
            return Some(format!("{widget_id} takes its `config` as an object"));
        };
        options.iter().find_map(|(key, value)| {
            crate::capabilities::settings::validate(&schema, key, value)
                .err()
                .map(|problem| format!("`config.{key}` of {widget_id}: {problem}"))
        })
    }

    /// Checks `data` against the entity type's field configuration. `stored`
    /// is the entity's data before an update (none on create).
    pub(super) async fn check_fields(
        &self,
        entity_type: &str,
        data: &Value,
        stored: Option<&Value>,
    ) -> Result<(), HostError> {
        let config = self.field_config_for_write(entity_type)?;
        let mut problems = Problems::new();
        let mut checks = Vec::new();
        for (name, field) in &config.fields {
            let value = data.get(name);
            if let Some(problem) = field.problem(value, stored.map(|stored| stored.get(name))) {
                problems.entry(name.clone()).or_default().push(problem);
                continue;
            }
            let (Some(widget), Some(value)) = (&field.widget, value) else { continue };
            if let Some(problem) = self.widget_type_problem(widget, &field.kind) {
                problems.entry(name.clone()).or_default().push(problem);
                continue;
            }
            // A switched-off plugin's widget checks nothing, page-only or not.
            if let Some((plugin_id, _)) = parse_widget_id(widget)
                && self.invoker.is_disabled(plugin_id)
            {
                let problem = format!(
                    "{widget} is off: plugin `{plugin_id}` is switched off; switch it on, or change the field configuration of `{entity_type}`"
                );
                problems.entry(name.clone()).or_default().push(problem);
                continue;
            }
            // A page-only widget has nothing to validate with: its page checks
            // in the browser only (docs/widgets.md says so, and the console).
            if !self.invoker.is_page_only_widget(widget) {
                checks.push((name.clone(), widget.clone(), value.clone()));
            }
        }
        // The write is refused already: no widget needs to run.
        if problems.is_empty() {
            problems = self.run_widget_checks(entity_type, checks).await;
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(HostError::ValidationFailed { entity_type: entity_type.into(), fields: problems })
        }
    }

    /// Runs the widget checks of one write together, within one budget.
    /// (Owned values: the checks' futures must be `Send` for any caller.)
    async fn run_widget_checks(&self, entity_type: &str, checks: Vec<(String, String, Value)>) -> Problems {
        let budget = checks
            .iter()
            .filter_map(|(_, widget, _)| self.invoker.registry.get(parse_widget_id(widget)?.0))
            .map(|plugin| plugin.context.limits.widget_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        // No more at once than the least of the plugins' own limits, so the
        // checks never refuse each other for being busy.
        let at_once = checks
            .iter()
            .filter_map(|(_, widget, _)| self.invoker.registry.get(parse_widget_id(widget)?.0))
            .map(|plugin| plugin.context.limits.max_concurrent)
            .min()
            .unwrap_or(1)
            .clamp(1, CHECKS_AT_ONCE);
        let deadline = tokio::time::Instant::now() + budget;
        let mut unchecked: BTreeMap<String, String> =
            checks.iter().map(|(name, widget, _)| (name.clone(), widget.clone())).collect();
        let mut running = futures_util::stream::iter(checks)
            .map(|(name, widget, value)| async move {
                let result = self.invoker.validate_widget(&widget, &value).await;
                (name, widget, result)
            })
            .buffer_unordered(at_once);
        let mut problems = Problems::new();
        let mut reported = 0;
        // Strict: once the budget is spent no further check starts, even if
        // the ones running answered in the same instant.
        while tokio::time::Instant::now() < deadline
            && let Ok(Some((name, widget, result))) = tokio::time::timeout_at(deadline, running.next()).await
        {
            unchecked.remove(&name);
            let messages = result.unwrap_or_else(|error| {
                vec![format!(
                    "{widget} could not check this value ({error}); try again, or change the field configuration of `{entity_type}`"
                )]
            });
            reported += messages.len();
            if !messages.is_empty() {
                problems.entry(name).or_default().extend(messages);
            }
            // The write is refused already: checking more fields would only
            // make the answer longer (each widget may give 100 messages).
            if reported >= crate::calls::MAX_VALIDATION_MESSAGES {
                return problems;
            }
        }
        for (name, widget) in unchecked {
            problems.entry(name).or_default().push(format!(
                "not checked: the widget checks of this write ran out of time ({budget:?}) before {widget} answered; try again, or configure fewer widget fields on `{entity_type}`"
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(settings: Value) -> FieldSetting {
        serde_json::from_value(settings).expect("a field setting")
    }

    #[test]
    fn values_must_fit_the_type_and_null_clears() {
        let number = field(json!({"type": "number"}));
        assert!(number.problem(Some(&json!(3.5)), None).is_none());
        assert!(number.problem(Some(&Value::Null), None).is_none());
        assert!(number.problem(None, None).is_none());
        let problem = number.problem(Some(&json!("3")), None).expect("text is no number");
        assert!(problem.contains("a number"), "{problem}");
        assert!(field(json!({})).problem(Some(&json!(1)), None).is_some(), "text by default");
        assert!(field(json!({"type": "boolean"})).problem(Some(&json!("true")), None).is_some());
        assert!(field(json!({"type": "json"})).problem(Some(&json!({"a": [1]})), None).is_none());
        let required = field(json!({"type": "text", "required": true}));
        for empty in [None, Some(json!(null)), Some(json!("  "))] {
            assert!(required.problem(empty.as_ref(), None).is_some(), "{empty:?}");
        }
    }

    #[test]
    fn read_only_fields_keep_their_first_value() {
        let fixed = field(json!({"read_only": true}));
        let first = json!("first");
        assert!(fixed.problem(Some(&first), None).is_none(), "set on create");
        assert!(fixed.problem(Some(&first), Some(Some(&first))).is_none(), "kept");
        assert!(fixed.problem(Some(&json!("other")), Some(Some(&first))).is_some(), "changed");
        assert!(fixed.problem(None, Some(Some(&first))).is_some(), "dropped");
        assert!(fixed.problem(None, Some(None)).is_none(), "never set");
        assert!(fixed.problem(Some(&Value::Null), Some(None)).is_none(), "null is no value");
    }
}
