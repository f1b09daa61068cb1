//! The web console and the widget client script, embedded in the binary
//! (`cli/console/`): plain HTML, CSS and JavaScript, no build step and no Node
//! at run time. The console uses only the public HTTP API.

use super::csp::{self, Sources};
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The console's files: name, content type, bytes.
const FILES: [(&str, &str, &str); 6] = [
    ("index.html", "text/html; charset=utf-8", include_str!("../../console/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../console/app.js")),
    ("plugin-frame.js", "text/javascript; charset=utf-8", include_str!("../../console/plugin-frame.js")),
    ("installs.js", "text/javascript; charset=utf-8", include_str!("../../console/installs.js")),
    ("layout.js", "text/javascript; charset=utf-8", include_str!("../../console/layout.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../console/style.css")),
];

/// The script widget and panel pages include (`docs/widgets.md`).
const WIDGET_CLIENT: &str = plinth_host::pages::WIDGET_CLIENT;

/// Bubbledesk's `Bubbledesk.worker` bridge over the HTTP API (`docs/migrating.md`).
const WORKER_CLIENT: &str = include_str!("../../console/plinth-worker.js");

/// `/plinth-worker.js`: for front-end code on this server's own origin.
pub async fn worker_client(headers: HeaderMap) -> Response {
    asset("text/javascript; charset=utf-8", WORKER_CLIENT, &headers)
}

/// One of the console's files, under the console's policy.
fn asset(content_type: &'static str, body: &'static str, request: &HeaderMap) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    csp::set(headers, &Sources::of(request).console());
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `/`: the console's page.
pub async fn index(headers: HeaderMap) -> Response {
    let (_, content_type, body) = FILES[0];
    asset(content_type, body, &headers)
}

/// `/console/{file}`.
pub async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, body)) => asset(content_type, body, &headers),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}

/// `/plinth-widget.js`: loaded by plugin pages, so it may be fetched from a
/// sandboxed (opaque-origin) frame.
pub async fn widget_client(headers: HeaderMap) -> Response {
    let mut response = asset("text/javascript; charset=utf-8", WIDGET_CLIENT, &headers);
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}
