// plinth-worker.js: Bubbledesk's `Bubbledesk.worker` bridge over Plinth's
// HTTP API, so front-end code written for Bubbledesk's WASM workers runs
// against `plinth serve` unchanged:
//
//   <script src="/plinth-worker.js"></script>
//   await Bubbledesk.worker.modules.add("math", file);      // a File, Blob or bytes
//   await Bubbledesk.worker.modules.list();                  // [{ name: "math.wasm", size }]
//   const res = await Bubbledesk.worker.call("math.wasm", { fn: "add", args: [3, 5] });
//   JSON.parse(res).value;                                   // 8
//   await Bubbledesk.worker.modules.remove("math");
//
// Module names work with or without `.wasm`. `call` resolves to the module's
// own JSON line (`{"ok":true,"value":8}` or `{"ok":false,"error":"…"}`) and
// rejects, with the server's message, when the job could not run (unknown
// module, bad input, time limit, a broken protocol line). The same object is
// `PlinthWorker.worker`; `PlinthWorker.connect({ base, token })` makes one for
// another server or with an admin token.
(function () {
  "use strict";

  function connect(options) {
    var base = (options && options.base) || "";
    var token = options && options.token;

    function request(method, path, body, contentType) {
      var headers = {};
      if (token) headers["Authorization"] = "Bearer " + token;
      if (contentType) headers["Content-Type"] = contentType;
      return fetch(base + path, { method: method, headers: headers, body: body }).then(function (response) {
        return response.text().then(function (text) {
          if (response.ok) return text;
          var message = text;
          try {
            var parsed = JSON.parse(text);
            message = (parsed.error && (parsed.error.message || parsed.error)) || parsed.message || text;
          } catch (e) {
            /* not JSON: the text is the message */
          }
          var error = new Error(typeof message === "string" ? message : JSON.stringify(message));
          error.status = response.status;
          throw error;
        });
      });
    }

    function moduleName(name) {
      if (typeof name !== "string" || name === "") throw new TypeError("a module name is a non-empty string");
      return /\.wasm$/.test(name) ? name : name + ".wasm";
    }

    function bytesOf(file) {
      if (file instanceof Blob) return file.arrayBuffer();
      if (file instanceof ArrayBuffer || ArrayBuffer.isView(file)) return Promise.resolve(file);
      return Promise.reject(new TypeError("modules.add takes a File, a Blob, an ArrayBuffer or a typed array"));
    }

    return {
      modules: {
        /** Installs `file` as module `name` (`.wasm` added when missing). */
        add: function (name, file) {
          var target = moduleName(name);
          return bytesOf(file).then(function (bytes) {
            var path = "/api/legacy/modules?name=" + encodeURIComponent(target);
            return request("POST", path, bytes, "application/wasm").then(JSON.parse);
          });
        },
        /** The installed modules: `[{ name, size }]`. */
        list: function () {
          return request("GET", "/api/legacy/modules").then(function (text) {
            return JSON.parse(text).modules;
          });
        },
        /** Removes module `name`. */
        remove: function (name) {
          return request("DELETE", "/api/legacy/modules/" + encodeURIComponent(moduleName(name))).then(JSON.parse);
        },
      },
      /** Runs `{ fn, args }` on module `name`; resolves to its JSON line. */
      call: function (name, input) {
        var path = "/api/legacy/" + encodeURIComponent(moduleName(name)) + "/call";
        return request("POST", path, JSON.stringify(input), "application/json");
      },
    };
  }

  var worker = connect();
  window.PlinthWorker = { connect: connect, worker: worker };
  window.Bubbledesk = window.Bubbledesk || {};
  if (!window.Bubbledesk.worker) window.Bubbledesk.worker = worker;
})();
