//! Plinth on the desktop: a Tauri 2 application that embeds `plinth_host`.
//!
//! The host opens on the user's data directory (the database and the
//! compiled-component cache live there, so the second start skips
//! compiling), loads the plugins shipped beside the app, and answers the web
//! view through Tauri commands (`commands.rs`) instead of HTTP. Widgets are
//! rendered and validated by their WASM exports, as the migration guide's
//! desktop build does. The host opens on a thread of its own once the
//! window shows, and keeps its own runtime for plugin calls; commands are
//! `async`, so no call ever runs on the window's thread. A widget's HTML
//! page runs in a sandboxed frame served under `plinth://` (`pages.rs`).
//! Closing the window drops the host, which closes the database.

mod commands;
mod pages;

use commands::{AppInfo, HostSlot};
use plinth_host::engine::EngineKind;
use plinth_host::{Host, HostConfig};
use std::path::PathBuf;
use std::sync::Arc;
use tauri::{Manager, RunEvent};

/// Where the plugins the app ships with are: `PLINTH_DESKTOP_PLUGINS`, else a
/// `plugins` folder beside the executable, else this checkout's examples.
fn plugins_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PLINTH_DESKTOP_PLUGINS") {
        return PathBuf::from(dir);
    }
    let beside = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("plugins")));
    beside
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../example-plugins")))
}

/// The engine: native code, or the Pulley interpreter (`PLINTH_ENGINE=pulley`
/// or `--engine pulley`), the path of devices without JIT.
fn engine() -> EngineKind {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args.windows(2).find(|pair| pair[0] == "--engine").map(|pair| pair[1].clone());
    let name = from_args.or_else(|| std::env::var("PLINTH_ENGINE").ok());
    name.and_then(|name| EngineKind::parse(&name).ok()).unwrap_or_default()
}

/// Opens the host on the app's data directory and loads the shipped plugins;
/// a plugin that fails to load is logged and listed, never fatal.
fn open_host(info: &AppInfo) -> anyhow::Result<Host> {
    let mut config = HostConfig::new(&info.data_dir);
    config.engine = engine();
    let host = Host::with_config(config)?;
    for (folder, result) in host.load_plugins_in(&info.plugins_dir)? {
        if let Err(error) = result {
            eprintln!("plinth-desktop: {} did not load: {error}", folder.display());
        }
    }
    commands::ensure_demo_layout(&host)?;
    Ok(host)
}

fn main() -> anyhow::Result<()> {
    commands::STARTED.get_or_init(std::time::Instant::now);
    let app = tauri::Builder::default()
        .setup(|app| {
            let data_dir = app.path().app_data_dir()?;
            std::fs::create_dir_all(&data_dir)?;
            let engine = match engine() {
                EngineKind::Pulley => "pulley",
                EngineKind::Native => "native",
            };
            let measure = std::env::args().any(|arg| arg == "--measure");
            let info = AppInfo { engine, data_dir, plugins_dir: plugins_dir(), measure };
            // The window is up already: the host opens beside it, and
            // commands wait for it, so a first start's compiling never
            // freezes the window.
            app.manage(HostSlot::opening());
            let (handle, opening) = (app.handle().clone(), info.clone());
            std::thread::spawn(move || {
                let host = open_host(&opening).map(Arc::new).map_err(|error| format!("{error:#}"));
                handle.state::<HostSlot>().fill(host);
            });
            app.manage(info);
            Ok(())
        })
        .register_asynchronous_uri_scheme_protocol(pages::SCHEME, pages::serve)
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::plugins,
            commands::entities,
            commands::create_entity,
            commands::update_entity,
            commands::delete_entity,
            commands::call_route,
            commands::field_config,
            commands::render_widget,
            commands::validate_widget,
            commands::settings,
            commands::set_settings,
            commands::quit,
            commands::clock,
            commands::finish_measure,
        ])
        .build(tauri::generate_context!())?;
    let code = app.run_return(|handle, event| {
        if let RunEvent::Exit = event
            && let Some(slot) = handle.try_state::<HostSlot>()
        {
            // The last window closed: stop the background loops and drop the
            // host (its runtime stops, the database closes) before the process
            // ends. A loop's database work already under way finishes first
            // and holds the host until then.
            drop(slot.close());
            eprintln!("plinth-desktop: host closed");
        }
    });
    std::process::exit(code);
}
