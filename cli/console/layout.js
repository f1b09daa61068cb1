// Plinth console: the Layout Designer. One entity type's template (the
// guide's field_config): its fields in order, each with a label, a type, the
// required and read-only flags, and the widget that edits it, chosen among
// the built-in input and the widgets that edit that type. A widget that
// declares a config_schema gets a form for the field's configuration.
// Templates are versioned: a save names the version it was opened at, and
// when another editor saved first the server answers 409 with the newer
// template, which is shown instead. Uses app.js's helpers.

const FIELD_TYPES = ["text", "number", "boolean", "json"];

async function layoutPage(params, generation) {
  const type = params.get("type") || "";
  const [configs, { widgets }] = await Promise.all([api.must("GET", "/api/field-configs"), api.must("GET", "/api/widgets")]);
  const typeInput = h("input", { id: "layout-type", list: "layout-types", value: type, placeholder: "entity type", "aria-label": "Entity type" });
  const chooser = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); location.hash = "#/layout?type=" + encodeURIComponent(typeInput.value.trim()); } },
    typeInput, h("datalist", { id: "layout-types" }, Object.keys(configs.field_configs).map((t) => h("option", { value: t }))),
    h("button", { type: "submit", class: "secondary" }, "Open"));
  const intro = h("p", { class: "muted" }, "The fields of an entity type, in order, and the widget that edits each. Every write is checked against it by the server.");
  if (!type) return show(generation, h("h1", {}, "Layout Designer"), intro, chooser);
  const template = await api.must("GET", "/api/field-configs/" + encodeURIComponent(type));
  show(generation, h("h1", {}, "Layout Designer"), intro, chooser, layoutEditor(type, template, widgets));
}

/** The editor of one template; replaces itself with the newer one on a conflict. */
function layoutEditor(type, template, widgets) {
  const body = h("tbody");
  const result = h("div", { class: "result", role: "status" });
  const rows = () => [...body.children];
  const addRow = (name, field) => body.append(layoutRow(name, field, widgets, rows));
  const ordered = [...(template.order || []), ...Object.keys(template.fields).sort()];
  for (const name of new Set(ordered)) if (Object.hasOwn(template.fields, name)) addRow(name, template.fields[name]);

  let saving = false;
  const save = async () => {
    if (saving) return; // one save at a time: a double click must not conflict with itself
    saving = true;
    saveButton.disabled = true;
    try { await saveOnce(); }
    catch (error) { result.replaceChildren(errorBox(error)); }
    finally { saving = false; saveButton.disabled = false; }
  };
  const saveOnce = async () => {
    result.replaceChildren();
    const fields = Object.create(null);
    const order = [];
    for (const row of rows()) {
      const read = row.read();
      if (read.problem) return result.replaceChildren(errorBox(read.problem));
      if (!read.name) continue;
      if (Object.hasOwn(fields, read.name)) return result.replaceChildren(errorBox(`field \`${read.name}\` is listed twice`));
      fields[read.name] = read.field;
      order.push(read.name);
    }
    const reply = await api.call("PUT", "/api/field-configs/" + encodeURIComponent(type), { version: template.version || 0, order, fields });
    if (reply.ok) {
      section.replaceWith(layoutEditor(type, reply.json, widgets));
      return;
    }
    const failure = new ApiFailure(reply);
    if (reply.status === 409 && failure.details.current) {
      // Another editor saved first: show theirs, and say so (nothing of this edit was saved).
      const newer = layoutEditor(type, failure.details.current, widgets);
      newer.querySelector(".result").replaceChildren(h("p", { class: "error conflict", role: "alert" },
        `Not saved: someone else saved this layout first (now version ${failure.details.current.version}). Their version is shown; make your change again and save.`));
      section.replaceWith(newer);
      return;
    }
    result.replaceChildren(errorBox(failure));
  };
  const saveButton = h("button", { type: "button", id: "save-layout", onclick: () => save() }, "Save layout");
  const section = h("section", { class: "card", id: "layout", dataset: { entityType: type, version: String(template.version || 0) } },
    h("h2", {}, `Fields of ${type}`, " ", h("span", { class: "muted" }, `version ${template.version || 0}`)),
    h("div", { class: "scroll", tabindex: 0 }, h("table", { class: "layout" },
      h("thead", {}, h("tr", {}, ["Field", "Label", "Type", "Required", "Read-only", "Edited with", "Configuration", "Order"].map((t) => h("th", { scope: "col" }, t)))),
      body)),
    h("div", { class: "row" },
      h("button", { type: "button", class: "secondary", id: "add-layout-field", onclick: () => { addRow("", {}); rows().at(-1).querySelector("input.name").focus(); } }, "Add field"),
      saveButton),
    result);
  return section;
}

