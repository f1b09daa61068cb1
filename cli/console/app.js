// Plinth's web console. It uses only the public HTTP API, so anything it does
// a script can do too. Plugin content is shown only in sandboxed frames: widget
// and panel pages in <iframe sandbox="allow-scripts">, an opaque origin that
// cannot reach this page, its storage or the API; WASM renders in
// <iframe sandbox="">, where nothing runs. Frames talk to the console through
// the versioned sb-field-widget / sb-panel postMessage protocol
// (docs/widgets.md); a message counts only when it comes from the frame's own
// window, and a frame that loads a second page is no longer trusted.
"use strict";

// ---------------------------------------------------------------- helpers

/** Builds an element; strings become text nodes (never parsed as HTML). */
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** An id shortened for a table: its last 12 characters. Generated ids are
 * time-ordered UUIDs, whose first characters are the time they were made
 * (shared by ids made in the same few milliseconds) and whose last ones
 * are random. The whole id is the cell's title. */
function shortId(id) {
  return h("span", { title: id }, id.slice(-12));
}

const main = () => document.getElementById("main");
/** Counts navigations; a page that finishes after the user moved on shows nothing. */
let routeGeneration = 0;
/** Shows a page's nodes if `generation` is still the current navigation. */
function show(generation, ...nodes) {
  if (generation !== routeGeneration) return false;
  main().replaceChildren(...nodes);
  return true;
}
const json = (value) => JSON.stringify(value, null, 2);

const api = {
  token: sessionStorage.getItem("plinth-token") || "",

  /** One API call; resolves to {ok, status, json, text}. `forFrame` marks
   *  a frame's `invoke`: redirects are not followed (a plugin's 3xx must not
   *  carry the token elsewhere) and a 401 does not open the token dialog. */
  async call(method, path, body, contentType, forFrame) {
    const headers = {};
    if (this.token) headers.Authorization = "Bearer " + this.token;
    if (forFrame) headers["Plinth-Invoke"] = "1";
    let payload;
    if (body !== undefined) {
      headers["Content-Type"] = contentType || "application/json";
      payload = contentType ? body : JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers, body: payload, redirect: forFrame ? "manual" : "follow" });
    if (response.type === "opaqueredirect") return { ok: false, status: 0, json: null, text: "", redirected: true };
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
    if (response.status === 401 && path.startsWith("/api/") && !forFrame) askForToken();
    return { ok: response.ok, status: response.status, json: parsed, text };
  },

  /** Like call, but throws the API's error message. */
  async must(method, path, body, contentType) {
    const reply = await this.call(method, path, body, contentType);
    if (!reply.ok) throw new ApiFailure(reply);
    return reply.json;
  },
};

class ApiFailure extends Error {
  constructor(reply) {
    const error = (reply.json && reply.json.error) || {};
    super(error.message || `HTTP ${reply.status}: ${reply.text.slice(0, 300)}`);
    this.reply = reply;
    this.details = error.details || {};
  }
}

function askForToken() {
  const dialog = document.getElementById("login");
  if (!dialog.open) dialog.showModal();
}

function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, String(error.message || error));
}

// ------------------------------------------------------------------ theme

const THEME_VARS = ["--plinth-bg", "--plinth-fg", "--plinth-muted", "--plinth-card", "--plinth-border",
  "--plinth-accent", "--plinth-danger", "--plinth-ok", "--plinth-font", "--plinth-on-accent"];

/** The theme frames get: light or dark, and the console's CSS variables. */
function theme() {
  const style = getComputedStyle(document.documentElement);
  const vars = {};
  for (const name of THEME_VARS) vars[name] = style.getPropertyValue(name).trim();
  return { scheme: document.documentElement.dataset.theme, vars };
}

function setTheme(scheme) {
  document.documentElement.dataset.theme = scheme;
  localStorage.setItem("plinth-theme", scheme);
  document.getElementById("theme").textContent = scheme === "dark" ? "Light" : "Dark";
  for (const frame of pluginFrames) frame.send("theme-changed", { theme: theme() });
}

// ------------------------------------------------- frames and the protocol

// PluginFrame (plugin-frame.js, shared with the desktop app) runs the
// protocol; the console calls a plugin's routes through its own API.
PluginFrame.host = {
  name: "console",
  async callRoute(pluginId, method, path, body) {
    const base = `/api/plugins/${pluginId}`;
    const url = new URL(base + path, location.origin);
    const own = url.origin === location.origin && url.pathname.startsWith(base + "/");
    // The host's own endpoints under the plugin's path are not its routes.
    const reserved = ["settings", "reload", "enable", "disable"].some((name) => url.pathname === `${base}/${name}`);
    if (!own || reserved) throw new Error(`invoke reaches only this plugin's own routes (${base}/...)`);
    const sent = body === null ? undefined : body;
    const reply = await api.call(method, url.pathname + url.search, sent, sent === undefined ? undefined : "application/json", true);
    if (reply.redirected) throw new Error("the route answered with a redirect, which invoke does not follow");
    return { status: reply.status, body: reply.text };
  },
};

