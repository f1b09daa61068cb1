//! The embedding application's own interfaces (`docs/embedding.md`): a
//! plugin granted `notify` and `clipboard` calls the application's
//! `acme:desktop/notify@1.0.0` and `acme:desktop/clipboard@1.0.0` on both
//! engines; one without either grant, or on a host that does not register
//! them, is refused at load; a function that fails or panics ends only that
//! call, and neither trips nor clears the plugin's circuit breaker.

use plinth_host::{
    CallErrorKind, EmbedderInterface, EngineKind, HealthState, Host, HostConfig, HostError, LoadError,
    Method, RouteRequest,
};
use plinth_tests::{PluginDir, guests};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// What the application's `show` was asked to show: plugin, title, body.
type Shown = Arc<Mutex<Vec<(String, String, String)>>>;

/// The application's notifications: it keeps what it shows and answers its
/// count, refuses an empty body (the WIT `result`'s error, the plugin's to
/// handle), fails on `fail` and panics on `panic`.
fn notify(shown: &Shown) -> EmbedderInterface {
    let shown = shown.clone();
    EmbedderInterface::new("acme:desktop/notify@1.0.0", "notify").func(
        "show",
        move |call, (title, body): (String, String)| {
            match body.as_str() {
                "" => return Ok((Err::<u32, String>("nothing to show".into()),)),
                "fail" => return Err(std::io::Error::other("the window is closed").into()),
                "panic" => panic!("the notification daemon went away"),
                _ => {}
            }
            let mut shown = shown.lock().expect("shown");
            shown.push((call.plugin().to_string(), title, body));
            Ok((Ok(u32::try_from(shown.len()).expect("few")),))
        },
    )
}

/// The application's clipboard: it keeps what it is given.
fn clipboard(copied: &Arc<Mutex<Vec<String>>>) -> EmbedderInterface {
    let copied = copied.clone();
    EmbedderInterface::new("acme:desktop/clipboard@1.0.0", "clipboard").func(
        "copy",
        move |_call, (text,): (String,)| {
            copied.lock().expect("copied").push(text);
            Ok(())
        },
    )
}

/// Both of the application's interfaces.
fn desktop(shown: &Shown) -> Vec<EmbedderInterface> {
    vec![notify(shown), clipboard(&Arc::default())]
}

fn host(data: &tempfile::TempDir, engine: EngineKind, interfaces: Vec<EmbedderInterface>) -> Host {
    let mut config = HostConfig::new(data.path());
    config.engine = engine;
    config.embedder_interfaces = interfaces;
    Host::with_config(config).expect("host")
}

/// The notifier guest, granted `embedder_functions`.
fn notifier(embedder_functions: &[&str]) -> PluginDir {
    let manifest = json!({
        "id": "notifier",
        "name": "Notifier",
        "version": "0.1.0",
        "wasm": { "module": "plugin.wasm" },
        "capabilities": { "embedder_functions": embedder_functions },
    });
    PluginDir::raw(&manifest.to_string(), &std::fs::read(guests::EMBEDDER_IMPORT_WASM).expect("guest"))
}

fn call(host: &Host, path: &str, body: &str) -> Result<Value, plinth_host::CallError> {
    let request = RouteRequest::new(Method::Post, path).with_body(body);
    host.call_route("notifier", request).map(|response| response.json().expect("json"))
}

fn notify_call(host: &Host, body: &str) -> Result<Value, plinth_host::CallError> {
    call(host, "/notify", body)
}

const BOTH: [&str; 2] = ["notify", "clipboard"];

#[test]
fn a_granted_plugin_calls_the_application_on_both_engines() {
    for engine in [EngineKind::Native, EngineKind::Pulley] {
        let data = tempfile::tempdir().expect("temp dir");
        let (shown, copied) = (Shown::default(), Arc::default());
        let host = host(&data, engine, vec![notify(&shown), clipboard(&copied)]);
        let plugin = notifier(&BOTH);
        host.load_plugin(plugin.path()).expect("load");
        assert_eq!(call(&host, "/copy", "some text").expect("call"), json!({ "copied": true }), "{engine:?}");
        assert_eq!(*copied.lock().expect("copied"), ["some text"], "{engine:?}");
        assert_eq!(notify_call(&host, "hello").expect("call"), json!({ "shown": 1 }), "{engine:?}");
        assert_eq!(notify_call(&host, "again").expect("call"), json!({ "shown": 2 }), "{engine:?}");
        assert_eq!(
            notify_call(&host, "").expect("call"),
            json!({ "refused": "nothing to show" }),
            "{engine:?}: the WIT error reaches the plugin"
        );
        let shown = shown.lock().expect("shown").clone();
        let expected = |body: &str| ("notifier".to_string(), "From a plugin".to_string(), body.to_string());
        assert_eq!(shown, [expected("hello"), expected("again")], "{engine:?}");
    }
}