/** One field's row; `row.read()` gives {name, field} or {problem}. */
function layoutRow(name, field, widgets, rows) {
  const label = (text) => ({ "aria-label": `${text} of field ${name || "(new)"}` });
  const nameInput = h("input", { class: "name", value: name, placeholder: "field name", ...label("Name") });
  const labelInput = h("input", { class: "label", value: field.label || "", placeholder: "as shown", ...label("Label") });
  const kind = h("select", { class: "type", ...label("Type") }, FIELD_TYPES.map((t) => h("option", { value: t, selected: t === (field.type || "text") }, t)));
  const required = h("input", { type: "checkbox", class: "required", checked: !!field.required, ...label("Required") });
  const readOnly = h("input", { type: "checkbox", class: "read-only", checked: !!field.read_only, ...label("Read-only") });
  const widget = h("select", { class: "widget", ...label("Widget") });
  const configCell = h("td", { class: "config" });
  let config = { read: () => ({ value: field.config }) };

  // Only the widgets that edit this type; a configured one that does not (or
  // is not loaded) stays listed, so saving never drops it silently.
  let filled = false;
  const fillWidgets = () => {
    // The configured widget at first; afterwards whatever the user chose, even the built-in input.
    const chosen = filled ? widget.value : field.widget || "";
    filled = true;
    const fits = widgets.filter((w) => !w.field_types.length || w.field_types.includes(kind.value));
    const options = [h("option", { value: "" }, "built-in input")];
    for (const w of fits) options.push(h("option", { value: w.id, selected: w.id === chosen }, w.label));
    if (chosen && !fits.some((w) => w.id === chosen)) {
      const known = widgets.find((w) => w.id === chosen);
      options.push(h("option", { value: chosen, selected: true }, known ? `${known.label} (does not edit ${kind.value})` : `${chosen} (not loaded)`));
    }
    widget.replaceChildren(...options);
  };
  const fillConfig = () => {
    const chosen = widgets.find((w) => w.id === widget.value);
    const schema = (chosen && chosen.config_schema) || {};
    const current = widget.value === field.widget && field.config && typeof field.config === "object" ? field.config : {};
    if (!Object.keys(schema).length) {
      configCell.replaceChildren(h("span", { class: "muted" }, chosen ? "none" : "—"));
      // A widget without a schema keeps whatever configuration it had.
      config = { read: () => ({ value: widget.value === field.widget ? field.config : undefined }) };
      return;
    }
    const inputs = Object.entries(schema).map(([key, option]) => {
      const id = `config-${Math.random().toString(36).slice(2)}`;
      const input = schemaInput(key, option, id);
      input.fill(key in current ? current[key] : option.default);
      return { key, input, element: h("div", { class: "config-option" },
        h("label", { for: id }, option.label || key, " ", h("span", { class: "muted" }, option.type)), input.input,
        option.description ? h("div", { class: "hint" }, option.description) : null) };
    });
    configCell.replaceChildren(h("fieldset", { class: "config-form" }, h("legend", {}, `${chosen.label} configuration`), inputs.map((i) => i.element)));
    config = { read: () => {
      const value = {};
      for (const { key, input } of inputs) {
        const read = input.read();
        if (read.problem) return { problem: `${nameInput.value || "new field"}: ${key} ${read.problem}` };
        if ("value" in read) value[key] = read.value;
      }
      return { value };
    } };
  };
  kind.addEventListener("change", () => { fillWidgets(); fillConfig(); });
  widget.addEventListener("change", fillConfig);
  fillWidgets();
  fillConfig();

  const move = (step) => {
    const all = rows();
    const at = all.indexOf(row) + step;
    if (at < 0 || at >= all.length) return;
    if (step < 0) all[at].before(row); else all[at].after(row);
    button.focus();
  };
  const up = h("button", { type: "button", class: "secondary up", onclick: () => { button = up; move(-1); }, ...label("Move up") }, "↑");
  const down = h("button", { type: "button", class: "secondary down", onclick: () => { button = down; move(1); }, ...label("Move down") }, "↓");
  let button = up;
  const remove = h("button", { type: "button", class: "secondary remove", onclick: () => row.remove(), ...label("Remove") }, "Remove");
  const row = h("tr", { dataset: { field: name } },
    h("td", {}, nameInput), h("td", {}, labelInput), h("td", {}, kind), h("td", {}, required), h("td", {}, readOnly),
    h("td", {}, widget), configCell, h("td", { class: "order" }, up, down, remove));
  row.read = () => {
    const read = config.read();
    if (read.problem) return { problem: read.problem };
    const out = { type: kind.value, required: required.checked, read_only: readOnly.checked };
    if (labelInput.value.trim()) out.label = labelInput.value.trim();
    if (widget.value) out.widget = widget.value;
    if (read.value !== undefined && read.value !== null) out.config = read.value;
    return { name: nameInput.value.trim(), field: out };
  };
  return row;
}
