//! The Python project `plinth new --lang python` writes: `app.py`, built with
//! componentize-py against the vendored `wit/`.

use super::{Project, Sources};

pub fn sources(project: &Project) -> Sources {
    let roles = project.roles;
    let mut app = format!(
        "\"\"\"{id}: a Plinth plugin (made by `plinth new`), built with componentize-py.\"\"\"\n\nimport json\n\nfrom wit_world import exports\n",
        id = project.id
    );
    let mut imports = Vec::new();
    if roles.routes {
        app.push_str("from wit_world.exports import routes\n");
    }
    if roles.widgets {
        app.push_str("from wit_world.exports import field_widget\n");
    }
    if roles.events {
        imports.push("logging");
    }
    if !imports.is_empty() {
        app.push_str(&format!("from wit_world.imports import {}\n", imports.join(", ")));
    }
    if roles.events {
        app.push_str(
            r#"

class Events(exports.Events):
    def on_entity_created(self, entity):
        # Every new entity is logged (the `log` grant).
        logging.log(logging.Level.INFO, f"created {entity.entity_type} {entity.id}")

    def on_entity_updated(self, entity):
        pass

    def on_entity_deleted(self, entity_type, entity_id):
        pass
"#,
        );
    }
    if roles.routes {
        app.push_str(&format!(
            r#"

class Routes(exports.Routes):
    def register_routes(self):
        return [routes.Route(method=routes.Method.GET, path="/hello", handler="hello")]

    def handle(self, request):
        body = json.dumps({{"message": "hello from {id}"}}).encode()
        return routes.Response(status=200, headers=[("content-type", "application/json")], body=body)
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
    Sources {
        files: vec![("app.py".into(), app), (".gitignore".into(), "app.wasm\n__pycache__/\n".into())],
        module: "app.wasm".into(),
        build: format!("componentize-py -d wit -w {} componentize app -o app.wasm", roles.world()),
        watch: vec!["app.py".into(), "wit".into()],
        needs: "componentize-py 0.25.1 on PATH: pip install componentize-py==0.25.1",
    }
}
