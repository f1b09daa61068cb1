//! The web half over HTTP: the console's files, plugin UI files and their
//! policy, field configurations enforced on every write, the live event
//! stream, and the web security model (admin token, same-origin writes,
//! credentials kept from plugins, plugin answers made harmless).

mod common;

use common::{PLINTH, Server, plinth, send_with};
use plinth_tests::{copy_example, guests, rust_examples, write_plugin};
use serde_json::{Value, json};
use std::io::BufRead;
use std::time::Duration;

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The probe plugin in a folder of its own, with a widget page and a file beside it.
fn probe_with_ui() -> tempfile::TempDir {
    let plugins = tempfile::tempdir().expect("temp dir");
    let manifest = json!({
        "id": "probe", "name": "Probe", "version": "0.1.0", "wasm": {"module": "plugin.wasm"},
        "field_widgets": [{"id": "shout", "html": "ui/shout.html"}],
    });
    let dir = write_plugin(
        plugins.path(),
        "probe",
        &manifest,
        &std::fs::read(guests::PROBE_PLUGIN_WASM).expect("probe built"),
    );
    std::fs::create_dir_all(dir.join("ui/img")).expect("ui folder");
    std::fs::write(dir.join("ui/shout.html"), "<p>shout</p>").expect("page");
    std::fs::write(dir.join("ui/img/logo.svg"), "<svg/>").expect("image");
    std::fs::write(dir.join("secret.txt"), "not for the web").expect("secret");
    plugins
}

#[test]
fn the_console_and_its_client_script_are_served() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let server = Server::start(plugins.path(), &[]);
    for (path, kind) in [
        ("/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/style.css", "text/css"),
        ("/plinth-widget.js", "text/javascript"),
    ] {
        let (status, headers, _) = server.send("GET", path, None);
        assert_eq!(status, 200, "{path}");
        assert!(header(&headers, "content-type").is_some_and(|t| t.starts_with(kind)), "{path}: {headers:?}");
        let policy = header(&headers, "content-security-policy").unwrap_or_default();
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-eval"), "{path}: {policy}");
    }
    assert_eq!(server.send("GET", "/console/nothing.js", None).0, 404);
}

