//! Plugin messages (WIT 0.3.0, `messages.publish` and the `subscriber`
//! export): a plugin publishes on a topic its manifest lists, and every
//! plugin subscribing to it gets the message once, after the publishing
//! call, through the outbox, on both engines. A failed call publishes
//! nothing; publishing needs its grant and a listed topic; one call
//! publishes at most 100 messages of at most 64 KiB; a publish and
//! subscribe cycle ends, and the hook history says why.

use plinth_host::{EngineKind, HookEvent, Host, LoadError, Method, RouteRequest};
use plinth_tests::guests::{V0_1_PLUGIN_WASM, V0_3_PLUGIN_WASM};
use plinth_tests::{PluginDir, call_json, fresh_host_on, get_json, on_both_engines};
use serde_json::{Value, json};

/// The 0.3.0 test guest as plugin `id`, publishing and subscribing to the
/// topics named (publishing granted when it lists any).
fn plugin(id: &str, publishes: &[&str], subscribes: &[&str]) -> PluginDir {
    let mut grants = vec!["storage_get", "storage_set", "storage_increment"];
    if !publishes.is_empty() {
        grants.push("message_publish");
    }
    let capabilities = json!({ "host_functions": grants, "publishes": publishes, "subscribes": subscribes });
    PluginDir::new(id, V0_3_PLUGIN_WASM, &[], json!({ "capabilities": capabilities }))
}

fn load(host: &Host, plugins: &[&PluginDir]) {
    for plugin in plugins {
        host.load_plugin(plugin.path()).expect("loads");
    }
}

/// Delivers what the outbox holds until it is empty, as the delivery loop would.
fn deliver_all(host: &Host) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    (0..500).map(|_| runtime.block_on(host.deliver_due()).expect("deliver")).take_while(|n| *n > 0).sum()
}

fn publish(host: &Host, plugin: &str, path: &str, payload: &Value) -> (u16, Value) {
    call_json(host, plugin, RouteRequest::new(Method::Post, path).with_json(payload))
}

/// What `plugin` got on `topic`: how many, and the last.
fn got(host: &Host, plugin: &str, topic: &str) -> (i64, Value) {
    let (status, body) = get_json(host, plugin, &format!("/got/{topic}"));
    assert_eq!(status, 200, "{body}");
    (body["count"].as_i64().expect("count"), body["last"].clone())
}

/// The hook history's message deliveries: (plugin, topic, error).
fn message_history(host: &Host) -> Vec<(String, String, Option<String>)> {
    let history = host.hook_history().expect("history").into_iter();
    history.filter(|h| h.event == HookEvent::Message).map(|h| (h.plugin_id, h.entity_id, h.error)).collect()
}

on_both_engines! {
    fn a_message_reaches_each_subscriber_once_after_the_publishing_call(engine) {
        let (_data, host) = fresh_host_on(engine);
        let newsroom = plugin("newsroom", &["news"], &[]);
        let (reader_a, reader_b) = (plugin("reader-a", &[], &["news"]), plugin("reader-b", &[], &["news", "other"]));
        let bystander = plugin("bystander", &[], &["other"]);
        load(&host, &[&newsroom, &reader_a, &reader_b, &bystander]);
        let info = host.plugin("reader-a").expect("loaded");
        assert!(info.exports.contains(&"subscriber"), "{:?}", info.exports);

        let payload = json!({ "headline": "Ada", "n": [1, 2] });
        assert_eq!(publish(&host, "newsroom", "/publish/news", &payload), (200, json!({ "published": 1 })));
        assert_eq!(got(&host, "reader-a", "news").0, 0, "delivered after the call, not inside it");
        assert_eq!(host.pending_deliveries().expect("pending"), 2, "one delivery per subscriber");

        assert_eq!(deliver_all(&host), 2);
        let (count_a, last_a) = got(&host, "reader-a", "news");
        let (count_b, last_b) = got(&host, "reader-b", "news");
        assert_eq!((count_a, count_b), (1, 1));
        assert_eq!((&last_a["payload"], &last_a["publisher"]), (&payload, &json!("newsroom")));
        assert_eq!(last_a, last_b, "the same message, id included");
        assert_eq!(got(&host, "bystander", "news").0, 0, "not subscribed to `news`");
        assert_eq!(host.pending_deliveries().expect("pending"), 0, "each delivered once");
        assert_eq!(
            message_history(&host),
            [("reader-a".into(), "news".into(), None), ("reader-b".into(), "news".into(), None)]
        );
    }
}

