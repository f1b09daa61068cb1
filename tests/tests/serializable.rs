//! Plugin storage is serializable per call: concurrent calls that read and
//! write the same keys lose no update, pass no quota together, and a call
//! re-run after a conflict logs once and is counted in the plugin's health.

use plinth_host::{LogSource, Method, RouteRequest};
use plinth_tests::guests::PROBE_PLUGIN_WASM;
use plinth_tests::{PluginDir, call_json, fresh_host, fresh_host_on, on_both_engines};
use serde_json::json;

const CALLS: usize = 32;

/// The probe with storage and log grants and room for `CALLS` calls at once.
fn probe(extra_limits: serde_json::Value) -> PluginDir {
    let mut limits = json!({ "max_concurrent": CALLS * 2 });
    limits.as_object_mut().expect("object").extend(extra_limits.as_object().expect("object").clone());
    PluginDir::new(
        "probe",
        PROBE_PLUGIN_WASM,
        &["storage_get", "storage_set", "storage_list", "log"],
        json!({ "limits": limits }),
    )
}

/// Runs `CALLS` POSTs of `path` at once; returns the (status, body) of each.
fn concurrently(host: &plinth_host::Host, path: &str) -> Vec<(u16, serde_json::Value)> {
    std::thread::scope(|scope| {
        let calls: Vec<_> = (0..CALLS)
            .map(|i| {
                let path = path.replace("{i}", &i.to_string());
                scope.spawn(move || call_json(host, "probe", RouteRequest::new(Method::Post, &path)))
            })
            .collect();
        calls.into_iter().map(|call| call.join().expect("a call thread")).collect()
    })
}

on_both_engines! {
    /// Storage commits and their retries after a conflict, on both engines.
    fn concurrent_increments_of_one_counter_lose_none(engine) {
        let (_data, host) = fresh_host_on(engine);
        let plugin = probe(json!({}));
        host.load_plugin(plugin.path()).expect("load probe");

        let answers = concurrently(&host, "/counter/hits?spin_ms=5");
        assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
        let mut counts: Vec<u64> =
            answers.iter().map(|(_, body)| body["count"].as_u64().expect("count")).collect();
        counts.sort_unstable();
        assert_eq!(counts, (1..=CALLS as u64).collect::<Vec<_>>(), "each call saw a distinct count");
        let stored = host.storage_get("probe", "hits").expect("read").expect("stored");
        assert_eq!(String::from_utf8(stored).expect("utf-8"), CALLS.to_string());

        // Runs that conflicted were dropped whole: one log line per call.
        let counted: Vec<String> = host
            .plugin_log("probe")
            .into_iter()
            .filter(|r| r.source == LogSource::Plugin && r.message.starts_with("counted hits"))
            .map(|r| r.message)
            .collect();
        assert_eq!(counted.len(), CALLS, "{counted:?}");
        let mut distinct = counted.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), CALLS, "no count logged twice: {counted:?}");

        // Every run dropped for a conflict is counted for operators (each
        // call runs at most three times).
        let conflicts = host.plugin("probe").expect("loaded").health.conflicts;
        assert!((1..=2 * CALLS as u64).contains(&conflicts), "{conflicts} conflicts");
    }
}

#[test]
fn concurrent_writers_cannot_pass_the_quota_together() {
    let (_data, host) = fresh_host();
    let plugin = probe(json!({ "storage_keys": 8 }));
    host.load_plugin(plugin.path()).expect("load probe");

    // Every call checks the quota before any has committed, then waits.
    let answers = concurrently(&host, "/claim/key-{i}?spin_ms=20");
    let stored = answers.iter().filter(|(_, body)| body.get("ok").is_some()).count();
    let refused = answers.iter().filter(|(_, body)| body["error"]["kind"] == "quota-exceeded").count();
    assert_eq!((stored, refused), (8, CALLS - 8), "{answers:?}");
    assert_eq!(host.storage_keys("probe", "key-").expect("keys").len(), 8);
}
