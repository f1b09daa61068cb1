//! Sending one admitted request: resolve the name, keep only the addresses
//! the grant may reach, connect to one of those (so the address checked is
//! the address used: a name that resolves elsewhere a moment later changes
//! nothing), TLS for https, HTTP/1.1 through hyper, and bodies bounded both
//! ways. Every wait ends by the call's deadline.

use super::checks::Refusals;
use super::grant::{RequestHost, is_internal};
use super::{MAX_REQUEST_BODY_BYTES, MAX_RESPONSE_BODY_BYTES};
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// A response and the connection's I/O, as wasmtime-wasi-http takes them.
pub(super) type Sent = (Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

/// A request the grants admitted, and where it may go.
pub(super) struct Admitted {
    pub host: RequestHost,
    pub port: u16,
    pub tls: bool,
    /// Whether a grant names this very address, so it may be an internal one.
    pub by_address: bool,
    pub deadline: Instant,
    /// A test's mock answering in place of the network.
    pub mock: Option<super::OutboundMock>,
    /// The plugin's id, for the refusals' messages.
    pub plugin: String,
    pub refusals: Refusals,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Sends `request` to the admitted host.
pub(super) async fn send(
    mut request: Request<WasiBody>,
    options: Option<RequestOptions>,
    to: Admitted,
) -> Result<Sent, Error> {
    let options = options.unwrap_or_default();
    let within = |asked: Option<Duration>| {
        let left = to.deadline.saturating_duration_since(Instant::now());
        asked.map_or(left, |asked| asked.min(left))
    };
    if declared_length(request.headers()).is_some_and(|length| length > MAX_REQUEST_BODY_BYTES) {
        return Err(Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY_BYTES)));
    }
    if let Some(mock) = to.mock.clone() {
        return mocked(request, &mock, &to).await;
    }
    let method_is_head = request.method() == http::Method::HEAD;
    let addresses = resolve(&to, within(None)).await?;
    let stream = connect(&addresses, within(options.connect_timeout)).await?;
    let stream: Box<dyn Stream> = match to.tls {
        true => Box::new(secure(stream, &to.host, within(options.connect_timeout)).await?),
        false => Box::new(stream),
    };
    let (mut sender, connection) =
        tokio::time::timeout(within(None), hyper::client::conn::http1::handshake(TokioIo::new(stream)))
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
    // Driven apart from the response, and stopped when the call drops it.
    let connection = wasmtime_wasi::runtime::spawn(connection);
    // The connection is to the origin itself: the request line holds the
    // path only (the Host header, set from the guest's authority, names it).
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    *request.uri_mut() =
        http::Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;
    // A body streamed past the bound fails the request inside hyper, which
    // reports only that the body failed: the flag says why.
    let overflowed = Arc::new(AtomicBool::new(false));
    let flag = overflowed.clone();
    let request = request.map(move |body| {
        http_body_util::Limited::new(body, MAX_REQUEST_BODY_BYTES as usize)
            .map_err(move |error| match error.downcast::<Error>() {
                Ok(error) => *error,
                Err(_) => {
                    flag.store(true, Ordering::Relaxed);
                    Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY_BYTES))
                }
            })
            .boxed_unsync()
    });
    let response = tokio::time::timeout(within(options.first_byte_timeout), sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(|error| match overflowed.load(Ordering::Relaxed) {
            true => Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY_BYTES)),
            false => Error::from(error),
        })?;
    // A HEAD answer, and 204 and 304, declare a length they carry no body of.
    let has_body = !(method_is_head || matches!(response.status().as_u16(), 100..=199 | 204 | 304));
    if has_body && declared_length(response.headers()).is_some_and(|length| length > MAX_RESPONSE_BODY_BYTES)
    {
        return Err(Error::HttpResponseBodySize(declared_length(response.headers())));
    }
    let idle = within(options.between_bytes_timeout);
    let response = response.map(|incoming| BoundedBody::new(incoming, idle, to.deadline).boxed_unsync());
    let io = async move { connection.await.map_err(Error::from) };
    Ok((response, Box::new(io)))
}

