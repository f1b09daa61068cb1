//! Outbound HTTP: `wasi:http/outgoing-handler` for plugins that name the
//! hosts they call in `capabilities.outbound_hosts`. wasmtime-wasi-http
//! turns the guest's request into an `http::Request`; Plinth sends it
//! itself, so each request is checked where it leaves:
//! - its scheme, host and port against the grants (else `HTTP-request-denied`);
//! - the addresses its name resolves to, refusing internal ones unless the
//!   grant names the address (`destination-IP-prohibited`), and connecting
//!   to the address checked;
//! - at most [`MAX_REQUESTS_PER_CALL`] requests a call, bodies of at most
//!   [`MAX_REQUEST_BODY_BYTES`] out and [`MAX_RESPONSE_BODY_BYTES`] back,
//!   and every wait within the call's deadline.
//!
//! Redirects are not followed: the guest sees the 3xx, and a request to
//! its `location` is checked like any other.
//!
//! The sending needs the `outbound-http` feature (it links an HTTP client);
//! the grants are parsed and shown at consent without it.

#[cfg(feature = "outbound-http")]
mod checks;
mod grant;
#[cfg(feature = "outbound-http")]
mod send;

#[cfg(feature = "outbound-http")]
pub(crate) use checks::OutboundHttp;
pub use grant::OutboundGrant;

/// Answers plugins' outbound requests in place of the network: a test's
/// mock server (`Host::answer_outbound_with`, `plinth test` cases' `http`).
/// Every request is still checked against the plugin's grants and the
/// per-call limit first; then, instead of resolving and connecting, the
/// host asks this for the answer (`None`: refused, as if no server were
/// there). The answer is held to the same bounds as a server's.
pub type OutboundMock = std::sync::Arc<dyn Fn(&OutboundRequest) -> Option<OutboundAnswer> + Send + Sync>;

/// The current mock, if any, shared by every store the host makes.
#[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
pub(crate) type MockSlot = std::sync::Arc<std::sync::RwLock<Option<OutboundMock>>>;

/// A request a plugin sent, as an [`OutboundMock`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The whole URL: scheme, host, port (when given), path and query.
    pub url: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`MAX_REQUEST_BODY_BYTES`]).
    pub body: Vec<u8>,
}

/// What an [`OutboundMock`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The most outbound requests one call may send.
pub const MAX_REQUESTS_PER_CALL: u32 = 16;
/// The largest request body a plugin may send.
pub const MAX_REQUEST_BODY_BYTES: u64 = 1 << 20;
/// The largest response body a plugin may receive.
pub const MAX_RESPONSE_BODY_BYTES: u64 = 4 << 20;
/// The most one set of headers may take in the host's memory.
#[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
const MAX_FIELDS_BYTES: usize = 16 << 10;
/// The most the host buffers of one write to an outgoing body.
#[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
const OUTGOING_CHUNK_BYTES: usize = 64 << 10;
