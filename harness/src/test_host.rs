//! [`TestHost`]: the throw-away host, loading, seeding and strict mode. The
//! plugin calls are in `actions.rs`, the reads in `reads.rs`.

use crate::TestHostBuilder;
use crate::strict::{self, Recorder, Violation};
use plinth_host::manifest::HostFunction;
use plinth_host::{Entity, Host, LoadError, PluginInfo};
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A real Plinth host on a temporary data directory, for one test.
///
/// Plugins load through the host's own loader and every call runs in the
/// host's own sandbox, so grants, limits and errors are exactly what a server
/// gives the plugin. The data directory (database, plugin storage, settings)
/// is removed when the `TestHost` is dropped; compiled components are cached
/// across tests (see [`TestHostBuilder::compile_cache_dir`]).
///
/// In strict mode, a host call the test did not expect fails the test: the
/// harness method during which it happened panics, naming the plugin, the
/// function and what was expected; calls made through [`TestHost::host`]
/// directly are reported by the next harness method, or when the `TestHost`
/// is dropped.
pub struct TestHost {
    // Dropped in this order: the host (and its database) before its folder.
    pub(crate) host: Host,
    pub(crate) recorder: Arc<Recorder>,
    next_seed: AtomicU64,
    _data: tempfile::TempDir,
}

impl Default for TestHost {
    fn default() -> Self {
        TestHost::new()
    }
}

impl TestHost {
    /// A host with default limits, compiled components cached in the user's
    /// cache folder, strict mode off.
    #[track_caller]
    pub fn new() -> TestHost {
        TestHostBuilder::default().build()
    }

    /// A host in strict mode: declare each plugin's host calls with
    /// [`TestHost::expect_host_calls`] before they happen.
    #[track_caller]
    pub fn strict() -> TestHost {
        TestHostBuilder::default().strict().build()
    }

    /// A builder, for strict mode, expectations, the compile cache or other
    /// host settings.
    pub fn builder() -> TestHostBuilder {
        TestHostBuilder::default()
    }

    pub(crate) fn assemble(host: Host, recorder: Arc<Recorder>, data: tempfile::TempDir) -> TestHost {
        TestHost { host, recorder, next_seed: AtomicU64::new(1), _data: data }
    }

    /// The host itself, for anything the harness does not wrap. Host calls
    /// made through it are recorded and checked in strict mode like any other.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Loads the plugin in `dir` (its `plugin.json` and built component) with
    /// the host's own loader: a manifest error, a missing component or an
    /// import the host does not provide fails here exactly as it would in a
    /// server. Relative paths start at the package being tested (cargo runs
    /// tests there), so a plugin crate's own tests load `"."`.
    #[track_caller]
    pub fn load(&self, dir: impl AsRef<Path>) -> Result<PluginInfo, LoadError> {
        self.report_violations();
        let loaded = self.host.load_plugin(dir);
        self.report_violations();
        loaded
    }

    /// A loaded plugin's information (exports, routes, widgets, grants,
    /// limits). Panics when no plugin `id` is loaded.
    #[track_caller]
    pub fn plugin(&self, id: &str) -> PluginInfo {
        self.report_violations();
        if let Some(info) = self.host.plugin(id) {
            return info;
        }
        let loaded: Vec<String> = self.host.plugins().into_iter().map(|p| p.id).collect();
        panic!("no plugin `{id}` is loaded (loaded: {})", list(&loaded))
    }

    /// Declares host functions `plugin` may call from now on, and turns
    /// strict mode on for the whole host: from then on any call not declared
    /// (by any plugin) fails the test. Declarations add up; they never grant
    /// anything: a call the manifest does not grant is still denied.
    #[track_caller]
    pub fn expect_host_calls(&self, plugin: &str, functions: &[HostFunction]) {
        self.report_violations();
        self.recorder.expect(plugin, functions);
    }

    /// Whether strict mode is on.
    pub fn is_strict(&self) -> bool {
        self.recorder.is_strict()
    }

    /// The strict-mode violations not reported yet, which then count as
    /// reported: for a test that checks them itself instead of failing.
    pub fn take_violations(&self) -> Vec<Violation> {
        self.recorder.take_violations()
    }

    /// Runs `act` on the host, judging strict mode before (calls made behind
    /// the harness's back) and after (calls `act` caused).
    #[track_caller]
    pub(crate) fn judged<R>(&self, act: impl FnOnce(&Host) -> R) -> R {
        self.report_violations();
        let result = act(&self.host);
        self.report_violations();
        result
    }

    /// Panics with every violation not reported yet. Every harness method
    /// calls it before and after its work, so a violation fails the test at
    /// the line that caused it.
    #[track_caller]
    pub(crate) fn report_violations(&self) {
        let violations = self.recorder.take_violations();
        if !violations.is_empty() {
            panic!("{}", strict::describe(&violations));
        }
    }

    /// Stores an entity without firing any hook, with a generated id
    /// (`seed-1`, `seed-2`, …): the world as the test needs it before the
    /// action under test. Panics when `data` is not a JSON object or the
    /// database refuses the write.
    #[track_caller]
    pub fn seed_entity(&self, entity_type: &str, data: Value) -> Entity {
        loop {
            let id = format!("seed-{}", self.next_seed.fetch_add(1, Ordering::Relaxed));
            if self.host.entity(&id).ok().flatten().is_none() {
                return self.seed_entity_with_id(&id, entity_type, data);
            }
        }
    }

    /// Stores an entity with this id without firing any hook. Panics when the
    /// id is taken, `data` is not a JSON object or the database fails.
    #[track_caller]
    pub fn seed_entity_with_id(&self, id: &str, entity_type: &str, data: Value) -> Entity {
        // Judged: a configured widget's validation may run plugin code.
        match self.judged(|host| host.import_entity(Some(id), entity_type, data)) {
            Ok(entity) => entity,
            Err(e) => panic!("seed_entity: cannot store `{id}`: {e}"),
        }
    }

    /// Sets some of a plugin's settings (a JSON object; `null` resets one to
    /// its default), checked against the manifest's schema as the host checks
    /// them, and returns the settings in force. The plugin must be loaded.
    /// Panics when a value is refused: a test's setup should not go on.
    #[track_caller]
    pub fn set_settings(&self, plugin: &str, values: Value) -> Map<String, Value> {
        self.report_violations();
        // Matches, not closures: a panic inside a closure would not point at the test's line.
        let values = match values {
            Value::Object(values) => values,
            other => panic!("set_settings: the settings of `{plugin}` must be a JSON object, not {other}"),
        };
        match self.host.set_settings(plugin, values) {
            Ok(settings) => settings,
            Err(e) => panic!("set_settings: {e}"),
        }
    }
}

/// `a, b` or `none`.
pub(crate) fn list(items: &[String]) -> String {
    if items.is_empty() { "none".to_string() } else { items.join(", ") }
}

impl Drop for TestHost {
    /// Reports what strict mode found and nothing reported yet (calls made
    /// through [`TestHost::host`] after the last harness method). Never while
    /// the test is already failing: a second panic would abort the process
    /// and hide the first.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let violations = self.recorder.take_violations();
        if !violations.is_empty() {
            panic!("{}\n(found when the TestHost was dropped)", strict::describe(&violations));
        }
    }
}
