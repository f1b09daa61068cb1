//! Errors of the legacy adapter: each names the module and the phase
//! (request, load, run, output) and says what to do.

use super::protocol::ProtocolError;

/// Why a legacy job or module operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// The host was opened without the legacy adapter.
    #[error(
        "the legacy adapter is off: open the host with HostConfig::legacy set (the `plinth` server and `plinth legacy` do)"
    )]
    Disabled,
    /// The pending-job limit is reached; nothing was queued.
    #[error("busy: {pending} legacy jobs are pending and the limit is {max}; try again later")]
    Busy {
        /// Jobs running or waiting.
        pending: usize,
        /// The limit.
        max: usize,
    },
    /// The request is over the input limit.
    #[error("module `{module}` (request): the request is {size} bytes, over the {max}-byte limit")]
    InputTooLarge {
        /// The module.
        module: String,
        /// The request's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The request is not a JSON object.
    #[error("module `{module}` (request): {problem}")]
    InvalidRequest {
        /// The module.
        module: String,
        /// What is wrong.
        problem: String,
    },
    /// No installed module has this name.
    #[error(
        "no legacy module `{0}` is installed; add it with `plinth legacy add FILE` (see `plinth legacy list`)"
    )]
    UnknownModule(String),
    /// The name cannot be a module file name.
    #[error("`{0}` is not a valid module name: use letters, digits, `.`, `-` and `_`, ending in `.wasm`")]
    InvalidName(String),
    /// The bytes are not a usable wasip1 command module.
    #[error("module `{module}` (load): {problem}")]
    InvalidModule {
        /// The module.
        module: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The job ran past its time limit and was stopped.
    #[error("module `{module}` (run): stopped after its {limit_ms} ms time limit")]
    Timeout {
        /// The module.
        module: String,
        /// The limit.
        limit_ms: u128,
    },
    /// The module trapped.
    #[error("module `{module}` (run): trapped: {message}")]
    Trap {
        /// The module.
        module: String,
        /// Wasmtime's description.
        message: String,
    },
    /// The module exited with a non-zero code.
    #[error("module `{module}` (run): exited with code {code}; the end of its stderr: {stderr_tail}")]
    Exit {
        /// The module.
        module: String,
        /// Its exit code.
        code: i32,
        /// The last part of what it wrote to stderr.
        stderr_tail: String,
    },
    /// The module's output broke the protocol.
    #[error("module `{module}` (output): {source}")]
    Protocol {
        /// The module.
        module: String,
        /// Which rule.
        source: ProtocolError,
    },
    /// The host could not prepare the job's sandbox or the module store.
    #[error("legacy adapter ({operation}): {source}")]
    Io {
        /// What was being done.
        operation: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl LegacyError {
    /// A stable, machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            LegacyError::Disabled => "legacy_disabled",
            LegacyError::Busy { .. } => "busy",
            LegacyError::InputTooLarge { .. } => "payload_too_large",
            LegacyError::InvalidRequest { .. } => "invalid_request",
            LegacyError::UnknownModule(_) => "unknown_module",
            LegacyError::InvalidName(_) => "invalid_module_name",
            LegacyError::InvalidModule { .. } => "invalid_module",
            LegacyError::Timeout { .. } => "timeout",
            LegacyError::Trap { .. } => "trap",
            LegacyError::Exit { .. } => "module_exit",
            LegacyError::Protocol { .. } => "protocol_violation",
            LegacyError::Io { .. } => "internal",
        }
    }

    /// The module concerned, when there is one.
    pub fn module(&self) -> Option<&str> {
        match self {
            LegacyError::InputTooLarge { module, .. }
            | LegacyError::InvalidRequest { module, .. }
            | LegacyError::InvalidModule { module, .. }
            | LegacyError::Timeout { module, .. }
            | LegacyError::Trap { module, .. }
            | LegacyError::Exit { module, .. }
            | LegacyError::Protocol { module, .. } => Some(module),
            LegacyError::UnknownModule(module) | LegacyError::InvalidName(module) => Some(module),
            LegacyError::Busy { .. } | LegacyError::Io { .. } | LegacyError::Disabled => None,
        }
    }

    pub(crate) fn io(operation: impl Into<String>) -> impl FnOnce(std::io::Error) -> LegacyError {
        let operation = operation.into();
        move |source| LegacyError::Io { operation, source }
    }
}
