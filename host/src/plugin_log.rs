//! What plugins said and what the host said about them: guest `log` calls,
//! captured stdout/stderr, denied calls and failed hooks. Every record goes to
//! `tracing` with the plugin id, and the most recent ones are kept per plugin so
//! an application can show them.

use crate::sync::locked;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Records kept per plugin; older ones are dropped.
const KEPT_PER_PLUGIN: usize = 500;

/// How severe a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Fine detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

/// Who wrote a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The plugin, through the `logging` interface.
    Plugin,
    /// The plugin's stdout.
    Stdout,
    /// The plugin's stderr.
    Stderr,
    /// The host, about the plugin (a denied call, a failed hook).
    Host,
}

/// One log record.
#[derive(Debug, Clone, Serialize)]
pub struct LogRecord {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// The plugin concerned.
    pub plugin_id: String,
    /// Severity.
    pub level: LogLevel,
    /// Who wrote it.
    pub source: LogSource,
    /// The text.
    pub message: String,
}

/// The shared log; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct PluginLog {
    records: Arc<Mutex<BTreeMap<String, VecDeque<LogRecord>>>>,
}

impl PluginLog {
    pub(crate) fn record(&self, plugin_id: &str, level: LogLevel, source: LogSource, message: &str) {
        let message = bounded(message, MAX_RECORD_BYTES);
        let shown = escaped(&message);
        match level {
            LogLevel::Trace => tracing::trace!(plugin = plugin_id, ?source, "{shown}"),
            LogLevel::Debug => tracing::debug!(plugin = plugin_id, ?source, "{shown}"),
            LogLevel::Info => tracing::info!(plugin = plugin_id, ?source, "{shown}"),
            LogLevel::Warn => tracing::warn!(plugin = plugin_id, ?source, "{shown}"),
            LogLevel::Error => tracing::error!(plugin = plugin_id, ?source, "{shown}"),
        }
        let record = LogRecord {
            at: now_millis(),
            plugin_id: plugin_id.to_string(),
            level,
            source,
            message: message.to_string(),
        };
        let mut records = locked(&self.records);
        let kept = records.entry(plugin_id.to_string()).or_default();
        if kept.len() == KEPT_PER_PLUGIN {
            kept.pop_front();
        }
        kept.push_back(record);
    }

    /// The kept records of one plugin, oldest first.
    pub(crate) fn records(&self, plugin_id: &str) -> Vec<LogRecord> {
        let records = locked(&self.records);
        records.get(plugin_id).map(|kept| kept.iter().cloned().collect()).unwrap_or_default()
    }
}

/// The records one call wrote, published when its outcome is known: a call
/// run again after a storage conflict drops what the conflicting attempt
/// wrote, so nothing appears twice. Holds at most the newest
/// [`KEPT_PER_PLUGIN`] records (no more would be kept anyway).
#[derive(Default)]
pub(crate) struct CallLog {
    records: VecDeque<(LogLevel, LogSource, String)>,
    dropped: usize,
}

impl CallLog {
    pub(crate) fn push(&mut self, level: LogLevel, source: LogSource, message: String) {
        let message = match bounded(&message, MAX_RECORD_BYTES) {
            Cow::Borrowed(_) => message,
            Cow::Owned(cut) => cut,
        };
        if self.records.len() == KEPT_PER_PLUGIN {
            self.records.pop_front();
            self.dropped += 1;
        }
        self.records.push_back((level, source, message));
    }

    /// Moves the records into the shared log.
    pub(crate) fn publish(self, log: &PluginLog, plugin_id: &str) {
        if self.dropped > 0 {
            let note = format!("plugin `{plugin_id}`: {} earlier records of one call dropped", self.dropped);
            log.record(plugin_id, LogLevel::Warn, LogSource::Host, &note);
        }
        for (level, source, message) in self.records {
            log.record(plugin_id, level, source, &message);
        }
    }
}

/// The most text one kept log record holds; longer text is cut with a note.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;

/// Plugin text the host keeps or forwards: `text` when it fits in `max`
/// bytes, else its first `max` bytes (at a character boundary) and a note
/// of how much was cut.
pub(crate) fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let kept = cut_to(text, max);
    Cow::Owned(format!("{kept}… [{} more bytes cut]", text.len() - kept.len()))
}

/// Plugin text for the operator's log: control characters (newlines among
/// them) escaped, so a plugin cannot forge a log line.
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
            .collect(),
    )
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cut_to(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