on_both_engines! {
    fn a_publish_storm_is_bounded_per_call(engine) {
        let (_data, host) = fresh_host_on(engine);
        let (storm, sink) = (plugin("storm", &["flood"], &[]), plugin("sink", &[], &["flood"]));
        load(&host, &[&storm, &sink]);
        let (status, body) = publish(&host, "storm", "/publish/flood?times=150", &json!({ "n": 1 }));
        assert_eq!((status, &body["published"]), (200, &json!(100)), "{body}");
        let stopped = body["stopped"].as_str().expect("stopped");
        assert!(stopped.contains("InvalidInput") && stopped.contains("the most one call may"), "{stopped}");

        let big = json!({ "text": "x".repeat(64 * 1024) });
        let (_, body) = publish(&host, "storm", "/publish/flood", &big);
        let stopped = body["stopped"].as_str().expect("refused");
        assert!(stopped.contains("a payload may be at most 65536"), "{stopped}");

        assert_eq!(deliver_all(&host), 100);
        assert_eq!(got(&host, "sink", "flood").0, 100);
    }
}

#[test]
fn a_failed_call_publishes_nothing() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let (newsroom, reader) = (plugin("newsroom", &["news"], &[]), plugin("reader", &[], &["news"]));
    load(&host, &[&newsroom, &reader]);
    let request = RouteRequest::new(Method::Post, "/publish/news?then=fail").with_json(&json!({}));
    let error = host.call_route("newsroom", request).expect_err("the call fails");
    assert!(error.to_string().contains("failing after publishing 1"), "{error}");
    assert_eq!(host.pending_deliveries().expect("pending"), 0);
    assert_eq!(deliver_all(&host), 0);
    assert_eq!(got(&host, "reader", "news").0, 0);
}

#[test]
fn publishing_needs_the_grant_and_a_listed_topic() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let (newsroom, silent) = (plugin("newsroom", &["news"], &[]), plugin("silent", &[], &[]));
    load(&host, &[&newsroom, &silent]);
    let (_, body) = publish(&host, "newsroom", "/publish/sports", &json!({}));
    let stopped = body["stopped"].as_str().expect("refused");
    assert!(
        stopped.contains("Denied") && stopped.contains("capabilities.publishes, not `sports`"),
        "{stopped}"
    );
    let (_, body) = publish(&host, "silent", "/publish/news", &json!({}));
    let stopped = body["stopped"].as_str().expect("refused");
    assert!(stopped.contains("Denied") && stopped.contains("message_publish"), "{stopped}");

    // Topics listed without the grant, and a subscriber that cannot hear, are refused at load.
    let capabilities = json!({ "host_functions": ["log"], "publishes": ["news"] });
    let ungranted =
        PluginDir::new("ungranted", V0_3_PLUGIN_WASM, &[], json!({ "capabilities": capabilities }));
    let error = host.load_plugin(ungranted.path()).expect_err("refused");
    assert!(error.to_string().contains("add \"message_publish\""), "{error}");
    let capabilities = json!({ "host_functions": ["log"], "subscribes": ["news"] });
    let deaf = PluginDir::new("deaf", V0_1_PLUGIN_WASM, &[], json!({ "capabilities": capabilities }));
    let error = host.load_plugin(deaf.path()).expect_err("refused");
    assert!(matches!(error, LoadError::Invalid { .. }), "{error:?}");
    assert!(error.to_string().contains("exports no `subscriber` interface"), "{error}");
    let capabilities = json!({ "subscribes": ["News!"] });
    let badly_named =
        PluginDir::new("badly-named", V0_3_PLUGIN_WASM, &[], json!({ "capabilities": capabilities }));
    let error = host.load_plugin(badly_named.path()).expect_err("refused");
    assert!(error.to_string().contains("capabilities.subscribes[0]"), "{error}");
}

