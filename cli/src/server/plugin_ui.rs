//! `/plugin-ui/{id}/{path}`: a plugin's widget and panel pages, and the files
//! beside them (scripts, styles, images), served from its folder with a
//! sandbox Content-Security-Policy (`security::PLUGIN_UI_CSP`). Only files in
//! the folders of the HTML files the manifest declares are served, never the
//! manifest, the component or anything outside the plugin's folder.

use super::AppStateExtractor;
use super::api::ApiError;
use super::security::PLUGIN_UI_CSP;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;

/// The largest UI file served.
const MAX_FILE_BYTES: u64 = 16 << 20;

pub async fn file(
    State(state): AppStateExtractor,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "plugin `{id}` serves no UI file `{path}`; see its manifest's html fields"
        ))
        .for_plugin(&id)
    };
    let info = state.host.plugin(&id).ok_or_else(not_found)?;
    let declared = info
        .widgets
        .iter()
        .filter_map(|w| w.html.as_deref())
        .chain(info.panels.iter().map(|p| p.html.as_str()));
    let folders: Vec<&str> =
        declared.map(|html| html.rsplit_once('/').map_or("", |(folder, _)| folder)).collect();
    let inside = |folder: &str| folder.is_empty() || path.starts_with(&format!("{folder}/"));
    let clean = path.split('/').all(|part| !part.is_empty() && part != ".." && !part.starts_with('.'));
    if !clean || !folders.iter().any(|folder| inside(folder)) || is_plugin_file(&path) {
        return Err(not_found());
    }
    let (root, wanted) = (info.dir.clone(), info.dir.join(&path));
    let bytes = tokio::task::spawn_blocking(move || read_inside(&root, &wanted))
        .await
        .map_err(|e| ApiError::new(500, "internal", e.to_string()))?
        .ok_or_else(not_found)?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PLUGIN_UI_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The plugin's own files are not UI files, even beside a page.
fn is_plugin_file(path: &str) -> bool {
    path == "plugin.json" || path.ends_with(".wasm")
}

/// The file's bytes, if it is a regular file inside `root` (links resolved)
/// and not too large.
fn read_inside(root: &std::path::Path, wanted: &std::path::Path) -> Option<Vec<u8>> {
    let root: PathBuf = root.canonicalize().ok()?;
    let resolved = wanted.canonicalize().ok()?;
    let metadata = resolved.metadata().ok()?;
    if !resolved.starts_with(&root) || !metadata.is_file() || metadata.len() > MAX_FILE_BYTES {
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
