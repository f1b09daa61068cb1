// The page's half of the plugin page protocols, sb-field-widget and sb-panel
// (docs/widgets.md), shared by the web console and the desktop app (which
// embeds this file from here). A plugin page runs in <iframe
// sandbox="allow-scripts">: an opaque origin whatever it loads. It reaches
// its host page only through these messages, and `invoke` reaches only its
// own plugin's routes. Each host page sets `PluginFrame.host` once: its name
// in notices, and how it calls a plugin's route.
"use strict";

/** Every live plugin frame; messages are matched to one by event.source. */
const pluginFrames = new Set();

window.addEventListener("message", (event) => {
  for (const frame of pluginFrames) {
    if (frame.iframe.contentWindow === event.source) return frame.receive(event.data);
  }
  // A message from any other window (or a frame already gone) is ignored.
});

const MAX_MESSAGES = 20;
const MAX_MESSAGE_CHARS = 500;
const MAX_INVOKE_BODY_CHARS = 1 << 20;
const INVOKE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/**
 * One plugin frame: a field widget (protocol "sb-field-widget") or a panel
 * ("sb-panel"), showing a page (`src`) or a WASM render (`srcdoc`, where no
 * script runs). `init()` builds the init message; `on` has setValue and
 * setValidity for widgets.
 */
class PluginFrame {
  constructor({ protocol, pluginId, src, srcdoc, title, init, on, minHeight }) {
    Object.assign(this, { protocol, pluginId, title, init, on: on || {} });
    this.renderOnly = !src;
    this.iframe = document.createElement("iframe");
    Object.assign(this.iframe, { className: "plugin-frame", title, referrerPolicy: "no-referrer" });
    // No allow-same-origin: the frame's origin is opaque whatever it loads.
    this.iframe.setAttribute("sandbox", this.renderOnly ? "" : "allow-scripts");
    Object.assign(this.iframe.dataset, { plugin: pluginId, protocol });
    this.iframe.style.height = (minHeight || 60) + "px";
    // One page per frame: a second load, or a second "ready", means the frame
    // navigated itself (to another plugin's page, a meta refresh in a render),
    // and what it shows now is not this plugin's page.
    this.loads = 0;
    this.iframe.addEventListener("load", () => { if (++this.loads > 1) this.leave(); });
    if (src) this.iframe.src = src;
    else this.iframe.srcdoc = srcdoc;
    pluginFrames.add(this);
  }

  /** Stops trusting the frame and puts a notice where it was. */
  leave() {
    if (this.left) return;
    this.left = true;
    pluginFrames.delete(this);
    const notice = document.createElement("p");
    Object.assign(notice, { className: "error frame-left", role: "alert" });
    notice.dataset.plugin = this.pluginId;
    notice.textContent = `${this.title} left its own page, so the ${PluginFrame.host.name} no longer trusts it. ` +
      "Reload to show it again.";
    this.iframe.replaceWith(notice);
  }

  send(type, fields) {
    if (!this.iframe.isConnected) return pluginFrames.delete(this);
    const message = { protocol: this.protocol, version: 1, type: `${this.protocol}-${type}`, ...fields };
    // The frame's origin is opaque, so "*" is the only target that reaches it.
    this.iframe.contentWindow.postMessage(message, "*");
  }

  receive(data) {
    if (!data || data.protocol !== this.protocol || data.version !== 1 || typeof data.type !== "string") return;
    if (!data.type.startsWith(this.protocol + "-")) return;
    const type = data.type.slice(this.protocol.length + 1);
    if (type === "ready") {
      if (this.ready) return this.leave();
      this.ready = true;
      const versions = Array.isArray(data.versions) ? data.versions : [1];
      if (!versions.includes(1)) return this.send("error", { message: `this ${PluginFrame.host.name} speaks version 1 only` });
      // init may need a request first (the settings the frame may see).
      Promise.resolve(this.init()).then((init) => this.send("init", init),
        (error) => this.send("error", { message: String(error.message || error) }));
    } else if (type === "resize") {
      const height = Number(data.height);
      // +2: the frame's own border (the height is border-box).
      if (Number.isFinite(height)) this.iframe.style.height = Math.min(Math.max(height, 24), 1600) + 2 + "px";
    } else if (type === "invoke" && !this.renderOnly) {
      this.invoke(data);
    } else if (type === "set-value" && this.on.setValue && !this.renderOnly) {
      this.on.setValue(data.value);
    } else if (type === "set-validity" && this.on.setValidity) {
      const messages = (Array.isArray(data.messages) ? data.messages : [])
        .slice(0, MAX_MESSAGES).map((m) => String(m).slice(0, MAX_MESSAGE_CHARS));
      this.on.setValidity(data.valid === true, messages);
    }
  }

  /** Calls one of this plugin's own routes, and nothing else. */
  async invoke(data) {
    const id = data.id;
    const refuse = (error) => this.send("invoke-result", { id, error });
    const method = String(data.method || "GET").toUpperCase();
    if (!INVOKE_METHODS.includes(method)) return refuse(`method ${method} is not allowed`);
    const path = typeof data.path === "string" ? data.path : "";
    // Decoded, no segment may climb out or hide a separator (%2e%2e, %2f).
    const segments = path.split("?")[0].split("/").map((s) => { try { return decodeURIComponent(s); } catch (_) { return ".."; } });
    const sneaky = segments.some((s) => s === "." || s === ".." || s.includes("/") || s.includes("\\"));
    if (!path.startsWith("/") || path.length > 2048 || sneaky || /[\\#]/.test(path)) {
      return refuse(`invoke reaches only this plugin's own routes, by a path such as /stats`);
    }
    let body = null;
    if (data.body !== null && data.body !== undefined) body = typeof data.body === "string" ? data.body : JSON.stringify(data.body);
    if (body !== null && body.length > MAX_INVOKE_BODY_CHARS) return refuse("the request body is too large");
    try {
      const reply = await PluginFrame.host.callRoute(this.pluginId, method, path, body);
      this.send("invoke-result", { id, status: reply.status, body: String(reply.body).slice(0, MAX_INVOKE_BODY_CHARS) });
    } catch (error) {
      refuse(String((error && error.message) || error));
    }
  }
}

/** Set by the host page: `name` ("console", "app") and
 *  `callRoute(pluginId, method, path, body) -> Promise<{status, body}>`. */
PluginFrame.host = {
  name: "page",
  callRoute: () => Promise.reject(new Error("this page calls no plugin routes")),
};
