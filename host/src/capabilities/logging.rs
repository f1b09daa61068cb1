//! `plinth:plugin/logging`: a plugin's log lines, under its id, with the `log` grant.

use super::Caller;
use crate::GuestError;
use crate::bindings::plinth::plugin::logging::{self as wit, Level};
use crate::manifest::HostFunction;
use crate::plugin_log::{LogLevel, LogSource};
use wasmtime::component::{HasData, Linker};

/// The log records one call has written, for its per-call limit.
#[derive(Default)]
pub(crate) struct LoggingCtx {
    records: usize,
}

/// What a logging call sees: the caller and the call's record count.
pub(crate) struct LoggingView<'a> {
    pub caller: &'a mut Caller,
    pub ctx: &'a mut LoggingCtx,
}

struct HasLogging;

impl HasData for HasLogging {
    type Data<'a> = LoggingView<'a>;
}

pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> LoggingView<'_>,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasLogging>(linker, get)
}

impl wit::Host for LoggingView<'_> {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<Result<(), GuestError>> {
        if let Err(denied) = self.caller.require(HostFunction::Log) {
            return Ok(Err(denied));
        }
        // A flood is cut at the per-call limit; the cut itself is logged once.
        self.ctx.records += 1;
        let limit = self.caller.plugin.limits.log_records;
        if self.ctx.records > limit {
            if self.ctx.records == limit + 1 {
                let note = format!(
                    "plugin `{}` wrote more than {limit} log records in one call; the rest are dropped",
                    self.caller.plugin.id
                );
                self.caller.log.push(LogLevel::Warn, LogSource::Host, note);
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
        // Longer messages are cut by the log itself.
        self.caller.log.push(level, LogSource::Plugin, message);
        Ok(Ok(()))
    }
}
