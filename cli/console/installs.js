// Plinth console: the Installs page. "Install Local" uploads a package; the
// registry (when the server has an index) lists packages to install by id.
// Every install shows what the plugin asks for, and a pending one runs only
// after Approve. Uses app.js's helpers (h, api, show, route, errorBox).

function listOr(items) {
  return items && items.length ? items.join(", ") : "none";
}

/** What an install asks for, as an operator approves it. */
function installCard(install, result) {
  const request = install.request;
  const pending = install.state === "pending";
  const act = (method, path) => async () => {
    try { await api.must(method, path); route(); }
    catch (error) { result.replaceChildren(errorBox(error)); }
  };
  const removeData = h("input", { type: "checkbox", class: "remove-data" });
  const limits = request.limits;
  return h("section", { class: "card install", dataset: { plugin: install.id, state: install.state } },
    h("div", { class: "row" },
      h("h2", { class: "grow" }, `${request.name} `, h("span", { class: "muted" }, `${install.id} ${install.version} · WIT ${request.wit_version}`)),
      h("span", { class: pending ? "badge warn" : "badge ok" }, pending ? "pending approval" : "installed")),
    h("dl", {},
      h("dt", {}, "Grants"), h("dd", { class: "grants" }, listOr(request.host_functions)),
      h("dt", {}, "Exports"), h("dd", {}, listOr(request.exports)),
      h("dt", {}, "Widgets"), h("dd", {}, listOr(request.widgets)),
      h("dt", {}, "Panels"), h("dd", {}, listOr(request.panels.map((p) => p.title))),
      h("dt", {}, "Limits"), h("dd", {}, `${limits.memory_bytes >> 20} MiB memory, ${limits.route_timeout_ms} ms per route, ${limits.hook_timeout_ms} ms per hook, ${limits.storage_bytes >> 20} MiB storage`),
      h("dt", {}, "Package"), h("dd", { class: "muted" }, `sha256 ${install.sha256}, ${install.origin}; ${install.signed_by ? "signed by " + install.signed_by : "unsigned"}`),
      install.replaces ? [h("dt", {}, "Replaces"), h("dd", {}, `version ${install.replaces}`)] : []),
    pending ? h("ul", { class: "reasons" }, install.reasons.map((reason) => h("li", {}, reason))) : [],
    h("div", { class: "row" }, pending
      ? [h("button", { type: "button", class: "approve", onclick: act("POST", `/api/installs/${encodeURIComponent(install.id)}/approve?sha256=${install.sha256}`) }, "Approve"),
         h("button", { type: "button", class: "secondary", onclick: act("POST", `/api/installs/${encodeURIComponent(install.id)}/reject`) }, "Reject")]
      : [h("label", {}, removeData, " also remove its stored data and settings"),
         h("button", { type: "button", class: "secondary uninstall", onclick: async () => {
           const query = removeData.checked ? "?remove_data=true" : "";
           await act("DELETE", `/api/installs/${encodeURIComponent(install.id)}${query}`)();
         } }, "Uninstall")]));
}

async function installsPage(params, generation) {
  const reply = await api.call("GET", "/api/installs");
  if (!reply.ok) return show(generation, h("h1", {}, "Installs"), errorBox(new ApiFailure(reply)));
  const result = h("div", { id: "install-result" });
  const file = h("input", { type: "file", id: "install-file", accept: ".tgz,application/gzip", "aria-label": "Plugin package (.tgz) to install" });
  const local = h("form", { class: "row", id: "install-local", onsubmit: async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    try { await api.must("POST", "/api/installs", await chosen.arrayBuffer(), "application/gzip"); route(); }
    catch (error) { result.replaceChildren(errorBox(error)); }
  } }, file, h("button", { type: "submit" }, "Install Local"));
  const found = h("div", { id: "registry-results" });
  const search = h("input", { type: "search", placeholder: "search the registry", "aria-label": "Search the registry" });
  const registry = h("form", { class: "row", onsubmit: async (event) => {
    event.preventDefault();
    const listed = await api.call("GET", "/api/registry?q=" + encodeURIComponent(search.value));
    if (!listed.ok) return found.replaceChildren(errorBox(new ApiFailure(listed)));
    found.replaceChildren(h("div", { class: "scroll", tabindex: 0 }, h("table", {}, h("tbody", {}, listed.json.plugins.map((entry) => h("tr", {},
      h("td", {}, entry.id), h("td", {}, entry.version), h("td", { class: "muted" }, listOr(entry.grants)),
      h("td", {}, h("button", { type: "button", onclick: async () => {
        try { await api.must("POST", "/api/installs", { id: entry.id }); route(); }
        catch (error) { result.replaceChildren(errorBox(error)); }
      } }, "Install"))))))));
  } }, search, h("button", { type: "submit", class: "secondary" }, "Search"));
  const installs = reply.json.installs;
  show(generation, h("h1", {}, "Installs"),
    h("section", { class: "card" },
      h("p", { class: "muted" }, "A package (.tgz from plinth pack) is checked and waits for your approval of what it asks for; nothing of it runs before."),
      local, registry, found, result),
    h("div", { id: "installs" }, installs.length
      ? installs.map((install) => installCard(install, result))
      : h("p", { class: "muted" }, "Nothing installed yet.")));
}
