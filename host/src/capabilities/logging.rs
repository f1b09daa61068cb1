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
        let result = self.require(HostFunction::Log).map(|()| {
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
        });
        Ok(result)
    }
}
