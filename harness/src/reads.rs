//! What a test reads back: entities, a plugin's storage and log, and the host
//! functions it called. These panic on a database failure, which no test
//! means to check, so a read can go straight into an `assert_eq!`.

use crate::TestHost;
use plinth_host::manifest::HostFunction;
use plinth_host::{Entity, LogRecord};
use serde_json::Value;

impl TestHost {
    /// One entity, as stored now.
    #[track_caller]
    pub fn entity(&self, id: &str) -> Option<Entity> {
        self.report_violations();
        match self.host.entity(id) {
            Ok(entity) => entity,
            Err(e) => panic!("cannot read entity `{id}`: {e}"),
        }
    }

    /// The bytes a plugin stored under `key`, whether or not it is loaded.
    #[track_caller]
    pub fn storage(&self, plugin: &str, key: &str) -> Option<Vec<u8>> {
        self.report_violations();
        match self.host.storage_get(plugin, key) {
            Ok(value) => value,
            Err(e) => panic!("cannot read `{key}` of plugin `{plugin}`: {e}"),
        }
    }

    /// A value a plugin stored under `key`, parsed as JSON. Panics when it is
    /// not JSON, showing the text.
    #[track_caller]
    pub fn storage_json(&self, plugin: &str, key: &str) -> Option<Value> {
        let bytes = self.storage(plugin, key)?;
        match serde_json::from_slice(&bytes) {
            Ok(value) => Some(value),
            Err(e) => panic!(
                "plugin `{plugin}` stored `{key}` as {:?}, which is not JSON: {e}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }

    /// A value a plugin stored under `key`, as text (lossy for invalid UTF-8).
    #[track_caller]
    pub fn storage_text(&self, plugin: &str, key: &str) -> Option<String> {
        self.storage(plugin, key).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The keys a plugin stored under `prefix` (`""` for all), sorted.
    #[track_caller]
    pub fn storage_keys(&self, plugin: &str, prefix: &str) -> Vec<String> {
        self.report_violations();
        match self.host.storage_keys(plugin, prefix) {
            Ok(keys) => keys,
            Err(e) => panic!("cannot list the keys of plugin `{plugin}`: {e}"),
        }
    }

    /// A plugin's log, oldest first: its `log` calls, its stdout and stderr
    /// (a Rust panic's message), and what the host said about it (denied
    /// calls, failed hooks). The host keeps the newest 500 records.
    #[track_caller]
    pub fn logs(&self, plugin: &str) -> Vec<LogRecord> {
        self.report_violations();
        self.host.plugin_log(plugin)
    }

    /// Whether some record of a plugin's log contains `text`.
    #[track_caller]
    pub fn log_contains(&self, plugin: &str, text: &str) -> bool {
        self.logs(plugin).iter().any(|record| record.message.contains(text))
    }

    /// Panics unless some record of a plugin's log contains `text`; the
    /// message shows the whole log.
    #[track_caller]
    pub fn assert_log_contains(&self, plugin: &str, text: &str) {
        let log = self.logs(plugin);
        if log.iter().any(|record| record.message.contains(text)) {
            return;
        }
        let lines: Vec<String> = log
            .iter()
            .map(|record| format!("  [{:?} {:?}] {}", record.level, record.source, record.message))
            .collect();
        let shown = if lines.is_empty() { "  (empty)".to_string() } else { lines.join("\n") };
        panic!("no record of plugin `{plugin}`'s log contains {text:?}; its log:\n{shown}");
    }

    /// The host functions a plugin called so far, in order, whether granted
    /// or not (the host reports each call before checking its grant). A call
    /// that the host ran again after a storage conflict shows each time.
    #[track_caller]
    pub fn host_calls(&self, plugin: &str) -> Vec<HostFunction> {
        self.report_violations();
        self.recorder.calls(plugin)
    }

    /// Forgets the host calls recorded so far, so that [`TestHost::host_calls`]
    /// shows only what the next step calls.
    #[track_caller]
    pub fn clear_host_calls(&self) {
        self.report_violations();
        self.recorder.clear_calls();
    }

    /// The ids of the loaded plugins.
    #[track_caller]
    pub fn plugin_ids(&self) -> Vec<String> {
        self.report_violations();
        self.host.plugins().into_iter().map(|plugin| plugin.id).collect()
    }
}
