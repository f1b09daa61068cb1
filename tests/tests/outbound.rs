//! Outbound HTTP (`capabilities.outbound_hosts`, `host/src/outbound`): a
//! real guest sends requests through `wasi:http/outgoing-handler` to
//! servers on 127.0.0.1 that each test starts and grants, or does not.
//! What the host lets out is judged by what the servers saw as well as by
//! what the guest got back.

use plinth_host::{CallErrorKind, EngineKind, Host, HostConfig, LoadError, LogSource, Method, RouteRequest};
use plinth_tests::{PluginDir, guests, on_both_engines};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a server answers to a request's head and body (`None`: nothing).
type Answer = dyn Fn(&str, &[u8]) -> Option<Vec<u8>> + Send + Sync;

/// A server on 127.0.0.1 answering every request with what `answer` makes
/// of its head and body, and counting the connections it accepted.
struct Server {
    port: u16,
    connections: Arc<AtomicUsize>,
    /// Connections held without an answer that the client then closed.
    abandoned: Arc<AtomicUsize>,
}

impl Server {
    fn start(answer: impl Fn(&str, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (connections, abandoned) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (counted, closed, answer) = (connections.clone(), abandoned.clone(), Arc::new(answer));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let (answer, closed) = (answer.clone(), closed.clone());
                std::thread::spawn(move || serve(stream, &*answer, &closed));
            }
        });
        Server { port, connections, abandoned }
    }

    /// A server answering `status` with `body` to every request.
    fn answering(status: u16, body: &'static str) -> Server {
        Server::start(move |_, _| Some(response(status, &[], body.as_bytes())))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Reads one request (head, and a body of `content-length` or chunked) and
/// writes the answer; `None` holds the connection open without a word.
fn serve(stream: TcpStream, answer: &Answer, abandoned: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut head = String::new();
    while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_ascii_lowercase())
        })
    };
    let body = match (header("content-length"), header("transfer-encoding")) {
        (_, Some(coding)) if coding == "chunked" => read_chunked(&mut reader),
        (length, _) => {
            let mut body = vec![0; length.and_then(|v| v.parse().ok()).unwrap_or(0)];
            reader.read_exact(&mut body).ok().map(|()| body)
        }
    };
    let Some(body) = body else { return };
    match answer(&head, &body) {
        Some(bytes) => {
            let _ = (&stream).write_all(&bytes);
        }
        None => {
            // Held until the client gives up: a read of nothing is its close.
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(60)));
            if reader.read(&mut [0; 1]).is_ok_and(|n| n == 0) {
                abandoned.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// A chunked body: hexadecimal sizes, each chunk and line ends, up to size 0.
fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let size = usize::from_str_radix(line.trim(), 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    [head.into_bytes(), body.to_vec()].concat()
}

/// A host on `engine` with the fetcher guest granted `hosts`, under `limits`.
fn fetcher(engine: EngineKind, hosts: &[String], limits: Value) -> (tempfile::TempDir, Host, PluginDir) {
    let data = tempfile::tempdir().expect("temp dir");
    let host = Host::with_config(HostConfig { engine, ..HostConfig::new(data.path()) }).expect("host");
    let manifest = json!({ "capabilities": { "outbound_hosts": hosts }, "limits": limits });
    let plugin = PluginDir::new("fetcher", guests::OUTBOUND_HTTP_WASM, &[], manifest);
    host.load_plugin(plugin.path()).expect("load the fetcher");
    (data, host, plugin)
}

/// What the fetcher made of `asked`: one outcome per request sent.
fn fetch(host: &Host, asked: Value) -> Vec<Value> {
    let request = RouteRequest::new(Method::Post, "/fetch").with_body(asked.to_string());
    let answer = host.call_route("fetcher", request).expect("the route answers");
    let body: Value = answer.json().expect("json");
    body["outcomes"].as_array().expect("outcomes").clone()
}

fn one(host: &Host, asked: Value) -> Value {
    fetch(host, asked).remove(0)
}

/// The host's refusals in the fetcher's log.
fn refusals(host: &Host) -> Vec<String> {
    let log = host.plugin_log("fetcher").into_iter();
    log.filter(|record| record.source == LogSource::Host).map(|record| record.message).collect()
}

on_both_engines! {
    fn a_granted_host_answers_and_any_other_is_refused_before_a_connection(engine) {
        let echo = Server::start(|head, body| {
            let line = head.lines().next().unwrap_or_default().to_string();
            Some(response(200, &[], format!("{line} {}", String::from_utf8_lossy(body)).as_bytes()))
        });
        let other = Server::answering(200, "secret");
        let (_d, host, _p) = fetcher(engine, &[format!("http://127.0.0.1:{}", echo.port)], json!({}));

        let got = one(&host, json!({ "method": "POST", "url": echo.url("/echo?x=1"), "body": "hello" }));
        assert_eq!(got["status"], 200, "{got}");
        assert_eq!(got["body"], "POST /echo?x=1 HTTP/1.1 hello", "the request line holds the path only");

        let refused = one(&host, json!({ "url": other.url("/") }));
        assert_eq!(refused["error"], "HttpRequestDenied", "{refused}");
        let posted = one(&host, json!({ "method": "POST", "url": other.url("/"), "body": "data" }));
        assert_eq!(posted["error"], "HttpRequestDenied", "a refused request with a body: {posted}");
        assert_eq!(other.connections(), 0, "no connection to a host off the list");
        let wrong_scheme = one(&host, json!({ "url": format!("https://127.0.0.1:{}/", echo.port) }));
        assert_eq!(wrong_scheme["error"], "HttpRequestDenied", "https on the granted port is not granted");
        let logged = refusals(&host);
        assert!(
            logged.iter().any(|m| m.contains("not granted") && m.contains(&format!("127.0.0.1:{}", other.port))),
            "the refusal names the host to grant: {logged:?}"
        );
    }
}

on_both_engines! {
    fn a_name_resolving_inside_the_network_is_refused_unless_the_address_is_granted(engine) {
        let inside = Server::answering(200, "internal");
        let (_d, host, _p) = fetcher(engine, &[format!("localhost:{}", inside.port)], json!({}));
        let got = one(&host, json!({ "url": format!("http://localhost:{}/", inside.port) }));
        assert_eq!(got["error"], "DestinationIpProhibited", "{got}");
        assert_eq!(inside.connections(), 0, "the name's loopback address is never dialled");
        let logged = refusals(&host);
        assert!(logged.iter().any(|m| m.contains("127.0.0.1") && m.contains("granted by address")), "{logged:?}");

        // Granted by address, the address is reached by a request to it, and
        // still not through a name that resolves to it.
        let (_d, host, _p) = fetcher(engine, &[format!("127.0.0.1:{}", inside.port)], json!({}));
        let by_name = one(&host, json!({ "url": format!("http://localhost:{}/", inside.port) }));
        assert_eq!(by_name["error"], "HttpRequestDenied", "{by_name}");
        let by_address = one(&host, json!({ "url": inside.url("/") }));
        assert_eq!(by_address["body"], "internal", "{by_address}");
        assert_eq!(inside.connections(), 1);
    }
}

on_both_engines! {
    fn a_redirect_off_the_list_is_refused_and_one_on_it_followed(engine) {
        let target = Server::answering(200, "landed");
        let off = Server::answering(200, "off the list");
        let (to_target, to_off) = (target.url("/landed"), off.url("/"));
        let redirect = Server::start(move |head, _| {
            let location = if head.starts_with("GET /off") { &to_off } else { &to_target };
            Some(response(302, &[("location", location)], b""))
        });
        let grants = [format!("127.0.0.1:{}", redirect.port), format!("127.0.0.1:{}", target.port)];
        let (_d, host, _p) = fetcher(engine, &grants, json!({}));

        let seen = one(&host, json!({ "url": redirect.url("/on") }));
        assert_eq!(seen["status"], 302, "the host follows no redirect itself: {seen}");
        let followed = one(&host, json!({ "url": redirect.url("/on"), "follow": 3 }));
        assert_eq!((followed["status"].clone(), followed["body"].clone()), (json!(200), json!("landed")));
        let refused = one(&host, json!({ "url": redirect.url("/off"), "follow": 3 }));
        assert_eq!((refused["error"].clone(), refused["hops"].clone()), (json!("HttpRequestDenied"), json!(1)));
        assert_eq!(off.connections(), 0);
    }
}

on_both_engines! {
    fn a_host_that_never_answers_stops_at_the_deadline(engine) {
        let silent = Server::start(|_, _| None);
        let (_d, host, _p) = fetcher(engine, &[format!("127.0.0.1:{}", silent.port)], json!({ "route_timeout_ms": 500 }));
        let request = RouteRequest::new(Method::Post, "/fetch").with_body(json!({ "url": silent.url("/") }).to_string());
        let error = host.call_route("fetcher", request).expect_err("stopped");
        assert!(matches!(error.kind, CallErrorKind::Timeout { limit_ms: 500, .. }), "{error}");
        assert_eq!(silent.connections(), 1, "the request was sent, and then waited on");
        // The request does not outlive its call: the host closes the connection.
        let closed = (0..600).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            silent.abandoned.load(Ordering::SeqCst) == 1
        });
        assert!(closed, "the connection was still open 30 s after the call ended");
    }
}

