// Plinth desktop's page: everything goes through Tauri commands (no HTTP).
// Widget fields are rendered by the widget's WASM `render` (shown in a
// sandbox="" frame, where nothing runs) and checked live by its WASM
// `validate`; the host checks again on save, whatever the page does.
"use strict";

const invoke = (command, args) => window.__TAURI__.core.invoke(command, args || {});

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
  return status;
}

/** One field: a text input, and for a widget field its WASM render and checks. */
function fieldEditor(name, field, widgets) {
  const id = "field-" + name;
  const input = h("input", { id, name, type: field.type === "number" ? "number" : "text" });
  const problems = h("div", { class: "problems", dataset: { problemsFor: name } });
  const element = h("div", { class: "field", dataset: { field: name } },
    h("label", { for: id }, (field.label || name) + (field.required ? " *" : "")), input);
  const widget = field.widget && widgets.find((w) => w.id === field.widget);
  const read = () => field.type === "number" ? (input.value === "" ? null : Number(input.value)) : input.value;
  let rendered = Promise.resolve();
  if (widget) {
    const render = h("iframe", { class: "render", sandbox: "", title: `${widget.label} (${name})` });
    const validity = h("div", { class: "problems validity", dataset: { validityFor: name } });
    element.append(h("div", { class: "muted" }, widget.label), render, validity);
    let turn = 0;
    const refresh = async () => {
      const mine = ++turn;
      const value = read();
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
    input.addEventListener("input", refresh);
    rendered = refresh();
  }
  element.append(problems);
  return { element, problems, read, rendered, clear: () => { input.value = ""; input.dispatchEvent(new Event("input")); } };
}

async function showEditor() {
  const { config, widgets } = await invoke("field_config", { entityType: "character" });
  const names = [...new Set([...(config.order || []), ...Object.keys(config.fields).sort()])];
  const editors = names.map((name) => [name, fieldEditor(name, config.fields[name], widgets)]);
  const form = document.getElementById("editor");
  const outcome = document.getElementById("outcome");
  form.replaceChildren(...editors.map(([, e]) => e.element), h("button", { type: "submit", id: "create" }, "Create"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    const data = {};
    for (const [name, editor] of editors) { editor.problems.textContent = ""; data[name] = editor.read(); }
    try {
      const write = await invoke("create_entity", { entityType: "character", data });
      outcome.replaceChildren(h("p", { class: "ok", id: "created" }, `Created ${write.entity.id}.`),
        h("ul", { id: "hooks" }, write.hooks.map((hook) => h("li", { dataset: { plugin: hook.plugin_id } },
          `${hook.plugin_id} ${hook.event}: ${hook.error ? "failed: " + hook.error : "ok"}`))));
      for (const [, editor] of editors) editor.clear();
      showEntities();
    } catch (error) {
      for (const [name, found] of Object.entries(error.fields || {})) {
        const editor = editors.find(([n]) => n === name);
        if (editor) editor[1].problems.textContent = found.join(" ");
      }
      outcome.replaceChildren(h("p", { class: "error", id: "refused" }, message(error)));
    }
  };
  // Ready once every widget field has its first WASM render.
  await Promise.all(editors.map(([, e]) => e.rendered));
}

async function showEntities() {
  const entities = await invoke("entities", { entityType: "character" });
  document.getElementById("entities").replaceChildren(...entities.map((e) =>
    h("li", { dataset: { entity: e.id } }, `${e.data.name || e.id}: ${JSON.stringify(e.data)}`)));
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
    const status = await showStatus();
    await showEditor();
    await showEntities();
    document.body.dataset.ready = "true";
    if (status.app.measure) await measure(500);
  } catch (error) {
    document.getElementById("status").textContent = "could not start: " + message(error);
  }
});
