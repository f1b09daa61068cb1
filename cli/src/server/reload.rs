//! `plinth serve --reload`: once a second, asks the host to reload the plugin
//! folders that changed on disk and load new ones ([`Host::reload_changed`]);
//! a reload that fails keeps the running version and is listed with the plugin.
//!
//! [`Host::reload_changed`]: plinth_host::Host::reload_changed

use super::SharedState;
use super::api::blocking;
use std::time::Duration;

pub async fn watch(state: SharedState) {
    let Some(root) = state.plugins_dir.clone() else { return };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let root = root.clone();
        match blocking(&state.host, move |host| host.reload_changed(&root)).await {
            Ok(Ok(done)) => {
                for (dir, result) in done {
                    match result {
                        Ok(info) => tracing::info!(plugin = %info.id, "reloaded after a change on disk"),
                        Err(error) => {
                            tracing::error!(dir = %dir.display(), "reload failed, keeping what runs: {error}")
                        }
                    }
                }
            }
            Ok(Err(error)) => tracing::error!("reading the plugins folder: {error}"),
            Err(error) => tracing::error!("reload task failed: {error:?}"),
        }
    }
}
