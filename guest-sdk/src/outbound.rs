//! HTTP requests from a plugin to the hosts its `plugin.json` grants
//! (`capabilities.outbound_hosts`), over `wasi:http/outgoing-handler`.
//! Needs the SDK's `outbound-http` feature. The host refuses a host off the
//! list, an internal address not granted by address, more than 16 requests
//! a call and bodies over its bounds (1 MiB out, 4 MiB back), and ends every
//! wait at the call's deadline. Redirects are not followed: a 3xx is an
//! answer like any other, and following it is a new, checked request.
//!
//! ```no_run
//! let answer = plinth_sdk::outbound::get("https://api.example.com/v1/status")?;
//! assert_eq!(answer.status, 200);
//! # Ok::<(), plinth_sdk::outbound::OutboundError>(())
//! ```

use wasip2::http::outgoing_handler;
use wasip2::http::types::{self, ErrorCode, Fields, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// What a request brought back.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// Why a request brought nothing back.
#[derive(Debug, Clone)]
pub enum OutboundError {
    /// The URL, method or a header is malformed.
    Invalid(String),
    /// The host refused or failed it: `wasi:http`'s error code, such as
    /// `HttpRequestDenied` (not granted), `DestinationIpProhibited` (an
    /// internal address), `ConnectionLimitReached` (too many this call).
    Failed(ErrorCode),
}

impl std::fmt::Display for OutboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutboundError::Invalid(what) => write!(f, "invalid request: {what}"),
            OutboundError::Failed(code) => write!(f, "request failed: {code:?}"),
        }
    }
}

impl std::error::Error for OutboundError {}

impl From<ErrorCode> for OutboundError {
    fn from(code: ErrorCode) -> OutboundError {
        OutboundError::Failed(code)
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Answer, OutboundError> {
    send("GET", url, &[], &[])
}

/// `method url` with `headers` and `body`; waits for the whole answer.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Answer, OutboundError> {
    let invalid = |what: &str| OutboundError::Invalid(format!("{what} in `{method} {url}`"));
    let uri: http::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        _ => return Err(invalid("not an http or https URL")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
    let entries: Vec<(String, Vec<u8>)> =
        headers.iter().map(|(name, value)| (name.to_string(), value.as_bytes().to_vec())).collect();
    let fields = Fields::from_list(&entries).map_err(|e| invalid(&format!("a header ({e:?})")))?;
    let request = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => types::Method::Get,
        "HEAD" => types::Method::Head,
        "POST" => types::Method::Post,
        "PUT" => types::Method::Put,
        "DELETE" => types::Method::Delete,
        "PATCH" => types::Method::Patch,
        "OPTIONS" => types::Method::Options,
        other => types::Method::Other(other.to_string()),
    };
    request.set_method(&method).map_err(|()| invalid("the method"))?;
    request.set_scheme(Some(&scheme)).map_err(|()| invalid("the scheme"))?;
    request.set_authority(Some(authority.as_str())).map_err(|()| invalid("the host"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    request.set_path_with_query(Some(path)).map_err(|()| invalid("the path"))?;
    let outgoing = request.body().map_err(|()| invalid("the body"))?;
    // Sent first, so the body written next flows out as it is written.
    let pending = outgoing_handler::handle(request, None)?;
    // A refused request drops its body, so the write fails: the request's
    // own error is then the one to report.
    let written = write_body(&outgoing, body).and_then(|()| Ok(OutgoingBody::finish(outgoing, None)?));
    let response = loop {
        match pending.get() {
            Some(result) => break result.map_err(|()| ErrorCode::InternalError(None))?,
            None => pending.subscribe().block(),
        }
    };
    let response = match (response, written) {
        (Err(code), _) => return Err(code.into()),
        (Ok(_), Err(error)) => return Err(error),
        (Ok(response), Ok(())) => response,
    };
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let status = response.status();
    let incoming = response.consume().map_err(|()| ErrorCode::InternalError(None))?;
    let stream = incoming.stream().map_err(|()| ErrorCode::InternalError(None))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                let code = types::http_error_code(&error);
                return Err(code.unwrap_or(ErrorCode::InternalError(Some(error.to_debug_string()))).into());
            }
        }
    }
    Ok(Answer { status, headers, body })
}

fn write_body(outgoing: &OutgoingBody, body: &[u8]) -> Result<(), OutboundError> {
    if body.is_empty() {
        return Ok(());
    }
    let stream = outgoing.write().map_err(|()| ErrorCode::InternalError(None))?;
    for chunk in body.chunks(4096) {
        if let Err(error) = stream.blocking_write_and_flush(chunk) {
            let code = match &error {
                StreamError::LastOperationFailed(error) => types::http_error_code(error),
                StreamError::Closed => None,
            };
            return Err(code.unwrap_or(ErrorCode::HttpRequestBodySize(None)).into());
        }
    }
    Ok(())
}
