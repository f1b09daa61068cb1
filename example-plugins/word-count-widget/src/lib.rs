//! `word-count-widget`: the field widget `word-count` for text fields. It renders
//! the text with its word count and rejects values over the `max_words` setting.

use plinth_sdk::{Error, FieldContext, Plugin, Widget, export, host};

struct WordCount;

const WIDGET: &str = "word-count";

impl Plugin for WordCount {
    fn widgets() -> Vec<Widget> {
        vec![Widget {
            id: WIDGET.to_string(),
            label: "Word count".to_string(),
            field_types: vec!["text".to_string()],
        }]
    }

    fn render_widget(widget_id: &str, context: FieldContext) -> Result<String, Error> {
        check_widget(widget_id)?;
        let text = text_of(&context.value)?;
        let words = count_words(&text);
        let max = max_words()?;
        let state = if words > max { "over" } else { "ok" };
        Ok(format!(
            "<div class=\"plinth-word-count\" data-field=\"{field}\" data-state=\"{state}\">\
             <textarea name=\"{field}\">{text}</textarea>\
             <span class=\"count\">{words} / {max} words</span></div>",
            field = escape(&context.field_name),
            text = escape(&text),
        ))
    }

    fn validate_widget(widget_id: &str, value: &str) -> Result<Vec<String>, Error> {
        check_widget(widget_id)?;
        let text = match text_of(value) {
            Ok(text) => text,
            Err(_) => return Ok(vec!["the value must be text".to_string()]),
        };
        let words = count_words(&text);
        let max = max_words()?;
        Ok(if words > max {
            vec![format!("{words} words is more than the maximum of {max}")]
        } else {
            Vec::new()
        })
    }
}

fn check_widget(widget_id: &str) -> Result<(), Error> {
    if widget_id == WIDGET {
        Ok(())
    } else {
        Err(Error::NotFound(format!("no widget `{widget_id}`; this plugin has `{WIDGET}`")))
    }
}

/// The field's text: a JSON string, or empty for `null`.
fn text_of(value: &str) -> Result<String, Error> {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        Ok(serde_json::Value::Null) => Ok(String::new()),
        _ => Err(Error::InvalidInput(format!("expected a JSON string, got `{value}`"))),
    }
}

fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn max_words() -> Result<u64, Error> {
    Ok(host::setting("max_words")?.unwrap_or(200))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

export!(WordCount: widgets);
