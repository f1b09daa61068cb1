//! `plinth:plugin/logging`: a plugin's log lines, under its id, with the `log` grant.

use crate::GuestError;
use crate::bindings::plinth::plugin::logging::{self as wit, Level};
use crate::manifest::HostFunction;
use crate::plugin_log::{LogLevel, LogSource};
use crate::sandbox::InvocationState;
use wasmtime::component::{HasSelf, Linker};

/// Longer messages are cut to this many bytes.
const MAX_MESSAGE_BYTES: usize = 8 * 1024;

pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

impl wit::Host for InvocationState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<Result<(), GuestError>> {
        if let Err(denied) = self.require(HostFunction::Log) {
            return Ok(Err(denied));
        }
        // A flood is cut at the per-call limit; the cut itself is logged once.
        self.log_records += 1;
        let limit = self.limits.log_records;
        if self.log_records > limit {
            if self.log_records == limit + 1 {
                let note = format!(
                    "plugin `{}` wrote more than {limit} log records in one call; the rest are dropped",
                    self.plugin.id
                );
                self.log.record(&self.plugin.id, LogLevel::Warn, LogSource::Host, &note);
            }
            return Ok(Ok(()));
        }
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        let mut end = message.len().min(MAX_MESSAGE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.log.record(&self.plugin.id, level, LogSource::Plugin, &message[..end]);
        Ok(Ok(()))
    }
}