#[test]
fn a_publish_and_subscribe_cycle_ends_and_the_history_says_why() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    // `ping-er` answers ping with pong, `pong-er` pong with ping: a cycle
    // with no end of its own, started by pong-er's route.
    let ping_er = plugin("ping-er", &["pong"], &["ping"]);
    let pong_er = plugin("pong-er", &["ping"], &["pong"]);
    load(&host, &[&ping_er, &pong_er]);
    assert_eq!(publish(&host, "pong-er", "/publish/ping", &json!({ "ball": 1 })).0, 200);
    assert_eq!(deliver_all(&host), 2, "ping, then pong, then no more");
    assert_eq!(got(&host, "ping-er", "ping").0, 1);
    assert_eq!(got(&host, "pong-er", "pong").0, 0, "the refused call committed nothing");
    let history = message_history(&host);
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!((history[0].0.as_str(), history[0].2.as_deref()), ("ping-er", None));
    let error = history[1].2.as_deref().expect("pong-er's on-message failed");
    assert!(
        error.contains("already published on `ping` earlier in this chain") && error.contains("cycle"),
        "{error}"
    );
}

#[test]
fn a_subscribers_failure_is_recorded_and_never_undoes_the_publish() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let (newsroom, reader) = (plugin("newsroom", &["fail"], &[]), plugin("reader", &[], &["fail"]));
    load(&host, &[&newsroom, &reader]);
    assert_eq!(publish(&host, "newsroom", "/publish/fail", &json!({})), (200, json!({ "published": 1 })));
    assert_eq!(deliver_all(&host), 1);
    let history = message_history(&host);
    let error = history[0].2.as_deref().expect("failed");
    assert!(error.contains("the subscriber's own failure") && error.contains("on-message fail"), "{error}");
    assert_eq!(host.pending_deliveries().expect("pending"), 0, "a plugin's own error is not retried");
    assert_eq!(message_history(&host).len(), 1);
}

/// A plugin reloaded without the topic no longer gets its messages: the
/// ones waiting are settled as failed, saying why, not claimed for ever.
#[test]
fn waiting_messages_of_a_topic_no_longer_subscribed_are_settled_as_failed() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let (newsroom, reader) = (plugin("newsroom", &["news"], &[]), plugin("reader", &[], &["news"]));
    load(&host, &[&newsroom, &reader]);
    assert_eq!(publish(&host, "newsroom", "/publish/news?times=2", &json!({})).0, 200);
    let manifest = reader.path().join("plugin.json");
    let mut changed: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).expect("read")).expect("JSON");
    changed["capabilities"]["subscribes"] = json!(["other"]);
    std::fs::write(&manifest, changed.to_string()).expect("write");
    host.reload_plugin("reader").expect("reloads");
    assert_eq!(deliver_all(&host), 2);
    assert_eq!(host.pending_deliveries().expect("pending"), 0);
    assert_eq!(got(&host, "reader", "news").0, 0);
    let history = message_history(&host);
    assert_eq!(history.len(), 2);
    for (plugin, topic, error) in history {
        assert_eq!((plugin.as_str(), topic.as_str()), ("reader", "news"));
        assert!(error.is_some_and(|e| e.contains("no longer subscribes to `news`")));
    }
}

/// The application publishes too (`Host::publish_message`), and listens to
/// every message committed (`Host::subscribe_messages`).
#[test]
fn the_application_publishes_and_hears_every_message() {
    let (_data, host) = fresh_host_on(EngineKind::Native);
    let reader = plugin("reader", &["pong"], &["ping"]);
    load(&host, &[&reader]);
    let mut heard = host.subscribe_messages();
    let sent = host.publish_message("ping", &json!({ "ball": 1 })).expect("published");
    assert_eq!((sent.publisher.as_str(), sent.topic.as_str()), ("", "ping"));
    assert_eq!(deliver_all(&host), 1);
    let (count, last) = got(&host, "reader", "ping");
    assert_eq!((count, &last["payload"], &last["publisher"]), (1, &json!({ "ball": 1 }), &json!("")));
    let heard: Vec<(String, String)> =
        std::iter::from_fn(|| heard.try_recv().ok()).map(|m| (m.publisher, m.topic)).collect();
    assert_eq!(
        heard,
        [(String::new(), "ping".into()), ("reader".into(), "pong".into())],
        "the reader's answer too"
    );
    for (topic, payload) in [("Not A Topic", json!({})), ("big", json!("x".repeat(70_000)))] {
        let error = host.publish_message(topic, &payload).expect_err("refused");
        assert_eq!(error.code(), "invalid_message", "{error}");
    }
}
