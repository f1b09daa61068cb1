//! The HTTP status of each library error: the library names what went wrong
//! (`code()`), the server decides how HTTP says it.

use plinth_host::store::StoreError;
use plinth_host::{CallError, HostError, LegacyError};

/// The status of a failed plugin call.
pub fn of_call(error: &CallError) -> u16 {
    error.http_status()
}

/// The status of a failed host operation.
pub fn of_host(error: &HostError) -> u16 {
    match error {
        HostError::Store(StoreError::Unavailable { .. }) => 503,
        HostError::EntityNotFound(_) | HostError::UnknownPlugin(_) => 404,
        HostError::EntityExists(_) | HostError::FieldConfigConflict { .. } => 409,
        HostError::InvalidEntity(_) => 400,
        HostError::InvalidSetting { .. }
        | HostError::InvalidFieldConfig { .. }
        | HostError::ValidationFailed { .. } => 422,
        _ => 500,
    }
}

/// The status of a failed legacy job or module operation.
pub fn of_legacy(error: &LegacyError) -> u16 {
    match error {
        LegacyError::Busy { .. } | LegacyError::Disabled => 503,
        LegacyError::InputTooLarge { .. } => 413,
        LegacyError::InvalidRequest { .. } | LegacyError::InvalidName(_) => 400,
        LegacyError::UnknownModule(_) => 404,
        LegacyError::InvalidModule { .. } => 422,
        LegacyError::Timeout { .. } => 504,
        LegacyError::Exit { .. } | LegacyError::Protocol { .. } => 502,
        _ => 500,
    }
}
