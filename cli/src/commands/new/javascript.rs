//! The JavaScript project `plinth new --lang js` writes: `app.js`, built with
//! componentize-js against the vendored `wit/`.

use super::{Project, Sources};

pub fn sources(project: &Project) -> Sources {
    let roles = project.roles;
    let mut app = format!(
        "// {id}: a Plinth plugin (made by `plinth new`), built with componentize-js.\n// A WIT error is thrown as {{ tag, val }} (tag: not-found, invalid-input, ...).\n",
        id = project.id
    );
    if roles.events {
        app.push_str(&format!("\nimport {{ log }} from 'plinth:plugin/logging@{}';\n", project.wit));
        app.push_str(
            r#"
export const events = {
  // Every new entity is logged (the `log` grant).
  onEntityCreated(entity) {
    log('info', `created ${entity.entityType} ${entity.id}`);
  },
  onEntityUpdated(entity) {},
  onEntityDeleted(entityType, entityId) {},
};
"#,
        );
    }
    if roles.routes {
        app.push_str(&format!(
            r#"
export const routes = {{
  registerRoutes() {{
    return [{{ method: 'get', path: '/hello', handler: 'hello' }}];
  }},
  handle(request) {{
    const body = new TextEncoder().encode(JSON.stringify({{ message: 'hello from {id}' }}));
    return {{ status: 200, headers: [['content-type', 'application/json']], body }};
  }},
}};
"#,
            id = project.id
        ));
    }
    if roles.widgets {
        app.push_str(
            r#"
const MAX_CHARS = 100;

// The field's text (its value is JSON: a string or null), or null.
function textOf(value) {
  const parsed = JSON.parse(value);
  if (parsed === null) return '';
  return typeof parsed === 'string' ? parsed : null;
}

export const fieldWidget = {
  listWidgets() {
    return [{ id: 'short-text', label: 'Short text', fieldTypes: ['text'] }];
  },
  // The HTML desktop front ends show (web front ends use ui/widget.html).
  render(widgetId, context) {
    const text = textOf(context.value) ?? '';
    return `<span class="short-text">${text.length} characters</span>`;
  },
  // Runs on the server on every save of a field that uses this widget.
  validate(widgetId, value) {
    const text = textOf(value);
    if (text === null) return ['the value must be text'];
    return text.length > MAX_CHARS ? [`at most ${MAX_CHARS} characters`] : [];
  },
};
"#,
        );
    }
    if roles.world() == "plugin" {
        // The `plugin` world (since 0.3.0) exports these too.
        app.push_str(
            r#"
export const jobs = {
  // Called for the jobs plugin.json declares (`jobs`); it declares none yet.
  runJob(job) {
    throw { tag: 'not-found', val: `no job ${job}` };
  },
};

export const subscriber = {
  // Called with the messages of the topics in capabilities.subscribes; it lists none yet.
  onMessage(message) {},
};
"#,
        );
    }
    Sources {
        files: vec![("app.js".into(), app), (".gitignore".into(), "app.wasm\nnode_modules/\n".into())],
        module: "app.wasm".into(),
        build: format!(
            "componentize-js app.js -w wit -n {} -d http -d fetch-event -o app.wasm",
            roles.world()
        ),
        watch: vec!["app.js".into(), "wit".into()],
        needs: "componentize-js 0.23.0 on PATH: npm install -g @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/preview2-shim@0.25.0",
    }
}
