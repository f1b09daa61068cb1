// Plinth desktop's page: everything goes through Tauri commands (no HTTP).
// Widget fields are rendered by the widget's WASM `render` (shown in a
// sandbox="" frame, where nothing runs) and checked live by its WASM
// `validate`; a widget's HTML page, where it has one, edits the field in a
// sandboxed frame (plugin-frame.js, shared with the web console). The host checks again on save.
"use strict";

const invoke = (command, args) => window.__TAURI__.core.invoke(command, args || {});

// A page's invoke reaches its own plugin's routes through a Tauri command
// that takes the frame's plugin, never the page's word for it.
PluginFrame.host = {
  name: "app",
  callRoute: (plugin, method, path, body) => invoke("call_route", { plugin, method, path, body }),
};

/** Builds an element; strings become text, never HTML. */
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) element.append(child);
  return element;
}

const message = (error) => (error && error.message) || String(error);

async function showStatus() {
  const status = await invoke("status");
  document.getElementById("status").textContent =
    `${status.plugins} plugins · engine ${status.app.engine} · data in ${status.app.data_dir}`;
  const plugins = await invoke("plugins");
  document.getElementById("plugins").replaceChildren(...plugins.map((p) =>
    h("li", { dataset: { plugin: p.id } }, `${p.name} (${p.id} ${p.version}) `, h("span", { class: "health" }, p.health.state))));
  return { status, plugins };
}

/** The settings a plugin's pages may see: those its manifest exposes. */
async function exposedSettings(plugin) {
  const names = Object.entries(plugin.settings || {}).filter(([, schema]) => schema.expose_to_ui).map(([name]) => name);
  if (!names.length) return {};
  const all = await invoke("settings", { plugin: plugin.id });
  return Object.fromEntries(names.filter((n) => n in all).map((n) => [n, all[n]]));
}

/** A widget's WASM render (in a sandbox="" frame, where nothing runs) and
 *  WASM validation of the field's current value; the latest call wins. A
 *  page-only widget (no component) has neither. */
function wasmChecks(name, field, widget, element) {
  if (!widget.server_validation) {
    return { render: h("p", { class: "muted" }, "A page-only widget: nothing checks its values but the page."), validity: h("div"), check: async () => {} };
  }
  const render = h("iframe", { class: "render", sandbox: "", title: `${widget.label} render (${name})` });
  const validity = h("div", { class: "problems validity", dataset: { validityFor: name } });
  let turn = 0;
  const check = async (value) => {
    const mine = ++turn;
    try {
      const [html, found] = await Promise.all([
        invoke("render_widget", { widget: widget.id, fieldName: name, value, config: field.config || null }),
        invoke("validate_widget", { widget: widget.id, value }),
      ]);
      if (mine !== turn) return;
      render.srcdoc = html;
      validity.textContent = found.join(" ");
      element.dataset.valid = String(found.length === 0);
    } catch (error) {
      if (mine === turn) validity.textContent = message(error);
    }
  };
  return { render, validity, check };
}

/** One field. A widget with an HTML page edits it in a sandboxed frame
 *  (sb-field-widget); any other field is a text input. Either way a widget's
 *  WASM renders the value and checks it as it changes; the host checks again
 *  on save, whatever the page does. */
function fieldEditor(name, field, context) {
  const id = "field-" + name;
  const problems = h("div", { class: "problems", dataset: { problemsFor: name } });
  const element = h("div", { class: "field", dataset: { field: name } });
  const label = (field.label || name) + (field.required ? " *" : "");
  const widget = field.widget && context.widgets.find((w) => w.id === field.widget);
  const plugin = widget && context.plugins.find((p) => p.id === widget.plugin_id);
  const checks = widget && wasmChecks(name, field, widget, element);
  if (widget && widget.html && plugin) {
    let value = null;
    const pageValidity = h("div", { class: "problems", dataset: { pageValidityFor: name } });
    const init = async () => ({
      value, entity: context.editing ? { id: context.editing.id, type: context.editing.entity_type } : null,
      field: { name, type: field.type || "text", required: !!field.required, readOnly: false, config: field.config === undefined ? null : field.config },
      settings: await exposedSettings(plugin), theme: { scheme: "light", vars: {} },
    });
    const on = {
      setValue: (next) => { value = next; checks.check(value); },
      setValidity: (valid, messages) => { pageValidity.textContent = valid ? "" : messages.join(" "); },
    };
    const src = `${context.pages}/plugin-ui/${encodeURIComponent(plugin.id)}/${widget.html.split("/").map(encodeURIComponent).join("/")}`;
    const frame = new PluginFrame({ protocol: "sb-field-widget", pluginId: plugin.id, src, title: `${widget.label} (${name})`, init, on, minHeight: 96 });
    frame.iframe.dataset.pageFor = name;
    element.append(h("span", { class: "label" }, label), frame.iframe, pageValidity, checks.validity,
      h("div", { class: "muted" }, `${widget.label}, rendered by its WASM:`), checks.render, problems);
    const write = (next) => { value = next === undefined ? null : next; frame.send("value-changed", { value }); checks.check(value); };
    // A frame that left its page may have set anything: not saved.
    const read = () => { if (frame.left) throw new Error(`${widget.label} left its own page; restart to edit ${name}`); return value; };
    return { element, problems, read, write, ready: checks.check(value) };
  }
  const input = h("input", { id, name, type: field.type === "number" ? "number" : "text" });
  element.append(h("label", { for: id }, label), input);
  const read = () => field.type === "number" ? (input.value === "" ? null : Number(input.value)) : input.value;
  let ready = Promise.resolve();
  if (checks) {
    element.append(h("div", { class: "muted" }, widget.label), checks.render, checks.validity);
    input.addEventListener("input", () => checks.check(read()));
    ready = checks.check(read());
  }
  element.append(problems);
  const write = (next) => { input.value = next === undefined || next === null ? "" : String(next); input.dispatchEvent(new Event("input")); };
  return { element, problems, read, write, ready };
}

