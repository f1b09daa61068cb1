//! # plinth-contract: what both sides of `plinth:plugin` spell the same way
//!
//! The WIT fixes the types a plugin and the host exchange, but each side's
//! bindings generate their own Rust enums with no text for their cases. The
//! text both sides must agree on lives here once, so the host (which parses
//! and routes requests) and the guest SDK (which names its routes) never drift
//! apart. Dependency-free and `no_std`, so it builds for any guest target.
#![no_std]

/// The HTTP method names, indexed by the position of their case in WIT's
/// `routes.method` enum (`get`, `head`, `post`, `put`, `patch`, `delete`,
/// `options`, the same in every version): `METHOD_NAMES[method as usize]`.
pub const METHOD_NAMES: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The index in [`METHOD_NAMES`] of an HTTP method name, case-insensitively.
pub fn method_index(name: &str) -> Option<usize> {
    METHOD_NAMES.iter().position(|known| known.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_whatever_their_case_and_unknown_ones_are_not() {
        assert_eq!(method_index("patch"), Some(4));
        assert_eq!(method_index("Options"), Some(6));
        assert_eq!(method_index("TRACE"), None);
        assert_eq!(method_index(""), None);
    }
}