/// `request` answered by a test's mock instead of a server: the body read
/// (bounded as it would be sent), the answer bounded as a server's would be.
async fn mocked(
    request: Request<WasiBody>,
    mock: &super::OutboundMock,
    to: &Admitted,
) -> Result<Sent, Error> {
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_REQUEST_BODY_BYTES as usize);
    let body = match tokio::time::timeout_at(to.deadline, limited.collect()).await {
        Err(_) => return Err(Error::ConnectionTimeout),
        Ok(Err(error)) => {
            return Err(match error.downcast::<Error>() {
                Ok(error) => *error,
                Err(_) => Error::HttpRequestBodySize(Some(MAX_REQUEST_BODY_BYTES)),
            });
        }
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
    };
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let asked = super::OutboundRequest {
        method: parts.method.to_string(),
        url: parts.uri.to_string(),
        headers,
        body,
    };
    let Some(answer) = mock(&asked) else {
        to.refusals.push(format!(
            "plugin `{}` sent {} {}, which the test's mock does not answer",
            to.plugin, asked.method, asked.url
        ));
        return Err(Error::DestinationNotFound);
    };
    if answer.body.len() as u64 > MAX_RESPONSE_BODY_BYTES {
        return Err(Error::HttpResponseBodySize(Some(answer.body.len() as u64)));
    }
    let mut response = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    let body =
        http_body_util::Full::new(Bytes::from(answer.body)).map_err(|never| match never {}).boxed_unsync();
    let response =
        response.body(body).map_err(|e| Error::InternalError(Some(format!("the mock's answer: {e}"))))?;
    Ok((response, Box::new(async { Ok(()) })))
}

/// The `content-length` a message declares, if it declares one.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The addresses of the admitted host that its grant may reach: all of a
/// name's public ones, or the granted address itself.
async fn resolve(to: &Admitted, within: Duration) -> Result<Vec<SocketAddr>, Error> {
    let found: Vec<SocketAddr> = match &to.host {
        RequestHost::Address(address) => vec![SocketAddr::new(*address, to.port)],
        RequestHost::Name(name) => {
            match tokio::time::timeout(within, tokio::net::lookup_host((name.as_str(), to.port))).await {
                Err(_) => return Err(Error::DnsTimeout),
                Ok(Err(error)) => {
                    return Err(Error::DnsError { rcode: Some(error.to_string()), info_code: None });
                }
                Ok(Ok(found)) => found.collect(),
            }
        }
    };
    if found.is_empty() {
        return Err(Error::DnsError { rcode: Some("no address".into()), info_code: None });
    }
    let reachable: Vec<SocketAddr> =
        found.iter().copied().filter(|address| to.by_address || !is_internal(address.ip())).collect();
    if reachable.is_empty() {
        let shown: Vec<String> = found.iter().map(|address| address.to_string()).collect();
        let RequestHost::Name(name) = &to.host else { return Err(Error::DestinationIpProhibited) };
        to.refusals.push(format!(
            "plugin `{}` sent a request to {name}, which resolves to {} inside the network: an internal address is reached only by a request to the address itself, granted by address (`{}` in capabilities.outbound_hosts)",
            to.plugin,
            shown.join(", "),
            shown.first().map_or("", String::as_str),
        ));
        return Err(Error::DestinationIpProhibited);
    }
    Ok(reachable)
}

/// A connection to the first of `addresses` that answers.
async fn connect(addresses: &[SocketAddr], within: Duration) -> Result<TcpStream, Error> {
    let attempt = async {
        let mut last = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last = Some(error),
            }
        }
        Err(Error::Connect(last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into())))
    };
    tokio::time::timeout(within, attempt).await.map_err(|_| Error::ConnectionTimeout)?
}

/// TLS over `stream`, verifying that the certificate chains to a public
/// root (Mozilla's) and names `host`.
async fn secure(
    stream: TcpStream,
    host: &RequestHost,
    within: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    use rustls::pki_types::ServerName;
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|builder| Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|error| error.to_string())
    });
    let config = config.clone().map_err(|error| Error::InternalError(Some(error)))?;
    let name = match host {
        RequestHost::Address(address) => ServerName::from(*address),
        RequestHost::Name(name) => {
            ServerName::try_from(name.clone()).map_err(|_| Error::HttpRequestUriInvalid)?
        }
    };
    let handshake = tokio_rustls::TlsConnector::from(config).connect(name, stream);
    match tokio::time::timeout(within, handshake).await {
        Err(_) => Err(Error::ConnectionTimeout),
        Ok(result) => result.map_err(Error::Tls),
    }
}

/// A response body cut at [`MAX_RESPONSE_BODY_BYTES`], and ended when no
/// byte comes for `idle` or the call's deadline passes.
struct BoundedBody {
    incoming: hyper::body::Incoming,
    left: u64,
    idle: Duration,
    deadline: Instant,
    timer: Pin<Box<Sleep>>,
}

impl BoundedBody {
    fn new(incoming: hyper::body::Incoming, idle: Duration, deadline: Instant) -> BoundedBody {
        let timer = Box::pin(tokio::time::sleep_until((Instant::now() + idle).min(deadline)));
        BoundedBody { incoming, left: MAX_RESPONSE_BODY_BYTES, idle, deadline, timer }
    }
}

impl Body for BoundedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let size = frame.data_ref().map_or(0, |data| data.len() as u64);
                if size > this.left {
                    this.left = 0;
                    return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(
                        MAX_RESPONSE_BODY_BYTES,
                    )))));
                }
                this.left -= size;
                this.timer.as_mut().reset((Instant::now() + this.idle).min(this.deadline));
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(Error::from(error)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
