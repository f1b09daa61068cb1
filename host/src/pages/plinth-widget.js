// Plinth's widget and panel client (docs/widgets.md). A plugin page includes
// <script src="/plinth-widget.js"></script>, then calls
//   PlinthWidget.connect({ onInit, onValueChanged, onThemeChanged, onError })
// or PlinthPanel.connect({ onInit, onThemeChanged, onError }).
// The page runs in <iframe sandbox="allow-scripts">: an opaque origin with no
// network of its own. Everything goes through postMessage to the console,
// which answers only this frame and runs `invoke` against this plugin's routes.
(function () {
  "use strict";
  var VERSION = 1;

  function connect(protocol, handlers) {
    handlers = handlers || {};
    var pending = {};
    var nextId = 1;
    var lastHeight = -1;

    function send(type, fields) {
      var message = { protocol: protocol, version: VERSION, type: protocol + "-" + type };
      for (var key in fields) message[key] = fields[key];
      window.parent.postMessage(message, "*");
    }

    function applyTheme(theme) {
      if (!theme) return;
      document.documentElement.dataset.theme = theme.scheme;
      var vars = theme.vars || {};
      for (var name in vars) document.documentElement.style.setProperty(name, vars[name]);
    }

    window.addEventListener("message", function (event) {
      // Only the console (the parent) speaks to this frame.
      if (event.source !== window.parent) return;
      var data = event.data;
      if (!data || data.protocol !== protocol || data.version !== VERSION) return;
      var type = String(data.type).slice(protocol.length + 1);
      if (type === "init") {
        applyTheme(data.theme);
        if (handlers.onInit) handlers.onInit(data);
        reportSize();
      } else if (type === "value-changed") {
        if (handlers.onValueChanged) handlers.onValueChanged(data.value);
      } else if (type === "theme-changed") {
        applyTheme(data.theme);
        if (handlers.onThemeChanged) handlers.onThemeChanged(data.theme);
      } else if (type === "error") {
        if (handlers.onError) handlers.onError(String(data.message || "error"));
      } else if (type === "invoke-result") {
        var settle = pending[data.id];
        delete pending[data.id];
        if (settle) settle(data);
      }
    });

    // The content's own height, not the frame's: scrollHeight is never less
    // than the frame, so a frame sized by it could grow but never shrink.
    function reportSize() {
      var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
      if (height !== lastHeight) {
        lastHeight = height;
        send("resize", { height: height });
      }
    }
    if (window.ResizeObserver) {
      var observer = new ResizeObserver(reportSize);
      observer.observe(document.documentElement);
      if (document.body) observer.observe(document.body);
    }
    window.addEventListener("load", reportSize);

    var api = {
      /** Asks the console to call one of this plugin's routes, `path` being
       *  relative to /api/plugins/{pluginId}. Resolves to {ok, status, body, json}. */
      invoke: function (method, path, body) {
        var id = nextId++;
        return new Promise(function (resolve, reject) {
          pending[id] = function (reply) {
            if (reply.error) reject(new Error(reply.error));
            else {
              var json = null;
              try { json = JSON.parse(reply.body); } catch (e) { json = null; }
              resolve({ ok: reply.status >= 200 && reply.status < 300, status: reply.status, body: reply.body, json: json });
            }
          };
          send("invoke", { id: id, method: method, path: path, body: body === undefined ? null : body });
        });
      },
      /** Tells the console the content's height (done automatically). */
      resize: reportSize,
    };
    if (protocol === "sb-field-widget") {
      /** The field's new value (the console's form keeps it until saved). */
      api.setValue = function (value) { send("set-value", { value: value }); };
      /** Whether the value is acceptable, with messages for people. */
      api.setValidity = function (valid, messages) {
        send("set-validity", { valid: !!valid, messages: messages || [] });
      };
    }
    send("ready", { versions: [VERSION] });
    return api;
  }

  window.PlinthWidget = { connect: function (handlers) { return connect("sb-field-widget", handlers); } };
  window.PlinthPanel = { connect: function (handlers) { return connect("sb-panel", handlers); } };
})();