on_both_engines! {
    fn bodies_and_requests_per_call_are_bounded(engine) {
        let big = "x".repeat(5 << 20);
        let large = Server::start(move |head, _| {
            let body = big.as_bytes();
            Some(match head.starts_with("GET /chunked") {
                // No length declared: the bound is met while reading.
                true => [b"HTTP/1.1 200 X\r\nconnection: close\r\n\r\n".to_vec(), body.to_vec()].concat(),
                false => response(200, &[], body),
            })
        });
        let grants = [format!("127.0.0.1:{}", large.port)];
        let (_d, host, _p) = fetcher(engine, &grants, json!({}));
        let declared = one(&host, json!({ "url": large.url("/declared") }));
        assert_eq!(declared["error"], "HttpResponseBodySize(Some(5242880))", "{declared}");
        // wasmtime-wasi-http 48 hands an error met while streaming a body to
        // the guest as text, not as its error code.
        let streamed = one(&host, json!({ "url": large.url("/chunked") }));
        let message = streamed["error"].as_str().unwrap_or_default();
        assert!(message.contains("body size exceeds limit: 4194304"), "{streamed}");
        let sent = one(&host, json!({ "method": "POST", "url": large.url("/up"), "body_bytes": (1 << 20) + 1 }));
        assert!(sent["error"].as_str().is_some_and(|e| e.starts_with("HttpRequestBodySize")), "{sent}");

        let echo = Server::answering(200, "ok");
        let (_d, host, _p) = fetcher(engine, &[format!("127.0.0.1:{}", echo.port)], json!({}));
        let outcomes = fetch(&host, json!({ "url": echo.url("/"), "repeat": 20 }));
        let answered = outcomes.iter().filter(|o| o["status"] == 200).count();
        assert_eq!(answered, 16, "{outcomes:?}");
        assert!(outcomes[16..].iter().all(|o| o["error"] == "ConnectionLimitReached"), "{outcomes:?}");
        assert_eq!(echo.connections(), 16);
    }
}

