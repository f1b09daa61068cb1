//! Resident memory stays flat when a plugin prints huge lines over and over:
//! the host keeps each log record bounded. Alone in its test binary, so no
//! other test's allocations move the measurement.

use plinth_host::{Host, HostConfig, LogSource, Method, RouteRequest};
use plinth_tests::{PluginDir, guests};
use serde_json::json;

#[test]
fn printed_lines_and_log_messages_are_kept_bounded() {
    let data = tempfile::tempdir().expect("temp dir");
    let host = Host::with_config(HostConfig::new(data.path())).expect("open host");
    let probe =
        PluginDir::new("probe", guests::PROBE_PLUGIN_WASM, &[], json!({ "limits": { "output_kb": 16384 } }));
    host.load_plugin(probe.path()).expect("load the probe");
    let print = || {
        host.call_route("probe", RouteRequest::new(Method::Get, "/print-line?bytes=16000000")).expect("print")
    };
    // Warm up (the allocator keeps some freed memory for reuse), then measure.
    (0..5).for_each(|_| drop(print()));
    let before = resident_bytes();
    (0..30).for_each(|_| drop(print()));
    let grown = resident_bytes().saturating_sub(before);
    let kept = host.plugin_log("probe");
    let longest = kept.iter().map(|r| r.message.len()).max().unwrap_or(0);
    assert!(longest < 8300, "a kept record holds at most 8 KiB and a note, not {longest} bytes");
    assert!(kept.iter().any(|r| r.source == LogSource::Stdout && r.message.contains("more bytes cut")));
    // 30 × 16 MB printed; kept whole that would be 480 MB more. What stays is the bounded log.
    assert!(grown < 64 << 20, "resident memory grew by {} MiB", grown >> 20);
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}
