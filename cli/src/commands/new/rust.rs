//! The Rust project `plinth new --lang rust` writes: a cdylib on `plinth-sdk`,
//! built with `cargo build --target wasm32-wasip2`.

use super::{Project, Roles, Sources};

pub fn sources(project: &Project) -> Sources {
    let crate_name = project.id.replace('-', "_");
    let cargo = format!(
        r#"[package]
name = "{id}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
plinth-sdk = {{ path = {sdk} }}
serde_json = "1"

# A project of its own, even inside another workspace.
[workspace]
"#,
        id = project.id,
        // A JSON string is a valid TOML basic string: quotes and backslashes escaped.
        sdk = serde_json::to_string(&project.sdk.display().to_string()).unwrap_or_default(),
    );
    Sources {
        files: vec![
            ("Cargo.toml".into(), cargo),
            ("src/lib.rs".into(), source(project)),
            (".gitignore".into(), "/target\n".into()),
        ],
        module: format!("target/wasm32-wasip2/release/{crate_name}.wasm"),
        // --target-dir: the module path must not depend on CARGO_TARGET_DIR.
        build: "cargo build --release --target wasm32-wasip2 --target-dir target".into(),
        watch: vec!["src".into(), "Cargo.toml".into()],
        needs: "the Rust target: rustup target add wasm32-wasip2",
    }
}

fn source(project: &Project) -> String {
    let Roles { events, routes, widgets } = project.roles;
    let mut uses = vec!["Error", "Plugin", "export"];
    let mut body = String::new();
    let mut exports = Vec::new();
    if events {
        uses.extend(["Entity", "Level", "host"]);
        exports.push("events");
        body.push_str(
            r#"
    /// Every new entity is logged (the `log` grant).
    fn on_entity_created(entity: Entity) -> Result<(), Error> {
        host::log(Level::Info, &format!("created {} {}", entity.entity_type(), entity.id()))
    }
"#,
        );
    }
    if routes {
        uses.extend(["Request", "Response", "Router"]);
        exports.push("routes");
        body.push_str(
            r#"
    /// Routes, relative to /api/plugins/{id}.
    fn router() -> Router {
        Router::new().get("/hello", hello)
    }
"#,
        );
    }
    if widgets {
        uses.extend(["FieldContext", "Widget"]);
        exports.push("widgets");
        body.push_str(
            r#"
    fn widgets() -> Vec<Widget> {
        vec![Widget { id: WIDGET.into(), label: "Short text".into(), field_types: vec!["text".into()] }]
    }

    /// The HTML desktop front ends show (web front ends use ui/widget.html).
    fn render_widget(_widget_id: &str, context: FieldContext) -> Result<String, Error> {
        let text = text_of(&context.value).unwrap_or_default();
        Ok(format!("<span class=\"short-text\">{} characters</span>", text.chars().count()))
    }

    /// Runs on the server on every save of a field that uses this widget.
    fn validate_widget(_widget_id: &str, value: &str) -> Result<Vec<String>, Error> {
        Ok(match text_of(value) {
            None => vec!["the value must be text".to_string()],
            Some(text) if text.chars().count() > MAX_CHARS => vec![format!("at most {MAX_CHARS} characters")],
            Some(_) => Vec::new(),
        })
    }
"#,
        );
    }
    uses.sort_unstable();
    let mut source = format!(
        "//! `{id}`: a Plinth plugin (made by `plinth new`).\n\nuse plinth_sdk::{{{uses}}};\n",
        id = project.id,
        uses = uses.join(", ")
    );
    if routes {
        source.push_str("use serde_json::json;\n");
    }
    source.push_str(&format!("\nstruct {};\n", project.type_name()));
    if widgets {
        source.push_str("\nconst WIDGET: &str = \"short-text\";\nconst MAX_CHARS: usize = 100;\n");
    }
    source.push_str(&format!("\nimpl Plugin for {} {{{body}}}\n", project.type_name()));
    if routes {
        source.push_str(&format!(
            "\nfn hello(_request: Request) -> Result<Response, Error> {{\n    Ok(Response::json(200, &json!({{ \"message\": \"hello from {}\" }})))\n}}\n",
            project.id
        ));
    }
    if widgets {
        source.push_str(
            "\n/// The field's text: its value is JSON, a string or null.\nfn text_of(value: &str) -> Option<String> {\n    match serde_json::from_str(value).ok()? {\n        serde_json::Value::String(text) => Some(text),\n        serde_json::Value::Null => Some(String::new()),\n        _ => None,\n    }\n}\n",
        );
    }
    source.push_str(&format!("\nexport!({}: {});\n", project.type_name(), exports.join(", ")));
    source
}
