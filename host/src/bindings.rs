//! Host bindings generated from the newest WIT by
//! `wasmtime::component::bindgen!`, one named module per version the host
//! implements natively and a `latest` alias: a new version adds a module and
//! moves the alias, and the version it replaces is forwarded to it
//! (`capabilities::v0_1`, `capabilities::v0_2`).
//! Host functions return `wasmtime::Result<Result<T, Error>>`: the outer error
//! traps the guest (a host fault or a limit), the inner one is the typed WIT
//! `error` the guest handles. Imports and exports are async: a call is a
//! future the host can drop at its deadline, whatever the guest is doing.

#![allow(missing_docs, clippy::all)]

/// `plinth:plugin@0.3.0` (`wit/0.3.0/`): the newest.
pub mod v0_3 {
    wasmtime::component::bindgen!({
        path: "../wit/0.3.0",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub use latest::*;
pub use v0_3 as latest;

pub use exports::plinth::plugin::routes::Method;
pub use plinth::plugin::types::Error as GuestError;

impl Method {
    /// Every method, in WIT's order (the order of `plinth_contract::METHOD_NAMES`).
    const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    /// Parses an HTTP method name, case-insensitively.
    pub fn parse(name: &str) -> Option<Method> {
        plinth_contract::method_index(name).map(|index| Method::ALL[index])
    }

    /// The upper-case HTTP name.
    pub fn as_str(self) -> &'static str {
        plinth_contract::METHOD_NAMES[self as usize]
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

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn every_method_round_trips_through_the_shared_names() {
        for (index, method) in Method::ALL.into_iter().enumerate() {
            assert_eq!(method as usize, index, "Method::ALL is in WIT's order");
            assert_eq!(Method::parse(method.as_str()), Some(method));
            assert_eq!(Method::parse(&method.as_str().to_lowercase()), Some(method));
        }
        assert_eq!(Method::parse("TRACE"), None);
    }
}
