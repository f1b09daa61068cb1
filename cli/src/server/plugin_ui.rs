//! `/plugin-ui/{id}/{path}`: a plugin's widget and panel pages, and the files
//! beside them (scripts, styles, images), served from its folder with a
//! sandbox Content-Security-Policy that lets a page load only its own plugin's
//! files (`csp::Sources::plugin_ui`). Only files in
//! the folders of the HTML files the manifest declares are served (checked
//! after following links), never the manifest, a component or anything else
//! of the plugin's folder.

use super::AppStateExtractor;
use super::api::ApiError;
use super::csp::{self, Sources};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;

/// The largest UI file served.
const MAX_FILE_BYTES: u64 = 8 << 20;

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
    let pages = info
        .widgets
        .iter()
        .filter_map(|w| w.html.as_deref())
        .chain(info.panels.iter().map(|p| p.html.as_str()));
    // The manifest puts every page in a sub-folder, so no folder here is the plugin's own.
    let folders: Vec<PathBuf> =
        pages.filter_map(|html| html.rsplit_once('/')).map(|(folder, _)| info.dir.join(folder)).collect();
    let clean = path.split('/').all(|part| !part.is_empty() && part != ".." && !part.starts_with('.'));
    if !clean {
        return Err(not_found());
    }
    let wanted = info.dir.join(&path);
    let _turn = READS.acquire().await.map_err(|e| ApiError::new(500, "internal", e.to_string()))?;
    let bytes = tokio::task::spawn_blocking(move || read_inside(&folders, &wanted))
        .await
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))?
        .ok_or_else(not_found)?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    csp::set(headers, &Sources::of(&request).plugin_ui(&id));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The plugin's own files are not UI files, even beside a page.
fn is_plugin_file(path: &std::path::Path) -> bool {
    path.file_name().is_some_and(|name| name == "plugin.json")
        || path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("wasm"))
}

/// The file's bytes, if it resolves (links followed) to a regular file inside
/// one of `folders` that is not one of the plugin's own files, and is not too large.
fn read_inside(folders: &[PathBuf], wanted: &std::path::Path) -> Option<Vec<u8>> {
    let resolved = wanted.canonicalize().ok()?;
    let inside = folders
        .iter()
        .filter_map(|folder| folder.canonicalize().ok())
        .any(|folder| resolved.starts_with(folder));
    let metadata = resolved.metadata().ok()?;
    if !inside || is_plugin_file(&resolved) || !metadata.is_file() || metadata.len() > MAX_FILE_BYTES {
        return None;
    }
    std::fs::read(resolved).ok()
}

fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
