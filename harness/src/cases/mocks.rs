//! A case's mocks: its mock server for the plugin's outbound HTTP
//! requests (`http`), and its mock of the application's own functions
//! (`application`), each recording what the plugin asked of it.

use super::get;
use plinth_host::{EmbedderInterface, Host};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// One answer of the case's mock server: to `method url` (exactly, query
/// included), `status` with `headers` and `body` (JSON, or a string sent as
/// text).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
pub(super) struct MockedExchange {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    body: Value,
}

#[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
fn ok() -> u16 {
    200
}

/// One of the application's interfaces, mocked: each function named in
/// `answers` answers every call with its JSON (`{"ok": 7}` for a
/// `result`; the forms are in docs/testing.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MockedInterface {
    /// `namespace:package/interface@version`, as the plugin imports it.
    interface: String,
    /// The grant its manifest lists in `capabilities.embedder_functions`.
    grant: String,
    answers: Map<String, Value>,
}

/// The application functions the plugin called, as `interface#function`
/// with their arguments (JSON).
pub(super) type Called = Arc<Mutex<Vec<(String, Vec<Value>)>>>;

/// The case's application interfaces, for the host's configuration, and
/// where their calls are recorded.
pub(super) fn application(mocked: &[MockedInterface]) -> (Vec<EmbedderInterface>, Called) {
    let called = Called::default();
    let interfaces = mocked
        .iter()
        .map(|mock| {
            mock.answers.iter().fold(
                EmbedderInterface::new(&mock.interface, &mock.grant),
                |interface, (name, answer)| {
                    let (record, answer, function) =
                        (called.clone(), answer.clone(), format!("{}#{name}", mock.interface));
                    interface.func_json(name, move |_call, arguments| {
                        if let Ok(mut called) = record.lock() {
                            called.push((function.clone(), arguments));
                        }
                        Ok(answer.clone())
                    })
                },
            )
        })
        .collect();
    (interfaces, called)
}

/// The requests the plugin sent to the case's mock server, as `METHOD URL`.
pub(super) type Sent = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Makes `exchanges` the host's answers to outbound requests (any other is
/// refused), recording what the plugin sent.
#[cfg(feature = "outbound-http")]
pub(super) fn mock_server(host: &Host, exchanges: &[MockedExchange]) -> anyhow::Result<Sent> {
    use plinth_host::outbound::{OutboundAnswer, OutboundRequest};
    let sent = Sent::default();
    let answers: Vec<(String, String, OutboundAnswer)> = exchanges
        .iter()
        .map(|exchange| {
            let (body, json) = match &exchange.body {
                Value::String(text) => (text.clone().into_bytes(), false),
                Value::Null => (Vec::new(), false),
                other => (other.to_string().into_bytes(), true),
            };
            let mut headers: Vec<(String, String)> = exchange
                .headers
                .iter()
                .map(|(name, value)| {
                    (name.clone(), value.as_str().map_or_else(|| value.to_string(), str::to_string))
                })
                .collect();
            if json && !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
                headers.push(("content-type".into(), "application/json".into()));
            }
            let answer = OutboundAnswer { status: exchange.status, headers, body };
            (exchange.method.to_ascii_uppercase(), exchange.url.clone(), answer)
        })
        .collect();
    let record = sent.clone();
    host.answer_outbound_with(Some(std::sync::Arc::new(move |request: &OutboundRequest| {
        if let Ok(mut sent) = record.lock() {
            sent.push(format!("{} {}", request.method, request.url));
        }
        let found = answers.iter().find(|(method, url, _)| *method == request.method && *url == request.url);
        found.map(|(_, _, answer)| answer.clone())
    })));
    Ok(sent)
}

#[cfg(not(feature = "outbound-http"))]
pub(super) fn mock_server(_host: &Host, exchanges: &[MockedExchange]) -> anyhow::Result<Sent> {
    anyhow::ensure!(
        exchanges.is_empty(),
        "this build of the harness has no outbound HTTP (its `outbound-http` feature), so a case's `http` cannot be served"
    );
    Ok(Sent::default())
}
