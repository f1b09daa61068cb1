//! The HTTP status of each library error: the library names what went wrong
//! (`code()`), the server decides how HTTP says it.

use plinth_host::store::StoreError;
use plinth_host::{CallError, CallErrorKind, GuestError, HostError, LegacyError};

/// The status of a failed plugin call.
pub fn of_call(error: &CallError) -> u16 {
    match &error.kind {
        CallErrorKind::UnknownPlugin
        | CallErrorKind::RouteNotFound { .. }
        | CallErrorKind::UnknownWidget { .. }
        | CallErrorKind::NotExported { .. } => 404,
        CallErrorKind::MethodNotAllowed { .. } => 405,
        CallErrorKind::Timeout { .. } => 504,
        CallErrorKind::Trap { .. }
        | CallErrorKind::Internal { .. }
        | CallErrorKind::ResponseTooLarge { .. } => 500,
        CallErrorKind::LimitExceeded { .. } => 507,
        CallErrorKind::Busy { .. } | CallErrorKind::HostBusy | CallErrorKind::Degraded { .. } => 503,
        CallErrorKind::RequestTooLarge { .. } => 413,
        CallErrorKind::Conflict { .. } | CallErrorKind::AlreadyDelivered => 409,
        CallErrorKind::Guest(error) => match error {
            GuestError::NotFound(_) => 404,
            GuestError::Denied(_) => 403,
            GuestError::InvalidInput(_) => 400,
            GuestError::QuotaExceeded(_) => 507,
            GuestError::Internal(_) => 500,
        },
        _ => 500,
    }
}

/// The status of a failed host operation.
pub fn of_host(error: &HostError) -> u16 {
    match error {
        HostError::Store(StoreError::Unavailable { .. }) => 503,
        HostError::EntityNotFound(_) | HostError::UnknownPlugin(_) => 404,
        HostError::EntityExists(_) => 409,
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
