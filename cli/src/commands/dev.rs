//! `plinth dev DIR`: builds the plugin (or every plugin of a folder), serves
//! it like `plinth serve --reload`, and builds again whenever a file its
//! `build.watch` names changes. A failed build prints its errors and the
//! server goes on with the last good version; a good one is reloaded within
//! a second.

use super::build::{self, PluginBuild};
use crate::server::{self, ServeArgs};
use std::path::PathBuf;
use std::time::Duration;

/// How often the watched files are looked at.
const POLL: Duration = Duration::from_millis(500);

pub fn run(dir: PathBuf, mut serve: ServeArgs) -> anyhow::Result<bool> {
    let folders = build::plugin_folders(&dir)?;
    if folders.is_empty() {
        anyhow::bail!("{} holds no plugin: no plugin.json in it or in its sub-folders", dir.display());
    }
    let mut builds = Vec::new();
    for folder in &folders {
        builds.extend(build::plugin_build(folder)?);
    }
    for plugin in &builds {
        // A failed first build is printed; the plugin then fails to load and
        // is listed with its error until a good build reloads it.
        plugin.run()?;
    }
    // The server serves a folder of plugin folders: DIR, or a scratch folder
    // that links to the one plugin DIR is.
    let _scratch = if folders == [dir.clone()] {
        let scratch = tempfile::tempdir()?;
        let plugin = dir.canonicalize()?;
        let name = plugin.file_name().map_or_else(|| "plugin".into(), |name| name.to_os_string());
        link(&plugin, &scratch.path().join(name))?;
        serve.plugins = Some(scratch.path().to_path_buf());
        Some(scratch)
    } else {
        serve.plugins = Some(dir);
        None
    };
    serve.reload = true;
    std::thread::spawn(move || rebuild_on_change(builds));
    server::run(serve).map(|()| true)
}

#[cfg(unix)]
fn link(target: &std::path::Path, at: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(not(unix))]
fn link(_target: &std::path::Path, _at: &std::path::Path) -> std::io::Result<()> {
    Err(std::io::Error::other("plinth dev on one plugin folder needs symbolic links; pass its parent folder"))
}

/// Builds a plugin again each time its watched files change (the server's
/// reload loop then picks up the new component).
fn rebuild_on_change(builds: Vec<PluginBuild>) {
    let mut seen: Vec<_> = builds.iter().map(PluginBuild::fingerprint).collect();
    loop {
        std::thread::sleep(POLL);
        for (plugin, last) in builds.iter().zip(seen.iter_mut()) {
            let now = plugin.fingerprint();
            if now == *last {
                continue;
            }
            // Taken before the build: an edit saved while it runs calls for
            // another build. (Watch sources, not build output.)
            *last = now;
            if let Err(error) = plugin.run() {
                eprintln!("plinth: {error:#}");
            }
        }
    }
}
