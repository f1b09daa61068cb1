//! Host bindings generated from the newest WIT, `wit/0.2.0/`, by
//! `wasmtime::component::bindgen!` (older versions: `capabilities::v0_1`).
//! Host functions return `wasmtime::Result<Result<T, Error>>`: the outer error
//! traps the guest (a host fault or a limit), the inner one is the typed WIT
//! `error` the guest handles. Imports and exports are async: a call is a
//! future the host can drop at its deadline, whatever the guest is doing.

#![allow(missing_docs, clippy::all)]

wasmtime::component::bindgen!({
    path: "../wit/0.2.0",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use exports::plinth::plugin::routes::Method;
pub use plinth::plugin::types::Error as GuestError;

impl Method {
    /// Parses an HTTP method name, case-insensitively.
    pub fn parse(name: &str) -> Option<Method> {
        Some(match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    /// The upper-case HTTP name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

impl GuestError {
    /// The case name, as in WIT (`not-found`).
    pub fn kind(&self) -> &'static str {
        match self {
            GuestError::NotFound(_) => "not-found",
            GuestError::Denied(_) => "denied",
            GuestError::InvalidInput(_) => "invalid-input",
            GuestError::QuotaExceeded(_) => "quota-exceeded",
            GuestError::Internal(_) => "internal",
        }
    }

    /// The message the case carries.
    pub fn message(&self) -> &str {
        match self {
            GuestError::NotFound(m)
            | GuestError::Denied(m)
            | GuestError::InvalidInput(m)
            | GuestError::QuotaExceeded(m)
            | GuestError::Internal(m) => m,
        }
    }
}
