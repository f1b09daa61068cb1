//! The Python project `plinth new --lang python` writes: `app.py` on the
//! vendored `plinth_plugin.py` (the guide's shapes), built with componentize-py
//! against the vendored `wit/`.

use super::{PLINTH_PLUGIN, Project, Sources};

pub fn sources(project: &Project) -> Sources {
    let roles = project.roles;
    let mut app = format!(
        "\"\"\"{id}: a Plinth plugin (made by `plinth new`), built with componentize-py.\n\nEvent handlers and routes use `plinth_plugin` (vendored beside this file), in\nthe shape of the old Python plugins: `@on(...)`, `@router.get(...)`, `host.*`.\n\"\"\"\n\nimport json\n\n",
        id = project.id
    );
    let mut shaped = Vec::new();
    if roles.events {
        shaped.extend(["Events", "host", "on"]);
    }
    if roles.routes {
        shaped.extend(["Routes", "router"]);
    }
    if !shaped.is_empty() {
        shaped.sort_unstable();
        shaped.dedup();
        // Events and Routes are the component's exports; componentize-py finds them here.
        app.push_str(&format!("from plinth_plugin import {}  # noqa: F401\n", shaped.join(", ")));
    }
    if roles.widgets {
        app.push_str("from wit_world import exports\nfrom wit_world.exports import field_widget\n");
    }
    if roles.events {
        app.push_str(
            r#"

@on("entity_created")
def log_created(event):
    # Every new entity is logged (the `log` grant).
    host.log(f"created {event.entity_type} {event.entity_id}")
"#,
        );
    }
    if roles.routes {
        app.push_str(&format!(
            r#"

@router.get("/hello")
def hello():
    return {{"message": "hello from {id}"}}
"#,
            id = project.id
        ));
    }
    if roles.widgets {
        app.push_str(
            r#"

MAX_CHARS = 100


def text_of(value):
    """The field's text (its value is JSON: a string or null), or None."""
    parsed = json.loads(value)
    if parsed is None:
        return ""
    return parsed if isinstance(parsed, str) else None


class FieldWidget(exports.FieldWidget):
    def list_widgets(self):
        return [field_widget.Widget(id="short-text", label="Short text", field_types=["text"])]

    def render(self, widget_id, context):
        # The HTML desktop front ends show (web front ends use ui/widget.html).
        text = text_of(context.value) or ""
        return f'<span class="short-text">{len(text)} characters</span>'

    def validate(self, widget_id, value):
        # Runs on the server on every save of a field that uses this widget.
        text = text_of(value)
        if text is None:
            return ["the value must be text"]
        if len(text) > MAX_CHARS:
            return [f"at most {MAX_CHARS} characters"]
        return []
"#,
        );
    }
    if roles.world() == "plugin" {
        // The `plugin` world (since 0.3.0) exports these too.
        if !roles.widgets {
            app.push_str("from wit_world import exports\n");
        }
        app.push_str(
            r#"
from componentize_py_types import Err
from wit_world.imports import types


class Jobs(exports.Jobs):
    def run_job(self, job):
        # Called for the jobs plugin.json declares (`jobs`); it declares none yet.
        raise Err(types.Error_NotFound(f"no job `{job}`"))


class Subscriber(exports.Subscriber):
    def on_message(self, message):
        # Called with the messages of the topics in capabilities.subscribes; it lists none yet.
        pass
"#,
        );
    }
    Sources {
        files: vec![
            ("app.py".into(), app),
            ("plinth_plugin.py".into(), PLINTH_PLUGIN.into()),
            (".gitignore".into(), "app.wasm\n__pycache__/\n".into()),
        ],
        module: "app.wasm".into(),
        build: format!("componentize-py -d wit -w {} componentize app -o app.wasm", roles.world()),
        watch: vec!["app.py".into(), "plinth_plugin.py".into(), "wit".into()],
        needs: "componentize-py 0.25.1 on PATH: pip install componentize-py==0.25.1",
    }
}
