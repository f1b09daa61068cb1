//! `plinth://localhost/…`: widget and panel pages in the web view, as the
//! server's `/plugin-ui/` serves them (`plinth_host::pages`). The page frames
//! them with `sandbox="allow-scripts"`; each answer carries its plugin's
//! policy, so a page loads only its own plugin's files and the widget
//! client, has no network, and reaches the app only through the frame
//! protocol (`cli/console/plugin-frame.js`, shared with the console). Tauri's IPC is injected into the main frame
//! only, so a plugin page has no commands of its own.

use crate::commands::HostSlot;
use plinth_host::pages;
use tauri::http::{Response, StatusCode, header};
use tauri::{Manager, Runtime, UriSchemeContext, UriSchemeResponder};

/// The scheme the pages are served under.
pub const SCHEME: &str = "plinth";

/// Where the scheme's pages are, as the web view names them (wry maps
/// custom schemes to `http://{scheme}.localhost` on Windows and Android).
pub const ORIGIN: &str =
    if cfg!(any(windows, target_os = "android")) { "http://plinth.localhost" } else { "plinth://localhost" };

/// The app's own page, the only one that may frame a plugin page.
const APP_ORIGIN: &str =
    if cfg!(any(windows, target_os = "android")) { "http://tauri.localhost" } else { "tauri://localhost" };

/// Answers one request for the scheme, off the window's thread.
pub fn serve<R: Runtime>(
    context: UriSchemeContext<'_, R>,
    request: tauri::http::Request<Vec<u8>>,
    responder: UriSchemeResponder,
) {
    let app = context.app_handle().clone();
    let path = request.uri().path().to_string();
    tauri::async_runtime::spawn(async move { responder.respond(answer(&app, &path).await) });
}

async fn answer<R: Runtime>(app: &tauri::AppHandle<R>, path: &str) -> Response<Vec<u8>> {
    if path == "/plinth-widget.js" {
        let client = format!("{ORIGIN}/plinth-widget.js");
        return file(pages::WIDGET_CLIENT.as_bytes().to_vec(), "text/javascript; charset=utf-8", &client);
    }
    let Some((id, wanted)) = path.strip_prefix("/plugin-ui/").and_then(|rest| rest.split_once('/')) else {
        return refusal(
            StatusCode::NOT_FOUND,
            format!("no page at {path}: plugin pages are under /plugin-ui/{{id}}/"),
        );
    };
    let Ok(wanted) = percent_encoding::percent_decode_str(wanted).decode_utf8() else {
        return refusal(StatusCode::NOT_FOUND, format!("no page at {path}"));
    };
    let Ok(host) = app.state::<HostSlot>().get().await else {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "the host is not open".into());
    };
    let plugin = match host.plugin(id) {
        Some(plugin) if plugin.enabled => plugin,
        Some(_) => return refusal(StatusCode::SERVICE_UNAVAILABLE, format!("plugin `{id}` is switched off")),
        None => return refusal(StatusCode::NOT_FOUND, format!("no plugin `{id}`")),
    };
    let wanted = wanted.into_owned();
    let read = tauri::async_runtime::spawn_blocking(move || pages::read(&plugin, &wanted)).await;
    match read {
        Ok(Some(page)) => file(page.bytes, page.content_type, &format!("{ORIGIN}/plugin-ui/{id}/")),
        _ => refusal(
            StatusCode::NOT_FOUND,
            format!("plugin `{id}` serves no page file at {path}; see its manifest's html fields"),
        ),
    }
}

/// A page file under its plugin's policy (`own` being its folder).
fn file(bytes: Vec<u8>, content_type: &str, own: &str) -> Response<Vec<u8>> {
    let policy = pages::policy(own, &format!("{ORIGIN}/plinth-widget.js"), APP_ORIGIN);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_SECURITY_POLICY, policy)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(bytes)
        .unwrap_or_else(|error| refusal(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))
}

fn refusal(status: StatusCode, message: String) -> Response<Vec<u8>> {
    let mut response = Response::new(message.into_bytes());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    response
}