#[test]
fn a_plugin_without_the_grant_or_a_host_without_the_interface_is_refused_at_load() {
    let data = tempfile::tempdir().expect("temp dir");
    let shown = Shown::default();
    let registering = host(&data, EngineKind::Native, desktop(&shown));
    let ungranted = notifier(&[]);
    let error = registering.load_plugin(ungranted.path()).expect_err("no grant");
    let message = error.to_string();
    match error {
        LoadError::EmbedderGrantMissing { plugin, interface, grant } => {
            assert_eq!(
                (plugin.as_str(), interface.as_str(), grant.as_str()),
                ("notifier", "acme:desktop/notify@1.0.0", "notify")
            );
            assert!(message.contains(r#"add "notify" to capabilities.embedder_functions"#), "{message}");
        }
        other => panic!("expected a missing grant, got {other}"),
    }

    let other_data = tempfile::tempdir().expect("temp dir");
    let plain = host(&other_data, EngineKind::Native, Vec::new());
    let granted = notifier(&BOTH);
    let error = plain.load_plugin(granted.path()).expect_err("not registered");
    let message = error.to_string();
    match error {
        LoadError::UnsupportedImport { plugin, imports, registered } => {
            assert_eq!(plugin, "notifier");
            assert_eq!(imports, ["acme:desktop/notify@1.0.0", "acme:desktop/clipboard@1.0.0"]);
            assert!(registered.is_empty());
            assert!(message.contains("registers none"), "{message}");
        }
        other => panic!("expected an unsupported import, got {other}"),
    }
    assert!(shown.lock().expect("shown").is_empty(), "nothing ran");
}

#[test]
fn a_failing_or_panicking_function_ends_only_its_call_and_never_moves_the_breaker() {
    for engine in [EngineKind::Native, EngineKind::Pulley] {
        let data = tempfile::tempdir().expect("temp dir");
        let shown = Shown::default();
        let host = host(&data, engine, desktop(&shown));
        let plugin = notifier(&BOTH);
        host.load_plugin(plugin.path()).expect("load");
        // Twice the breaker's threshold (5) of the application's failures in a row.
        for round in 0..10 {
            let (body, problem) = match round % 2 {
                0 => ("panic", "panicked: the notification daemon went away"),
                _ => ("fail", "the window is closed"),
            };
            let error = notify_call(&host, body).expect_err(body);
            assert_eq!(
                (error.plugin(), error.http_status(), error.code()),
                (Some("notifier"), 500, "embedder_function")
            );
            match &error.kind {
                CallErrorKind::Embedder { function, problem: reported } => {
                    assert_eq!(function, "acme:desktop/notify@1.0.0#show");
                    assert!(reported.contains(problem), "{engine:?} {body}: {reported}");
                }
                other => panic!("{engine:?} {body}: expected the application's failure, got {other:?}"),
            }
        }
        let health = host.plugin("notifier").expect("loaded").health;
        assert_eq!(
            (health.state, health.traps, health.consecutive_failures),
            (HealthState::Healthy, 0, 0),
            "{engine:?}"
        );
        assert_eq!(notify_call(&host, "still here").expect("the next call runs"), json!({ "shown": 1 }));

        // The plugin's own traps count; the application's failure between
        // them neither clears nor adds to their run.
        for _ in 0..4 {
            call(&host, "/trap", "").expect_err("traps");
        }
        notify_call(&host, "fail").expect_err("the application fails");
        let health = host.plugin("notifier").expect("loaded").health;
        assert_eq!((health.state, health.consecutive_failures), (HealthState::Healthy, 4), "{engine:?}");
        call(&host, "/trap", "").expect_err("the fifth trap in a row");
        assert_eq!(
            host.plugin("notifier").expect("loaded").health.state,
            HealthState::Degraded,
            "{engine:?}"
        );
    }
}

#[test]
fn interfaces_that_would_shadow_plinth_or_each_other_are_refused() {
    let shown = Shown::default();
    let cases = [
        (vec![EmbedderInterface::new("notify", "notify")], "not `namespace:package/interface@version`"),
        (vec![EmbedderInterface::new("plinth:plugin/storage@0.2.0", "mine")], "namespace Plinth provides"),
        (
            vec![EmbedderInterface::new("wasi:http/outgoing-handler@0.2.0", "http")],
            "namespace Plinth provides",
        ),
        (vec![EmbedderInterface::new("acme:desktop/log@1.0.0", "log")], "one of Plinth's own"),
        (
            vec![notify(&shown), EmbedderInterface::new("acme:desktop/other@1.0.0", "notify")],
            "registered twice",
        ),
    ];
    for (interfaces, expected) in cases {
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = HostConfig::new(data.path());
        config.embedder_interfaces = interfaces;
        match Host::with_config(config).map(drop) {
            Err(error @ HostError::EmbedderInterface(_)) => {
                assert!(error.to_string().contains(expected), "{error}")
            }
            other => panic!("expected {expected}, got {other:?}"),
        }
    }
}

/// A `plinth test` case mocks the application's functions (`application`):
/// each answers with the JSON the case gives, converted to the function's
/// WIT type, and `expect.called` checks what the plugin asked of them. An
/// answer that does not fit the type fails the call as the application's
/// fault, and a call the case did not expect fails the case; on both engines.
#[test]
fn test_cases_mock_the_applications_functions() {
    let plugin = PluginDir::new(
        "notifier",
        guests::EMBEDDER_IMPORT_WASM,
        &[],
        json!({ "capabilities": { "embedder_functions": ["notify", "clipboard"] } }),
    );
    let application = |answer: Value| {
        json!([
            { "interface": "acme:desktop/notify@1.0.0", "grant": "notify", "answers": { "show": answer } },
            { "interface": "acme:desktop/clipboard@1.0.0", "grant": "clipboard", "answers": { "copy": null } },
        ])
    };
    let notify = json!({ "method": "POST", "path": "/notify", "body": "hello" });
    let run = |cases: Value| {
        std::fs::create_dir_all(plugin.path().join("tests")).expect("tests folder");
        std::fs::write(plugin.path().join("tests/cases.json"), cases.to_string()).expect("cases");
        let passed = [EngineKind::Native, EngineKind::Pulley].map(|engine| {
            let open = move |config: HostConfig| Ok(Host::with_config(HostConfig { engine, ..config })?);
            plinth_test::cases::run(plugin.path(), &open).expect("run the cases")
        });
        assert_eq!(passed[0], passed[1], "the same outcome on both engines");
        passed[0]
    };
    let show = "acme:desktop/notify@1.0.0#show";
    assert!(run(json!([
        { "name": "shown", "application": application(json!({ "ok": 7 })), "request": notify,
          "expect": { "body": { "shown": 7 }, "called": [{ "function": show, "arguments": ["From a plugin", "\"hello\""] }] } },
        { "name": "refused", "application": application(json!({ "err": "do not disturb" })), "request": notify,
          "expect": { "body": { "refused": "do not disturb" } } },
        { "name": "an answer of the wrong type", "application": application(json!("seven")), "request": notify,
          "expect": { "error": "embedder_function", "contains": "does not fit" } },
        { "name": "copied", "application": application(json!({ "ok": 1 })),
          "request": { "method": "POST", "path": "/copy", "body": "x" },
          "expect": { "called": [{ "function": "acme:desktop/clipboard@1.0.0#copy" }] } },
    ])));
    assert!(
        !run(json!([
            { "name": "called otherwise", "application": application(json!({ "ok": 7 })), "request": notify,
              "expect": { "called": [{ "function": show, "arguments": ["From a plugin", "bye"] }] } },
        ])),
        "a call with other arguments fails the case"
    );
    assert!(
        !run(json!([{ "name": "unmocked", "request": notify, "expect": { "status": 200 } }])),
        "a plugin importing functions the case does not mock is refused at load"
    );
}
