//! `plinth serve --reload`: polls the plugin folders once a second and reloads
//! a plugin whose manifest or component changed (or loads a new folder). A
//! reload that fails keeps the running version and is reported.

use super::SharedState;
use super::api::blocking;
use plinth_host::manifest::Manifest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

type Fingerprint = Vec<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> (Option<SystemTime>, u64) {
    std::fs::metadata(path).map(|m| (m.modified().ok(), m.len())).unwrap_or((None, 0))
}

/// The manifest's and the component's modification times and sizes.
fn fingerprint(dir: &Path) -> Fingerprint {
    let manifest_path = dir.join("plugin.json");
    let mut print = vec![stamp(&manifest_path)];
    if let Some(manifest) =
        std::fs::read_to_string(&manifest_path).ok().and_then(|t| Manifest::parse(&t).ok())
    {
        print.push(stamp(&dir.join(manifest.wasm.module)));
    }
    print
}

fn plugin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join("plugin.json").is_file()).collect()
}

pub async fn watch(state: SharedState) {
    let mut seen: BTreeMap<PathBuf, Fingerprint> = plugin_dirs(&state.plugins_dir)
        .into_iter()
        .map(|dir| (fingerprint(&dir), dir))
        .map(|(f, d)| (d, f))
        .collect();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        for dir in plugin_dirs(&state.plugins_dir) {
            let print = fingerprint(&dir);
            if seen.get(&dir) == Some(&print) {
                continue;
            }
            seen.insert(dir.clone(), print);
            let loaded_id = state.host.plugins().into_iter().find(|p| p.dir == dir).map(|p| p.id);
            let target = dir.clone();
            let outcome = blocking(&state.host, move |host| match loaded_id {
                Some(id) => host.reload_plugin(&id),
                None => host.load_plugin(&target),
            })
            .await;
            let mut failed = state.failed.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Ok(Ok(info)) => {
                    failed.retain(|f| f.dir != dir);
                    tracing::info!(plugin = %info.id, "reloaded after a change on disk");
                }
                Ok(Err(error)) => {
                    tracing::error!(dir = %dir.display(), "reload failed, keeping what runs: {error}");
                    failed.retain(|f| f.dir != dir);
                    failed.push(super::plugins::FailedPlugin {
                        id: error.plugin().map(str::to_string),
                        dir,
                        status: "failed",
                        error: error.to_string(),
                    });
                }
                Err(error) => tracing::error!("reload task failed: {error:?}"),
            }
        }
    }
}