#[test]
fn plugin_ui_files_are_served_sandboxed_and_nothing_else() {
    let plugins = probe_with_ui();
    let server = Server::start(plugins.path(), &[]);
    let (status, headers, _) = server.send("GET", "/plugin-ui/probe/ui/shout.html", None);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let policy = header(&headers, "content-security-policy").unwrap_or_default();
    assert!(
        policy.starts_with("sandbox allow-scripts;") && policy.contains("connect-src 'none'"),
        "{policy}"
    );
    assert!(!policy.contains("allow-same-origin"), "{policy}");
    let (status, headers, _) = server.send("GET", "/plugin-ui/probe/ui/img/logo.svg", None);
    assert_eq!((status, header(&headers, "content-type")), (200, Some("image/svg+xml")));
    // Outside the pages' folder, the plugin's own files, climbing out, other plugins.
    for path in [
        "/plugin-ui/probe/secret.txt",
        "/plugin-ui/probe/plugin.json",
        "/plugin-ui/probe/plugin.wasm",
        "/plugin-ui/probe/ui/../secret.txt",
        "/plugin-ui/probe/ui/%2e%2e/secret.txt",
        "/plugin-ui/probe/ui/missing.html",
        "/plugin-ui/nobody/ui/shout.html",
    ] {
        assert_eq!(server.send("GET", path, None).0, 404, "{path}");
    }
    // A link inside the pages' folder that points at the manifest is not followed out.
    std::os::unix::fs::symlink("../plugin.json", plugins.path().join("probe/ui/manifest.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink("../secret.txt", plugins.path().join("probe/ui/img/s.txt")).expect("symlink");
    for path in ["/plugin-ui/probe/ui/manifest.txt", "/plugin-ui/probe/ui/img/s.txt"] {
        assert_eq!(server.send("GET", path, None).0, 404, "{path}");
    }
    // What the console needs to show it: the widget's page.
    let (_, widgets) = server.get("/api/widgets");
    assert_eq!(widgets["widgets"][0]["html"], "ui/shout.html", "{widgets}");
}

#[test]
fn a_missing_ui_file_fails_the_load_and_check_naming_the_field() {
    let plugins = probe_with_ui();
    std::fs::remove_file(plugins.path().join("probe/ui/shout.html")).expect("remove page");
    let output = plinth(&["check", plugins.path().join("probe").to_str().expect("path")]);
    let text = String::from_utf8_lossy(&output.stderr).to_string() + &String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("field_widgets[0].html") && text.contains("does not exist"), "{text}");
}

#[test]
fn field_configurations_are_enforced_on_every_write() {
    let plugins = rust_examples();
    let server = Server::start(plugins.path(), &[]);
    let settings = server.send("PUT", "/api/plugins/word-count-widget/settings", Some(r#"{"max_words":3}"#));
    assert_eq!(settings.0, 200);
    let config = json!({"fields": {
        "bio": {"widget": "plugin:word-count-widget:word-count"},
        "name": {"required": true},
    }});
    let (status, _, stored) = server.send("PUT", "/api/field-configs/character", Some(&config.to_string()));
    assert_eq!(status, 200, "{stored}");
    assert_eq!(
        server.get("/api/field-configs").1["field_configs"]["character"]["fields"]["bio"]["widget"],
        config["fields"]["bio"]["widget"]
    );

    let create = |data: Value| {
        let body = json!({"entity_type": "character", "data": data}).to_string();
        let (status, _, reply) = server.send("POST", "/api/entities", Some(&body));
        (status, reply)
    };
    let (status, refused) = create(json!({"name": "Ada", "bio": "one two three four"}));
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "validation_failed");
    assert_eq!(
        refused["error"]["details"]["fields"]["bio"],
        json!(["4 words is more than the maximum of 3"])
    );
    let (status, refused) = create(json!({"bio": "fine"}));
    assert_eq!(
        (status, &refused["error"]["details"]["fields"]["name"]),
        (422, &json!(["a value is required"]))
    );
    let (status, created) = create(json!({"name": "Ada", "bio": "one two"}));
    assert_eq!(status, 201, "{created}");
    let id = created["entity"]["id"].as_str().expect("id");
    // Updates are checked too, and a refused one changes nothing.
    let (status, _, _) = server.send(
        "PUT",
        &format!("/api/entities/{id}"),
        Some(r#"{"data":{"name":"Ada","bio":"a b c d e"}}"#),
    );
    assert_eq!(status, 422);
    assert_eq!(server.get(&format!("/api/entities/{id}")).1["data"]["bio"], "one two");
    // Nothing was written for the refused creates.
    assert_eq!(server.get("/api/entities?entity_type=character").1["total"], 1);

    // A configured widget that is not loaded refuses writes rather than skip its check.
    let gone = json!({"fields": {"bio": {"widget": "plugin:gone:word-count"}}});
    server.send("PUT", "/api/field-configs/place", Some(&gone.to_string()));
    let (status, _, refused) =
        server.send("POST", "/api/entities", Some(r#"{"entity_type":"place","data":{"bio":"x"}}"#));
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"].as_str().is_some_and(|m| m.contains("plugin:gone:word-count")),
        "{refused}"
    );
    // Malformed configurations are refused with the field named.
    let (status, _, bad) =
        server.send("PUT", "/api/field-configs/place", Some(r#"{"fields":{"bio":{"widget":"word-count"}}}"#));
    assert_eq!((status, bad["error"]["code"].as_str()), (422, Some("invalid_field_config")), "{bad}");
    assert!(bad["error"]["message"].as_str().is_some_and(|m| m.contains("bio")), "{bad}");
    // An empty configuration removes it.
    server.send("PUT", "/api/field-configs/place", Some(r#"{"fields":{}}"#));
    assert!(server.get("/api/field-configs").1["field_configs"].get("place").is_none());
}

/// The server checks what the console's form would: each value against its
/// field's type, widgets only on the field types they declare, and
/// read-only fields kept from creation on.
#[test]
fn the_server_enforces_types_widgets_and_read_only_fields() {
    let plugins = rust_examples();
    let server = Server::start(plugins.path(), &[]);
    // The word-count widget edits text: configuring it on a number is refused.
    let misfit =
        json!({"fields": {"age": {"type": "number", "widget": "plugin:word-count-widget:word-count"}}});
    let (status, _, refused) = server.send("PUT", "/api/field-configs/character", Some(&misfit.to_string()));
    assert_eq!((status, refused["error"]["code"].as_str()), (422, Some("invalid_field_config")), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("age") && message.contains("edits text fields"), "{refused}");

    // The field's configuration must fit the widget's config_schema.
    let bad = json!({"fields": {"bio": {"widget": "plugin:word-count-widget:word-count", "config": {"rows": "six"}}}});
    let (status, _, refused) = server.send("PUT", "/api/field-configs/character", Some(&bad.to_string()));
    assert_eq!((status, refused["error"]["code"].as_str()), (422, Some("invalid_field_config")), "{refused}");
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("config.rows")), "{refused}");
    // Saves name the version they were edited from: a stale one is a conflict.
    let (_, none) = server.get("/api/field-configs/character");
    assert_eq!(none["version"], 0, "{none}");
    let first = json!({"version": 0, "fields": {"bio": {}}});
    let (status, _, saved) = server.send("PUT", "/api/field-configs/character", Some(&first.to_string()));
    assert_eq!((status, saved["version"].as_u64()), (200, Some(1)), "{saved}");
    let (status, _, conflict) = server.send("PUT", "/api/field-configs/character", Some(&first.to_string()));
    assert_eq!((status, conflict["error"]["code"].as_str()), (409, Some("conflict")), "{conflict}");
    assert_eq!(conflict["error"]["details"]["current"]["version"], 1, "{conflict}");
    // Removing it keeps its version: an editor still holding version 1 gets a conflict.
    let (status, _, removed) =
        server.send("PUT", "/api/field-configs/character", Some(r#"{"version": 1, "fields": {}}"#));
    assert_eq!((status, removed["version"].as_u64()), (200, Some(2)), "{removed}");
    assert!(server.get("/api/field-configs").1["field_configs"].get("character").is_none());
    let stale = json!({"version": 1, "fields": {"bio": {}}});
    assert_eq!(server.send("PUT", "/api/field-configs/character", Some(&stale.to_string())).0, 409);

    let config = json!({"fields": {
        "age": {"type": "number"}, "alive": {"type": "boolean"}, "notes": {"type": "json"},
        "code": {"read_only": true}, "bio": {"widget": "plugin:word-count-widget:word-count"},
    }});
    assert_eq!(server.send("PUT", "/api/field-configs/character", Some(&config.to_string())).0, 200);
    let create = |data: Value| {
        let body = json!({"entity_type": "character", "data": data}).to_string();
        let (status, _, reply) = server.send("POST", "/api/entities", Some(&body));
        (status, reply)
    };
    let (status, refused) = create(json!({"age": "forty", "alive": "yes", "bio": 7, "notes": [1]}));
    assert_eq!(status, 422, "{refused}");
    let fields = &refused["error"]["details"]["fields"];
    assert!(fields["age"][0].as_str().is_some_and(|m| m.contains("a number")), "{refused}");
    assert!(fields["alive"][0].as_str().is_some_and(|m| m.contains("true or false")), "{refused}");
    assert!(fields["bio"][0].as_str().is_some_and(|m| m.contains("text")), "{refused}");
    assert!(fields.get("notes").is_none(), "json takes anything: {refused}");
    // null clears a field that is not required.
    let (status, created) =
        create(json!({"age": 40, "alive": null, "code": "A-1", "bio": "hi", "notes": {"x": 1}}));
    assert_eq!(status, 201, "{created}");
    let id = created["entity"]["id"].as_str().expect("id").to_string();

    // read_only: an update keeps the value it was created with, or is refused.
    let update = |data: Value| {
        server.send("PUT", &format!("/api/entities/{id}"), Some(&json!({"data": data}).to_string()))
    };
    let (status, _, refused) = update(json!({"age": 41, "code": "B-2", "bio": "hi"}));
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["details"]["fields"]["code"][0].as_str().is_some_and(|m| m.contains("read-only"))
    );
    assert_eq!(update(json!({"age": 41, "bio": "hi"})).0, 422, "dropping a read-only value");
    let (status, _, kept) = update(json!({"age": 41, "code": "A-1", "bio": "hi"}));
    assert_eq!(status, 200, "{kept}");
    assert_eq!(server.get(&format!("/api/entities/{id}")).1["data"]["code"], "A-1");
}

/// The widget checks of one write share one time budget: twenty fields whose
/// widget never answers take about one widget time limit, not twenty (one
/// after another, the first few would time out and the circuit breaker
/// refuse the rest); the fields left unchecked when it ran out are named.
#[test]
fn the_widget_checks_of_one_write_share_one_time_budget() {
    let plugins = probe_with_ui();
    let server = Server::start(plugins.path(), &["--call-timeout-ms", "1000"]);
    let names: Vec<String> = (0..20).map(|i| format!("f{i:02}")).collect();
    let fields: serde_json::Map<String, Value> =
        names.iter().map(|name| (name.clone(), json!({"widget": "plugin:probe:shout"}))).collect();
    let config = json!({ "fields": fields });
    assert_eq!(server.send("PUT", "/api/field-configs/slow", Some(&config.to_string())).0, 200);
    let data: serde_json::Map<String, Value> =
        names.iter().map(|name| (name.clone(), json!("sleep"))).collect();
    let body = json!({"entity_type": "slow", "data": data}).to_string();
    let (status, _, refused) = server.send("POST", "/api/entities", Some(&body));
    assert_eq!(status, 422, "{refused}");
    let problems = refused["error"]["details"]["fields"].as_object().expect("problems by field").clone();
    assert_eq!(problems.len(), 20, "every field is reported: {refused:#}");
    let unchecked =
        problems.values().filter(|m| m[0].as_str().is_some_and(|m| m.starts_with("not checked"))).count();
    assert!(unchecked >= 12, "the fields past the budget were never started: {refused:#}");
}

/// A plugin switched off stays installed with its data, but its routes,
/// widgets, pages and hooks answer that it is off, saying how to switch it
/// back on; switched on, it serves again with what it had.
#[test]
fn a_switched_off_plugin_says_so_and_keeps_its_data() {
    let plugins = rust_examples();
    let data = tempfile::tempdir().expect("temp dir");
    let start = || {
        Server::start_on(
            plugins.path(),
            &data.path().join("data"),
            &[],
            tempfile::tempdir().expect("temp dir"),
        )
    };
    let server = start();
    let create =
        || server.send("POST", "/api/entities", Some(r#"{"entity_type":"character","data":{"name":"Ada"}}"#));
    let (status, _, first) = create();
    assert_eq!(status, 201, "{first}");
    let ran = |write: &Value| {
        write["hooks"].as_array().expect("hooks").iter().any(|h| h["plugin_id"] == "audit-trail")
    };
    assert!(ran(&first), "{first}");

    for plugin in ["audit-trail", "word-count-widget"] {
        let (status, _, off) = server.send("POST", &format!("/api/plugins/{plugin}/disable"), None);
        assert_eq!((status, off["enabled"].as_bool()), (200, Some(false)), "{off}");
    }
    let (status, off) = server.get("/api/plugins/audit-trail/log");
    assert_eq!((status, off["error"]["code"].as_str()), (503, Some("plugin_disabled")), "{off}");
    assert!(
        off["error"]["message"].as_str().is_some_and(|m| m.contains("/api/plugins/audit-trail/enable")),
        "{off}"
    );
    let (status, _, off) = server.send(
        "POST",
        "/api/widgets/plugin:word-count-widget:word-count/render",
        Some(r#"{"field_name":"bio","value":"hi"}"#),
    );
    assert_eq!((status, off["error"]["code"].as_str()), (503, Some("plugin_disabled")), "{off}");
    assert_eq!(server.get("/plugin-ui/word-count-widget/ui/widget.html").0, 503);
    let (_, _, second) = create();
    assert!(!ran(&second), "a switched-off plugin gets no events: {second}");
    // A frame's invoke cannot switch plugins.
    let marked = [("plinth-invoke", "1")];
    let (status, _, _) = send_with(&server.url("/api/plugins/audit-trail/enable"), "POST", None, &marked);
    assert_eq!(status, 403);

    // Switched off, it still loads after a restart, ready to be switched on.
    drop(server);
    let server = start();
    let (_, listed) = server.get("/api/plugins/audit-trail");
    assert_eq!(
        (listed["status"].as_str(), listed["enabled"].as_bool()),
        (Some("loaded"), Some(false)),
        "{listed}"
    );
    assert_eq!(server.get("/api/plugins/audit-trail/log").0, 503);
    assert_eq!(server.send("POST", "/api/plugins/audit-trail/enable", None).0, 200);
    let (status, log) = server.get("/api/plugins/audit-trail/log");
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["events"].as_array().map(Vec::len), Some(1), "its data is kept: {log}");
}

#[test]
fn hook_outcomes_stream_as_they_happen() {
    let plugins = tempfile::tempdir().expect("temp dir");
    copy_example("audit-trail", plugins.path());
    let server = Server::start(plugins.path(), &[]);
    let url = server.url("/api/events/stream");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let response = ureq::get(&url).call().expect("stream");
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    // The stream is up once its first keep-alive or event arrives; write
    // until an event for one of these writes shows (a bounded number).
    let mut written = Vec::new();
    let mut seen = None;
    for _ in 0..50 {
        let (status, _, write) =
            server.send("POST", "/api/entities", Some(r#"{"entity_type":"note","data":{}}"#));
        assert_eq!(status, 201);
        written.push(write["entity"]["id"].as_str().expect("id").to_string());
        while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            if let Some(data) = line.strip_prefix("data: ") {
                let hook: Value = serde_json::from_str(data).expect("hook JSON");
                if written.iter().any(|id| hook["entity_id"] == json!(id)) {
                    seen = Some(hook);
                    break;
                }
            }
        }
        if seen.is_some() {
            break;
        }
    }
    let hook = seen.expect("a hook outcome on the stream");
    assert_eq!((hook["plugin_id"].as_str(), hook["event"].as_str()), (Some("audit-trail"), Some("created")));
}

#[test]
fn plugins_never_see_credentials_and_their_answers_are_made_harmless() {
    let plugins = probe_with_ui();
    let server = Server::start(plugins.path(), &[]);
    let (status, _, seen) = send_with(
        &server.url("/api/plugins/probe/credentials"),
        "GET",
        None,
        &[("cookie", "session=secret"), ("authorization", "Bearer secret"), ("x-probe", "kept")],
    );
    assert_eq!(status, 200);
    assert_eq!(seen, json!({"cookie": null, "authorization": null, "x_probe": "kept"}));
    let (status, headers, _) = server.send("GET", "/api/plugins/probe/page", None);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "set-cookie"), None, "{headers:?}");
    assert_eq!(header(&headers, "clear-site-data"), None, "{headers:?}");
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    // A plain route answer runs no script and loads nothing from anywhere.
    let policy = header(&headers, "content-security-policy").unwrap_or_default();
    assert!(policy.starts_with("sandbox; default-src 'none';"), "{headers:?}");
    assert!(!policy.contains("allow-scripts") && !policy.contains("connect-src"), "{policy}");
}

/// A plugin answers with whatever it likes; the server sends clean HTTP:
/// no hop-by-hop headers, one `Content-Type`, no body on 204 and 304, and
/// the JSON error shape (naming the plugin) for a status that is no answer.
#[test]
fn plugin_answers_are_clean_http() {
    let plugins = probe_with_ui();
    let server = Server::start(plugins.path(), &[]);
    let (status, headers, _) = server.send("GET", "/api/plugins/probe/dirty", None);
    assert_eq!(status, 200);
    let types: Vec<&(String, String)> =
        headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-type")).collect();
    assert_eq!(types.len(), 1, "{headers:?}");
    assert_eq!(types[0].1, "text/plain; charset=utf-8", "the first Content-Type counts");
    for gone in
        ["x-secret", "keep-alive", "upgrade", "te", "trailer", "proxy-authenticate", "transfer-encoding"]
    {
        assert_eq!(header(&headers, gone), None, "{gone}: {headers:?}");
    }
    assert_ne!(header(&headers, "connection").map(|c| c.contains("x-secret")), Some(true), "{headers:?}");
    assert_eq!(header(&headers, "x-kept"), Some("yes"), "{headers:?}");
    for code in [204, 304] {
        let raw = raw_get(&server, &format!("/api/plugins/probe/status/{code}"));
        let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with(&format!("HTTP/1.1 {code}")), "{raw}");
        let head = head.to_ascii_lowercase();
        let framing =
            head.lines().filter(|l| l.starts_with("content-length:") || l.starts_with("content-type:"));
        assert_eq!(framing.count(), 0, "{code}: {head}");
        assert_eq!(body, "", "{code}");
    }
    for code in [101, 103] {
        let (status, _, error) = server.send("GET", &format!("/api/plugins/probe/status/{code}"), None);
        assert_eq!((status, error["error"]["code"].as_str()), (500, Some("invalid_response")), "{code}");
        assert_eq!(error["error"]["plugin"], "probe", "{error}");
        assert!(error["error"]["message"].as_str().is_some_and(|m| m.contains(&code.to_string())), "{error}");
    }
}

/// The whole answer to a GET as it came over the wire.
fn raw_get(server: &Server, path: &str) -> String {
    use std::io::{Read, Write};
    let address = server.base.strip_prefix("http://").expect("http");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[test]
fn a_frames_invoke_cannot_reach_the_hosts_own_endpoints() {
    let plugins = probe_with_ui();
    let server = Server::start(plugins.path(), &[]);
    let marked = [("plinth-invoke", "1")];
    for (method, path) in [
        ("GET", "/api/plugins/probe/settings"),
        ("PUT", "/api/plugins/probe/settings"),
        ("POST", "/api/plugins/probe/reload"),
    ] {
        let (status, _, refused) = send_with(&server.url(path), method, Some("{}"), &marked);
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (403, Some("not_a_plugin_route")),
            "{method} {path}"
        );
        // The control: the console's own request (unmarked) is answered.
        assert_eq!(send_with(&server.url(path), method, Some("{}"), &[]).0, 200, "{method} {path}");
    }
    // Nor any other endpoint of the host (issue 26's probes: an entity
    // created and a field configuration saved with the mark).
    let others = [
        ("POST", "/api/entities", Some(r#"{"entity_type":"note","data":{}}"#)),
        ("PUT", "/api/field-configs/note", Some(r#"{"fields":{}}"#)),
        ("GET", "/api/plugins", None),
        ("GET", "/api/plugins/probe", None),
        ("POST", "/api/legacy/modules?name=x.wasm", None),
        ("GET", "/api/installs", None),
    ];
    for (method, path, body) in others {
        let (status, _, refused) = send_with(&server.url(path), method, body, &marked);
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (403, Some("not_a_plugin_route")),
            "{method} {path}"
        );
    }
    assert_eq!(server.get("/api/entities?entity_type=note").1["entities"], json!([]), "nothing was created");
    // The control: unmarked, the same requests are not refused for the mark.
    for (method, path, body) in others {
        assert_ne!(send_with(&server.url(path), method, body, &[]).0, 403, "{method} {path} unmarked");
    }
    // The plugin's own routes are reachable with the mark.
    assert_eq!(send_with(&server.url("/api/plugins/probe/status/201"), "GET", None, &marked).0, 201);
}

#[test]
fn without_a_token_only_loopback_names_are_answered() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let server = Server::start(plugins.path(), &[]);
    let port = server.base.rsplit(':').next().expect("port").to_string();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        assert_eq!(send_with(&server.url("/api/entities"), "GET", None, &[("host", &host)]).0, 200, "{host}");
    }
    // A rebound name (another site pointing at 127.0.0.1) is misdirected.
    let (status, _, refused) =
        send_with(&server.url("/api/entities"), "GET", None, &[("host", &format!("evil.test:{port}"))]);
    assert_eq!((status, refused["error"]["code"].as_str()), (421, Some("misdirected")));
}

#[test]
fn state_changes_from_other_origins_are_refused() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let server = Server::start(plugins.path(), &[]);
    let body = Some(r#"{"entity_type":"note","data":{}}"#);
    let url = server.url("/api/entities");
    let own = server.base.clone();
    assert_eq!(send_with(&url, "POST", body, &[("origin", &own)]).0, 201);
    assert_eq!(send_with(&url, "POST", body, &[]).0, 201, "scripts send no Origin");
    for origin in ["http://evil.test", "null"] {
        let (status, _, refused) = send_with(&url, "POST", body, &[("origin", origin)]);
        assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("cross_origin")), "{origin}");
    }
    assert_eq!(send_with(&url, "GET", None, &[("origin", "http://evil.test")]).0, 200);
    assert_eq!(server.get("/api/entities").1["total"], 2);
}

#[test]
fn the_admin_token_guards_the_api() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let token = "correct-horse-battery-staple";
    let server = Server::start(plugins.path(), &["--admin-token", token]);
    let (status, _, refused) = server.send("GET", "/api/plugins", None);
    assert_eq!((status, refused["error"]["code"].as_str()), (401, Some("unauthorized")));
    let wrong = send_with(&server.url("/api/entities"), "GET", None, &[("authorization", "Bearer nope")]);
    assert_eq!(wrong.0, 401);
    let bearer = format!("Bearer {token}");
    let right = send_with(&server.url("/api/entities"), "GET", None, &[("authorization", &bearer)]);
    assert_eq!(right.0, 200);
    // The console's files and the health check need no token (they hold no data).
    assert_eq!(server.send("GET", "/", None).0, 200);
    assert_eq!(server.send("GET", "/healthz", None).0, 200);
}

#[test]
fn serving_off_loopback_needs_a_token() {
    let plugins = tempfile::tempdir().expect("temp dir");
    let data = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(PLINTH)
        .args(["serve", "--addr", "0.0.0.0:0", "--plugins"])
        .arg(plugins.path())
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("PLINTH_ADMIN_TOKEN")
        .output()
        .expect("run plinth");
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("--admin-token") && text.contains("PLINTH_ADMIN_TOKEN"), "{text}");
}
