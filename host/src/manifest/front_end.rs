//! What a manifest declares for front ends: field widgets, panels, their
//! HTML files, and the routes whose answers are pages (`route_pages`).

use super::{Manifest, ManifestError, SettingSchema, is_identifier};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// A field widget declared in the manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetDeclaration {
    /// The widget's id within the plugin.
    pub id: String,
    /// A label for people.
    #[serde(default)]
    pub label: Option<String>,
    /// Field types it edits.
    #[serde(default)]
    pub field_types: Vec<String>,
    /// An HTML file for web front ends, relative to the plugin's folder.
    #[serde(default)]
    pub html: Option<String>,
    /// The options a field using this widget may set in its configuration
    /// (`config`), in the settings' schema language: the Layout Designer
    /// builds its form from it, and the host checks configurations against it.
    #[serde(default)]
    pub config_schema: BTreeMap<String, SettingSchema>,
}

/// A front-end panel declared in the manifest.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelDeclaration {
    /// The panel's id within the plugin.
    pub id: String,
    /// A title for people.
    pub title: String,
    /// Its HTML file, relative to the plugin's folder.
    pub html: String,
}

/// Entries `route_pages` may have.
pub(super) const MAX_ROUTE_PAGES: usize = 64;

/// Whether `path` matches one of `patterns`: exactly, or below a `/prefix/*`.
pub fn route_page_matches(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|pattern| match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix) && path.len() > prefix.len(),
        None => path == pattern,
    })
}

/// A `route_pages` entry: an absolute route path, `*` only as its last segment.
pub(super) fn check_route_page(pattern: &str) -> Result<(), String> {
    let body = pattern.strip_suffix("/*").map_or(pattern, |prefix| prefix);
    let well_formed = pattern.starts_with('/')
        && pattern.len() <= 256
        && !body.contains('*')
        && !body.split('/').any(|part| part == ".." || part == ".")
        && body.chars().all(|c| c.is_ascii_graphic() && c != '?' && c != '#' && c != '\\');
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "`{pattern}` is not a route path: write it as the route is served below /api/plugins/{{id}}, like `/dashboard` or `/reports/*`"
        ))
    }
}

impl Manifest {
    /// The HTML files of its widgets and panels, with their field paths.
    pub fn ui_files(&self) -> impl Iterator<Item = (String, &str)> {
        let widgets = self.field_widgets.iter().enumerate().filter_map(|(index, widget)| {
            Some((format!("field_widgets[{index}].html"), widget.html.as_deref()?))
        });
        let panels = self
            .panels
            .iter()
            .enumerate()
            .map(|(index, panel)| (format!("panels[{index}].html"), panel.html.as_str()));
        widgets.chain(panels)
    }

    /// Checks that every widget and panel HTML file is a file inside `dir`
    /// (symbolic links out of the folder are refused).
    pub fn check_ui_files(&self, dir: &std::path::Path) -> Result<(), ManifestError> {
        let root =
            dir.canonicalize().map_err(|e| ManifestError::at(".", format!("{}: {e}", dir.display())))?;
        for (path, file) in self.ui_files() {
            let resolved = root.join(file).canonicalize().map_err(|_| {
                ManifestError::at(
                    &path,
                    format!("`{file}` does not exist in the plugin's folder; add it or fix the path"),
                )
            })?;
            if !resolved.starts_with(&root) || !resolved.is_file() {
                return Err(ManifestError::at(
                    &path,
                    format!("`{file}` must be a file inside the plugin's folder"),
                ));
            }
        }
        Ok(())
    }
}

/// Ids of one list (`panels`, `field_widgets`): identifiers, each once.
pub(super) fn check_ids<'a>(
    list: &str,
    kind: &str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), ManifestError> {
    let mut seen = BTreeSet::new();
    for (index, id) in ids.enumerate() {
        let at = || format!("{list}[{index}].id");
        if !is_identifier(id) {
            return Err(ManifestError::at(
                at(),
                format!("`{id}` is not a valid {kind} id: use lower-case letters, digits, `-` and `_`"),
            ));
        }
        if !seen.insert(id) {
            return Err(ManifestError::at(at(), format!("{kind} `{id}` is declared twice")));
        }
    }
    Ok(())
}

/// A UI file's path: relative, in a sub-folder, forward slashes, no `..`, an `.html` page.
pub(super) fn check_ui_path(file: &str) -> Result<(), String> {
    let parts_ok =
        file.split('/').all(|part| !part.is_empty() && part != "." && part != ".." && !part.starts_with('.'));
    if file.len() > 256 || file.contains('\\') || file.starts_with('/') || !parts_ok {
        return Err(format!(
            "`{file}` must be a relative path inside the plugin's folder (like `ui/widget.html`), without `..` or hidden parts"
        ));
    }
    // The files beside a page are served to browsers: a page at the top would
    // publish the whole folder (sources, build output).
    if !file.contains('/') {
        return Err(format!("`{file}` must be in a sub-folder of the plugin's folder, like `ui/{file}`"));
    }
    if !(file.ends_with(".html") || file.ends_with(".htm")) {
        return Err(format!("`{file}` must be an .html file"));
    }
    Ok(())
}
