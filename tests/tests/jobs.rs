//! Scheduled jobs (WIT 0.3.0, `host/src/jobs`): a plugin declares them in
//! `plugin.json` and exports `run-job`; the host runs each due run once,
//! records how it went and when the job is next due, collapses runs missed
//! while nothing ran it into one, and stops running a job that always traps
//! while its plugin's breaker is open. Runs are driven here by
//! `Host::run_due_jobs`, as an embedder without the background loops would.

use plinth_host::{BreakerConfig, Clock, EngineKind, Host, HostConfig, LoadError, Method, RouteRequest};
use plinth_tests::{PluginDir, guests, on_both_engines};
use serde_json::{Value, json};
use std::time::Duration;

const GRANTS: &[&str] = &["storage_get", "storage_increment", "entity_create"];

fn scheduled(jobs: Value) -> PluginDir {
    PluginDir::new("janitor", guests::V0_3_PLUGIN_WASM, GRANTS, json!({ "jobs": jobs }))
}

fn host_on(data: &tempfile::TempDir, engine: EngineKind, configure: impl FnOnce(&mut HostConfig)) -> Host {
    let mut config = HostConfig { engine, ..HostConfig::new(data.path()) };
    configure(&mut config);
    Host::with_config(config).expect("host")
}

fn run_due(host: &Host) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(host.run_due_jobs()).expect("run due jobs")
}

fn runs(host: &Host, job: &str) -> i64 {
    let answer =
        host.call_route("janitor", RouteRequest::new(Method::Get, &format!("/runs/{job}"))).expect("runs");
    answer.json().expect("json")["runs"].as_i64().expect("a count")
}

/// Waits until `job` is due (its `next_due` has passed).
fn until_due(host: &Host, job: &str) {
    let state =
        host.jobs(Some("janitor")).expect("jobs").into_iter().find(|j| j.job_id == job).expect("declared");
    let due = state.next_due.expect("due again");
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis();
    let now = u64::try_from(now).expect("fits");
    std::thread::sleep(Duration::from_millis(due.saturating_sub(now) + 20));
}

on_both_engines! {
    fn an_interval_job_runs_once_per_due_time_and_its_state_shows(engine) {
        let data = tempfile::tempdir().expect("temp");
        let host = host_on(&data, engine, |_| {});
        let plugin = scheduled(json!([{ "id": "note", "every_seconds": 1 }, { "id": "digest", "cron": "0 6 * * *" }]));
        host.load_plugin(plugin.path()).expect("load");
        assert!(host.plugin("janitor").expect("loaded").exports.contains(&"jobs"));
        let states = host.jobs(Some("janitor")).expect("jobs");
        let schedules: Vec<(&str, &str)> = states.iter().map(|j| (j.job_id.as_str(), j.schedule.as_str())).collect();
        assert_eq!(schedules, [("digest", "cron 0 6 * * * (UTC)"), ("note", "every 1 s")]);
        assert!(states.iter().all(|j| j.runs == 0 && j.last_run.is_none()));
        assert_eq!(run_due(&host), 0, "nothing is due at load");

        until_due(&host, "note");
        assert_eq!(run_due(&host), 1);
        assert_eq!(run_due(&host), 0, "a run happens once per due time");
        assert_eq!(runs(&host, "note"), 1);
        let note = host.jobs(Some("janitor")).expect("jobs").into_iter().find(|j| j.job_id == "note").expect("note");
        let last = note.last_run.expect("ran");
        assert_eq!((note.runs, last.error), (1, None));
        assert!(note.next_due.expect("due again") > last.at, "the schedule goes on");
        let query = plinth_host::EntityQuery { entity_type: Some("note".into()), ..Default::default() };
        assert_eq!(host.entities(&query).expect("notes").len(), 1, "a job's entity write committed with its run");
        let digest = host.jobs(Some("janitor")).expect("jobs").into_iter().find(|j| j.job_id == "digest").expect("digest");
        assert_eq!(digest.runs, 0, "a daily job waits for its time");
    }
}

#[test]
fn runs_missed_while_nothing_ran_the_job_collapse_into_one() {
    let data = tempfile::tempdir().expect("temp");
    let host = host_on(&data, EngineKind::Native, |_| {});
    host.load_plugin(scheduled(json!([{ "id": "tick", "every_seconds": 1 }])).path()).expect("load");
    // Three due times pass with no node running jobs.
    std::thread::sleep(Duration::from_millis(3_300));
    assert_eq!(run_due(&host), 1, "one run for all that were missed");
    assert_eq!(run_due(&host), 0);
    assert_eq!(runs(&host, "tick"), 1);
    let tick = host.jobs(Some("janitor")).expect("jobs").remove(0);
    let last = tick.last_run.expect("ran");
    assert!(tick.next_due.expect("due") >= last.at + 1_000, "the schedule goes on from the run");
}

