//! `word-count-widget-js`: the word-count widget written in JavaScript
//! (componentize-js), through the same WIT, passing the same behaviour tests
//! as its Rust twin.

use plinth_host::{CallError, CallErrorKind, FieldContext};
use plinth_tests::{example, fresh_host, guest_built, guests};
use serde_json::json;

const WIDGET: &str = "plugin:word-count-widget-js:word-count";

#[test]
fn the_javascript_widget_renders_and_validates_against_its_setting() {
    if !guest_built(guests::WORD_COUNT_WIDGET_JS) {
        return;
    }
    let (_guard, host) = fresh_host();
    let info = host.load_plugin(example("word-count-widget-js")).expect("load the JavaScript plugin");
    assert_eq!(info.exports, ["field-widget"]);
    let widgets = host.widgets();
    assert_eq!(widgets.len(), 1);
    assert_eq!(
        (widgets[0].id.as_str(), widgets[0].field_types.as_slice()),
        (WIDGET, ["text".to_string()].as_slice())
    );

    let context =
        FieldContext { field_name: "bio".into(), value: json!("three <small> words"), ..Default::default() };
    let html = host.render_widget(WIDGET, &context).expect("render");
    assert!(html.contains("3 / 200 words"), "{html}");
    assert!(html.contains("&lt;small&gt;"), "values must be escaped: {html}");

    assert_eq!(host.validate_widget(WIDGET, &json!("a b c")).expect("validate"), Vec::<String>::new());
    host.set_settings(
        "word-count-widget-js",
        json!({"max_words": 2}).as_object().cloned().unwrap_or_default(),
    )
    .expect("set");
    let problems = host.validate_widget(WIDGET, &json!("a b c")).expect("validate");
    assert_eq!(problems, ["3 words is more than the maximum of 2"]);
    assert_eq!(host.validate_widget(WIDGET, &json!(12)).expect("validate"), ["the value must be text"]);

    let unknown =
        host.render_widget("plugin:word-count-widget-js:nope", &context).expect_err("unknown widget");
    assert_eq!(unknown.code(), "unknown_widget");
    let bad = host.render_widget(WIDGET, &FieldContext { value: json!(3), ..context }).expect_err("not text");
    assert!(
        matches!(
            &bad,
            CallError { kind: CallErrorKind::Guest(plinth_host::GuestError::InvalidInput(_)), .. }
        ),
        "{bad}"
    );
}
