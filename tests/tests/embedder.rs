//! The embedding application's own interfaces (`docs/embedding.md`): a
//! plugin granted `notify` calls the application's
//! `acme:desktop/notify@1.0.0` on both engines; one without the grant, or
//! on a host that does not register the interface, is refused at load; a
//! function that fails or panics ends only that call, and the host carries on.

use plinth_host::{
    CallErrorKind, EmbedderInterface, EngineKind, Host, HostConfig, HostError, LoadError, Method,
    RouteRequest,
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

fn notify_call(host: &Host, body: &str) -> Result<Value, plinth_host::CallError> {
    let request = RouteRequest::new(Method::Post, "/notify").with_body(body);
    host.call_route("notifier", request).map(|response| response.json().expect("json"))
}

#[test]
fn a_granted_plugin_calls_the_application_on_both_engines() {
    for engine in [EngineKind::Native, EngineKind::Pulley] {
        let data = tempfile::tempdir().expect("temp dir");
        let shown = Shown::default();
        let host = host(&data, engine, vec![notify(&shown)]);
        let plugin = notifier(&["notify"]);
        host.load_plugin(plugin.path()).expect("load");
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
    let registering = host(&data, EngineKind::Native, vec![notify(&shown)]);
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
    let granted = notifier(&["notify"]);
    let error = plain.load_plugin(granted.path()).expect_err("not registered");
    let message = error.to_string();
    match error {
        LoadError::UnsupportedImport { plugin, imports, registered } => {
            assert_eq!(plugin, "notifier");
            assert_eq!(imports, ["acme:desktop/notify@1.0.0"]);
            assert!(registered.is_empty());
            assert!(message.contains("registers none"), "{message}");
        }
        other => panic!("expected an unsupported import, got {other}"),
    }
    assert!(shown.lock().expect("shown").is_empty(), "nothing ran");
}

#[test]
fn a_failing_or_panicking_function_ends_only_its_call() {
    let data = tempfile::tempdir().expect("temp dir");
    let shown = Shown::default();
    let host = host(&data, EngineKind::Native, vec![notify(&shown)]);
    let plugin = notifier(&["notify"]);
    host.load_plugin(plugin.path()).expect("load");
    // More failures than the breaker allows a plugin: they are the
    // application's, so the plugin is never degraded for them.
    for round in 0..8 {
        for (body, problem) in
            [("panic", "panicked: the notification daemon went away"), ("fail", "the window is closed")]
        {
            let error = notify_call(&host, body).expect_err(body);
            assert_eq!(error.plugin(), Some("notifier"));
            assert_eq!(error.http_status(), 500);
            assert_eq!(error.code(), "embedder_function");
            match &error.kind {
                CallErrorKind::Embedder { function, problem: reported } => {
                    assert_eq!(function, "acme:desktop/notify@1.0.0#show");
                    assert!(reported.contains(problem), "{body}: {reported}");
                }
                other => panic!("{body}: expected the application's failure, got {other:?}"),
            }
        }
        assert_eq!(
            notify_call(&host, "still here").expect("the next call runs"),
            json!({ "shown": round + 1 })
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
