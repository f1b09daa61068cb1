//! The host interfaces a plugin imports, one module each. Every module owns
//! its capability end to end: the grant check, the bindings glue and the SQL.

pub mod entities;
pub(crate) mod logging;
pub(crate) mod settings;
pub(crate) mod storage;

use crate::GuestError;
use crate::bindings::plinth::plugin::types;
use crate::sandbox::InvocationState;
use wasmtime::component::{HasSelf, Linker};

/// Adds every Plinth host interface to the linker. All are always linked; the
/// grants decide, per call, which succeed.
pub(crate) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    types::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    entities::add_to_linker(linker)?;
    storage::add_to_linker(linker)?;
    settings::add_to_linker(linker)?;
    logging::add_to_linker(linker)?;
    Ok(())
}

impl types::Host for InvocationState {}

/// A database failure seen by a guest: logged with the plugin id, reported to
/// the guest as `internal` (the host carries on).
pub(crate) fn internal(state: &InvocationState, operation: &str, error: rusqlite::Error) -> GuestError {
    let message = format!("{operation} failed in the host's database: {error}");
    state.log.record(
        &state.plugin.id,
        crate::plugin_log::LogLevel::Error,
        crate::plugin_log::LogSource::Host,
        &message,
    );
    GuestError::Internal(message)
}
