//! The legacy adapter: wasip1 stdin/stdout JSON modules under the worker's rules.

use plinth_host::legacy::protocol::ProtocolError;
use plinth_host::{Host, HostConfig, LegacyConfig, LegacyError, LegacyReply};
use plinth_tests::guests;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// A host with `legacy-probe.wasm` installed (so jobs reuse its compiled code).
fn host_with(data: &Path, legacy: LegacyConfig) -> Host {
    let host =
        Host::with_config(HostConfig { legacy: Some(legacy), ..HostConfig::new(data) }).expect("open host");
    host.legacy()
        .expect("legacy adapter")
        .add_module(Path::new(guests::LEGACY_PROBE_WASM))
        .expect("install the probe");
    host
}

fn fresh(legacy: LegacyConfig) -> (tempfile::TempDir, Host) {
    let data = tempfile::tempdir().expect("temp dir");
    let host = host_with(data.path(), legacy);
    (data, host)
}

fn probe(host: &Host, request: Value) -> Result<LegacyReply, LegacyError> {
    host.legacy().expect("legacy adapter").call("legacy-probe.wasm", request.to_string().as_bytes())
}

fn math(host: &Host, request: &str) -> LegacyReply {
    host.legacy().expect("legacy adapter").call("math.wasm", request.as_bytes()).expect("math job")
}

