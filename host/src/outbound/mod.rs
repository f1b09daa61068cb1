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

mod grant;
mod send;

use crate::capabilities::PluginContext;
use crate::plugin_log::{LogLevel, LogSource};
use crate::sync::locked;
pub use grant::OutboundGrant;
use grant::{RequestHost, Scheme};
use std::future::Future;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks};

/// The most outbound requests one call may send.
pub const MAX_REQUESTS_PER_CALL: u32 = 16;
/// The largest request body a plugin may send.
pub const MAX_REQUEST_BODY_BYTES: u64 = 1 << 20;
/// The largest response body a plugin may receive.
pub const MAX_RESPONSE_BODY_BYTES: u64 = 4 << 20;

/// One call's outbound HTTP: wasmtime-wasi-http's context and Plinth's checks.
pub(crate) struct OutboundHttp {
    ctx: WasiHttpCtx,
    checks: Checks,
}

impl OutboundHttp {
    pub(crate) fn new(plugin: Arc<PluginContext>, deadline: std::time::Instant) -> OutboundHttp {
        let checks = Checks {
            plugin,
            deadline: tokio::time::Instant::from_std(deadline),
            sent: 0,
            refusals: Refusals::default(),
        };
        OutboundHttp { ctx: WasiHttpCtx::new(), checks }
    }

    /// The view wasmtime-wasi-http's host functions work on.
    pub(crate) fn view<'a>(&'a mut self, table: &'a mut ResourceTable) -> WasiHttpCtxView<'a> {
        WasiHttpCtxView { ctx: &mut self.ctx, table, hooks: &mut self.checks }
    }

    /// Moves what was refused into the call's log, at warn.
    pub(crate) fn log_refusals(&self, log: &mut crate::plugin_log::CallLog) {
        for refusal in std::mem::take(&mut *locked(&self.checks.refusals.0)) {
            log.push(LogLevel::Warn, LogSource::Host, refusal);
        }
    }
}

/// What one call's requests were refused for, kept for its log (the
/// refusal of an address happens in the sending task, away from the call).
#[derive(Clone, Default)]
pub(super) struct Refusals(Arc<Mutex<Vec<String>>>);

impl Refusals {
    fn push(&self, refusal: String) {
        locked(&self.0).push(refusal);
    }
}

/// The checks on one call's requests.
struct Checks {
    plugin: Arc<PluginContext>,
    deadline: tokio::time::Instant,
    sent: u32,
    refusals: Refusals,
}

impl Checks {
    /// Where `request` may go, or why it may not.
    fn admit(&mut self, request: &http::Request<WasiBody>) -> Result<send::Admitted, Error> {
        let uri = request.uri();
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => return Err(Error::HttpProtocolError),
        };
        let Some(authority) = uri.authority() else { return Err(Error::HttpRequestUriInvalid) };
        let host = RequestHost::parse(authority.host());
        let port = authority.port_u16().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        let id = &self.plugin.id;
        let Some(grant) = self.plugin.outbound_hosts.iter().find(|grant| grant.covers(scheme, &host, port))
        else {
            self.plugin.health.denied();
            self.refusals.push(format!(
                "plugin `{id}` sent a request to {uri}, a host it is not granted: add `{}` to capabilities.outbound_hosts in plugin.json",
                authority.as_str()
            ));
            return Err(Error::HttpRequestDenied);
        };
        if self.sent >= MAX_REQUESTS_PER_CALL {
            self.refusals.push(format!(
                "plugin `{id}` sent more than {MAX_REQUESTS_PER_CALL} outbound requests in one call; the rest were refused"
            ));
            return Err(Error::ConnectionLimitReached);
        }
        self.sent += 1;
        tracing::debug!(plugin = %id, %grant, %uri, "outbound request");
        Ok(send::Admitted {
            by_address: matches!(host, RequestHost::Address(_)),
            host,
            port,
            tls: scheme == Scheme::Https,
            deadline: self.deadline,
            refusals: self.refusals.clone(),
        })
    }
}

impl WasiHttpHooks for Checks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<send::Sent, Error>> + Send> {
        match self.admit(&request) {
            Ok(admitted) => Box::new(send::send(request, options, admitted)),
            Err(error) => Box::new(async move { Err(error) }),
        }
    }
}
