//! Plugin pages: a plugin's widget and panel pages and the files beside them,
//! as any front end shows them (the server's console over HTTP, a desktop
//! web view through its own URI scheme). One place decides which files a
//! plugin serves and what its pages may load, so every front end frames
//! them alike.

use crate::PluginInfo;
use std::path::{Path, PathBuf};

/// The script widget and panel pages include as `/plinth-widget.js`: the
/// page's half of the `sb-field-widget` and `sb-panel` protocols (`docs/widgets.md`).
pub const WIDGET_CLIENT: &str = include_str!("pages/plinth-widget.js");

/// The largest page file served.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// One of a plugin's page files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFile {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its `Content-Type`, from its extension.
    pub content_type: &'static str,
}

/// Reads `path` (relative to the plugin's folder) if it is a page file: it
/// resolves, links followed, to a regular file inside the folder of one of
/// the HTML pages the manifest declares, is not the manifest or a component,
/// and is not too large. Blocking: call it off async threads.
pub fn read(plugin: &PluginInfo, path: &str) -> Option<PageFile> {
    let clean = path.split('/').all(|part| !part.is_empty() && part != ".." && !part.starts_with('.'));
    if !clean {
        return None;
    }
    let pages = plugin
        .widgets
        .iter()
        .filter_map(|w| w.html.as_deref())
        .chain(plugin.panels.iter().map(|p| p.html.as_str()));
    // The manifest puts every page in a sub-folder, so no folder here is the plugin's own.
    let folders: Vec<PathBuf> =
        pages.filter_map(|html| html.rsplit_once('/')).map(|(folder, _)| plugin.dir.join(folder)).collect();
    let bytes = read_inside(&folders, &plugin.dir.join(path))?;
    Some(PageFile { bytes, content_type: content_type(path) })
}

/// The Content-Security-Policy of a page of one plugin: scripts, styles,
/// images, fonts and media only from `own` (its page folder, as a CSP
/// source) and `client` (the widget client); no frames (a page is one
/// page), no network (`invoke` goes through the front end), no forms, no
/// `<base>`; framed only by `ancestors`. `sandbox` gives it an opaque origin
/// whatever frames it.
pub fn policy(own: &str, client: &str, ancestors: &str) -> String {
    format!(
        "sandbox allow-scripts; default-src 'none'; script-src {own} {client} 'unsafe-inline'; \
         style-src {own} 'unsafe-inline'; img-src {own} data:; font-src {own} data:; media-src {own} data:; \
         frame-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors {ancestors}"
    )
}

/// The plugin's own files are not page files, even beside a page.
fn is_plugin_file(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "plugin.json")
        || path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("wasm"))
}

fn read_inside(folders: &[PathBuf], wanted: &Path) -> Option<Vec<u8>> {
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

/// The `Content-Type` of a page file, by extension.
pub fn content_type(path: &str) -> &'static str {
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