#[test]
fn math_module_answers_unchanged() {
    let (_data, host) = fresh(LegacyConfig::default());
    let info =
        host.legacy().expect("legacy adapter").add_module(Path::new(guests::LEGACY_MATH_WASM)).expect("add");
    assert_eq!(info.name, "math.wasm");
    assert_eq!(math(&host, r#"{"fn":"add","args":[3,5]}"#).line, r#"{"ok":true,"value":8}"#);
    assert_eq!(math(&host, r#"{"fn":"sub","args":[3,5]}"#).value, Some(json!(-2)));
    assert_eq!(math(&host, r#"{"fn":"mul","args":[2.5,4]}"#).value, Some(json!(10)));
    assert_eq!(math(&host, r#"{"fn":"div","args":[7,2]}"#).value, Some(json!(3.5)));
    let zero = math(&host, r#"{"fn":"div","args":[1,0]}"#);
    assert_eq!((zero.ok, zero.error.as_deref()), (false, Some("division by zero")));
    assert_eq!(math(&host, r#"{"fn":"pow","args":[2,3]}"#).error.as_deref(), Some("unknown function: pow"));
    let note = math(&host, r#"{"fn":"note","args":["memo.txt","kept in the sandbox"]}"#);
    assert_eq!(note.value, Some(json!("kept in the sandbox")));
}

#[test]
fn only_core_wasip1_command_modules_are_accepted() {
    let (data, host) = fresh(LegacyConfig::default());
    let expect_invalid = |result: Result<_, LegacyError>, needle: &str| match result {
        Err(LegacyError::InvalidModule { problem, .. }) => assert!(problem.contains(needle), "{problem}"),
        other => panic!("expected an invalid-module error about {needle}, got {other:?}"),
    };
    let component = std::fs::read(guests::PROBE_PLUGIN_WASM).expect("component");
    expect_invalid(
        host.legacy().expect("legacy adapter").add_module_bytes("c.wasm", &component),
        "is a component",
    );
    expect_invalid(
        host.legacy().expect("legacy adapter").add_module_bytes("r.wasm", b"#!/bin/sh\necho hi\n"),
        "\\0asm",
    );
    expect_invalid(
        host.legacy().expect("legacy adapter").add_module_bytes("e.wasm", b"\0asm\x01\0\0\0"),
        "_start",
    );
    expect_invalid(
        host.legacy().expect("legacy adapter").add_module_bytes("t.wasm", b"\0asm\x01\0\0\0\x01\xff"),
        "does not compile",
    );
    assert!(matches!(
        host.legacy().expect("legacy adapter").add_module_bytes("../evil.wasm", b""),
        Err(LegacyError::InvalidName(_))
    ));
    // A name without `.wasm` names `noext.wasm` (Bubbledesk's modules.add("math")):
    // refused here for its bytes, not its name.
    expect_invalid(host.legacy().expect("legacy adapter").add_module_bytes("noext", b""), "not WebAssembly");
    let installed: Vec<String> =
        host.legacy().expect("legacy adapter").modules().expect("list").into_iter().map(|m| m.name).collect();
    assert_eq!(installed, ["legacy-probe.wasm"], "nothing refused was installed");
    assert!(!data.path().join("evil.wasm").exists());

    host.legacy().expect("legacy adapter").add_module(Path::new(guests::LEGACY_MATH_WASM)).expect("add");
    assert_eq!(host.legacy().expect("legacy adapter").modules().expect("list").len(), 2);
    host.legacy().expect("legacy adapter").remove_module("math.wasm").expect("remove");
    assert!(matches!(
        host.legacy().expect("legacy adapter").call("math.wasm", b"{}"),
        Err(LegacyError::UnknownModule(_))
    ));
    assert!(matches!(
        host.legacy().expect("legacy adapter").remove_module("math.wasm"),
        Err(LegacyError::UnknownModule(_))
    ));
}

#[test]
fn a_module_file_runs_without_installing() {
    let (_data, host) = fresh(LegacyConfig::default());
    let reply = host
        .legacy()
        .expect("legacy adapter")
        .run_file(Path::new(guests::LEGACY_MATH_WASM), br#"{"fn":"add","args":[1,2]}"#);
    assert_eq!(reply.expect("job").line, r#"{"ok":true,"value":3}"#);
}

#[test]
fn requests_must_be_one_json_object_of_at_most_1_mib() {
    let (_data, host) = fresh(LegacyConfig::default());
    let big = json!({"fn": "echo", "args": ["x".repeat(1 << 20)]}).to_string();
    match host.legacy().expect("legacy adapter").call("legacy-probe.wasm", big.as_bytes()) {
        Err(error @ LegacyError::InputTooLarge { .. }) => assert_eq!(error.code(), "payload_too_large"),
        other => panic!("expected input too large, got {other:?}"),
    }
    let fits = json!({"fn": "echo", "args": ["x".repeat((1 << 20) - 100)]});
    assert!(probe(&host, fits).expect("just under the limit").ok);
    assert!(matches!(
        host.legacy().expect("legacy adapter").call("legacy-probe.wasm", b"[1,2]"),
        Err(LegacyError::InvalidRequest { .. })
    ));
}

#[test]
fn output_must_be_exactly_one_line_of_json() {
    let (_data, host) = fresh(LegacyConfig { max_output_bytes: 64 << 10, ..LegacyConfig::default() });
    let protocol = |function: &str| match probe(&host, json!({"fn": function})) {
        Err(LegacyError::Protocol { source, .. }) => source,
        other => panic!("{function}: expected a protocol error, got {other:?}"),
    };
    assert_eq!(protocol("two_lines"), ProtocolError::MultipleLines(2));
    assert_eq!(protocol("nothing"), ProtocolError::Empty);
    assert!(matches!(protocol("not_json"), ProtocolError::NotJson(_)));
    assert_eq!(protocol("binary"), ProtocolError::Binary);
    assert!(matches!(protocol("no_ok"), ProtocolError::Shape(_)));
    assert_eq!(protocol("flood"), ProtocolError::TooLarge(64 << 10));
}

#[test]
fn stderr_is_logged_not_returned_and_exit_codes_carry_its_tail() {
    let (_data, host) = fresh(LegacyConfig::default());
    let quiet = probe(&host, json!({"fn": "stderr"})).expect("job");
    assert_eq!(quiet.line, r#"{"ok":true,"value":"quiet"}"#);
    match probe(&host, json!({"fn": "exit", "args": ["disk on fire"]})) {
        Err(error @ LegacyError::Exit { code: 3, .. }) => {
            assert!(error.to_string().contains("something went wrong: disk on fire"), "{error}");
            assert!(error.to_string().contains("legacy-probe.wasm"), "names the module: {error}");
        }
        other => panic!("expected exit 3, got {other:?}"),
    }
}

#[test]
fn no_environment_and_only_the_program_name() {
    let (_data, host) = fresh(LegacyConfig::default());
    let reply = probe(&host, json!({"fn": "env"})).expect("job");
    assert_eq!(reply.value, Some(json!({"vars": 0, "args": ["legacy-probe.wasm"]})));
}

/// A module sleeping for an hour through WASI ends at the job's timeout (a
/// test that finishes shows it), and its worker is free again.
#[test]
fn a_sleeping_module_is_stopped_at_its_timeout() {
    let (_data, host) =
        fresh(LegacyConfig { timeout: Duration::from_millis(300), workers: 1, ..LegacyConfig::default() });
    match probe(&host, json!({"fn": "sleep", "args": [3_600_000]})) {
        Err(error @ LegacyError::Timeout { limit_ms: 300, .. }) => assert_eq!(error.code(), "timeout"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(
        probe(&host, json!({"fn": "sleep", "args": [1]})).expect("next job").value,
        Some(json!("woke"))
    );
}

#[test]
fn an_endless_module_is_stopped_and_the_host_carries_on() {
    let (_data, host) =
        fresh(LegacyConfig { timeout: Duration::from_millis(300), ..LegacyConfig::default() });
    match probe(&host, json!({"fn": "loop"})) {
        Err(error @ LegacyError::Timeout { limit_ms: 300, .. }) => assert_eq!(error.code(), "timeout"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(probe(&host, json!({"fn": "echo", "args": [1]})).expect("next job").value, Some(json!([1])));
    assert_eq!(host.legacy().expect("legacy adapter").pending(), 0);
}

#[test]
fn the_65th_pending_job_is_refused_at_once() {
    let legacy = LegacyConfig { workers: 1, timeout: Duration::from_secs(4), ..LegacyConfig::default() };
    let (_data, host) = fresh(legacy);
    let host = std::sync::Arc::new(host);
    // One endless job occupies the only worker until its timeout...
    let blocker = {
        let host = host.clone();
        std::thread::spawn(move || probe(&host, json!({"fn": "loop"})))
    };
    while host.legacy().expect("legacy adapter").pending() == 0 {
        std::thread::yield_now();
    }
    // ...so of 64 more, 63 wait and one is refused.
    let jobs: Vec<_> = (0..64)
        .map(|i| {
            let host = host.clone();
            std::thread::spawn(move || probe(&host, json!({"fn": "echo", "args": [i]})))
        })
        .collect();
    let results: Vec<_> = jobs.into_iter().map(|job| job.join().expect("job thread")).collect();
    let refused: Vec<_> =
        results.iter().filter(|r| matches!(r, Err(LegacyError::Busy { max: 64, .. }))).collect();
    assert_eq!(refused.len(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| r.as_ref().is_ok_and(|reply| reply.ok)).count(), 63);
    assert!(matches!(blocker.join().expect("blocker"), Err(LegacyError::Timeout { .. })));
    assert_eq!(host.legacy().expect("legacy adapter").pending(), 0, "every slot was freed");
}

#[test]
fn modules_cannot_leave_their_folder_or_see_each_other() {
    let data = tempfile::tempdir().expect("temp dir");
    let sentinel = data.path().join("host-secret.txt");
    std::fs::write(&sentinel, "untouched").expect("sentinel");
    let host = host_with(
        &data.path().join("data"),
        LegacyConfig { keep_sandboxes: true, ..LegacyConfig::default() },
    );

    let escape = probe(&host, json!({"fn": "escape"})).expect("job").value.expect("value");
    for attempt in ["dotdot", "absolute", "symlink", "dotdot_symlink", "write_up"] {
        assert!(escape[attempt].as_str().is_some_and(|s| s.starts_with("refused")), "{attempt}: {escape}");
    }
    assert_eq!(std::fs::read_to_string(&sentinel).expect("sentinel"), "untouched");
    assert!(!data.path().join("data/_sandbox/escaped.txt").exists());

    let written = probe(&host, json!({"fn": "write", "args": ["secret.txt", "job one"]})).expect("write");
    assert!(written.ok);
    let read = probe(&host, json!({"fn": "read", "args": ["secret.txt"]})).expect("read");
    assert!(!read.ok, "the second job does not see the first one's file: {read:?}");
    let kept: Vec<_> = std::fs::read_dir(data.path().join("data/_sandbox"))
        .expect("sandbox root")
        .filter_map(Result::ok)
        .filter(|job| job.path().join("secret.txt").is_file())
        .collect();
    assert_eq!(kept.len(), 1, "the first job's file stayed in its own folder");
}

#[test]
fn job_folders_are_removed_and_leftovers_wiped_at_startup() {
    let data = tempfile::tempdir().expect("temp dir");
    let leftover = data.path().join("_sandbox/old-job");
    std::fs::create_dir_all(&leftover).expect("leftover");
    let host = host_with(data.path(), LegacyConfig::default());
    assert!(!leftover.exists(), "_sandbox is wiped when the adapter starts");
    probe(&host, json!({"fn": "write", "args": ["f.txt", "x"]})).expect("job");
    let left = std::fs::read_dir(data.path().join("_sandbox")).expect("sandbox root").count();
    assert_eq!(left, 0, "each job's folder is removed when it ends");
}

/// A folder its job left empty is renamed for a later job instead of being
/// removed and made again; every job still starts in an empty folder of its own.
#[test]
fn an_empty_job_folder_is_reused_under_the_next_jobs_name_and_a_used_one_never() {
    let data = tempfile::tempdir().expect("temp dir");
    let host = host_with(data.path(), LegacyConfig { workers: 1, ..LegacyConfig::default() });
    let folders = || -> Vec<String> {
        std::fs::read_dir(data.path().join("_sandbox"))
            .expect("sandbox root")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    };
    let listed = |host: &Host| probe(host, json!({"fn": "list"})).expect("list").value.expect("names");

    assert_eq!(listed(&host), json!([]), "the first job's folder is empty");
    let spare = folders();
    assert_eq!(spare.len(), 1, "left empty, it stays for the next job: {spare:?}");
    let written = probe(&host, json!({"fn": "write", "args": ["left.txt", "behind"]})).expect("write");
    assert!(written.ok, "{written:?}");
    assert_eq!(
        folders(),
        Vec::<String>::new(),
        "the spare was renamed for that job, which left a file: removed"
    );
    assert_eq!(listed(&host), json!([]), "no job sees another's file");
    let next = folders();
    assert_eq!(next.len(), 1);
    assert_ne!(next, spare, "each job's folder has its own job's name");
}