/** Put ahead of every WASM render shown in a frame (the frame would otherwise
 *  inherit the console's policy, which allows this server's scripts). */
const RENDER_CSP = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`;

function uiUrl(pluginId, file) {
  return `/plugin-ui/${encodeURIComponent(pluginId)}/${file.split("/").map(encodeURIComponent).join("/")}`;
}

/** The settings a plugin's pages may see: those its manifest exposes. */
async function exposedSettings(plugin) {
  const names = Object.entries(plugin.settings || {}).filter(([, schema]) => schema.expose_to_ui).map(([name]) => name);
  if (!names.length) return {};
  const all = await api.must("GET", `/api/plugins/${plugin.id}/settings`);
  return Object.fromEntries(names.filter((n) => n in all).map((n) => [n, all[n]]));
}

// ---------------------------------------------------------------- plugins

async function pluginsPage(params, generation) {
  // The jobs are extra: without them (an older server, a failing database) the cards still show.
  const [data, { jobs }] = await Promise.all([api.must("GET", "/api/plugins"), api.must("GET", "/api/jobs").catch(() => ({ jobs: [] }))]);
  const reload = h("button", { class: "secondary", type: "button", onclick: () => route() }, "Refresh");
  const jobsOf = (plugin) => jobs.filter((job) => job.plugin_id === plugin.id);
  show(generation, h("div", { class: "row" }, h("h1", { class: "grow" }, "Plugins"), reload),
    ...data.plugins.map((plugin) => plugin.status === "failed" ? failedCard(plugin) : pluginCard(plugin, jobsOf(plugin))));
}

/** A time in milliseconds since the epoch, as the reader's clock shows it. */
function when(millis) {
  return millis === null || millis === undefined ? "never" : new Date(millis).toLocaleString();
}

/** One scheduled job: its schedule, next run, and how its last run went. */
function jobLine(job) {
  const last = job.last_run;
  const outcome = !last ? h("span", { class: "muted" }, "not run yet")
    : last.error ? h("span", { class: "error", title: last.error }, `failed ${when(last.at)}: ${last.error}`)
    : h("span", { class: "ok" }, `ok ${when(last.at)}`);
  return h("div", { class: "job", dataset: { job: job.job_id, outcome: !last ? "none" : last.error ? "failed" : "ok" } },
    h("span", { class: "tag" }, job.job_id), " ", job.schedule, " · next ", when(job.next_due),
    ` · ${job.runs} runs · last `, outcome);
}

function failedCard(plugin) {
  return h("section", { class: "card failed", dataset: { plugin: plugin.id || "" } },
    h("h2", {}, plugin.id || plugin.dir, " ", h("span", { class: "tag error" }, "failed to load")),
    h("div", { class: "muted" }, plugin.dir),
    h("p", { class: "error" }, plugin.error));
}

function pluginCard(plugin, jobs) {
  const health = plugin.health;
  const limits = plugin.limits;
  const status = h("span", { class: "result" });
  const reload = h("button", {
    class: "secondary", type: "button", onclick: async () => {
      status.textContent = "reloading…";
      try { await api.must("POST", `/api/plugins/${plugin.id}/reload`); route(); }
      catch (error) { status.replaceChildren(errorBox(error)); }
    },
  }, "Reload");
  // Switched off: installed, data kept, but its routes, widgets and hooks answer that it is off.
  const toggle = h("button", {
    class: "secondary toggle", type: "button", onclick: async () => {
      status.textContent = plugin.enabled ? "switching off…" : "switching on…";
      try { await api.must("POST", `/api/plugins/${plugin.id}/${plugin.enabled ? "disable" : "enable"}`); route(); }
      catch (error) { status.replaceChildren(errorBox(error)); }
    },
  }, plugin.enabled ? "Disable" : "Enable");
  return h("section", { class: "card", dataset: { plugin: plugin.id, enabled: String(plugin.enabled) } },
    h("div", { class: "row" },
      h("h2", { class: "grow" }, plugin.name, " ", h("span", { class: "muted" }, `${plugin.id} ${plugin.version} · WIT ${plugin.wit_version}`)),
      plugin.enabled ? null : h("span", { class: "tag error switched-off" }, "switched off"),
      h("span", { class: `health state-${health.state}`, title: "circuit breaker" }, health.state), reload, toggle),
    plugin.description && h("p", {}, plugin.description),
    plugin.reload_error && h("p", { class: "error" }, "Last reload failed (the previous version still runs): ", plugin.reload_error),
    status,
    h("div", { class: "kv" },
      h("span", { class: "muted" }, "exports"), h("span", {}, plugin.exports.map((e) => h("span", { class: "tag" }, e))),
      h("span", { class: "muted" }, "grants"), h("span", { class: "grants" }, plugin.host_functions.length ? plugin.host_functions.map((g) => h("span", { class: "tag" }, g)) : "none"),
      h("span", { class: "muted" }, "routes"), h("span", {}, plugin.routes.map((r) => h("span", { class: "tag" }, `${r.method} ${r.path}`))),
      h("span", { class: "muted" }, "widgets"), h("span", {}, plugin.widgets.map((w) => h("span", { class: "tag", title: w.server_validation ? "" : "page only: no server-side validation" }, w.server_validation ? w.id : `${w.id} (page only: no server-side validation)`))),
      h("span", { class: "muted" }, "panels"), h("span", {}, plugin.panels.map((p) => h("span", { class: "tag" }, p.title))),
      ...(jobs.length ? [h("span", { class: "muted" }, "jobs"), h("span", { class: "jobs" }, jobs.map(jobLine))] : []),
      h("span", { class: "muted" }, "health"), h("span", { class: "counters" },
        `${health.calls} calls, ${health.traps} traps, ${health.timeouts} timeouts, ${health.limits_exceeded} over limits, ` +
        `${health.denials} denials, ${health.refused} refused, ${health.conflicts} conflicts, ${health.running} running`),
      h("span", { class: "muted" }, "limits"), h("span", {},
        `memory ${Math.round(limits.memory_bytes / 1048576)} MiB, route ${limits.route_timeout_ms} ms, ` +
        `hook ${limits.hook_timeout_ms} ms, widget ${limits.widget_timeout_ms} ms, ${limits.max_concurrent} at once`)),
    plugin.last_errors && plugin.last_errors.length ? h("details", {}, h("summary", {}, `${plugin.last_errors.length} recent warnings and errors`),
      plugin.last_errors.map((r) => h("div", { class: "error" }, r.message))) : null,
    Object.keys(plugin.settings).length ? settingsForm(plugin) : null);
}

/**
 * An input for one value of a schema (plugin settings, a widget's
 * config_schema): {input, problems, fill(value), read()}. read() returns
 * {value}, {} when left empty, or {problem}.
 */
function schemaInput(name, schema, id) {
  let input;
  if (schema.type === "boolean") input = h("input", { type: "checkbox", name, id });
  else if (schema.type === "integer" || schema.type === "number") input = h("input", { type: "number", name, id, step: schema.type === "integer" ? "1" : "any" });
  else if (schema.type === "string") input = h("input", { type: "text", name, id });
  else input = h("textarea", { name, id, rows: 3 });
  const fill = (value) => {
    if (input.type === "checkbox") input.checked = value === true;
    else if (input.tagName === "TEXTAREA") input.value = value === undefined || value === null ? "" : json(value);
    else input.value = value === undefined || value === null ? "" : String(value);
  };
  const read = () => {
    if (input.type === "checkbox") return { value: input.checked };
    if (input.value.trim() === "") return {};
    if (schema.type === "string") return { value: input.value };
    if (schema.type === "integer" || schema.type === "number") {
      const number = Number(input.value);
      if (!Number.isFinite(number) || (schema.type === "integer" && !Number.isInteger(number))) {
        return { problem: `must be ${schema.type === "integer" ? "a whole number" : "a number"}` };
      }
      return { value: number };
    }
    try { return { value: JSON.parse(input.value) }; } catch (error) { return { problem: "must be JSON: " + error.message }; }
  };
  return { input, fill, read };
}

/** A form generated from the manifest's settings schema. */
function settingsForm(plugin) {
  // novalidate: problems show beside their field, in words, not as browser bubbles.
  const form = h("form", { class: "settings", novalidate: true, dataset: { plugin: plugin.id } }, h("h3", {}, "Settings"));
  const inputs = {};
  const problems = {};
  for (const [name, schema] of Object.entries(plugin.settings)) {
    const id = `setting-${plugin.id}-${name}`;
    inputs[name] = schemaInput(name, schema, id);
    problems[name] = h("div", { class: "problems", dataset: { setting: name } });
    const fallback = schema.default === undefined || schema.default === null ? "none" : JSON.stringify(schema.default);
    // null resets the setting to its manifest default.
    const reset = h("button", { type: "button", class: "secondary", dataset: { reset: name }, "aria-label": `Reset ${name} to its default`, onclick: async () => {
      problems[name].textContent = "";
      try { fill(await api.must("PUT", `/api/plugins/${plugin.id}/settings`, { [name]: null })); }
      catch (error) { problems[name].textContent = error.message; }
    } }, "Default");
    form.append(h("div", { class: "field" }, h("label", { for: id }, name, " ", h("span", { class: "muted" }, schema.type),
      schema.expose_to_ui ? h("span", { class: "tag exposed", title: "sent to the plugin's widget and panel pages" }, "shown to pages") : null),
      h("div", { class: "row" }, inputs[name].input, reset),
      h("div", { class: "hint" }, schema.description || "", ` (default: ${fallback})`), problems[name]));
  }
  const result = h("span", { class: "result", role: "status" });
  form.append(h("div", { class: "row" }, h("button", { type: "submit" }, "Save settings"), result));
  const fill = (values) => { for (const [name, input] of Object.entries(inputs)) input.fill(values[name]); };
  api.must("GET", `/api/plugins/${plugin.id}/settings`).then(fill, (error) => result.replaceChildren(errorBox(error)));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const box of Object.values(problems)) box.textContent = "";
    result.textContent = "";
    const values = {};
    let bad = false;
    for (const [name, input] of Object.entries(inputs)) {
      const read = input.read();
      if (read.problem) { problems[name].textContent = read.problem; bad = true; }
      else if ("value" in read) values[name] = read.value;
    }
    if (bad) return;
    try {
      await api.must("PUT", `/api/plugins/${plugin.id}/settings`, values);
      result.replaceChildren(h("span", { class: "ok" }, "Saved."));
    } catch (error) {
      const name = error.details && error.details.setting;
      if (name && problems[name]) problems[name].textContent = error.message;
      else result.replaceChildren(errorBox(error));
    }
  });
  return form;
}

// --------------------------------------------------------------- entities

async function entitiesPage(params, generation) {
  const type = params.get("type") || "";
  const [configs, list] = await Promise.all([
    api.must("GET", "/api/field-configs"),
    api.must("GET", "/api/entities?limit=100" + (type ? "&entity_type=" + encodeURIComponent(type) : "")),
  ]);
  const types = new Set(Object.keys(configs.field_configs));
  for (const entity of list.entities) types.add(entity.entity_type);
  const typeInput = h("input", { id: "entity-type", list: "entity-types", value: type, placeholder: "entity type" });
  const filter = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); location.hash = "#/entities?type=" + encodeURIComponent(typeInput.value.trim()); } },
    typeInput, h("datalist", { id: "entity-types" }, [...types].map((t) => h("option", { value: t }))),
    h("button", { type: "submit", class: "secondary" }, "Filter"),
    h("button", { type: "button", id: "new-entity", onclick: () => { location.hash = "#/entity/new?type=" + encodeURIComponent(typeInput.value.trim() || "item"); } }, "New entity"));
  const rows = list.entities.map((entity) => h("tr", { dataset: { entity: entity.id } },
    h("td", {}, h("a", { href: "#/entity/" + encodeURIComponent(entity.id) }, shortId(entity.id))),
    h("td", {}, entity.entity_type),
    h("td", { class: "data" }, JSON.stringify(entity.data)),
    h("td", { class: "muted" }, new Date(entity.updated_at).toLocaleString())));
  show(generation, h("h1", {}, "Entities"), filter,
    h("p", { class: "muted" }, `${list.total} ${type ? type + " " : ""}entities`),
    h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "id"), h("th", {}, "type"), h("th", {}, "data"), h("th", {}, "updated"))), h("tbody", {}, rows))),
    h("p", {}, type
      ? h("a", { href: "#/layout?type=" + encodeURIComponent(type), id: "open-layout" }, `Design the fields of ${type} (Layout Designer)`)
      : h("span", { class: "muted" }, "Filter by a type to design its fields in the Layout Designer.")));
}

/** What a create showed, carried over to the new entity's editor. */
let shownAfterCreate = null;

/** The editor of one entity (`id` "new" makes one of `type`). */
async function entityPage(id, params, generation) {
  const creating = id === "new";
  const entity = creating
    ? { id: null, entity_type: params.get("type") || "item", data: {} }
    : await api.must("GET", "/api/entities/" + encodeURIComponent(id));
  const config = await api.must("GET", "/api/field-configs/" + encodeURIComponent(entity.entity_type));
  const [{ widgets }, { plugins }] = await Promise.all([api.must("GET", "/api/widgets"), api.must("GET", "/api/plugins")]);
  const values = { ...entity.data };
  // The template's order first, then fields only this entity has.
  const configured = [...(config.order || []), ...Object.keys(config.fields).sort()];
  const names = [...new Set([...configured.filter((n) => Object.hasOwn(config.fields, n)), ...Object.keys(values)])];
  // Field names are data: `__proto__` or `constructor` must be plain keys here.
  const editors = Object.create(null);
  const form = h("form", { id: "entity-form", dataset: { entityType: entity.entity_type } });
  const outcome = h("div", { id: "save-outcome" });
  if (shownAfterCreate && shownAfterCreate.id === entity.id) outcome.replaceChildren(...shownAfterCreate.nodes);
  shownAfterCreate = null;

  for (const name of names) {
    const field = Object.hasOwn(config.fields, name) ? config.fields[name] : { type: guessType(values[name]) };
    editors[name] = await fieldEditor(name, field, values, entity, widgets, plugins);
    form.append(editors[name].element);
  }
  const newName = h("input", { placeholder: "new field name", id: "new-field-name" });
  const addField = h("button", { type: "button", class: "secondary", id: "add-field", onclick: async () => {
    const name = newName.value.trim();
    if (!name || Object.hasOwn(editors, name)) return;
    editors[name] = await fieldEditor(name, { type: "text" }, values, entity, widgets, plugins);
    form.insertBefore(editors[name].element, addRow);
    newName.value = "";
  } }, "Add field");
  const addRow = h("div", { class: "row field" }, newName, addField);
  form.append(addRow);

  let saving = false;
  const save = async (event) => {
    event.preventDefault();
    if (saving) return; // one save at a time: a double click must not create twice
    outcome.replaceChildren();
    for (const editor of Object.values(editors)) editor.problems.textContent = "";
    const data = Object.create(null);
    for (const [name, editor] of Object.entries(editors)) {
      try { const value = editor.read(); if (value !== undefined) data[name] = value; }
      catch (error) { editor.problems.textContent = error.message; return; }
    }
    saving = true;
    saveButton.disabled = true;
    try {
      const write = creating
        ? await api.must("POST", "/api/entities", { entity_type: entity.entity_type, data })
        : await api.must("PUT", "/api/entities/" + encodeURIComponent(entity.id), { data });
      const saved = [h("p", { class: "ok" }, creating ? "Created." : "Saved."), hookList(write.hooks)];
      if (creating) {
        // From now on this is the entity's own editor (a second save updates it).
        shownAfterCreate = { id: write.entity.id, nodes: saved };
        location.replace("#/entity/" + encodeURIComponent(write.entity.id));
      } else outcome.replaceChildren(...saved);
    } catch (error) {
      const fields = (error.details && error.details.fields) || {};
      for (const [name, messages] of Object.entries(fields)) if (Object.hasOwn(editors, name)) editors[name].problems.textContent = messages.join(" ");
      outcome.replaceChildren(errorBox(error));
    } finally {
      // After a create the page moves to the new entity's editor; until then no second create.
      if (!creating || !shownAfterCreate) { saving = false; saveButton.disabled = false; }
    }
  };
  form.addEventListener("submit", save);
  const saveButton = h("button", { type: "submit", id: "save-entity" }, creating ? "Create" : "Save");
  form.append(h("div", { class: "row" }, saveButton,
    !creating && h("button", { type: "button", class: "secondary", id: "reload-entity", onclick: async () => {
      const fresh = await api.must("GET", "/api/entities/" + encodeURIComponent(entity.id));
      for (const [name, editor] of Object.entries(editors)) editor.write(fresh.data[name]);
    } }, "Reload"),
    !creating && h("button", { type: "button", class: "danger", onclick: async () => {
      try { const write = await api.must("DELETE", "/api/entities/" + encodeURIComponent(entity.id)); outcome.replaceChildren(h("p", { class: "ok" }, "Deleted."), hookList(write.hooks)); }
      catch (error) { outcome.replaceChildren(errorBox(error)); }
    } }, "Delete")));
  show(generation, h("h1", {}, creating ? `New ${entity.entity_type}` : `${entity.entity_type} ${entity.id}`),
    h("p", {}, h("a", { href: "#/entities?type=" + encodeURIComponent(entity.entity_type) }, `← all ${entity.entity_type} entities`)),
    h("section", { class: "card" }, form), outcome);
}

function guessType(value) {
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  if (value === undefined || value === null || typeof value === "string") return "text";
  return "json";
}

/**
 * One field: a built-in input, or the configured widget in a sandboxed
 * frame. Returns {element, problems, read(), write(value)}.
 */
async function fieldEditor(name, field, values, entity, widgets, plugins) {
  const problems = h("div", { class: "problems", dataset: { problemsFor: name } });
  const widget = field.widget && widgets.find((w) => w.id === field.widget);
  // Read-only: set when the entity is created, kept from then on (the server says so too).
  const locked = !!field.read_only && !!entity.id;
  const inputId = "field-" + encodeURIComponent(name);
  // A frame is not labelable: its title names it instead.
  const label = h("label", { for: widget ? undefined : inputId }, field.label || name, field.required ? " *" : "", " ",
    h("span", { class: "muted" }, widget ? widget.label : field.widget || field.type || "text"),
    field.read_only ? h("span", { class: "muted" }, " (read-only)") : null);
  const element = h("div", { class: "field", dataset: { field: name } }, label);
  if (field.widget && !widget) {
    element.append(h("p", { class: "error" }, `widget ${field.widget} is not loaded; the server will refuse saves until it is, or the field configuration changes`));
  }
  const owner = widget && plugins.find((p) => p.id === widget.plugin_id);
  if (owner && owner.enabled === false) {
    element.append(h("p", { class: "error" }, `${widget.label} is off: plugin ${owner.id} is switched off, so the server refuses saves of this field until it is switched on or the layout changes`));
    return { element, problems, read: () => values[name], write: () => {} };
  }
  if (widget && !widget.server_validation) {
    element.append(h("p", { class: "hint page-only" }, "This widget is a page only: the server does not check its values."));
  }
  if (widget) {
    const plugin = plugins.find((p) => p.id === widget.plugin_id) || { id: widget.plugin_id, settings: {} };
    const validity = h("div", { class: "hint validity" });
    let value = values[name];
    const init = async () => ({
      value: value === undefined ? null : value,
      field: { name, type: field.type || "text", required: !!field.required, readOnly: locked, config: field.config === undefined ? null : field.config },
      entity: entity.id ? { id: entity.id, type: entity.entity_type } : null,
      settings: await exposedSettings(plugin),
      theme: theme(),
    });
    let frame;
    const on = {
      setValue: (next) => { if (!locked) { value = next; element.dataset.value = JSON.stringify(next); } },
      setValidity: (valid, messages) => { validity.textContent = valid ? "" : messages.join(" "); element.dataset.valid = String(valid); },
    };
    const title = `${widget.label} (${name})`;
    if (widget.html) {
      frame = new PluginFrame({ protocol: "sb-field-widget", pluginId: plugin.id, src: uiUrl(plugin.id, widget.html), title, on, init });
    } else {
      // No page: the WASM render's HTML, still plugin content, in a sandboxed frame.
      const rendered = await api.call("POST", `/api/widgets/${encodeURIComponent(widget.id)}/render`,
        { field_name: name, value: value === undefined ? null : value, settings: field.config === undefined ? null : field.config, entity_id: entity.id || undefined });
      // Its own policy first: no script runs in a render, whatever it contains.
      const srcdoc = RENDER_CSP + (rendered.ok ? rendered.json.html : "");
      if (!rendered.ok) problems.textContent = new ApiFailure(rendered).message;
      frame = new PluginFrame({ protocol: "sb-field-widget", pluginId: plugin.id, srcdoc, title, on, init });
    }
    element.dataset.value = JSON.stringify(value === undefined ? null : value);
    element.append(frame.iframe, validity, problems);
    return {
      element, problems,
      // A frame that left its page may have set anything: not saved.
      read: () => { if (frame.left) throw new Error("its widget left its own page; reload the page to edit this field"); return value; },
      write: (next) => { value = next; element.dataset.value = JSON.stringify(next === undefined ? null : next); frame.send("value-changed", { value: next === undefined ? null : next }); },
    };
  }
  // A value that does not fit the configured type is edited as JSON, so it is never mangled.
  const fits = { text: (v) => typeof v === "string", number: (v) => typeof v === "number", boolean: (v) => typeof v === "boolean", json: () => true };
  const configured = Object.hasOwn(fits, field.type) ? field.type : "text";
  const original = values[name];
  const kind = original === undefined || original === null || fits[configured](original) ? configured : "json";
  let input;
  if (kind === "boolean") input = h("input", { type: "checkbox", name, id: inputId });
  else if (kind === "number") input = h("input", { type: "number", step: "any", name, id: inputId });
  else if (kind === "json") input = h("textarea", { name, rows: 3, id: inputId });
  else input = h("input", { type: "text", name, id: inputId, class: "wide" });
  input.disabled = locked;
  // Unless the user edits the field, a save sends back exactly the value it had.
  let current = original;
  let edited = false;
  input.addEventListener("input", () => { edited = true; });
  input.addEventListener("change", () => { edited = true; });
  const write = (value) => {
    current = value;
    edited = false;
    if (kind === "boolean") input.checked = value === true;
    else if (kind === "json") input.value = value === undefined ? "" : json(value);
    else input.value = value === undefined || value === null ? "" : String(value);
  };
  write(original);
  element.append(input, problems);
  return {
    element, problems, write,
    read: () => {
      if (!edited) return current;
      if (kind === "boolean") return input.checked;
      if (input.value.trim() === "") return kind === "text" ? "" : undefined;
      if (kind === "number") { const n = Number(input.value); if (!Number.isFinite(n)) throw new Error("must be a number"); return n; }
      if (kind === "json") { try { return JSON.parse(input.value); } catch (error) { throw new Error("must be JSON: " + error.message); } }
      return input.value;
    },
  };
}

function hookList(hooks) {
  if (!hooks.length) return h("p", { class: "muted" }, "No plugin hooks ran.");
  return h("div", { class: "scroll", tabindex: 0 }, h("table", { class: "hooks" }, h("thead", {}, h("tr", {}, ["plugin", "event", "duration", "outcome"].map((t) => h("th", {}, t)))),
    h("tbody", {}, hooks.map(hookRow))));
}

function hookRow(hook) {
  return h("tr", { dataset: { plugin: hook.plugin_id } }, h("td", {}, hook.plugin_id), h("td", {}, hook.event),
    h("td", {}, `${(hook.duration_us / 1000).toFixed(1)} ms`),
    h("td", { class: hook.error ? "error" : "ok" }, hook.error || "ok"));
}

// ----------------------------------------------------------------- panels

async function panelsPage(params, generation) {
  const { plugins } = await api.must("GET", "/api/plugins");
  const cards = [];
  for (const plugin of plugins.filter((p) => p.status === "loaded")) {
    for (const panel of plugin.panels) {
      if (plugin.enabled === false) {
        cards.push(h("section", { class: "card", dataset: { panel: `${plugin.id}:${panel.id}` } }, h("h2", {}, panel.title, " ", h("span", { class: "muted" }, plugin.name)),
          h("p", { class: "error" }, `Plugin ${plugin.id} is switched off; switch it on in Plugins to show this panel.`)));
        continue;
      }
      const init = async () => ({
        plugin: { id: plugin.id, name: plugin.name, version: plugin.version }, panel: { id: panel.id, title: panel.title },
        settings: await exposedSettings(plugin), theme: theme(),
      });
      const frame = new PluginFrame({ protocol: "sb-panel", pluginId: plugin.id, src: uiUrl(plugin.id, panel.html), title: panel.title, minHeight: 120, init });
      cards.push(h("section", { class: "card", dataset: { panel: `${plugin.id}:${panel.id}` } }, h("h2", {}, panel.title, " ", h("span", { class: "muted" }, plugin.name)), frame.iframe));
    }
  }
  show(generation, h("h1", {}, "Panels"), ...(cards.length ? cards : [h("p", { class: "muted" }, "No plugin declares a panel.")]));
}

// ----------------------------------------------------------------- events

let eventStream = null;

async function eventsPage(params, generation) {
  const { hooks } = await api.must("GET", "/api/events");
  const body = h("tbody", {}, hooks.slice(-200).reverse().map(eventRow));
  const state = h("span", { class: "muted", id: "stream-state" }, "connecting…");
  const shown = show(generation, h("div", { class: "row" }, h("h1", { class: "grow" }, "Events"), state),
    h("div", { class: "scroll", tabindex: 0 }, h("table", { id: "events" }, h("thead", {}, h("tr", {}, ["time", "plugin", "event", "entity or topic", "duration", "outcome"].map((t) => h("th", {}, t)))), body)));
  if (!shown) return;
  eventStream = new AbortController();
  streamHooks(eventStream.signal, (hook) => {
    body.prepend(eventRow(hook));
    while (body.children.length > 500) body.lastChild.remove();
  }, (text) => { state.textContent = text; });
}

function eventRow(hook) {
  return h("tr", { dataset: { plugin: hook.plugin_id } }, h("td", { class: "muted" }, new Date(hook.at).toLocaleTimeString()),
    h("td", {}, hook.plugin_id), h("td", {}, hook.event), h("td", {}, hook.event === "message" ? hook.entity_id : shortId(hook.entity_id)),
    h("td", {}, `${(hook.duration_us / 1000).toFixed(1)} ms`), h("td", { class: hook.error ? "error" : "ok" }, hook.error || "ok"));
}

/** Reads /api/events/stream with fetch (so the token header goes along). */
async function streamHooks(signal, onHook, onState) {
  const headers = api.token ? { Authorization: "Bearer " + api.token } : {};
  try {
    const response = await fetch("/api/events/stream", { headers, signal });
    if (!response.ok) return onState(`live updates unavailable (HTTP ${response.status})`);
    onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return onState("disconnected; reload the page");
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const kind = (block.match(/^event: ?(.*)$/m) || [])[1];
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, "")).join("\n");
        if (kind === "hook") onHook(JSON.parse(data));
        else if (kind === "lagged") onState(`missed ${data} events; reload to see them`);
      }
    }
  } catch (error) {
    if (!signal.aborted) onState("disconnected: " + error.message);
  }
}

// ----------------------------------------------------------------- legacy

async function legacyPage(params, generation) {
  const reply = await api.call("GET", "/api/legacy/modules");
  if (!reply.ok) return show(generation, h("h1", {}, "Legacy modules"), errorBox(new ApiFailure(reply)));
  const modules = reply.json.modules;
  const result = h("pre", { id: "legacy-result" });
  const file = h("input", { type: "file", id: "legacy-file", accept: ".wasm", "aria-label": "Legacy module (.wasm) to upload" });
  const upload = h("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    try { await api.must("POST", "/api/legacy/modules?name=" + encodeURIComponent(chosen.name), await chosen.arrayBuffer(), "application/wasm"); route(); }
    catch (error) { result.replaceChildren(errorBox(error)); }
  } }, file, h("button", { type: "submit" }, "Upload"));
  const select = h("select", { id: "legacy-module", "aria-label": "Module to call" }, modules.map((m) => h("option", { value: m.name }, m.name)));
  const request = h("textarea", { id: "legacy-request", rows: 4, "aria-label": "Request (JSON)" }, "{}");
  const call = h("form", { onsubmit: async (event) => {
    event.preventDefault();
    const sent = await api.call("POST", `/api/legacy/${encodeURIComponent(select.value)}/call`, request.value, "application/json");
    result.textContent = `${sent.status}\n${sent.json ? json(sent.json) : sent.text}`;
  } }, h("h3", {}, "Call"), h("div", { class: "row" }, select), request, h("button", { type: "submit" }, "Call"));
  show(generation, h("h1", {}, "Legacy modules"),
    h("section", { class: "card" }, h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("tbody", {}, modules.map((m) => h("tr", { dataset: { module: m.name } },
      h("td", {}, m.name), h("td", { class: "muted" }, `${m.size} bytes`),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: async () => {
        try { await api.must("DELETE", "/api/legacy/modules/" + encodeURIComponent(m.name)); route(); }
        catch (error) { result.replaceChildren(errorBox(error)); }
      } }, "Remove"))))))), h("h3", {}, "Upload"), upload),
    h("section", { class: "card" }, call, result));
}

// ----------------------------------------------------------------- router

async function route() {
  const generation = ++routeGeneration;
  if (eventStream) { eventStream.abort(); eventStream = null; }
  for (const frame of pluginFrames) frame.iframe.remove();
  pluginFrames.clear();
  const hash = location.hash.replace(/^#\/?/, "") || "plugins";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const [page, ...rest] = path.split("/");
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.page === page || (page === "entity" && link.dataset.page === "entities"));
  }
  const pages = { plugins: pluginsPage, entities: entitiesPage, layout: layoutPage, panels: panelsPage, events: eventsPage, installs: installsPage, legacy: legacyPage };
  try {
    if (page === "entity") await entityPage(decodeURIComponent(rest.join("/")), params, generation);
    else await (pages[page] || pluginsPage)(params, generation);
  } catch (error) {
    show(generation, errorBox(error));
  }
  document.body.dataset.page = page;
}

document.addEventListener("DOMContentLoaded", () => {
  setTheme(localStorage.getItem("plinth-theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  document.getElementById("theme").addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
  document.getElementById("login-form").addEventListener("submit", () => {
    api.token = document.getElementById("login-token").value;
    sessionStorage.setItem("plinth-token", api.token);
    route();
  });
  window.addEventListener("hashchange", route);
  route();
});
