//! One call's outbound HTTP: wasmtime-wasi-http's context, and the checks
//! that admit each request before `send` sends it.

use super::grant::{RequestHost, Scheme};
use super::{MAX_FIELDS_BYTES, MAX_REQUESTS_PER_CALL, OUTGOING_CHUNK_BYTES, send};
use crate::capabilities::PluginContext;
use crate::plugin_log::{LogLevel, LogSource};
use crate::sync::locked;
use std::future::Future;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks};

/// One call's outbound HTTP: wasmtime-wasi-http's context and Plinth's checks.
pub(crate) struct OutboundHttp {
    ctx: WasiHttpCtx,
    checks: Checks,
}

impl OutboundHttp {
    pub(crate) fn new(
        plugin: Arc<PluginContext>,
        deadline: std::time::Instant,
        mock: Option<super::OutboundMock>,
    ) -> OutboundHttp {
        let checks = Checks {
            mock,
            plugin,
            deadline: tokio::time::Instant::from_std(deadline),
            sent: 0,
            refusals: Refusals::default(),
        };
        let mut ctx = WasiHttpCtx::new();
        ctx.set_field_size_limit(MAX_FIELDS_BYTES);
        OutboundHttp { ctx, checks }
    }

    /// Whether this state was made for a call with `deadline` (an instance
    /// made ahead of calls may have touched `wasi:http` while starting).
    pub(crate) fn is_for(&self, deadline: std::time::Instant) -> bool {
        self.checks.deadline == tokio::time::Instant::from_std(deadline)
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
/// refusal of an address happens in the sending task, away from the call):
/// at most [`MAX_REQUESTS_PER_CALL`] of them, each cut to 1 KiB.
#[derive(Clone, Default)]
pub(super) struct Refusals(Arc<Mutex<Vec<String>>>);

impl Refusals {
    pub(super) fn push(&self, refusal: String) {
        let mut kept = locked(&self.0);
        if kept.len() < MAX_REQUESTS_PER_CALL as usize {
            kept.push(crate::plugin_log::bounded(&refusal, 1024).into_owned());
        }
    }
}

/// The checks on one call's requests.
struct Checks {
    plugin: Arc<PluginContext>,
    /// A test's mock answering in place of the network.
    mock: Option<super::OutboundMock>,
    deadline: tokio::time::Instant,
    sent: u32,
    refusals: Refusals,
}

impl Checks {
    /// Where `request` may go, or why it may not. Every attempt counts
    /// toward the call's [`MAX_REQUESTS_PER_CALL`], refused ones too.
    fn admit(&mut self, request: &http::Request<WasiBody>) -> Result<send::Admitted, Error> {
        let id = &self.plugin.id;
        if self.sent >= MAX_REQUESTS_PER_CALL {
            if self.sent == MAX_REQUESTS_PER_CALL {
                self.refusals.push(format!(
                    "plugin `{id}` sent more than {MAX_REQUESTS_PER_CALL} outbound requests in one call; the rest were refused"
                ));
            }
            self.sent = self.sent.saturating_add(1);
            return Err(Error::ConnectionLimitReached);
        }
        self.sent += 1;
        let uri = request.uri();
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => return Err(Error::HttpProtocolError),
        };
        let Some(authority) = uri.authority() else { return Err(Error::HttpRequestUriInvalid) };
        // What is connected to must be what the Host header names: no user
        // part, and a port that is a port.
        let port_text = authority.as_str().rsplit_once(':').map(|(_, port)| port);
        let bracketed_v6_without_port = authority.as_str().ends_with(']');
        if authority.as_str().contains('@')
            || (authority.port_u16().is_none() && port_text.is_some() && !bracketed_v6_without_port)
        {
            return Err(Error::HttpRequestUriInvalid);
        }
        let host = RequestHost::parse(authority.host());
        let port = authority.port_u16().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        let Some(grant) = self.plugin.outbound_hosts.iter().find(|grant| grant.covers(scheme, &host, port))
        else {
            self.plugin.health.denied();
            self.refusals.push(format!(
                "plugin `{id}` sent a request to {}://{}, a host it is not granted: add `{}` to capabilities.outbound_hosts in plugin.json",
                uri.scheme_str().unwrap_or_default(),
                authority.as_str(),
                authority.as_str()
            ));
            return Err(Error::HttpRequestDenied);
        };
        tracing::debug!(plugin = %id, %grant, %uri, "outbound request");
        Ok(send::Admitted {
            by_address: matches!(host, RequestHost::Address(_)),
            host,
            port,
            tls: scheme == Scheme::Https,
            deadline: self.deadline,
            mock: self.mock.clone(),
            plugin: id.clone(),
            refusals: self.refusals.clone(),
        })
    }
}

impl WasiHttpHooks for Checks {
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_CHUNK_BYTES
    }

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