/** What a write did: the entity, and every hook's outcome. */
function showWrite(verb, write) {
  const outcome = document.getElementById("outcome");
  outcome.replaceChildren(h("p", { class: "ok", id: "written", dataset: { verb } }, `${verb} ${write.entity.id}.`),
    h("ul", { id: "hooks" }, write.hooks.map((hook) => h("li", { dataset: { plugin: hook.plugin_id } },
      `${hook.plugin_id} ${hook.event}: ${hook.error ? "failed: " + hook.error : "ok"}`))));
}

/** The editor: creates a character, or saves the one being edited. */
const editor = { fields: [], editing: null };

async function showEditor(context) {
  const { config, widgets } = await invoke("field_config", { entityType: "character" });
  Object.assign(context, { widgets });
  const names = [...new Set([...(config.order || []), ...Object.keys(config.fields).sort()])];
  editor.fields = names.map((name) => [name, fieldEditor(name, config.fields[name], context)]);
  const form = document.getElementById("editor");
  const save = h("button", { type: "submit", id: "save" }, "Create");
  const cancel = h("button", { type: "button", id: "cancel", class: "secondary", hidden: true, onclick: () => edit(null) }, "Cancel");
  form.replaceChildren(...editor.fields.map(([, e]) => e.element), h("div", { class: "buttons" }, save, cancel));
  editor.edit = (entity) => {
    editor.editing = context.editing = entity;
    for (const [name, field] of editor.fields) field.write(entity ? entity.data[name] : "");
    save.textContent = entity ? "Save changes" : "Create";
    cancel.hidden = !entity;
    document.getElementById("editor-title").textContent = entity ? `Editing ${entity.data.name || entity.id}` : "New character";
  };
  form.onsubmit = async (event) => {
    event.preventDefault();
    document.getElementById("outcome").replaceChildren();
    try {
      const data = {};
      for (const [name, field] of editor.fields) { field.problems.textContent = ""; data[name] = field.read(); }
      const write = editor.editing
        ? await invoke("update_entity", { id: editor.editing.id, data })
        : await invoke("create_entity", { entityType: "character", data });
      showWrite(editor.editing ? "Saved" : "Created", write);
      edit(null);
      showEntities();
    } catch (error) {
      for (const [name, found] of Object.entries(error.fields || {})) {
        const field = editor.fields.find(([n]) => n === name);
        if (field) field[1].problems.textContent = found.join(" ");
      }
      document.getElementById("outcome").replaceChildren(h("p", { class: "error", id: "refused" }, message(error)));
    }
  };
  // Ready once every widget field has its first WASM render.
  await Promise.all(editor.fields.map(([, e]) => e.ready));
}

const edit = (entity) => editor.edit(entity);

async function remove(entity) {
  try {
    showWrite("Deleted", await invoke("delete_entity", { id: entity.id }));
    if (editor.editing && editor.editing.id === entity.id) edit(null);
    showEntities();
  } catch (error) {
    document.getElementById("outcome").replaceChildren(h("p", { class: "error", id: "refused" }, message(error)));
  }
}

async function showEntities() {
  const entities = await invoke("entities", { entityType: "character" });
  document.getElementById("entities").replaceChildren(...entities.map((e) =>
    h("li", { dataset: { entity: e.id } }, h("span", { class: "summary" }, `${e.data.name || e.id}: ${JSON.stringify(e.data)}`), " ",
      h("button", { type: "button", class: "secondary edit", onclick: () => edit(e) }, "Edit"), " ",
      h("button", { type: "button", class: "danger delete", onclick: () => remove(e) }, "Delete"))));
}

/** `--measure` (desktop/bench.sh): the first widget render, then `count`
 *  renders one after another through the Tauri command, and the app exits. */
async function measure(count) {
  const widget = { widget: "plugin:word-count-widget:word-count", fieldName: "bio", value: "one two three", config: null };
  const firstRender = await invoke("clock");
  const started = performance.now();
  for (let i = 0; i < count; i++) await invoke("render_widget", widget);
  const perRenderUs = (performance.now() - started) * 1000 / count;
  await invoke("finish_measure", { report: { firstRender, renders: count, perRenderUs } });
}

document.addEventListener("DOMContentLoaded", async () => {
  try {
    const { status, plugins } = await showStatus();
    await showEditor({ plugins, pages: status.pages, editing: null });
    await showEntities();
    document.body.dataset.ready = "true";
    if (status.app.measure) await measure(500);
  } catch (error) {
    document.getElementById("status").textContent = "could not start: " + message(error);
  }
});