on_both_engines! {
    fn a_cron_job_that_always_traps_trips_the_breaker_and_waits_out_its_back_off(engine) {
        let data = tempfile::tempdir().expect("temp");
        let clock = Clock::manual();
        let back_off = Duration::from_secs(60);
        let host = host_on(&data, engine, |config| {
            config.breaker = BreakerConfig { failures: 3, backoff: back_off };
            config.clock = clock.clone();
        });
        // Every second, as a cron expression (six fields, seconds first).
        host.load_plugin(scheduled(json!([{ "id": "trap", "cron": "* * * * * *" }])).path()).expect("load");
        let last_error = |host: &Host| {
            let state = host.jobs(Some("janitor")).expect("jobs").remove(0);
            (state.runs, state.last_run.and_then(|run| run.error).unwrap_or_default())
        };
        for round in 1..=3 {
            until_due(&host, "trap");
            assert_eq!(run_due(&host), 1);
            let (runs, error) = last_error(&host);
            assert_eq!(runs, round);
            assert!(error.contains("(job trap): trapped"), "{error}");
        }
        let traps = |host: &Host| host.plugin("janitor").expect("loaded").health.traps;
        assert_eq!(traps(&host), 3);
        // Degraded: the next due runs are skipped, the guest not run.
        for _ in 0..2 {
            until_due(&host, "trap");
            assert_eq!(run_due(&host), 1);
            let (_, error) = last_error(&host);
            assert!(error.starts_with("skipped") && error.contains("degraded"), "{error}");
        }
        assert_eq!(traps(&host), 3, "the job did not run during its back-off");
        // Once the back-off ends, the job runs (and traps) again.
        clock.advance(back_off);
        until_due(&host, "trap");
        assert_eq!(run_due(&host), 1);
        assert_eq!(traps(&host), 4);
    }
}

#[test]
fn declared_jobs_are_checked_at_load() {
    let data = tempfile::tempdir().expect("temp");
    let host = host_on(&data, EngineKind::Native, |_| {});
    let bad_cron = scheduled(json!([{ "id": "digest", "cron": "every morning" }]));
    let error = host.load_plugin(bad_cron.path()).expect_err("refused");
    assert!(matches!(&error, LoadError::ManifestInvalid { .. }), "{error}");
    assert!(error.to_string().contains("jobs[0]") && error.to_string().contains("five fields"), "{error}");
    let never = scheduled(json!([{ "id": "leap", "cron": "0 0 30 2 *" }]));
    assert!(host.load_plugin(never.path()).expect_err("refused").to_string().contains("no time to come"));
    let both = scheduled(json!([{ "id": "x", "every_seconds": 5, "cron": "* * * * *" }]));
    assert!(host.load_plugin(both.path()).expect_err("refused").to_string().contains("exactly one"));
    // A plugin declaring jobs must export `run-job`.
    let manifest = json!({ "jobs": [{ "id": "tick", "every_seconds": 1 }] });
    let without = PluginDir::new("stats", guests::CHARACTER_STATS_WASM, &[], manifest);
    let error = host.load_plugin(without.path()).expect_err("refused");
    assert!(error.to_string().contains("exports no `jobs` interface"), "{error}");
}

/// A job runs on demand (`Host::run_job`), outside its schedule, and
/// `plinth test` cases express it (`"job": …`): what it wrote, or its error.
#[test]
fn a_job_runs_on_demand_and_test_cases_express_it() {
    let data = tempfile::tempdir().expect("temp");
    let host = host_on(&data, EngineKind::Native, |_| {});
    let plugin =
        scheduled(json!([{ "id": "note", "cron": "0 6 * * *" }, { "id": "trap", "every_seconds": 3600 }]));
    host.load_plugin(plugin.path()).expect("load");
    host.run_job("janitor", "note").expect("runs now");
    assert_eq!(runs(&host, "note"), 1);
    let state = host.jobs(Some("janitor")).expect("jobs").remove(0);
    assert_eq!((state.job_id.as_str(), state.runs), ("note", 0), "its schedule and record are left alone");
    assert_eq!(host.run_job("janitor", "trap").expect_err("traps").code(), "trap");
    assert_eq!(host.run_job("janitor", "nightly").expect_err("undeclared").code(), "job_not_found");

    let run_cases = |cases: Value| {
        std::fs::create_dir_all(plugin.path().join("tests")).expect("tests folder");
        std::fs::write(plugin.path().join("tests/cases.json"), cases.to_string()).expect("cases");
        let open = |config: plinth_host::HostConfig| Ok(Host::with_config(config)?);
        plinth_test::cases::run(plugin.path(), &open).expect("run the cases")
    };
    assert!(run_cases(json!([
        { "name": "the note job writes a note", "job": "note",
          "expect": { "entities": { "note": [{ "by": "job" }] }, "storage": { "runs/note": 1 } } },
        { "name": "the trap job traps", "job": "trap", "expect": { "error": "trap" } },
    ])));
    assert!(!run_cases(json!({ "name": "wrong", "job": "note", "expect": { "entities": { "note": [] } } })));
    assert!(!run_cases(json!({ "name": "not a job's", "job": "note", "expect": { "status": 200 } })));
}
