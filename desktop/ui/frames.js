// The desktop page's half of the plugin page protocols, sb-field-widget and
// sb-panel (docs/widgets.md), as the console's PluginFrame speaks them. A
// page runs in <iframe sandbox="allow-scripts"> served under plinth:// with
// its plugin's policy: an opaque origin, no network and no Tauri commands.
// It reaches the app only through these messages, and `invoke` reaches only
// its own plugin's routes (the call_route command with the frame's plugin).
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
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

class PluginFrame {
  /** `init()` builds the init message; `on` has setValue and setValidity for widgets. */
  constructor({ protocol, pluginId, src, title, init, on }) {
    Object.assign(this, { protocol, pluginId, title, init, on: on || {} });
    this.iframe = document.createElement("iframe");
    Object.assign(this.iframe, { className: "page", title, referrerPolicy: "no-referrer" });
    // No allow-same-origin: the frame's origin is opaque whatever it loads.
    this.iframe.setAttribute("sandbox", "allow-scripts");
    this.iframe.dataset.plugin = pluginId;
    // One page per frame: a second load or a second "ready" means the frame
    // navigated itself, and what it shows now is not this plugin's page.
    this.loads = 0;
    this.iframe.addEventListener("load", () => { if (++this.loads > 1) this.leave(); });
    this.iframe.src = src;
    pluginFrames.add(this);
  }

  /** Stops trusting the frame and puts a notice where it was. */
  leave() {
    if (this.left) return;
    this.left = true;
    pluginFrames.delete(this);
    const notice = document.createElement("p");
    Object.assign(notice, { className: "error frame-left", role: "alert" });
    notice.textContent = `${this.title} left its own page, so the app no longer trusts it.`;
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
      if (!versions.includes(1)) return this.send("error", { message: "this app speaks version 1 only" });
      Promise.resolve(this.init()).then((init) => this.send("init", init),
        (error) => this.send("error", { message: String(error.message || error) }));
    } else if (type === "resize") {
      const height = Number(data.height);
      if (Number.isFinite(height)) this.iframe.style.height = Math.min(Math.max(height, 24), 1600) + 2 + "px";
    } else if (type === "invoke") {
      this.invoke(data);
    } else if (type === "set-value" && this.on.setValue) {
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
    if (!METHODS.includes(method)) return refuse(`method ${method} is not allowed`);
    const path = typeof data.path === "string" ? data.path : "";
    if (!path.startsWith("/") || path.length > 2048 || path.includes("#")) {
      return refuse("invoke takes a path below this plugin's routes, such as /stats");
    }
    let body = null;
    if (data.body !== null && data.body !== undefined) body = typeof data.body === "string" ? data.body : JSON.stringify(data.body);
    if (body !== null && body.length > MAX_INVOKE_BODY_CHARS) return refuse("the request body is too large");
    try {
      const reply = await window.__TAURI__.core.invoke("call_route", { plugin: this.pluginId, method, path, body });
      this.send("invoke-result", { id, status: reply.status, body: reply.body.slice(0, MAX_INVOKE_BODY_CHARS) });
    } catch (error) {
      refuse((error && error.message) || String(error));
    }
  }
}
