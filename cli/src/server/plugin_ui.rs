//! `/plugin-ui/{id}/{path}`: a plugin's widget and panel pages, and the files
//! beside them (scripts, styles, images), served from its folder with a
//! sandbox Content-Security-Policy that lets a page load only its own plugin's
//! files (`csp::Sources::plugin_ui`). Which files those are is
//! `plinth_host::pages::read`'s decision, shared with the desktop app.

use super::AppStateExtractor;
use super::api::ApiError;
use super::csp::{self, Sources};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// UI files read at once: each is held in memory while it is sent, so this
/// bounds that memory (8 × 8 MiB); more requests wait their turn.
static READS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(8));

pub async fn file(
    State(state): AppStateExtractor,
    Path((id, path)): Path<(String, String)>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "plugin `{id}` serves no UI file `{path}`; see its manifest's html fields"
        ))
        .for_plugin(&id)
    };
    let info = state.host.plugin(&id).ok_or_else(not_found)?;
    if !info.enabled {
        let message = format!(
            "plugin `{id}` is switched off by an operator; switch it on in the console's Plugins page or with POST /api/plugins/{id}/enable"
        );
        return Err(ApiError::new(503, "plugin_disabled", message).for_plugin(&id));
    }
    let _turn = READS.acquire().await.map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    let wanted = path.clone();
    let file = tokio::task::spawn_blocking(move || plinth_host::pages::read(&info, &wanted))
        .await
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))?
        .ok_or_else(not_found)?;
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    csp::set(headers, &Sources::of(&request).plugin_ui(&id));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