on_both_engines! {
    fn https_speaks_tls_and_refuses_a_server_that_does_not(engine) {
        let plain = Server::answering(200, "not tls");
        let (_d, host, _p) = fetcher(engine, &[format!("https://127.0.0.1:{}", plain.port)], json!({}));
        let got = one(&host, json!({ "url": format!("https://127.0.0.1:{}/", plain.port) }));
        assert!(got["error"].as_str().is_some_and(|e| e.contains("Tls")), "{got}");
        assert_eq!(plain.connections(), 1);
    }
}

#[test]
fn a_plugin_importing_the_handler_without_a_granted_host_is_refused_at_load() {
    let data = tempfile::tempdir().expect("temp dir");
    let host = Host::with_config(HostConfig::new(data.path())).expect("host");
    let plugin = PluginDir::new("fetcher", guests::OUTBOUND_HTTP_WASM, &[], json!({}));
    let error = host.load_plugin(plugin.path()).expect_err("refused");
    assert!(matches!(error, LoadError::OutboundHostsMissing { .. }), "{error}");
    assert!(error.to_string().contains("capabilities.outbound_hosts"), "{error}");
}

/// `plinth test` cases bring their own mock server (`http`): the plugin's
/// requests to its granted hosts are answered from it, https included, and
/// `expect.sent` checks what it asked; the grants still hold, and a request
/// the mock does not answer fails.
#[test]
fn test_cases_answer_outbound_requests_from_their_mock_server() {
    let manifest = json!({ "capabilities": { "outbound_hosts": ["api.example.com"] } });
    let plugin = PluginDir::new("fetcher", guests::OUTBOUND_HTTP_WASM, &[], manifest);
    let run_cases = |cases: Value| {
        std::fs::create_dir_all(plugin.path().join("tests")).expect("tests folder");
        std::fs::write(plugin.path().join("tests/cases.json"), cases.to_string()).expect("cases");
        let open = |config: plinth_host::HostConfig| Ok(Host::with_config(config)?);
        plinth_test::cases::run(plugin.path(), &open).expect("run the cases")
    };
    let fetch = |url: &str| json!({ "method": "POST", "path": "/fetch", "body": { "url": url } });
    let rate = "https://api.example.com/v1/rate?base=EUR";
    let mock = json!([{ "url": rate, "body": { "rate": 1.1 } }]);
    assert!(run_cases(json!([
        { "name": "the rate comes from the mock", "http": mock, "request": fetch(rate),
          "expect": { "status": 200, "contains": r#"{\"rate\":1.1}"#,
                      "sent": [format!("GET {rate}")] } },
        { "name": "a request the mock does not answer fails", "http": mock,
          "request": fetch("https://api.example.com/v1/other"),
          "expect": { "contains": "DestinationNotFound" } },
        { "name": "the grants hold", "http": [{ "url": "https://evil.example.net/" }],
          "request": fetch("https://evil.example.net/"),
          "expect": { "contains": "HttpRequestDenied" } },
    ])));
    let wrong = json!({ "name": "not sent", "http": mock, "request": fetch(rate), "expect": { "sent": ["GET https://api.example.com/"] } });
    assert!(!run_cases(wrong), "a request the plugin did not send fails the case");
}
