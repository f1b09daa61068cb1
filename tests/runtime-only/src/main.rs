//! `plinth-runtime-only`: the shape of an application that may not generate
//! code (an iOS app): `plinth-host` without its compiler, on the Pulley
//! interpreter, loading only precompiled artifacts. It runs plugins' test
//! cases and legacy jobs, so a test can hold its answers against the native
//! engine's.
//!
//! ```text
//! plinth-runtime-only [--engine pulley|native] PLUGIN_DIR... [--legacy MODULE.wasm REQUEST_JSON]...
//! ```
//!
//! It prints whether a compiler is linked, each plugin's case results (the
//! lines of `plinth test`), and each legacy reply as one JSON line; it exits
//! non-zero when anything failed.

use plinth_host::{EngineKind, Host, HostConfig, LegacyConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A host as an application without a compiler opens it: its engine, artifacts
/// shipped beside the plugins trusted as its own code, nothing cached.
fn open_host(data_dir: &Path, engine: EngineKind) -> anyhow::Result<Host> {
    open_host_from(HostConfig::new(data_dir), engine)
}

/// A host on `engine` from `config` (a test case's).
fn open_host_from(mut config: HostConfig, engine: EngineKind) -> anyhow::Result<Host> {
    config.engine = engine;
    config.trust_precompiled = true;
    config.compile_cache = false;
    config.legacy = Some(LegacyConfig::default());
    Ok(Host::with_config(config)?)
}

fn run(args: Vec<String>) -> anyhow::Result<bool> {
    let mut engine = EngineKind::Pulley;
    let (mut plugins, mut jobs) = (Vec::new(), Vec::new());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--engine" => {
                engine = EngineKind::parse(&args.next().unwrap_or_default()).map_err(anyhow::Error::msg)?
            }
            "--legacy" => {
                let (Some(module), Some(request)) = (args.next(), args.next()) else {
                    anyhow::bail!("--legacy takes a module file and a request");
                };
                jobs.push((PathBuf::from(module), request));
            }
            _ => plugins.push(PathBuf::from(arg)),
        }
    }
    println!("compiler linked: {}", plinth_host::engine::HAS_COMPILER);
    println!("engine: {engine} ({})", engine.target());
    let mut all_passed = true;
    for dir in &plugins {
        println!("plugin {}", dir.display());
        all_passed &= plinth_test::cases::run(dir, &|config| open_host_from(config, engine))?;
    }
    if !jobs.is_empty() {
        let scratch = tempfile_dir()?;
        let host = open_host(&scratch, engine)?;
        for (module, request) in &jobs {
            match host.legacy()?.run_file(module, request.as_bytes()) {
                Ok(reply) => println!("legacy {}", reply.line),
                Err(error) => {
                    all_passed = false;
                    println!("legacy error: {error}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(all_passed)
}

/// A fresh folder under the system's temporary folder.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("plinth-runtime-only-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("plinth-runtime-only: {error:#}");
            ExitCode::FAILURE
        }
    }
}
